//! `CacheBuilder`: a cache's settings (defaults in [`crate::defaults`]) and `build`, which
//! connects Redis in the background and starts the cache.

use std::path::PathBuf;
use std::time::Duration;

use crate::cache::Cache;
use crate::defaults;
use crate::error::{Error, redact_url};
use crate::redis::RedisTier;
use crate::ttl::TtlPolicy;

/// Settings of a [`Cache`]. Defaults are design.md's ([`crate::defaults`]).
#[derive(Clone)]
pub struct CacheBuilder {
    pub(crate) redis_url: Option<String>,
    pub(crate) cluster: bool,
    pub(crate) pool_size: usize,
    pub(crate) command_timeout: Duration,
    pub(crate) memory_bytes: usize,
    pub(crate) ttl: TtlPolicy,
    pub(crate) lock_ttl: Duration,
    pub(crate) health_interval: Duration,
    pub(crate) namespace: Option<String>,
    /// `up-{hash}` for an upstream other than the official API hosts.
    pub(crate) upstream: Option<String>,
    pub(crate) disk_dir: Option<PathBuf>,
    pub(crate) disk_bytes: u64,
}

impl std::fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("cluster", &self.cluster)
            .field("pool_size", &self.pool_size)
            .field("command_timeout", &self.command_timeout)
            .field("memory_bytes", &self.memory_bytes)
            .field("ttl", &self.ttl)
            .field("namespace", &self.namespace)
            .field("upstream", &self.upstream)
            .field("disk_dir", &self.disk_dir)
            .field("disk_bytes", &self.disk_bytes)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Settings: memory-only, [`defaults`] (512 MiB, 300 ms command timeout, …), design.md's TTLs.
    pub fn builder() -> CacheBuilder {
        CacheBuilder {
            redis_url: None,
            cluster: false,
            pool_size: defaults::POOL_SIZE,
            command_timeout: defaults::COMMAND_TIMEOUT,
            memory_bytes: defaults::MEMORY_BYTES,
            ttl: TtlPolicy::default(),
            lock_ttl: defaults::LOCK_TTL,
            health_interval: defaults::HEALTH_INTERVAL,
            namespace: None,
            upstream: None,
            disk_dir: None,
            disk_bytes: defaults::DISK_MIB << 20,
        }
    }
}

impl CacheBuilder {
    /// Use Redis at `url` (`redis://[user:password@]host:port/db`, `rediss://` for TLS,
    /// `redis-cluster://host:port?node=host:port` for a cluster).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// Use Redis at `host:port`, database `db` (`REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`).
    pub fn redis_host(self, host: &str, port: u16, db: u8) -> Self {
        self.redis_url(format!("redis://{host}:{port}/{db}"))
    }

    /// Treat the Redis address as a Redis Cluster node (fred's clustered mode).
    pub fn cluster(mut self, on: bool) -> Self {
        self.cluster = on;
        self
    }

    /// Connections in fred's pool (default [`defaults::POOL_SIZE`], 4).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// Longest any Redis command may take (default [`defaults::COMMAND_TIMEOUT`], 300 ms).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = d;
        self
    }

    /// Bound of the memory tier in bytes (`CACHE_MEMORY_MB`, default [`defaults::MEMORY_BYTES`],
    /// 512 MiB).
    pub fn memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// TTLs by class.
    pub fn ttl(mut self, policy: TtlPolicy) -> Self {
        self.ttl = policy;
        self
    }

    /// How long a loader holds the fleet-wide lock at most (default [`defaults::LOCK_TTL`], 30 s).
    pub fn lock_ttl(mut self, d: Duration) -> Self {
        self.lock_ttl = d;
        self
    }

    /// How often a down Redis is probed (default [`defaults::HEALTH_INTERVAL`], 500 ms).
    pub fn health_interval(mut self, d: Duration) -> Self {
        self.health_interval = d;
        self
    }

    /// Keeps this cache's Redis entries apart from the default ones: keys become
    /// `pgh200:{namespace}:v…` instead of `pgh200:v…`. For data that must never be mistaken for
    /// the real API's (the simulator behind `demo`, benchmarks). Lower-case letters, digits and `-`.
    ///
    /// # Panics
    /// On a name [`check_namespace`] refuses (a programming error, not input: validate input with
    /// it first).
    pub fn namespace(mut self, ns: &str) -> Self {
        if let Err(why) = check_namespace(ns) {
            panic!("cache namespace {ns:?}: {why}");
        }
        self.namespace = Some(ns.to_owned());
        self
    }

    /// Keeps the data of one upstream apart from every other's in every tier: the API root the
    /// values come from (scheme, host, port and path prefix of `base_url`). The official hosts
    /// (`https://api.massive.com`, `https://api.polygon.io`) share the default scope; any other
    /// (a simulator, a proxy, a staging host) gets `up-{hash}` in its keys and its disk directory,
    /// so its bars can never answer a request to another.
    pub fn upstream(mut self, base_url: &str) -> Self {
        self.upstream = upstream_scope(base_url);
        self
    }

    /// Enables the embedded disk tier under `dir` (created user-only if missing): values persist
    /// across processes and runs, shared by the processes of the machine. Off unless asked for, so
    /// a crate using the cache alone writes nothing to a home directory unbidden; the facade's
    /// `Config` asks by default (`CACHE_DIR`, else [`crate::default_cache_dir`]).
    pub fn disk(mut self, dir: impl Into<PathBuf>) -> Self {
        self.disk_dir = Some(dir.into());
        self
    }

    /// Bound of the disk tier in bytes (`CACHE_DISK_MB`, default [`defaults::DISK_MIB`] MiB); past
    /// it the least recently used values are removed.
    pub fn disk_bytes(mut self, bytes: u64) -> Self {
        self.disk_bytes = bytes;
        self
    }

    /// Connects (in the background: a Redis that is down now is used once it answers), opens the
    /// disk tier if asked for, and starts the health check. Without a Redis address and a disk
    /// directory the cache is memory-only.
    ///
    /// # Errors
    /// [`Error::Config`] for an address fred cannot parse (the password is never shown),
    /// [`Error::Disk`] for a disk directory that cannot be created.
    pub async fn build(self) -> Result<Cache, Error> {
        let disk = match &self.disk_dir {
            None => None,
            Some(dir) => Some(
                crate::disk::DiskTier::open(dir.clone(), self.disk_bytes)
                    .map_err(|e| Error::Disk { dir: dir.display().to_string(), reason: e.to_string() })?,
            ),
        };
        let redis = match &self.redis_url {
            None => None,
            Some(url) => {
                let bad =
                    |e: fred::error::Error| Error::Config { address: redact_url(url), reason: e.details().to_string() };
                let config = if self.cluster {
                    fred::prelude::Config::from_url_clustered(url)
                } else {
                    fred::prelude::Config::from_url(url)
                }
                .map_err(bad)?;
                Some(RedisTier::connect(config, self.pool_size, self.command_timeout).await.map_err(bad)?)
            }
        };
        Ok(Cache::start(self, redis, disk))
    }
}

