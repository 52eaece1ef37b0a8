//! The transport's one error type: opaque, with predicates, the HTTP status and Polygon's `request_id`.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Bad settings (no request was sent).
    Config,
    /// Could not connect, TLS failed, or the connection dropped before a response.
    Connect,
    /// An attempt or the overall deadline ran out.
    Timeout,
    /// The response's body could not be read (cut short, stalled, bad gzip).
    Body,
    /// The response's body is larger than the configured limit, on the wire or decoded.
    TooLarge,
    /// An HTTP error status.
    Status(StatusCode),
}

/// A failed GET: what, where (path without secrets), the status and Polygon's `request_id`.
///
/// Opaque, with predicates as hyper and tower errors have them; the cause, if any, is in
/// [`std::error::Error::source`]. Nothing in it carries the API key.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    path: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    attempts: u32,
    retry_after: Option<Duration>,
    /// What the user can do about it, shown after everything else.
    hint: Option<String>,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                path: None,
                message: None,
                request_id: None,
                attempts: 0,
                retry_after: None,
                hint: None,
                source: None,
            }),
        }
    }

    pub(crate) fn config(msg: impl Into<String>) -> Self {
        Error::new(Kind::Config).with_message(msg)
    }

    pub(crate) fn with_message(mut self, msg: impl Into<String>) -> Self {
        self.inner.message = Some(msg.into());
        self
    }

    pub(crate) fn with_source(mut self, e: impl Into<BoxError>) -> Self {
        self.inner.source = Some(e.into());
        self
    }

    pub(crate) fn with_path(mut self, path: String) -> Self {
        self.inner.path = Some(path);
        self
    }

    pub(crate) fn with_request_id(mut self, id: Option<String>) -> Self {
        self.inner.request_id = id;
        self
    }

    pub(crate) fn with_retry_after(mut self, d: Option<Duration>) -> Self {
        self.inner.retry_after = d;
        self
    }

    pub(crate) fn with_attempts(mut self, n: u32) -> Self {
        self.inner.attempts = n;
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.inner.hint = Some(hint.into());
        self
    }

    /// A body over the limit; `msg` says how it showed and names the limit.
    pub(crate) fn too_large(msg: impl Into<String>) -> Self {
        Error::new(Kind::TooLarge)
            .with_message(msg)
            .with_hint("raise MAX_BODY_MB (the transport's max_body_bytes) to accept it")
    }

    /// 401 or 403: the key is missing, wrong, or not entitled to the data. Never retried.
    pub fn is_auth(&self) -> bool {
        matches!(self.inner.kind, Kind::Status(s) if s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN)
    }

    /// 429 from the server, still failing after the retries the budget allowed.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self.inner.kind, Kind::Status(StatusCode::TOO_MANY_REQUESTS))
    }

    /// An attempt timed out, or the overall deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// A 5xx status.
    pub fn is_server(&self) -> bool {
        matches!(self.inner.kind, Kind::Status(s) if s.is_server_error())
    }

    /// Could not connect (refused, DNS, TLS), or the connection dropped before a response.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// The response body could not be read in full (cut short, stalled, bad gzip). Not a body
    /// over the limit: that is [`is_body_too_large`](Error::is_body_too_large).
    pub fn is_body(&self) -> bool {
        self.inner.kind == Kind::Body
    }

    /// The response body, on the wire or gzip decoded, is larger than the transport's limit
    /// (`MAX_BODY_MB`); it was refused before it was read or decoded past the limit. Never retried.
    pub fn is_body_too_large(&self) -> bool {
        self.inner.kind == Kind::TooLarge
    }

    /// 404: no such resource.
    pub fn is_not_found(&self) -> bool {
        matches!(self.inner.kind, Kind::Status(StatusCode::NOT_FOUND))
    }

    /// Invalid settings; nothing was sent.
    pub fn is_config(&self) -> bool {
        self.inner.kind == Kind::Config
    }

    /// The HTTP status, when a response arrived.
    pub fn status(&self) -> Option<StatusCode> {
        match self.inner.kind {
            Kind::Status(s) => Some(s),
            _ => None,
        }
    }

    /// Polygon's `request_id`, when its error body had one.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// Polygon's error text (`error` or `message` of its JSON body), when there was one.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// Attempts made (1 + retries); 0 when nothing was sent.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The request path, with any `apiKey` parameter redacted.
    pub fn path(&self) -> Option<&str> {
        self.inner.path.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(p) = &i.path {
            write!(f, "GET {p}: ")?;
        }
        match i.kind {
            Kind::Config => f.write_str("invalid transport settings")?,
            Kind::Connect => f.write_str("connection failed")?,
            Kind::Timeout => f.write_str("timed out")?,
            Kind::Body => f.write_str("response body could not be read")?,
            Kind::TooLarge => f.write_str("response body too large")?,
            Kind::Status(s) => write!(f, "HTTP {}", s.as_u16())?,
        }
        if let Some(m) = &i.message {
            write!(f, ": {m}")?;
        }
        if let Some(r) = &i.request_id {
            write!(f, " (request_id {r})")?;
        }
        if i.attempts > 1 {
            write!(f, " after {} attempts", i.attempts)?;
        }
        if let Some(h) = &i.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Error")
            .field("kind", &i.kind)
            .field("path", &i.path)
            .field("message", &i.message)
            .field("request_id", &i.request_id)
            .field("attempts", &i.attempts)
            .field("retry_after", &i.retry_after)
            .field("hint", &i.hint)
            .field("source", &i.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A byte count as people read it: `8 MiB`, or `8388607 bytes` when not whole MiB.
pub(crate) struct Bytes(pub(crate) u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1 << 20;
        if self.0 >= MIB && self.0.is_multiple_of(MIB) {
            write!(f, "{} MiB", self.0 / MIB)
        } else {
            write!(f, "{} bytes", self.0)
        }
    }
}

/// `e` and its causes, joined with `: ` (for one-line reports).
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
