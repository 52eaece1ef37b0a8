//! `Config`: design.md's settings from the environment and an optional TOML file (same keys,
//! any case), each validated with an error that names the variable and what it accepts.

use std::path::PathBuf;
use std::time::Duration;

use polygon_cache::{Cache, CacheBuilder, TtlPolicy};
use polygon_fetch::{self as fetch, FetchConfig};
use polygon_model::RateLimit;
use polygon_transport::{ApiKey, S3Secret, Transport, TransportBuilder, defaults as transport};

/// A setting with a bad value. Secrets are never repeated in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is invalid: expected {expected}")]
pub struct ConfigError {
    /// The variable (`MAX_WORKERS`, …) or `config file`.
    pub variable: &'static str,
    /// The value as given (`<redacted>` for secrets).
    pub value: String,
    /// What it accepts.
    pub expected: String,
}

pub use polygon_gpu::{BackendKind as GpuBackend, MemoryMode as GpuMemory};

/// `RATE_LIMIT_SCOPE`: whether `POLYGON_RATE_LIMIT` binds this process or every process that
/// shares its Redis (a fleet on one API key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    /// Fleet when Redis answers at start, process otherwise (the default).
    Auto,
    /// Shared through Redis; while Redis does not answer, each process keeps to its fair share.
    Fleet,
    /// This process alone.
    Process,
}

/// Every setting of design.md, validated. Build with [`Config::from_env`] or [`Config::load`].
#[derive(Clone)]
pub struct Config {
    /// `POLYGON_API_KEY` (or `MASSIVE_API_KEY`).
    pub api_key: Option<ApiKey>,
    /// `POLYGON_BASE_URL`.
    pub base_url: String,
    /// `POLYGON_RATE_LIMIT` (`None` is `off`): the key's limit, across the fleet when
    /// [`Config::rate_limit_scope`] makes it shared.
    pub rate_limit: Option<RateLimit>,
    /// `POLYGON_RATE_BURST`: requests let through at once (`None`: a period's worth).
    pub rate_burst: Option<u32>,
    /// `RATE_LIMIT_SCOPE`: whose limit `POLYGON_RATE_LIMIT` is.
    pub rate_limit_scope: RateLimitScope,
    /// `POLYGON_CA_CERT`.
    pub ca_cert: Option<PathBuf>,
    /// `REDIS_URL`, or one built from `REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`; `None` when
    /// `REDIS_URL=off` (memory only).
    pub redis_url: Option<String>,
    /// `REDIS_CLUSTER`.
    pub redis_cluster: bool,
    /// `REDIS_TTL`.
    pub redis_ttl: Duration,
    /// `CACHE_MEMORY_MB`, in bytes.
    pub cache_memory_bytes: usize,
    /// `MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// `MAX_POOL_SIZE`.
    pub max_pool_size: usize,
    /// `CONNECTION_TIMEOUT`.
    pub connection_timeout: Duration,
    /// `MAX_RETRIES`.
    pub max_retries: u32,
    /// `RETRY_BACKOFF_FACTOR`.
    pub retry_backoff: Duration,
    /// `MAX_BODY_MB`, in bytes.
    pub max_body_bytes: u64,
    /// `MAX_WORKERS`.
    pub max_workers: usize,
    /// `BATCH_SIZE`.
    pub batch_size: usize,
    /// `QUEUE_SIZE`.
    pub queue_size: usize,
    /// `GPU_BACKEND`.
    pub gpu_backend: GpuBackend,
    /// `GPU_MEMORY`.
    pub gpu_memory: GpuMemory,
    /// `CACHE_NAMESPACE`: keeps this configuration's cache entries apart (`pgh200:{ns}:…`), for
    /// data that must never answer another's requests (the demo's simulator, benchmarks).
    pub cache_namespace: Option<String>,
    /// `CACHE_DISK` (`on` by default): whether the embedded disk tier is used.
    pub cache_disk: bool,
    /// `CACHE_DIR`, else the platform's cache directory (`$XDG_CACHE_HOME/polygon-gh200`,
    /// `~/.cache/polygon-gh200`, …); `None` when neither is known (then no disk tier).
    pub cache_dir: Option<PathBuf>,
    /// `CACHE_DISK_MB`, in bytes.
    pub cache_disk_bytes: u64,
    /// `POLYGON_S3_ACCESS_KEY_ID`: the flat-file host's access key id (Massive's dashboard, not
    /// the API key). Flat files are used only when it and the secret are both set.
    pub s3_access_key_id: Option<String>,
    /// `POLYGON_S3_SECRET_ACCESS_KEY`: the flat-file host's secret, a secret as the API key is.
    pub s3_secret_access_key: Option<S3Secret>,
    /// `POLYGON_S3_ENDPOINT` (`https://files.massive.com`).
    pub s3_endpoint: String,
    /// `POLYGON_S3_BUCKET` (`flatfiles`).
    pub s3_bucket: String,
}

