//! `TransportBuilder`: a transport's settings, their defaults (the `defaults` constants, written
//! once here), and `build`, which checks them and makes the pooled client.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use polygon_model::RateLimit;
use tokio::sync::{Mutex, Semaphore};

use crate::permit::{LocalLimiter, PermitSource};
use crate::transport::{Counters, Inner};
use crate::{ApiKey, Error, RetryBudget, Transport, client, retry};

/// The builder's defaults, one constant each, so that a configuration layer can show and parse
/// against the same values the transport uses (`Transport::builder` starts from exactly these).
pub mod defaults {
    use std::time::Duration;

    use polygon_model::RateLimit;

    /// Client-side rate limit (`POLYGON_RATE_LIMIT`): 100 requests a second.
    pub const RATE_LIMIT: RateLimit = RateLimit { requests: 100, per: Duration::from_secs(1) };
    /// Most attempts in flight at once (`MAX_CONNECTIONS`).
    pub const MAX_CONNECTIONS: usize = 50;
    /// Idle connections kept per host (`MAX_POOL_SIZE`).
    pub const MAX_IDLE_PER_HOST: usize = 20;
    /// TCP connect timeout (`CONNECTION_TIMEOUT`).
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Time for one attempt, headers and body.
    pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Time for a whole call, retries and waits included.
    pub const DEADLINE: Duration = Duration::from_secs(120);
    /// Retries after the first attempt (`MAX_RETRIES`).
    pub const MAX_RETRIES: u32 = 3;
    /// Backoff base (`RETRY_BACKOFF_FACTOR`).
    pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
    /// Backoff cap.
    pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
    /// Retry budget: extra requests per request (0.2 = 20 %).
    pub const RETRY_BUDGET_RATIO: f64 = 0.2;
    /// Retry budget: retries a second allowed regardless of the ratio.
    pub const RETRY_BUDGET_FLOOR_PER_SEC: f64 = 10.0;
    /// Retry budget: most retries banked.
    pub const RETRY_BUDGET_MAX: f64 = 100.0;
    /// Largest response body accepted, in bytes, after gzip decoding and on the wire
    /// (`MAX_BODY_MB`): 256 MiB.
    pub const MAX_BODY_BYTES: u64 = 256 << 20;
    /// The `User-Agent` header.
    pub const USER_AGENT: &str = concat!("polygon-gh200/", env!("CARGO_PKG_VERSION"));
}

/// Which HTTP versions to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/2 when the server agrees by ALPN (TLS), else HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only (prior knowledge on plain HTTP).
    Http2,
}

/// Settings of a [`Transport`]; [`Transport::builder`] starts from the [`defaults`].
#[derive(Debug, Clone)]
pub struct TransportBuilder {
    pub(crate) base_url: String,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) ca_cert: Option<PathBuf>,
    max_connections: usize,
    pub(crate) max_idle_per_host: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) attempt_timeout: Duration,
    pub(crate) deadline: Duration,
    pub(crate) max_retries: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    budget: (f64, f64, f64),
    rate_limit: Option<RateLimit>,
    rate_burst: Option<u32>,
    permit_source: Option<SharedPermits>,
    pub(crate) max_body_bytes: u64,
    pub(crate) http_version: HttpVersion,
    pub(crate) gzip: bool,
    user_agent: String,
}

/// A permit source in the builder (its `Debug` is the source's description).
#[derive(Clone)]
pub(crate) struct SharedPermits(pub(crate) Arc<dyn PermitSource>);

impl std::fmt::Debug for SharedPermits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.describe())
    }
}

impl Transport {
    /// Settings for a transport to `base_url` (`POLYGON_BASE_URL`, e.g. `https://api.massive.com`),
    /// everything else at its [`defaults`] value.
    pub fn builder(base_url: impl Into<String>) -> TransportBuilder {
        TransportBuilder {
            base_url: base_url.into(),
            api_key: None,
            ca_cert: None,
            max_connections: defaults::MAX_CONNECTIONS,
            max_idle_per_host: defaults::MAX_IDLE_PER_HOST,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            attempt_timeout: defaults::ATTEMPT_TIMEOUT,
            deadline: defaults::DEADLINE,
            max_retries: defaults::MAX_RETRIES,
            backoff_base: defaults::BACKOFF_BASE,
            backoff_cap: defaults::BACKOFF_CAP,
            budget: (defaults::RETRY_BUDGET_RATIO, defaults::RETRY_BUDGET_FLOOR_PER_SEC, defaults::RETRY_BUDGET_MAX),
            rate_limit: Some(defaults::RATE_LIMIT),
            rate_burst: None,
            permit_source: None,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            http_version: HttpVersion::Auto,
            gzip: true,
            user_agent: defaults::USER_AGENT.to_owned(),
        }
    }
}

