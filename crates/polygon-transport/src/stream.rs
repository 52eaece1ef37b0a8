//! `BodyStream`: a GET whose body is handed over chunk by chunk as it arrives, never held whole,
//! and which, when the body is cut short or stalls, resumes where it stopped with
//! `Range: bytes=N-` and `If-Match: <the first response's ETag>` (a 412 then says the resource
//! changed meanwhile).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Incoming};
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument as _;

use crate::error::{self, Kind};
use crate::request::{Call, Failure, read_body};
use crate::{Attempt, Error, Transport, key};

impl Transport {
    /// GETs `path_and_query` (starting with `/`) and returns once the response's head is in, with
    /// its body to read as it arrives ([`BodyStream::chunk`]); for bodies too large to hold, or to
    /// write out as they come (a 70 MB flat file).
    ///
    /// Getting to a 2xx head is retried as [`get`](Self::get) is. The body is the bytes as sent:
    /// `Accept-Encoding: gzip` is not asked for and nothing is decoded, so that a resumed range
    /// continues the same bytes. [`attempt_timeout`](crate::TransportBuilder::attempt_timeout)
    /// bounds the wait for the head and then for each chunk (not the whole body: a large file
    /// takes longer than any one timeout); the deadline bounds the whole download, resumes
    /// included; the body bound (`max_body_bytes`) holds for the whole body.
    ///
    /// # Errors
    /// As [`get`](Self::get), for reaching the head; [`Error::is_body_too_large`] when its
    /// `Content-Length` is over the limit.
    ///
    /// # Cancel safety
    /// Dropping the future, or the stream, cancels the request; the connection is discarded.
    pub async fn get_stream(&self, path_and_query: &str) -> Result<BodyStream, Error> {
        let shown = key::redact_path(path_and_query);
        let span = tracing::info_span!(
            "polygon.stream",
            path = %shown,
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self.open_stream(path_and_query, &shown, started, span.clone()).instrument(span.clone()).await;
        span.record("latency_ms", started.elapsed().as_millis() as u64);
        match &result {
            Ok(s) => {
                span.record("status", s.status.as_u16());
                span.record("attempt", s.attempts);
            }
            Err(e) => self.record_failure(&span, e),
        }
        result
    }

    async fn open_stream(
        &self,
        path: &str,
        shown: &str,
        started: Instant,
        span: tracing::Span,
    ) -> Result<BodyStream, Error> {
        let inner = &*self.inner;
        let uri = self.uri_of(&Method::GET, path, shown)?;
        let deadline = started + inner.cfg.deadline;
        inner.stats.requests.fetch_add(1, Relaxed);
        inner.budget.deposit();
        let no_headers = HeaderMap::new();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let decorate = |e: Error| e.with_path(shown.to_owned()).with_attempts(attempt);
            let (err, what) = match self.open_attempt(&uri, &no_headers, deadline).await {
                Ok((resp, permit)) => {
                    let (parts, body) = resp.into_parts();
                    let limit = inner.cfg.max_body_bytes;
                    let declared = body.size_hint().lower();
                    if declared > limit {
                        return Err(decorate(Error::too_large(format!(
                            "Content-Length {declared} is over the limit of {}",
                            error::Bytes(limit)
                        ))));
                    }
                    // A weak ETag does not promise the same bytes: nothing to resume against.
                    let etag = parts.headers.get(header::ETAG).filter(|v| !v.as_bytes().starts_with(b"W/")).cloned();
                    let total = body.size_hint().exact();
                    return Ok(BodyStream {
                        transport: self.clone(),
                        uri,
                        shown: shown.to_owned(),
                        span,
                        status: parts.status,
                        headers: parts.headers,
                        etag,
                        total,
                        body: Some(body),
                        permit: Some(permit),
                        received: 0,
                        skip: 0,
                        deadline,
                        attempts: attempt,
                        failures: 0,
                        resumes: 0,
                        done: false,
                    });
                }
                Err(Failure::Final(e)) => return Err(decorate(e)),
                Err(Failure::Retry(e, what)) => (decorate(e), what),
            };
            self.wait_to_retry(&Method::GET, err, what, attempt, deadline, shown).await?;
        }
    }

