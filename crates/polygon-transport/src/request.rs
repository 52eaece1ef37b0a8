//! One request, composed: `request` (span, counters) ▸ `call` (deadline, retry loop) ▸
//! `wait_to_retry` (policy, budget, backoff, `Retry-After`, the 429 pause) ▸ `attempt` (`admit`:
//! host pause, rate limit, permit; the attempt timeout) ▸ `send` (the pooled client) ▸ `finish`
//! (the body read and gunzipped within the size limit, the status judged). `get` is a `request`
//! of `GET`; the streamed form (`stream.rs`) reuses `admit`, `send`, `wait_to_retry` and
//! `status_failure`.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body as _, Incoming};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use crate::error::{self, ErrorBody, Kind};
use crate::{Attempt, Error, Response, RetryPolicy, Transport, gunzip, key, retry};

pub(crate) enum Failure {
    /// Not worth another attempt, whatever the policy says.
    Final(Error),
    /// For the policy to judge.
    Retry(Error, Attempt),
}

/// What one request sends.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) uri: http::Uri,
    /// Extra headers (`Range`, `If-Match`, …).
    pub(crate) headers: &'a HeaderMap,
    /// Ask for gzip and decode it.
    pub(crate) gzip: bool,
}

impl Transport {
    /// GETs `path_and_query` (starting with `/`) against the base URL, retrying as configured.
    ///
    /// # Errors
    /// An [`Error`]: [`is_auth`](Error::is_auth) (401/403, not retried), [`is_not_found`](Error::is_not_found),
    /// other 4xx, [`is_body_too_large`](Error::is_body_too_large) (not retried), or, once retries or
    /// budget or deadline ran out, [`is_rate_limited`](Error::is_rate_limited),
    /// [`is_server`](Error::is_server), [`is_timeout`](Error::is_timeout), [`is_connect`](Error::is_connect),
    /// [`is_body`](Error::is_body). A `Retry-After` that does not fit in what is left of the deadline
    /// ends the call at once, with an error that names the wait.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the request; nothing is left half-done but an open connection,
    /// which the pool discards.
    pub async fn get(&self, path_and_query: &str) -> Result<Response, Error> {
        self.request(Method::GET, path_and_query, HeaderMap::new()).await
    }