impl TransportBuilder {
    /// The API key, sent as `Authorization: Bearer` (`POLYGON_API_KEY`).
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// An extra PEM root to trust, besides Mozilla's (`POLYGON_CA_CERT`).
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }

    /// Most attempts in flight at once (`MAX_CONNECTIONS`, default [`defaults::MAX_CONNECTIONS`]).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Idle connections kept per host (`MAX_POOL_SIZE`, default [`defaults::MAX_IDLE_PER_HOST`]);
    /// 0 opens a connection per request.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// TCP connect timeout (`CONNECTION_TIMEOUT`, default [`defaults::CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time for one attempt, headers and body (default [`defaults::ATTEMPT_TIMEOUT`]).
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// Time for a whole call, retries and waits included (default [`defaults::DEADLINE`]).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Retries after the first attempt (`MAX_RETRIES`, default [`defaults::MAX_RETRIES`]).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Backoff base (`RETRY_BACKOFF_FACTOR`, default [`defaults::BACKOFF_BASE`]) and cap (default
    /// [`defaults::BACKOFF_CAP`]).
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap.max(base);
        self
    }

    /// Retry budget: `ratio` extra requests per request, `floor_per_sec` retries a second regardless,
    /// at most `max` banked (default [`defaults::RETRY_BUDGET_RATIO`],
    /// [`defaults::RETRY_BUDGET_FLOOR_PER_SEC`], [`defaults::RETRY_BUDGET_MAX`]).
    pub fn retry_budget(mut self, ratio: f64, floor_per_sec: f64, max: f64) -> Self {
        self.budget = (ratio.max(0.0), floor_per_sec.max(0.0), max.max(0.0));
        self
    }

    /// Client-side rate limit (`POLYGON_RATE_LIMIT`; `None` is `off`; default [`defaults::RATE_LIMIT`]).
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Requests the rate limit lets through at once after a quiet spell (`POLYGON_RATE_BURST`;
    /// `None`, the default, is a period's worth: the `100` of `100/s`).
    pub fn rate_burst(mut self, burst: Option<u32>) -> Self {
        self.rate_burst = burst;
        self
    }

    /// Where permits come from instead of a [`LocalLimiter`] of [`TransportBuilder::rate_limit`]
    /// (a fleet's shared quota, say). Replaces the local limit.
    pub fn permit_source(mut self, source: Arc<dyn PermitSource>) -> Self {
        self.permit_source = Some(SharedPermits(source));
        self
    }

    /// Largest response body accepted, in bytes, both on the wire and after gzip decoding
    /// (`MAX_BODY_MB`, default [`defaults::MAX_BODY_BYTES`]). A larger body is refused before it
    /// is read or decoded, with an error for which [`Error::is_body_too_large`] holds.
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// HTTP versions to offer (default: HTTP/2 by ALPN, else HTTP/1.1).
    pub fn http_version(mut self, v: HttpVersion) -> Self {
        self.http_version = v;
        self
    }

    /// Whether to ask for gzip (`Accept-Encoding: gzip`) and decode a gzip `Content-Encoding`
    /// (default on). Off for a host whose bodies are files to keep as stored (the flat-file
    /// host: a `.csv.gz` is application data): nothing is asked for and nothing is decoded, even
    /// when the server sends `Content-Encoding: gzip` (an S3 object stored with that metadata).
    /// Streamed bodies ([`Transport::get_stream`]) are never decoded either way.
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// Builds the transport. Needs a tokio runtime when used, not when built.
    ///
    /// # Errors
    /// [`Error::is_config`]: a base URL that is not `http(s)://host[:port][/prefix]`, an unreadable
    /// or empty `ca_cert`, or a rate limit governor cannot express.
    pub fn build(self) -> Result<Transport, Error> {
        let base = self.base_url.trim_end_matches('/').to_owned();
        let uri: http::Uri =
            base.parse().map_err(|_| Error::config(format!("POLYGON_BASE_URL {base:?} is not a URL")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() || uri.query().is_some() {
            return Err(Error::config(format!("POLYGON_BASE_URL {base:?} must be http(s)://host[:port][/prefix]")));
        }
        let limiter: Option<Arc<dyn PermitSource>> = match (&self.permit_source, self.rate_limit) {
            (Some(p), _) => Some(p.0.clone()),
            (None, None) => None,
            (None, Some(r)) => Some(Arc::new(LocalLimiter::new(r, self.rate_burst.unwrap_or(r.requests))?)),
        };
        let stats = Arc::new(Counters::default());
        let http = client::build(&self, stats.connections.clone())?;
        let (ratio, floor, max) = self.budget;
        Ok(Transport {
            inner: Arc::new(Inner {
                base,
                http,
                limiter,
                permits: Arc::new(Semaphore::new(self.max_connections)),
                paused_until: Mutex::new(None),
                budget: RetryBudget::new(ratio, floor, max),
                rng: retry::Rng::new(),
                stats,
                user_agent: HeaderValue::from_str(&self.user_agent).expect("static user agent"),
                cfg: self,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_starts_from_the_defaults() {
        let b = Transport::builder("http://127.0.0.1:1");
        assert_eq!(b.max_connections, defaults::MAX_CONNECTIONS);
        assert_eq!(b.max_idle_per_host, defaults::MAX_IDLE_PER_HOST);
        assert_eq!(b.connect_timeout, defaults::CONNECT_TIMEOUT);
        assert_eq!(b.attempt_timeout, defaults::ATTEMPT_TIMEOUT);
        assert_eq!(b.deadline, defaults::DEADLINE);
        assert_eq!(b.max_retries, defaults::MAX_RETRIES);
        assert_eq!((b.backoff_base, b.backoff_cap), (defaults::BACKOFF_BASE, defaults::BACKOFF_CAP));
        assert_eq!(b.rate_limit, Some(defaults::RATE_LIMIT));
        assert_eq!(b.max_body_bytes, defaults::MAX_BODY_BYTES);
        assert!(b.gzip, "REST bodies are asked for and decoded as gzip");
        // The values design.md documents.
        assert_eq!(defaults::RATE_LIMIT, "100/s".parse().unwrap());
        assert_eq!((defaults::MAX_CONNECTIONS, defaults::MAX_IDLE_PER_HOST, defaults::MAX_RETRIES), (50, 20, 3));
        assert_eq!(defaults::MAX_BODY_BYTES, 256 * 1024 * 1024);
    }
}