    /// One attempt at a response head: admission, then the request within the attempt timeout;
    /// an error status's (small) body is read and judged.
    async fn open_attempt(
        &self,
        uri: &http::Uri,
        headers: &HeaderMap,
        deadline: Instant,
    ) -> Result<(http::Response<Incoming>, OwnedSemaphorePermit), Failure> {
        let permit = self.admit(deadline).await?;
        let cfg = &self.inner.cfg;
        let attempt_deadline = deadline.min(Instant::now() + cfg.attempt_timeout);
        let call = Call { method: Method::GET, uri: uri.clone(), headers, gzip: false };
        let head = async {
            let resp = self.send(&call).await?;
            if resp.status().is_success() {
                return Ok(resp);
            }
            let (parts, body) = resp.into_parts();
            let body = read_body(body, cfg.max_body_bytes).await?;
            self.inner.stats.bytes_wire.fetch_add(body.len() as u64, Relaxed);
            self.inner.stats.bytes.fetch_add(body.len() as u64, Relaxed);
            Err(self.status_failure(&parts, &body))
        };
        match tokio::time::timeout_at(attempt_deadline.into(), head).await {
            Ok(r) => r.map(|resp| (resp, permit)),
            Err(_) => Err(Failure::Retry(
                Error::new(Kind::Timeout).with_message(format!("no response within {:?}", cfg.attempt_timeout)),
                Attempt::Timeout,
            )),
        }
    }
}

/// A response body read as it arrives, from [`Transport::get_stream`].
///
/// [`chunk`](Self::chunk) hands over the bytes in order. When the body is cut short or stalls
/// for an attempt timeout, the stream waits as a retry does (backoff, retry budget, at most
/// `max_retries` failures in a row without a byte in between) and asks again for the rest:
/// `Range: bytes=N-` with `If-Match` of the first response's `ETag`. A server that ignores the
/// range and sends the whole body again has its first `N` bytes dropped; one that answers 412
/// (the resource changed since the download began) ends the stream with an error for which
/// [`Error::is_precondition_failed`] holds: the bytes already handed over belong to the old
/// version, so start again. Without a (strong) `ETag` a cut body cannot be resumed safely and is
/// an error.
pub struct BodyStream {
    transport: Transport,
    uri: http::Uri,
    shown: String,
    span: tracing::Span,
    status: StatusCode,
    headers: HeaderMap,
    etag: Option<HeaderValue>,
    /// The body's length, when the first response declared it.
    total: Option<u64>,
    body: Option<Incoming>,
    /// The connection slot, held while a body is being read.
    permit: Option<OwnedSemaphorePermit>,
    received: u64,
    /// Bytes still to drop from the current body (a server that ignored the range).
    skip: u64,
    deadline: Instant,
    attempts: u32,
    /// Failed attempts since the last byte arrived.
    failures: u32,
    resumes: u32,
    done: bool,
}

impl BodyStream {
    /// The first response's status (200).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The first response's headers (`ETag`, `Content-Length`, `Last-Modified`, …).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body's length, when the first response declared it (`Content-Length`).
    pub fn content_length(&self) -> Option<u64> {
        self.total
    }

