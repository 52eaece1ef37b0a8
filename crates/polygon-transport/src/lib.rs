//! Pooled, rate-limited, retrying HTTPS to the Polygon (Massive) REST API.
//!
//! [`Transport`] GETs any Polygon path against a configured base URL and returns the body bytes
//! (gzip decoded) or an [`Error`] with predicates. It knows nothing about bars, caching or
//! Polygon's paths beyond `next_url` handling. One `GET` passes through these pieces, in this order
//! (the first listed sees the request first):
//!
//! 1. **deadline**: the whole call, retries included, ends by `deadline`;
//! 2. **retry** ([`RetryPolicy`], full-jitter backoff, `Retry-After`, [`RetryBudget`]): each failed
//!    attempt that the policy deems retryable is tried again while attempts and budget last;
//! 3. **host pause**: after a 429 every request to the host waits out its `Retry-After`;
//! 4. **rate limit**: governor, `POLYGON_RATE_LIMIT` (`5/min`, `100/s`, `off`), waiting with jitter;
//! 5. **concurrency**: at most `max_connections` attempts in flight;
//! 6. **attempt timeout**, then the pooled hyper client (keep-alive, HTTP/1.1 or HTTP/2 by ALPN,
//!    `TCP_NODELAY`, `Accept-Encoding: gzip`, the key as `Authorization: Bearer`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), polygon_transport::Error> {
//! use polygon_transport::{ApiKey, Transport};
//! let t = Transport::builder("https://api.massive.com")
//!     .api_key(ApiKey::new(std::env::var("POLYGON_API_KEY").unwrap_or_default())?)
//!     .rate_limit("100/s".parse().ok())
//!     .build()?;
//! let page = t.get("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31").await?;
//! println!("{} bytes, request {:?}", page.body.len(), page.request_id);
//! # Ok(()) }
//! ```

mod client;
mod error;
mod gunzip;
mod key;
mod retry;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Jitter, Quota};
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use polygon_model::RateLimit;
use tokio::sync::{Mutex, Semaphore};
use tracing::Instrument;

pub use error::{Error, report};
pub use key::ApiKey;
pub use retry::{Attempt, RetryBudget, RetryPolicy};

use error::Kind;

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

/// Settings of a [`Transport`]; defaults are design.md's.
#[derive(Debug, Clone)]
pub struct TransportBuilder {
    base_url: String,
    api_key: Option<ApiKey>,
    pub(crate) ca_cert: Option<PathBuf>,
    max_connections: usize,
    pub(crate) max_idle_per_host: usize,
    pub(crate) connect_timeout: Duration,
    attempt_timeout: Duration,
    deadline: Duration,
    max_retries: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    budget: (f64, f64, f64),
    rate_limit: Option<RateLimit>,
    pub(crate) http_version: HttpVersion,
    user_agent: String,
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