    /// A `GET` or `HEAD` of `path_and_query` (starting with `/`) against the base URL, with extra
    /// `headers` (`Range`, `If-Match`, …), retried as [`get`](Self::get) is. The [`Response`]
    /// carries the response's headers; a `HEAD`'s body is empty.
    ///
    /// # Errors
    /// As [`get`](Self::get); [`Error::is_config`] for another method, or an `Authorization`
    /// header in `headers` (the transport's key, when it has one, is the only one it sends).
    ///
    /// # Cancel safety
    /// As [`get`](Self::get).
    pub async fn request(&self, method: Method, path_and_query: &str, headers: HeaderMap) -> Result<Response, Error> {
        let shown = key::redact_path(path_and_query);
        let span = request_span(&method, &shown);
        let started = Instant::now();
        let result = async {
            if headers.contains_key(header::AUTHORIZATION) {
                return Err(Error::config("the Authorization header is the transport's own (its api_key)")
                    .with_path(shown.clone()));
            }
            let uri = self.uri_of(&method, path_and_query, &shown)?;
            let call = Call { uri, method, headers: &headers, gzip: self.inner.cfg.gzip };
            self.call(&call, &shown, started).await
        }
        .instrument(span.clone())
        .await;
        span.record("latency_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(r) => {
                span.record("status", r.status.as_u16());
                span.record("attempt", r.attempts);
            }
            Err(e) => self.record_failure(&span, e),
        }
        result
    }

    /// Counts a failed call and logs it on its span.
    pub(crate) fn record_failure(&self, span: &tracing::Span, e: &Error) {
        self.inner.stats.failures.fetch_add(1, Relaxed);
        if let Some(s) = e.status() {
            span.record("status", s.as_u16());
        }
        span.record("attempt", e.attempts());
        tracing::debug!(parent: span, error = %e, "request failed");
    }

    /// The URI of `path` against the base (`shown` is `path` redacted, for errors).
    pub(crate) fn uri_of(&self, method: &Method, path: &str, shown: &str) -> Result<http::Uri, Error> {
        if method != Method::GET && method != Method::HEAD {
            return Err(Error::config("only GET and HEAD are sent").with_path(shown.to_owned()));
        }
        if !path.starts_with('/') {
            return Err(Error::config("the path must start with '/'").with_path(shown.to_owned()));
        }
        format!("{}{}", self.inner.base, path)
            .parse()
            .map_err(|_| Error::config("not a valid request path").with_path(shown.to_owned()))
    }

    /// The deadline and the retry loop around [`attempt`](Self::attempt).
    async fn call(&self, call: &Call<'_>, shown: &str, started: Instant) -> Result<Response, Error> {
        let inner = &*self.inner;
        let deadline = started + inner.cfg.deadline;
        inner.stats.requests.fetch_add(1, Relaxed);
        inner.budget.deposit();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (err, what) = match self.attempt(call, deadline).await {
                Ok(mut r) => {
                    r.attempts = attempt;
                    return Ok(r);
                }
                Err(Failure::Final(e)) => {
                    return Err(e.with_path(shown.to_owned()).with_method(&call.method).with_attempts(attempt));
                }
                Err(Failure::Retry(e, what)) => {
                    (e.with_path(shown.to_owned()).with_method(&call.method).with_attempts(attempt), what)
                }
            };
            self.wait_to_retry(&call.method, err, what, attempt, deadline, shown).await?;
        }
    }

    /// After `failures` failed attempts in a row, the last ending in `err` (`what`): waits until
    /// the next may go (backoff, or the server's `Retry-After`; after a 429 every request to the
    /// host waits too) and returns `Ok`, or returns `err` when the policy, the retries, the
    /// deadline or the budget say no more.
    pub(crate) async fn wait_to_retry(
        &self,
        method: &Method,
        err: Error,
        what: Attempt,
        failures: u32,
        deadline: Instant,
        shown: &str,
    ) -> Result<(), Error> {
        let inner = &*self.inner;
        let cfg = &inner.cfg;
        if !RetryPolicy.is_retryable(method, what) || failures > cfg.max_retries {
            return Err(err);
        }
        let mut wait = retry::backoff(cfg.backoff_base, cfg.backoff_cap, failures, &inner.rng);
        if let Some(ra) = err.retry_after() {
            wait = wait.max(ra);
        }
        if what == Attempt::Status(StatusCode::TOO_MANY_REQUESTS) {
            // Everyone waits for this host, not just this request: for its Retry-After, or
            // without one for this retry's backoff; and everyone sharing the permits too.
            let until = Instant::now() + wait;
            {
                let mut p = inner.paused_until.lock().await;
                *p = Some(p.map_or(until, |cur| cur.max(until)));
            }
            if let Some(limiter) = &inner.limiter {
                limiter.pause(wait).await;
            }
        }
        let now = Instant::now();
        if now + wait >= deadline {
            return Err(match err.retry_after() {
                Some(ra) if now + ra >= deadline => {
                    let status = err.status();
                    err.with_hint(wait_past_deadline(ra, deadline - now, cfg.deadline, status))
                }
                _ => err,
            });
        }
        if !inner.budget.try_withdraw() {
            inner.stats.budget_refusals.fetch_add(1, Relaxed);
            tracing::warn!(path = %shown, "retry budget spent: not retrying");
            return Err(err);
        }
        inner.stats.retries.fetch_add(1, Relaxed);
        tracing::debug!(path = %shown, attempt = failures, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Leave to send one attempt: the host pause, the rate limit, a concurrency permit (held
    /// until the returned permit is dropped).
    pub(crate) async fn admit(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, Failure> {
        let inner = &*self.inner;
        let cfg = &inner.cfg;
        let timed_out = |what: &str| {
            Failure::Final(
                Error::new(Kind::Timeout).with_message(format!("deadline of {:?} passed {what}", cfg.deadline)),
            )
        };
        let pause = *inner.paused_until.lock().await;
        let now = Instant::now();
        if let Some(until) = pause.filter(|u| *u > now) {
            if until >= deadline {
                let status = StatusCode::TOO_MANY_REQUESTS;
                return Err(Failure::Final(
                    Error::new(Kind::Status(status))
                        .with_message("requests to this host are paused after a 429")
                        .with_retry_after(Some(until - now))
                        .with_hint(wait_past_deadline(until - now, deadline - now, cfg.deadline, Some(status))),
                ));
            }
            tokio::time::sleep_until(until.into()).await;
        }
        if let Some(limiter) = &inner.limiter
            && !limiter.acquire(deadline).await
        {
            return Err(timed_out("waiting for the rate limit"));
        }
        let permit = tokio::time::timeout_at(deadline.into(), inner.permits.clone().acquire_owned())
            .await
            .map_err(|_| timed_out("waiting for a connection slot"))?
            .expect("the semaphore is never closed");
        inner.stats.attempts.fetch_add(1, Relaxed);
        Ok(permit)
    }

    /// One attempt: admission, then within the attempt timeout send and read.
    async fn attempt(&self, call: &Call<'_>, deadline: Instant) -> Result<Response, Failure> {
        let _permit = self.admit(deadline).await?;
        let cfg = &self.inner.cfg;
        let attempt_deadline = deadline.min(Instant::now() + cfg.attempt_timeout);
        let sent = async {
            let resp = self.send(call).await?;
            self.finish(resp, call.gzip).await
        };
        match tokio::time::timeout_at(attempt_deadline.into(), sent).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Retry(
                Error::new(Kind::Timeout)
                    .with_message(format!("no complete response within {:?}", cfg.attempt_timeout)),
                Attempt::Timeout,
            )),
        }
    }

    /// Sends the request and waits for the response's head.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<http::Response<Incoming>, Failure> {
        let inner = &*self.inner;
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(call.uri.clone())
            .header(header::USER_AGENT, inner.user_agent.clone())
            .body(Empty::<Bytes>::new())
            .expect("a request with valid headers");
        let h = req.headers_mut();
        if call.gzip {
            h.insert(header::ACCEPT_ENCODING, http::HeaderValue::from_static("gzip"));
        }
        for (name, value) in call.headers {
            h.append(name, value.clone());
        }
        // The one place a key is attached; a transport built without one (the flat-file host's)
        // sends no Authorization header at all.
        if let Some(k) = &inner.cfg.api_key {
            h.insert(header::AUTHORIZATION, k.bearer());
        }
        inner.http.request(req).await.map_err(|e| {
            let msg = if e.is_connect() { "could not connect" } else { "connection closed before a response" };
            Failure::Retry(Error::new(Kind::Connect).with_message(msg).with_source(e), Attempt::Connect)
        })
    }

    /// Reads the body (at most `max_body_bytes`), gunzips it when `gzip` and the server says so
    /// (to at most as much), and turns an error status into a [`Failure`].
    async fn finish(&self, resp: http::Response<Incoming>, gzip: bool) -> Result<Response, Failure> {
        let inner = &*self.inner;
        let limit = inner.cfg.max_body_bytes;
        let (parts, body) = resp.into_parts();
        let wire = read_body(body, limit).await?;
        inner.stats.bytes_wire.fetch_add(wire.len() as u64, Relaxed);
        let gz = gzip
            && parts.headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = if gz {
            let out = gunzip::gunzip(&wire, limit).map_err(|e| match e {
                gunzip::GunzipError::TooLarge(Some(n)) => Failure::Final(Error::too_large(format!(
                    "the gzip body would decode to {n} bytes (its trailer says), over the limit of {}",
                    error::Bytes(limit)
                ))),
                gunzip::GunzipError::TooLarge(None) => Failure::Final(Error::too_large(format!(
                    "the gzip body decodes to more than the limit of {}",
                    error::Bytes(limit)
                ))),
                gunzip::GunzipError::Invalid(e) => Failure::Retry(
                    Error::new(Kind::Body).with_message("invalid gzip body").with_source(e),
                    Attempt::Body,
                ),
            })?;
            Bytes::from(out)
        } else {
            wire
        };
        inner.stats.bytes.fetch_add(body.len() as u64, Relaxed);
        if parts.status.is_success() {
            let request_id = header_request_id(&parts.headers);
            return Ok(Response {
                status: parts.status,
                body,
                headers: parts.headers,
                request_id,
                attempts: 0,
                version: parts.version,
            });
        }
        Err(self.status_failure(&parts, &body))
    }

    /// The failure an error status and its (decoded) body come to.
    pub(crate) fn status_failure(&self, parts: &http::response::Parts, body: &[u8]) -> Failure {
        let status = parts.status;
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.inner.stats.rate_limited.fetch_add(1, Relaxed);
        }
        let parsed = ErrorBody::parse(body);
        let mut err = Error::new(Kind::Status(status))
            .with_request_id(parsed.request_id.or_else(|| header_request_id(&parts.headers)))
            .with_code(parsed.code)
            .with_retry_after(retry::retry_after(&parts.headers));
        err = match parsed.message {
            Some(m) => err.with_message(m),
            None => err.with_message(status.canonical_reason().unwrap_or("error").to_ascii_lowercase()),
        };
        Failure::Retry(err, Attempt::Status(status))
    }
}