    /// Bytes handed over so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Times the body was asked for again from where it stopped.
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    /// The next chunk of the body, `None` once it is complete.
    ///
    /// # Errors
    /// [`Error::is_body`] or [`Error::is_timeout`] when the body could not be completed within
    /// the retries, the budget and the deadline; [`Error::is_precondition_failed`] when the
    /// resource changed during the download; [`Error::is_body_too_large`] past `max_body_bytes`;
    /// or the status error of a resumed request. After an error the stream is over.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future loses no byte (none is taken from the body that is not
    /// returned); one dropped while a resume was under way leaves the next call to resume again.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let span = self.span.clone();
        let result = self.next().instrument(span.clone()).await;
        if let Err(e) = &result {
            self.done = true;
            self.body = None;
            self.permit = None;
            self.transport.record_failure(&span, e);
        }
        result
    }

    async fn next(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if self.done {
                return Ok(None);
            }
            let failure = match self.body.as_mut() {
                Some(body) => {
                    let cfg = &self.transport.inner.cfg;
                    let wait_until = self.deadline.min(Instant::now() + cfg.attempt_timeout);
                    match tokio::time::timeout_at(wait_until.into(), body.frame()).await {
                        Ok(Some(Ok(frame))) => {
                            let Ok(mut data) = frame.into_data() else { continue };
                            let stats = &self.transport.inner.stats;
                            stats.bytes_wire.fetch_add(data.len() as u64, Relaxed);
                            if self.skip > 0 {
                                let n = data.len().min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                                self.skip -= n as u64;
                                data = data.slice(n..);
                            }
                            if data.is_empty() {
                                continue;
                            }
                            let limit = cfg.max_body_bytes;
                            if self.received + data.len() as u64 > limit {
                                return Err(self.decorate(Error::too_large(format!(
                                    "the body went on past the limit of {}",
                                    error::Bytes(limit)
                                ))));
                            }
                            self.received += data.len() as u64;
                            self.failures = 0;
                            stats.bytes.fetch_add(data.len() as u64, Relaxed);
                            return Ok(Some(data));
                        }
                        Ok(None) => match self.total {
                            Some(total) if self.received < total => Failure::Retry(
                                Error::new(Kind::Body)
                                    .with_message(format!("the body ended at {} of {total} bytes", self.received)),
                                Attempt::Body,
                            ),
                            _ => {
                                self.done = true;
                                self.body = None;
                                self.permit = None;
                                return Ok(None);
                            }
                        },
                        Ok(Some(Err(e))) => Failure::Retry(
                            Error::new(Kind::Body).with_message("body cut short").with_source(e),
                            Attempt::Body,
                        ),
                        Err(_) if Instant::now() >= self.deadline => Failure::Final(
                            Error::new(Kind::Timeout)
                                .with_message(format!("deadline of {:?} passed reading the body", cfg.deadline)),
                        ),
                        Err(_) => Failure::Retry(
                            Error::new(Kind::Timeout)
                                .with_message(format!("no data for {:?} reading the body", cfg.attempt_timeout)),
                            Attempt::Timeout,
                        ),
                    }
                }
                // A call cancelled while it was resuming: resume now.
                None => Failure::Retry(
                    Error::new(Kind::Body).with_message("a read was cancelled while the body was resumed"),
                    Attempt::Body,
                ),
            };
            self.body = None;
            self.permit = None;
            self.resume(failure).await?;
        }
    }

    fn decorate(&self, e: Error) -> Error {
        e.with_path(self.shown.clone()).with_attempts(self.attempts)
    }

    /// After the body failed: waits as a retry does, then asks for the rest (range and
    /// `If-Match`), until a body is flowing again or the failure is final.
    async fn resume(&mut self, mut failure: Failure) -> Result<(), Error> {
        let t = self.transport.clone();
        loop {
            let (err, what) = match failure {
                Failure::Final(e) => return Err(self.decorate(e)),
                Failure::Retry(e, what) => (self.decorate(e), what),
            };
            if what == Attempt::Status(StatusCode::PRECONDITION_FAILED) {
                return Err(err.with_hint(format!(
                    "the resource changed after {} bytes of it were received (its ETag no longer matches): \
                     download it again from the start",
                    self.received
                )));
            }
            let Some(etag) = self.etag.clone() else {
                return Err(err.with_hint("the response had no ETag, so the body cannot be resumed where it stopped"));
            };
            self.failures += 1;
            t.wait_to_retry(&Method::GET, err, what, self.failures, self.deadline, &self.shown).await?;
            self.attempts += 1;
            self.resumes += 1;
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, HeaderValue::from_str(&format!("bytes={}-", self.received)).expect("ASCII"));
            h.insert(header::IF_MATCH, etag);
            tracing::debug!(path = %self.shown, from_byte = self.received, attempt = self.attempts, "resuming the body");
            failure = match t.open_attempt(&self.uri, &h, self.deadline).await {
                Ok((resp, permit)) => match self.resumed_at(&resp) {
                    Ok(skip) => {
                        self.skip = skip;
                        self.body = Some(resp.into_body());
                        self.permit = Some(permit);
                        return Ok(());
                    }
                    Err(e) => return Err(self.decorate(e)),
                },
                Err(f) => f,
            };
        }
    }

    /// Checks a resumed response; the bytes to drop from its body.
    fn resumed_at(&self, resp: &http::Response<Incoming>) -> Result<u64, Error> {
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let range = resp.headers().get(header::CONTENT_RANGE).and_then(|v| v.to_str().ok());
                match range.and_then(content_range_start) {
                    Some(start) if start == self.received => Ok(0),
                    _ => Err(Error::new(Kind::Body).with_message(format!(
                        "asked for the body from byte {}, the server sent Content-Range {}",
                        self.received,
                        range.unwrap_or("(none)")
                    ))),
                }
            }
            // The range was ignored (If-Match held: the same bytes): drop what was handed over.
            StatusCode::OK => Ok(self.received),
            s => Err(Error::new(Kind::Status(s)).with_message("unexpected status to a range request")),
        }
    }
}

/// The first byte of a `Content-Range: bytes A-B/TOTAL`.
fn content_range_start(v: &str) -> Option<u64> {
    v.trim().strip_prefix("bytes ")?.split_once('-')?.0.trim().parse().ok()
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyStream")
            .field("path", &self.shown)
            .field("status", &self.status)
            .field("content_length", &self.total)
            .field("received", &self.received)
            .field("resumes", &self.resumes)
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_give_their_start() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("items 1-2/3"), None);
        assert_eq!(content_range_start("bytes */200"), None);
    }
}
