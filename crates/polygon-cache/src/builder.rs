//! `CacheBuilder`: a cache's settings (defaults in [`crate::defaults`]) and `build`, which
//! connects Redis in the background and starts the cache.

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
    /// On any other character or an empty name (a programming error, not input).
    pub fn namespace(mut self, ns: &str) -> Self {
        assert!(
            !ns.is_empty() && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "cache namespace {ns:?}: use lower-case letters, digits and -"
        );
        self.namespace = Some(ns.to_owned());
        self
    }

    /// Connects (in the background: a Redis that is down now is used once it answers) and starts
    /// the health check. Without a Redis address the cache is memory-only.
    ///
    /// # Errors
    /// [`Error::Config`] for an address fred cannot parse (the password is never shown).
    pub async fn build(self) -> Result<Cache, Error> {
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
        Ok(Cache::start(self, redis))
    }
}