/// The span of one request: `polygon.get` (or `polygon.head`), its path redacted.
pub(crate) fn request_span(method: &Method, shown: &str) -> tracing::Span {
    if method == Method::HEAD {
        tracing::info_span!(
            "polygon.head",
            path = %shown,
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        )
    } else {
        tracing::info_span!(
            "polygon.get",
            path = %shown,
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        )
    }
}

/// Polygon's `x-request-id`, or S3's `x-amz-request-id`.
fn header_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("x-amz-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The whole body, refused as soon as it is known to exceed `limit`: before reading when its
/// `Content-Length` says so, else when the bytes read pass it (a chunked body that keeps going).
pub(crate) async fn read_body(mut body: Incoming, limit: u64) -> Result<Bytes, Failure> {
    let declared = body.size_hint().lower();
    if declared > limit {
        return Err(Failure::Final(Error::too_large(format!(
            "Content-Length {declared} is over the limit of {}",
            error::Bytes(limit)
        ))));
    }
    // `declared` is at most the limit, and hyper never delivers more than it.
    let mut buf = BytesMut::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Failure::Retry(Error::new(Kind::Body).with_message("body cut short").with_source(e), Attempt::Body)
        })?;
        let Ok(data) = frame.into_data() else { continue };
        if (buf.len() + data.len()) as u64 > limit {
            return Err(Failure::Final(Error::too_large(format!(
                "the body went on past the limit of {}",
                error::Bytes(limit)
            ))));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// What to tell the user when the server asked to wait `wait` and only `left` of the call's
/// `deadline` remains.
fn wait_past_deadline(wait: Duration, left: Duration, deadline: Duration, status: Option<StatusCode>) -> String {
    let what_to_do = if status == Some(StatusCode::TOO_MANY_REQUESTS) {
        "lower POLYGON_RATE_LIMIT to stay under the plan's rate, or retry after the wait"
    } else {
        "retry after the wait"
    };
    format!(
        "the server asked to wait {} (Retry-After), longer than the {} left of this request's {} deadline: {what_to_do}",
        Secs(wait),
        Secs(left),
        Secs(deadline)
    )
}

/// A duration in seconds: `60 s`, `4.9 s`.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{} s", self.0.as_secs())
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}
