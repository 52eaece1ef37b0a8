//! `Transport`, the shared state behind it (pool, limiter, permits, host pause, budget, counters),
//! what a call returns (`Response`, `TransportStats`), and `path_of_next_url`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::{Mutex, Semaphore};

use crate::{Error, RetryBudget, TransportBuilder, client, retry};

/// A pooled, rate-limited, retrying client for one base URL (the Polygon REST API, or the flat-file
/// host inside a [`FileHost`](crate::FileHost)). Cheap to clone (shared pool).
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) base: String,
    pub(crate) http: client::HttpClient,
    pub(crate) limiter: Option<Arc<dyn crate::PermitSource>>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) paused_until: Mutex<Option<Instant>>,
    pub(crate) budget: RetryBudget,
    pub(crate) rng: retry::Rng,
    pub(crate) stats: Arc<Counters>,
    pub(crate) user_agent: HeaderValue,
    pub(crate) cfg: TransportBuilder,
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status (2xx).
    pub status: StatusCode,
    /// The body, gzip decoded (unless the transport was built with
    /// [`gzip(false)`](crate::TransportBuilder::gzip)); empty for a `HEAD`.
    pub body: Bytes,
    /// The response's headers (`ETag`, `Content-Length`, `Last-Modified`, …).
    pub headers: HeaderMap,
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
    /// Calls to [`Transport::get`], [`Transport::request`] and [`Transport::get_stream`].
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
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) attempts: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) budget_refusals: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) bytes_wire: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) connections: Arc<AtomicU64>,
}

impl Transport {
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