    /// Most attempts in flight at once (`MAX_CONNECTIONS`, default 50).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Idle connections kept per host (`MAX_POOL_SIZE`, default 20); 0 opens a connection per request.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// TCP connect timeout (`CONNECTION_TIMEOUT`, default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time for one attempt, headers and body (default 30 s).
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// Time for a whole call, retries and waits included (default 120 s).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Retries after the first attempt (`MAX_RETRIES`, default 3).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Backoff base (`RETRY_BACKOFF_FACTOR`, default 0.5 s) and cap (default 30 s).
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap.max(base);
        self
    }

    /// Retry budget: `ratio` extra requests per request, `floor_per_sec` retries a second regardless,
    /// at most `max` banked (default 0.2, 10, 100).
    pub fn retry_budget(mut self, ratio: f64, floor_per_sec: f64, max: f64) -> Self {
        self.budget = (ratio.max(0.0), floor_per_sec.max(0.0), max.max(0.0));
        self
    }

    /// Client-side rate limit (`POLYGON_RATE_LIMIT`; `None` is `off`; default 100/s).
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// HTTP versions to offer (default: HTTP/2 by ALPN, else HTTP/1.1).
    pub fn http_version(mut self, v: HttpVersion) -> Self {
        self.http_version = v;
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
        let limiter = match self.rate_limit {
            None => None,
            Some(r) => {
                let period = r.per / r.requests;
                let quota = Quota::with_period(period)
                    .ok_or_else(|| Error::config(format!("POLYGON_RATE_LIMIT {r} is too fast to express")))?
                    .allow_burst(NonZeroU32::new(r.requests).expect("RateLimit is never 0"));
                Some((DefaultDirectRateLimiter::direct(quota), period))
            }
        };
        let stats = Arc::new(Counters::default());
        let http = client::build(&self, stats_connections(&stats))?;
        let (ratio, floor, max) = self.budget;
        Ok(Transport {
            inner: Arc::new(Inner {
                base,
                http,
                limiter,
                permits: Semaphore::new(self.max_connections),
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

fn stats_connections(c: &Arc<Counters>) -> Arc<AtomicU64> {
    c.connections.clone()
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status (2xx).
    pub status: StatusCode,
    /// The body, gzip decoded.
    pub body: Bytes,
    /// Polygon's request id (`x-request-id` header), when sent.
    pub request_id: Option<String>,
    /// Attempts it took (1 + retries).
    pub attempts: u32,
    /// HTTP version used.
    pub version: http::Version,
}

/// A snapshot of the transport's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// Calls to [`Transport::get`].
    pub requests: u64,
    /// Attempts sent (requests + retries).
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// 429 responses received.
    pub rate_limited: u64,
    /// Retries the budget refused.
    pub budget_refusals: u64,
    /// Calls that ended in an error.
    pub failures: u64,
    /// Body bytes received on the wire (compressed).
    pub bytes_wire: u64,
    /// Body bytes after gzip decoding.
    pub bytes: u64,
    /// TCP connections opened.
    pub connections_opened: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    budget_refusals: AtomicU64,
    failures: AtomicU64,
    bytes_wire: AtomicU64,
    bytes: AtomicU64,
    connections: Arc<AtomicU64>,
}

/// A pooled, rate-limited, retrying client for one Polygon base URL. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    http: client::HttpClient,
    limiter: Option<(DefaultDirectRateLimiter, Duration)>,
    permits: Semaphore,
    paused_until: Mutex<Option<Instant>>,
    budget: RetryBudget,
    rng: retry::Rng,
    stats: Arc<Counters>,
    user_agent: HeaderValue,
    cfg: TransportBuilder,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The builder's Debug shows the key as ApiKey(<redacted>).
        f.debug_struct("Transport").field("config", &self.inner.cfg).field("stats", &self.stats()).finish()
    }
}

/// The path and query of a `next_url` (any host), to follow against the configured base; an
/// `apiKey` parameter is dropped (the key travels in the header).
///
/// # Errors
/// [`Error::is_config`] when `url` is not an absolute URL or a path.
pub fn path_of_next_url(url: &str) -> Result<String, Error> {
    let rest = if url.starts_with('/') {
        url
    } else {
        let after_scheme = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| Error::config("next_url is neither an http(s) URL nor a path"))?;
        &after_scheme[after_scheme.find('/').ok_or_else(|| Error::config("next_url has no path"))?..]
    };
    Ok(match rest.split_once('?') {
        None => rest.to_owned(),
        Some((p, q)) => {
            let kept: Vec<&str> = q.split('&').filter(|kv| !kv.to_ascii_lowercase().starts_with("apikey=")).collect();
            if kept.is_empty() { p.to_owned() } else { format!("{p}?{}", kept.join("&")) }
        }
    })
}

enum Failure {
    Final(Error),
    Retry(Error, Attempt),
}

impl Transport {
    /// Settings for a transport to `base_url` (`POLYGON_BASE_URL`, e.g. `https://api.massive.com`).
    pub fn builder(base_url: impl Into<String>) -> TransportBuilder {
        TransportBuilder {
            base_url: base_url.into(),
            api_key: None,
            ca_cert: None,
            max_connections: 50,
            max_idle_per_host: 20,
            connect_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            budget: (0.2, 10.0, 100.0),
            rate_limit: Some(RateLimit { requests: 100, per: Duration::from_secs(1) }),
            http_version: HttpVersion::Auto,
            user_agent: concat!("polygon-gh200/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The counters now.
    pub fn stats(&self) -> TransportStats {
        let c = &self.inner.stats;
        TransportStats {
            requests: c.requests.load(Relaxed),
            attempts: c.attempts.load(Relaxed),
            retries: c.retries.load(Relaxed),
            rate_limited: c.rate_limited.load(Relaxed),
            budget_refusals: c.budget_refusals.load(Relaxed),
            failures: c.failures.load(Relaxed),
            bytes_wire: c.bytes_wire.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            connections_opened: c.connections.load(Relaxed),
        }
    }

    /// GETs `path_and_query` (starting with `/`) against the base URL, retrying as configured.
    ///
    /// # Errors
    /// An [`Error`]: [`is_auth`](Error::is_auth) (401/403, not retried), [`is_not_found`](Error::is_not_found),
    /// other 4xx, or, once retries or budget or deadline ran out, [`is_rate_limited`](Error::is_rate_limited),
    /// [`is_server`](Error::is_server), [`is_timeout`](Error::is_timeout), [`is_connect`](Error::is_connect),
    /// [`is_body`](Error::is_body).
    ///
    /// # Cancel safety
    /// Dropping the future cancels the request; nothing is left half-done but an open connection,
    /// which the pool discards.
    pub async fn get(&self, path_and_query: &str) -> Result<Response, Error> {
        let shown = key::redact_path(path_and_query);
        let span = tracing::info_span!(
            "polygon.get",
            path = %shown,
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self.get_inner(path_and_query, &shown, started).instrument(span.clone()).await;
        span.record("latency_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(r) => {
                span.record("status", r.status.as_u16());
                span.record("attempt", r.attempts);
            }
            Err(e) => {
                self.inner.stats.failures.fetch_add(1, Relaxed);
                if let Some(s) = e.status() {
                    span.record("status", s.as_u16());
                }
                span.record("attempt", e.attempts());
                tracing::debug!(parent: &span, error = %e, "request failed");
            }
        }
        result
    }

    async fn get_inner(&self, path: &str, shown: &str, started: Instant) -> Result<Response, Error> {
        let inner = &*self.inner;
        let cfg = &inner.cfg;
        if !path.starts_with('/') {
            return Err(Error::config("the path must start with '/'").with_path(shown.to_owned()));
        }
        let uri: http::Uri = format!("{}{}", inner.base, path)
            .parse()
            .map_err(|_| Error::config("not a valid request path").with_path(shown.to_owned()))?;
        let deadline = started + cfg.deadline;
        inner.stats.requests.fetch_add(1, Relaxed);
        inner.budget.deposit();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(&uri, deadline).await {
                Ok(mut r) => {
                    r.attempts = attempt;
                    return Ok(r);
                }
                Err(f) => f,
            };
            let (err, what) = match failure {
                Failure::Final(e) => return Err(e.with_path(shown.to_owned()).with_attempts(attempt)),
                Failure::Retry(e, what) => (e.with_path(shown.to_owned()).with_attempts(attempt), what),
            };
            if !RetryPolicy.is_retryable(&Method::GET, what) || attempt > cfg.max_retries {
                return Err(err);
            }
            if !inner.budget.try_withdraw() {
                inner.stats.budget_refusals.fetch_add(1, Relaxed);
                tracing::warn!(path = %shown, "retry budget spent: not retrying");
                return Err(err);
            }
            let mut wait = retry::backoff(cfg.backoff_base, cfg.backoff_cap, attempt, &inner.rng);
            if let Some(ra) = err.retry_after() {
                wait = wait.max(ra);
                if what == Attempt::Status(StatusCode::TOO_MANY_REQUESTS) {
                    // Everyone waits for this host, not just this request.
                    let until = Instant::now() + ra;
                    let mut p = inner.paused_until.lock().await;
                    *p = Some(p.map_or(until, |cur| cur.max(until)));
                }
            }
            if Instant::now() + wait >= deadline {
                return Err(err);
            }
            inner.stats.retries.fetch_add(1, Relaxed);
            tracing::debug!(path = %shown, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: host pause, rate limit, concurrency permit, attempt timeout, send and read.
    async fn attempt(&self, uri: &http::Uri, deadline: Instant) -> Result<Response, Failure> {
        let inner = &*self.inner;
        let cfg = &inner.cfg;
        let timed_out = |what: &str| {
            Failure::Final(
                Error::new(Kind::Timeout).with_message(format!("deadline of {:?} passed {what}", cfg.deadline)),
            )
        };
        let pause = *inner.paused_until.lock().await;
        if let Some(until) = pause.filter(|u| *u > Instant::now()) {
            if until >= deadline {
                return Err(Failure::Final(
                    Error::new(Kind::Status(StatusCode::TOO_MANY_REQUESTS))
                        .with_message("the server asked to wait past the deadline"),
                ));
            }
            tokio::time::sleep_until(until.into()).await;
        }
        if let Some((limiter, period)) = &inner.limiter {
            let jitter = Jitter::up_to((*period / 4).min(Duration::from_millis(250)));
            tokio::time::timeout_at(deadline.into(), limiter.until_ready_with_jitter(jitter))
                .await
                .map_err(|_| timed_out("waiting for the rate limit"))?;
        }
        let _permit = tokio::time::timeout_at(deadline.into(), inner.permits.acquire())
            .await
            .map_err(|_| timed_out("waiting for a connection slot"))?
            .expect("the semaphore is never closed");
        let attempt_deadline = deadline.min(Instant::now() + cfg.attempt_timeout);
        inner.stats.attempts.fetch_add(1, Relaxed);
        match tokio::time::timeout_at(attempt_deadline.into(), self.send(uri)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Retry(
                Error::new(Kind::Timeout)
                    .with_message(format!("no complete response within {:?}", cfg.attempt_timeout)),
                Attempt::Timeout,
            )),
        }
    }

    async fn send(&self, uri: &http::Uri) -> Result<Response, Failure> {
        let inner = &*self.inner;
        let mut req = Request::get(uri.clone())
            .header(header::ACCEPT_ENCODING, "gzip")
            .header(header::USER_AGENT, inner.user_agent.clone())
            .body(Empty::<Bytes>::new())
            .expect("a GET with valid headers");
        if let Some(k) = &inner.cfg.api_key {
            req.headers_mut().insert(header::AUTHORIZATION, k.bearer());
        }
        let resp = inner.http.request(req).await.map_err(|e| {
            let msg = if e.is_connect() { "could not connect" } else { "connection closed before a response" };
            Failure::Retry(Error::new(Kind::Connect).with_message(msg).with_source(e), Attempt::Connect)
        })?;
        let status = resp.status();
        let version = resp.version();
        let headers = resp.headers().clone();
        let wire = resp.into_body().collect().await.map_err(|e| {
            Failure::Retry(Error::new(Kind::Body).with_message("body cut short").with_source(e), Attempt::Body)
        })?;
        let wire = wire.to_bytes();
        inner.stats.bytes_wire.fetch_add(wire.len() as u64, Relaxed);
        let gz = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = if gz {
            let out = gunzip::gunzip(&wire).map_err(|e| {
                Failure::Retry(Error::new(Kind::Body).with_message("invalid gzip body").with_source(e), Attempt::Body)
            })?;
            Bytes::from(out)
        } else {
            wire
        };
        inner.stats.bytes.fetch_add(body.len() as u64, Relaxed);
        let header_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if status.is_success() {
            return Ok(Response { status, body, request_id: header_id, attempts: 0, version });
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            inner.stats.rate_limited.fetch_add(1, Relaxed);
        }
        // Polygon's error body: {"status":"ERROR","request_id":…,"error":…} (or "message").
        let parsed: Option<polygon_model::ErrorResponse> = serde_json::from_slice(&body).ok();
        let message = parsed.as_ref().and_then(|p| p.error.clone().or_else(|| p.message.clone()));
        let request_id = parsed.and_then(|p| p.request_id).or(header_id);
        let mut err =
            Error::new(Kind::Status(status)).with_request_id(request_id).with_retry_after(retry::retry_after(&headers));
        err = match message {
            Some(m) => err.with_message(m),
            None => err.with_message(status.canonical_reason().unwrap_or("error").to_ascii_lowercase()),
        };
        Err(Failure::Retry(err, Attempt::Status(status)))
    }
}