/// Whether `ns` can name a cache namespace: 1 to 64 lower-case letters, digits and `-`, and none of
/// the names the key and directory layouts use themselves (`default`, `tmp`, `locks`, `up-…`, and
/// `v` followed by digits, which would read as a schema version).
///
/// # Errors
/// What the name breaks, for a message.
pub fn check_namespace(ns: &str) -> Result<(), &'static str> {
    if ns.is_empty() || ns.len() > 64 || !ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("use 1 to 64 lower-case letters, digits and -");
    }
    let schema_like = ns.len() > 1 && ns.starts_with('v') && ns[1..].bytes().all(|b| b.is_ascii_digit());
    if matches!(ns, "default" | "tmp" | "locks") || ns.starts_with("up-") || schema_like {
        return Err("reserved (default, tmp, locks, up-…, v and digits name parts of the cache's layout)");
    }
    Ok(())
}

/// `None` for the official API hosts (one scope), else `up-` and 8 hex digits of a hash of the
/// normalised root (lower-case scheme and host, explicit port, prefix without a trailing `/`).
pub(crate) fn upstream_scope(base_url: &str) -> Option<String> {
    let (scheme, rest) = base_url.split_once("://").unwrap_or(("https", base_url));
    let scheme = scheme.to_ascii_lowercase();
    let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_ascii_lowercase();
    let default_port = if scheme == "http" { "80" } else { "443" };
    // `[v6]:port`, `host:port`, or either without a port.
    let (host, port) = match authority.find(']') {
        Some(end) => {
            let (h, p) = authority.split_at(end + 1);
            (h, p.strip_prefix(':'))
        }
        None => authority.rsplit_once(':').map_or((authority.as_str(), None), |(h, p)| (h, Some(p))),
    };
    let port = port.filter(|p| !p.is_empty()).unwrap_or(default_port);
    let prefix = prefix.trim_end_matches('/');
    if scheme == "https" && port == "443" && prefix.is_empty() && matches!(host, "api.massive.com" | "api.polygon.io") {
        return None;
    }
    let canonical = format!("{scheme}://{host}:{port}/{prefix}");
    Some(format!("up-{:08x}", (crate::key::fnv1a_128(canonical.as_bytes()) >> 96) as u32))
}

#[cfg(test)]
mod tests {
    use super::upstream_scope;

    #[test]
    fn the_official_hosts_share_one_scope_and_every_other_root_has_its_own() {
        assert_eq!(upstream_scope("https://api.massive.com"), None);
        assert_eq!(upstream_scope("https://API.Polygon.io/"), None);
        assert_eq!(upstream_scope("https://api.massive.com:443"), None);
        let sim = upstream_scope("http://127.0.0.1:8080").unwrap();
        assert!(sim.starts_with("up-") && sim.len() == 11, "{sim}");
        assert_eq!(upstream_scope("http://127.0.0.1:8080/"), Some(sim.clone()), "a trailing / is the same root");
        assert_ne!(upstream_scope("http://127.0.0.1:8081"), Some(sim.clone()), "another port");
        assert_ne!(upstream_scope("https://127.0.0.1:8080"), Some(sim.clone()), "another scheme");
        assert_ne!(upstream_scope("http://127.0.0.1:8080/proxy"), Some(sim), "a path prefix");
        assert!(upstream_scope("https://api.massive.com/v1-proxy").is_some(), "a prefix on an official host");
        assert!(upstream_scope("http://api.massive.com").is_some(), "plain HTTP is not the official API");
    }
}