/// The flat-file host Massive documents.
pub const DEFAULT_S3_ENDPOINT: &str = "https://files.massive.com";
/// Massive's flat-file bucket.
pub const DEFAULT_S3_BUCKET: &str = "flatfiles";

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("rate_limit", &self.rate_limit)
            .field("rate_burst", &self.rate_burst)
            .field("rate_limit_scope", &self.rate_limit_scope)
            .field("ca_cert", &self.ca_cert)
            .field("redis_url", &self.redis_url.as_deref().map(polygon_cache::redact_url))
            .field("redis_cluster", &self.redis_cluster)
            .field("redis_ttl", &self.redis_ttl)
            .field("cache_memory_bytes", &self.cache_memory_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_pool_size", &self.max_pool_size)
            .field("connection_timeout", &self.connection_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_workers", &self.max_workers)
            .field("batch_size", &self.batch_size)
            .field("queue_size", &self.queue_size)
            .field("gpu_backend", &self.gpu_backend)
            .field("gpu_memory", &self.gpu_memory)
            .field("cache_namespace", &self.cache_namespace)
            .field("cache_disk", &self.cache_disk)
            .field("cache_dir", &self.cache_dir)
            .field("cache_disk_bytes", &self.cache_disk_bytes)
            // The access key id is part of every presigned URL's credential: shown as set or not.
            .field("s3_access_key_id", &self.s3_access_key_id.as_ref().map(|_| "<redacted>"))
            .field("s3_secret_access_key", &self.s3_secret_access_key)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_bucket", &self.s3_bucket)
            .finish()
    }
}

/// Where settings come from: a lookup by upper-case variable name.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn bad(variable: &'static str, value: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError { variable, value: value.to_owned(), expected: expected.into() }
}

fn parse_num<T: std::str::FromStr + PartialOrd + Copy>(
    get: &Lookup<'_>,
    variable: &'static str,
    default: T,
    min: T,
    expected: &str,
) -> Result<T, ConfigError> {
    match get(variable) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<T>() {
            Ok(x) if x >= min => Ok(x),
            _ => Err(bad(variable, &v, expected)),
        },
    }
}

fn parse_secs(
    get: &Lookup<'_>,
    variable: &'static str,
    default: Duration,
    zero_ok: bool,
) -> Result<Duration, ConfigError> {
    let expected = if zero_ok { "a number of seconds, 0 or more" } else { "a number of seconds above 0" };
    match get(variable) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && (x > 0.0 || (zero_ok && x == 0.0)) && x < 1e9 => Ok(Duration::from_secs_f64(x)),
            _ => Err(bad(variable, &v, expected)),
        },
    }
}

