//! One GET, composed: `get` (span, counters) ▸ `get_inner` (deadline, retry, budget, backoff,
//! `Retry-After`) ▸ `attempt` (host pause, rate limit, permit, attempt timeout) ▸ `send` (the
//! pooled client, the body read and gunzipped within the size limit, the status judged).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body as _, Incoming};
use tracing::Instrument;

use crate::error::{self, Kind};
use crate::{Attempt, Error, Response, RetryPolicy, Transport, gunzip, key, retry};

enum Failure {
    /// Not worth another attempt, whatever the policy says.
    Final(Error),
    /// For the policy to judge.
    Retry(Error, Attempt),
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

    /// The deadline and the retry loop around [`attempt`](Self::attempt).
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
            let mut wait = retry::backoff(cfg.backoff_base, cfg.backoff_cap, attempt, &inner.rng);
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

    /// Sends the request, reads the body (at most `max_body_bytes`), gunzips it (to at most as
    /// much) and turns an error status into an [`Error`].
    async fn send(&self, uri: &http::Uri) -> Result<Response, Failure> {
        let inner = &*self.inner;
        let limit = inner.cfg.max_body_bytes;
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
        let wire = read_body(resp.into_body(), limit).await?;
        inner.stats.bytes_wire.fetch_add(wire.len() as u64, Relaxed);
        let gz = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
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

/// The whole body, refused as soon as it is known to exceed `limit`: before reading when its
/// `Content-Length` says so, else when the bytes read pass it (a chunked body that keeps going).
async fn read_body(mut body: Incoming, limit: u64) -> Result<Bytes, Failure> {
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