impl Config {
    /// Every variable [`Config`] reads (`MASSIVE_API_KEY` is another name of `POLYGON_API_KEY`):
    /// what the CLI's flags and Python's keyword arguments may set.
    pub const VARIABLES: &'static [&'static str] = &[
        "POLYGON_API_KEY",
        "POLYGON_BASE_URL",
        "POLYGON_RATE_LIMIT",
        "POLYGON_RATE_BURST",
        "RATE_LIMIT_SCOPE",
        "POLYGON_CA_CERT",
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_DB",
        "REDIS_CLUSTER",
        "REDIS_TTL",
        "CACHE_MEMORY_MB",
        "CACHE_NAMESPACE",
        "CACHE_DISK",
        "CACHE_DIR",
        "CACHE_DISK_MB",
        "MAX_CONNECTIONS",
        "MAX_POOL_SIZE",
        "CONNECTION_TIMEOUT",
        "MAX_RETRIES",
        "RETRY_BACKOFF_FACTOR",
        "MAX_BODY_MB",
        "MAX_WORKERS",
        "BATCH_SIZE",
        "QUEUE_SIZE",
        "GPU_BACKEND",
        "GPU_MEMORY",
        "POLYGON_S3_ACCESS_KEY_ID",
        "POLYGON_S3_SECRET_ACCESS_KEY",
        "POLYGON_S3_ENDPOINT",
        "POLYGON_S3_BUCKET",
    ];

    /// Reads the environment (and the TOML file named by `POLYGON_GH200_CONFIG`, if set).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_env() -> Result<Config, ConfigError> {
        let file = std::env::var("POLYGON_GH200_CONFIG").ok().map(PathBuf::from);
        Config::load(file.as_deref())
    }

    /// Reads an optional TOML file, then the environment over it.
    ///
    /// # Errors
    /// A [`ConfigError`]: an unreadable or malformed file, or the first bad variable.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        Config::load_with(file, &[])
    }

    /// [`Config::load`] with one more layer on top: `overrides`, pairs of a variable name and a
    /// value, as the CLI's flags (`--base-url` is `POLYGON_BASE_URL`) and the Python package's
    /// keyword arguments give them. Each value is validated exactly as if it came from the
    /// environment, with the same messages.
    ///
    /// # Errors
    /// A [`ConfigError`]: an unreadable or malformed file, or the first bad variable.
    pub fn load_with(file: Option<&std::path::Path>, overrides: &[(&str, String)]) -> Result<Config, ConfigError> {
        let mut b = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(bad("config file", &path.display().to_string(), "a readable TOML file"));
            }
            b = b.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let table = b.build().map_err(|e| ConfigError {
            variable: "config file",
            value: file.map(|p| p.display().to_string()).unwrap_or_default(),
            expected: format!("valid TOML ({e})"),
        })?;
        let get = |name: &str| -> Option<String> {
            overrides
                .iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(name).ok())
                .or_else(|| table.get_string(name).ok())
                .or_else(|| table.get_string(&name.to_ascii_lowercase()).ok())
        };
        Config::from_lookup(&get)
    }

    /// Builds a config from any lookup of variable names (tests, other sources).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad variable.
    pub fn from_lookup(get: &Lookup<'_>) -> Result<Config, ConfigError> {
        let api_key = match get("POLYGON_API_KEY").or_else(|| get("MASSIVE_API_KEY")) {
            None => None,
            Some(k) => Some(
                ApiKey::new(&k)
                    .map_err(|_| bad("POLYGON_API_KEY", "<redacted>", "a non-empty key of visible characters"))?,
            ),
        };
        let base_url = get("POLYGON_BASE_URL").unwrap_or_else(|| "https://api.massive.com".into());
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) || base_url.contains('?') {
            return Err(bad("POLYGON_BASE_URL", &base_url, "http(s)://host[:port][/prefix]"));
        }
        let rate_limit = match get("POLYGON_RATE_LIMIT") {
            None => Some(transport::RATE_LIMIT),
            Some(v) => {
                RateLimit::parse_optional(&v).map_err(|_| bad("POLYGON_RATE_LIMIT", &v, "N/s, N/min, N/hour or off"))?
            }
        };
        let ca_cert = get("POLYGON_CA_CERT").map(PathBuf::from);
        if let Some(p) = &ca_cert
            && !p.is_file()
        {
            return Err(bad("POLYGON_CA_CERT", &p.display().to_string(), "a readable PEM file"));
        }
        let redis_url = match get("REDIS_URL") {
            Some(u) if u.trim() == "off" => None,
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") || u.starts_with("redis-cluster://") => {
                Some(u)
            }
            Some(u) => {
                return Err(bad(
                    "REDIS_URL",
                    &polygon_cache::redact_url(&u),
                    "redis://, rediss:// or redis-cluster:// URL, or off",
                ));
            }
            None => {
                let host = get("REDIS_HOST").unwrap_or_else(|| "localhost".into());
                if host.is_empty() || host.contains(['/', '@', ' ']) {
                    return Err(bad("REDIS_HOST", &host, "a host name or address"));
                }
                let port: u16 = parse_num(get, "REDIS_PORT", 6379, 1, "a port from 1 to 65535")?;
                let db: u8 = parse_num(get, "REDIS_DB", 0, 0, "a database number from 0 to 255")?;
                Some(format!("redis://{host}:{port}/{db}"))
            }
        };
        let rate_burst = match get("POLYGON_RATE_BURST") {
            None => None,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err(bad("POLYGON_RATE_BURST", &v, "a whole number of requests, 1 or more")),
            },
        };
        let rate_limit_scope = match get("RATE_LIMIT_SCOPE").as_deref().map(str::trim) {
            None | Some("auto") => RateLimitScope::Auto,
            Some("fleet") => RateLimitScope::Fleet,
            Some("process") => RateLimitScope::Process,
            Some(v) => return Err(bad("RATE_LIMIT_SCOPE", v, "auto, fleet or process")),
        };
        if rate_limit_scope == RateLimitScope::Fleet && redis_url.is_none() {
            return Err(bad(
                "RATE_LIMIT_SCOPE",
                "fleet",
                "auto or process when REDIS_URL is off (a fleet shares its quota through Redis)",
            ));
        }
        let redis_cluster = match get("REDIS_CLUSTER").as_deref().map(str::trim) {
            None | Some("0" | "false" | "no" | "") => false,
            Some("1" | "true" | "yes") => true,
            Some(v) => return Err(bad("REDIS_CLUSTER", v, "true or false")),
        };
        let redis_ttl =
            Duration::from_secs(parse_num(get, "REDIS_TTL", 3600u64, 1, "a whole number of seconds above 0")?);
        let mb: usize = parse_num(
            get,
            "CACHE_MEMORY_MB",
            polygon_cache::defaults::MEMORY_MIB,
            0,
            "a whole number of MiB, 0 or more",
        )?;
        let gpu_backend = match get("GPU_BACKEND").as_deref().map(str::trim) {
            None | Some("auto") => GpuBackend::Auto,
            Some("cpu") => GpuBackend::Cpu,
            Some("cuda") => GpuBackend::Cuda,
            Some(v) => return Err(bad("GPU_BACKEND", v, "auto, cpu or cuda")),
        };
        let gpu_memory = match get("GPU_MEMORY").as_deref().map(str::trim) {
            None | Some("unified") => GpuMemory::Unified,
            Some("device") => GpuMemory::Device,
            Some(v) => return Err(bad("GPU_MEMORY", v, "unified or device")),
        };
        let cache_namespace = match get("CACHE_NAMESPACE") {
            None => None,
            Some(ns)
                if !ns.is_empty()
                    && ns.len() <= 64
                    && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                Some(ns)
            }
            Some(ns) => return Err(bad("CACHE_NAMESPACE", &ns, "1 to 64 lower-case letters, digits or -")),
        };
        let cache_disk = match get("CACHE_DISK").as_deref().map(str::trim) {
            None | Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(v) => return Err(bad("CACHE_DISK", v, "on or off (also true/false, 1/0)")),
        };
        let cache_dir = match get("CACHE_DIR") {
            Some(d) if d.trim().is_empty() => return Err(bad("CACHE_DIR", &d, "a directory path")),
            Some(d) => Some(PathBuf::from(d)),
            None => polygon_cache::default_cache_dir(),
        };
        let disk_mb: u64 =
            parse_num(get, "CACHE_DISK_MB", polygon_cache::defaults::DISK_MIB, 1, "a whole number of MiB, 1 or more")?;
        let s3_access_key_id = match get("POLYGON_S3_ACCESS_KEY_ID") {
            None => None,
            Some(k) if !k.trim().is_empty() && k.trim().bytes().all(|b| b.is_ascii_alphanumeric()) => {
                Some(k.trim().to_owned())
            }
            Some(_) => {
                return Err(bad("POLYGON_S3_ACCESS_KEY_ID", "<redacted>", "an access key id of letters and digits"));
            }
        };
        let s3_secret_access_key = match get("POLYGON_S3_SECRET_ACCESS_KEY") {
            None => None,
            Some(k) => Some(S3Secret::new(&k).map_err(|_| {
                bad("POLYGON_S3_SECRET_ACCESS_KEY", "<redacted>", "a non-empty secret of visible characters")
            })?),
        };
        match (&s3_access_key_id, &s3_secret_access_key) {
            (Some(_), None) => {
                return Err(bad(
                    "POLYGON_S3_SECRET_ACCESS_KEY",
                    "",
                    "set with POLYGON_S3_ACCESS_KEY_ID (flat files need both)",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "POLYGON_S3_ACCESS_KEY_ID",
                    "",
                    "set with POLYGON_S3_SECRET_ACCESS_KEY (flat files need both)",
                ));
            }
            _ => {}
        }
        let s3_endpoint = get("POLYGON_S3_ENDPOINT").unwrap_or_else(|| DEFAULT_S3_ENDPOINT.into());
        if !(s3_endpoint.starts_with("https://") || s3_endpoint.starts_with("http://"))
            || s3_endpoint.contains(['?', '#', '@'])
        {
            return Err(bad("POLYGON_S3_ENDPOINT", &s3_endpoint, "http(s)://host[:port]"));
        }
        let s3_bucket = get("POLYGON_S3_BUCKET").unwrap_or_else(|| DEFAULT_S3_BUCKET.into());
        if !(3..=63).contains(&s3_bucket.len())
            || !s3_bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(bad("POLYGON_S3_BUCKET", &s3_bucket, "an S3 bucket name: 3 to 63 of a-z, 0-9, - and ."));
        }
        Ok(Config {
            api_key,
            base_url,
            rate_limit,
            rate_burst,
            rate_limit_scope,
            ca_cert,
            redis_url,
            redis_cluster,
            redis_ttl,
            cache_memory_bytes: mb.saturating_mul(1 << 20),
            max_connections: parse_num(
                get,
                "MAX_CONNECTIONS",
                transport::MAX_CONNECTIONS,
                1,
                "a whole number, 1 or more",
            )?,
            max_pool_size: parse_num(
                get,
                "MAX_POOL_SIZE",
                transport::MAX_IDLE_PER_HOST,
                0,
                "a whole number, 0 or more",
            )?,
            connection_timeout: parse_secs(get, "CONNECTION_TIMEOUT", transport::CONNECT_TIMEOUT, false)?,
            max_retries: parse_num(get, "MAX_RETRIES", transport::MAX_RETRIES, 0, "a whole number, 0 or more")?,
            retry_backoff: parse_secs(get, "RETRY_BACKOFF_FACTOR", transport::BACKOFF_BASE, true)?,
            max_body_bytes: {
                let mb: u64 = parse_num(
                    get,
                    "MAX_BODY_MB",
                    transport::MAX_BODY_BYTES >> 20,
                    1,
                    "a whole number of MiB, 1 or more",
                )?;
                if mb > 1 << 20 {
                    return Err(bad("MAX_BODY_MB", &mb.to_string(), "a whole number of MiB from 1 to 1048576"));
                }
                mb << 20
            },
            max_workers: parse_num(get, "MAX_WORKERS", fetch::DEFAULT_MAX_WORKERS, 1, "a whole number, 1 or more")?,
            batch_size: parse_num(get, "BATCH_SIZE", fetch::DEFAULT_BATCH_SIZE, 1, "a whole number, 1 or more")?,
            queue_size: parse_num(get, "QUEUE_SIZE", fetch::DEFAULT_QUEUE_SIZE, 1, "a whole number, 1 or more")?,
            gpu_backend,
            gpu_memory,
            cache_namespace,
            cache_disk,
            cache_dir,
            cache_disk_bytes: disk_mb.saturating_mul(1 << 20),
            s3_access_key_id,
            s3_secret_access_key,
            s3_endpoint,
            s3_bucket,
        })
    }

    /// The transport's settings.
    pub fn transport_builder(&self) -> TransportBuilder {
        let mut b = Transport::builder(&self.base_url)
            .rate_limit(self.rate_limit)
            .rate_burst(self.rate_burst)
            .max_connections(self.max_connections)
            .max_idle_per_host(self.max_pool_size)
            .connect_timeout(self.connection_timeout)
            .max_retries(self.max_retries)
            .backoff(self.retry_backoff, transport::BACKOFF_CAP)
            .max_body_bytes(self.max_body_bytes);
        if let Some(k) = &self.api_key {
            b = b.api_key(k.clone());
        }
        if let Some(p) = &self.ca_cert {
            b = b.ca_cert(p);
        }
        b
    }

    /// The cache's settings: memory, the disk tier at `cache_dir` unless `CACHE_DISK=off`, Redis at
    /// `redis_url` unless it is off (`build().await` goes on without Redis while it is down), and
    /// every key scoped by the namespace and by the upstream (`base_url`), so that bars from a
    /// simulator or a proxy never answer a request to the real API.
    pub fn cache_builder(&self) -> CacheBuilder {
        let mut b = Cache::builder()
            .upstream(&self.base_url)
            .cluster(self.redis_cluster)
            .memory_bytes(self.cache_memory_bytes)
            .ttl(TtlPolicy { default: self.redis_ttl, ..TtlPolicy::default() });
        if let Some(url) = &self.redis_url {
            b = b.redis_url(url);
        }
        if let Some(ns) = &self.cache_namespace {
            b = b.namespace(ns);
        }
        if self.cache_disk
            && let Some(dir) = &self.cache_dir
        {
            b = b.disk(dir).disk_bytes(self.cache_disk_bytes);
        }
        b
    }

    /// The fetcher's settings.
    pub fn fetch_config(&self) -> FetchConfig {
        FetchConfig {
            max_workers: self.max_workers,
            batch_size: self.batch_size,
            queue_size: self.queue_size,
            rest_rate_per_sec: self.rate_limit.map(|r| f64::from(r.requests) / r.per.as_secs_f64().max(1e-9)),
            ..FetchConfig::default()
        }
    }

    /// The flat-file host, when both S3 credentials are set (`POLYGON_S3_*`): its own transport
    /// (pool, retries, limit, body bound) with the same extra CA certificate as the API's.
    ///
    /// # Errors
    /// What [`FileHostBuilder::build`](polygon_transport::FileHostBuilder::build) refuses, naming
    /// the setting.
    pub fn file_host(&self) -> Option<Result<polygon_transport::FileHost, polygon_transport::Error>> {
        let (id, secret) = (self.s3_access_key_id.as_ref()?, self.s3_secret_access_key.as_ref()?);
        let ca = self.ca_cert.clone();
        let host = polygon_transport::FileHost::builder(id.clone(), secret.clone())
            .endpoint(&self.s3_endpoint)
            .bucket(&self.s3_bucket)
            .transport(|b| match ca {
                Some(p) => b.ca_cert(p),
                None => b,
            })
            .build();
        Some(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// `VARIABLES` is exactly what `from_lookup` reads: a new setting added to one and not the
    /// other fails here (the CLI's flags and Python's keywords check names against it).
    #[test]
    fn variables_lists_every_setting_read() {
        let asked = std::cell::RefCell::new(Vec::<String>::new());
        Config::from_lookup(&|name| {
            asked.borrow_mut().push(name.to_owned());
            None
        })
        .unwrap();
        let mut asked = asked.into_inner();
        asked.retain(|n| n != "MASSIVE_API_KEY");
        asked.sort();
        asked.dedup();
        let mut listed: Vec<String> = Config::VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        listed.sort();
        assert_eq!(asked, listed);
    }

    fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(&|k: &str| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_design_cards() {
        let c = with(&[]).unwrap();
        assert!(c.api_key.is_none());
        assert_eq!(c.base_url, "https://api.massive.com");
        assert_eq!(c.rate_limit.unwrap().to_string(), "100/s");
        assert_eq!(c.redis_url.as_deref(), Some("redis://localhost:6379/0"));
        assert_eq!((c.redis_ttl, c.cache_memory_bytes), (Duration::from_secs(3600), 512 << 20));
        assert_eq!((c.max_connections, c.max_pool_size, c.max_retries), (50, 20, 3));
        assert_eq!((c.connection_timeout, c.retry_backoff), (Duration::from_secs(10), Duration::from_millis(500)));
        assert_eq!((c.max_workers, c.batch_size, c.queue_size), (10, 256, 100));
        assert_eq!((c.gpu_backend, c.gpu_memory), (GpuBackend::Auto, GpuMemory::Unified));
        assert_eq!(c.max_body_bytes, 256 << 20);
        assert!(c.cache_disk && c.cache_disk_bytes == 10_240 << 20);
        for (v, on) in [("on", true), ("true", true), ("1", true), ("off", false), ("false", false), ("0", false)] {
            assert_eq!(with(&[("CACHE_DISK", v)]).unwrap().cache_disk, on, "CACHE_DISK={v}");
        }
        assert_eq!(with(&[("CACHE_DIR", "/tmp/x")]).unwrap().cache_dir, Some(PathBuf::from("/tmp/x")));
        c.transport_builder().build().unwrap();
    }

    #[test]
    fn every_variable_is_read() {
        let c = with(&[
            ("MASSIVE_API_KEY", "k-123"),
            ("POLYGON_BASE_URL", "http://127.0.0.1:9"),
            ("POLYGON_RATE_LIMIT", "off"),
            ("REDIS_HOST", "cache.local"),
            ("REDIS_PORT", "6380"),
            ("REDIS_DB", "2"),
            ("REDIS_TTL", "60"),
            ("CACHE_MEMORY_MB", "64"),
            ("MAX_CONNECTIONS", "8"),
            ("MAX_POOL_SIZE", "0"),
            ("CONNECTION_TIMEOUT", "2.5"),
            ("MAX_RETRIES", "0"),
            ("RETRY_BACKOFF_FACTOR", "0"),
            ("MAX_WORKERS", "64"),
            ("BATCH_SIZE", "32"),
            ("QUEUE_SIZE", "4"),
            ("GPU_BACKEND", "cpu"),
            ("GPU_MEMORY", "device"),
        ])
        .unwrap();
        assert!(c.api_key.as_ref().unwrap().appears_in("k-123"));
        assert!(c.rate_limit.is_none());
        assert_eq!(c.redis_url.as_deref(), Some("redis://cache.local:6380/2"));
        assert_eq!((c.max_workers, c.batch_size, c.queue_size), (64, 32, 4));
        assert_eq!(c.connection_timeout, Duration::from_millis(2500));
        assert_eq!((c.gpu_backend, c.gpu_memory), (GpuBackend::Cpu, GpuMemory::Device));
        let url = with(&[("REDIS_URL", "redis://u:pw@h:1/0"), ("REDIS_HOST", "ignored")]).unwrap();
        assert_eq!(url.redis_url.as_deref(), Some("redis://u:pw@h:1/0"));
        assert_eq!(with(&[("REDIS_URL", "off")]).unwrap().redis_url, None);
        assert!(!format!("{url:?}").contains("pw@"), "the Redis password never shows");
    }

    #[test]
    fn bad_values_name_the_variable_and_what_it_accepts() {
        for (var, value) in [
            ("POLYGON_RATE_LIMIT", "5/day"),
            ("POLYGON_BASE_URL", "ftp://x"),
            ("POLYGON_CA_CERT", "/nonexistent.pem"),
            ("REDIS_URL", "http://x"),
            ("REDIS_PORT", "70000"),
            ("REDIS_DB", "-1"),
            ("REDIS_TTL", "0"),
            ("CACHE_MEMORY_MB", "lots"),
            ("MAX_CONNECTIONS", "0"),
            ("CONNECTION_TIMEOUT", "-3"),
            ("RETRY_BACKOFF_FACTOR", "NaN"),
            ("MAX_BODY_MB", "0"),
            ("MAX_BODY_MB", "9999999999"),
            ("MAX_WORKERS", "1.5"),
            ("GPU_BACKEND", "opencl"),
            ("GPU_MEMORY", "shared"),
            ("REDIS_CLUSTER", "maybe"),
            ("CACHE_NAMESPACE", "Demo"),
            ("CACHE_DISK", "maybe"),
            ("CACHE_DISK_MB", "0"),
            ("CACHE_DIR", " "),
        ] {
            let e = with(&[(var, value)]).unwrap_err();
            assert_eq!(e.variable, var, "{e}");
            assert!(e.to_string().starts_with(var) && e.to_string().contains("expected"), "{e}");
        }
        let e = with(&[("POLYGON_API_KEY", "has space")]).unwrap_err();
        assert!(!e.to_string().contains("has space"), "the key is never repeated: {e}");
    }

    #[test]
    fn flat_file_settings_come_in_pairs_and_the_secret_never_shows() {
        let c = with(&[]).unwrap();
        assert_eq!((c.s3_endpoint.as_str(), c.s3_bucket.as_str()), ("https://files.massive.com", "flatfiles"));
        assert!(c.s3_access_key_id.is_none() && c.s3_secret_access_key.is_none());
        let c = with(&[
            ("POLYGON_S3_ACCESS_KEY_ID", "AKIAEXAMPLEID42"),
            ("POLYGON_S3_SECRET_ACCESS_KEY", "s3cr3t/with+symbols"),
            ("POLYGON_S3_ENDPOINT", "http://127.0.0.1:9"),
            ("POLYGON_S3_BUCKET", "flatfiles-test"),
        ])
        .unwrap();
        assert!(c.s3_secret_access_key.as_ref().unwrap().appears_in("s3cr3t/with+symbols"));
        assert_eq!((c.s3_endpoint.as_str(), c.s3_bucket.as_str()), ("http://127.0.0.1:9", "flatfiles-test"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("AKIAEXAMPLEID42"), "{shown}");
        for (pairs, var) in [
            (&[("POLYGON_S3_ACCESS_KEY_ID", "AKID")][..], "POLYGON_S3_SECRET_ACCESS_KEY"),
            (&[("POLYGON_S3_SECRET_ACCESS_KEY", "s3cr3t")][..], "POLYGON_S3_ACCESS_KEY_ID"),
            (&[("POLYGON_S3_ENDPOINT", "s3://files")][..], "POLYGON_S3_ENDPOINT"),
            (&[("POLYGON_S3_BUCKET", "Flat_Files")][..], "POLYGON_S3_BUCKET"),
            (
                &[("POLYGON_S3_ACCESS_KEY_ID", "has space"), ("POLYGON_S3_SECRET_ACCESS_KEY", "x")][..],
                "POLYGON_S3_ACCESS_KEY_ID",
            ),
        ] {
            let e = with(pairs).unwrap_err();
            assert_eq!(e.variable, var, "{e}");
            assert!(!e.to_string().contains("s3cr3t") && !e.to_string().contains("has space"), "{e}");
        }
    }

    #[test]
    fn a_toml_file_sets_the_same_keys_in_either_case() {
        let dir = std::env::temp_dir().join(format!("pgh200-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "MAX_WORKERS = 7\nbatch_size = 9\nGPU_BACKEND = \"cpu\"\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!((c.max_workers, c.batch_size, c.gpu_backend), (7, 9, GpuBackend::Cpu));
        // Overrides (the CLI's flags, Python's keywords) go over the file and are validated the same.
        let over = |v: &str| Config::load_with(Some(&path), &[("MAX_WORKERS", v.to_owned())]);
        assert_eq!((over("11").unwrap().max_workers, over("11").unwrap().batch_size), (11, 9));
        let e = over("0").unwrap_err();
        assert_eq!((e.variable, e.value.as_str()), ("MAX_WORKERS", "0"));
        std::fs::write(&path, "MAX_WORKERS = [").unwrap();
        assert_eq!(Config::load(Some(&path)).unwrap_err().variable, "config file");
        assert_eq!(Config::load(Some(&dir.join("missing.toml"))).unwrap_err().variable, "config file");
        let _ = std::fs::remove_dir_all(dir);
    }
}
