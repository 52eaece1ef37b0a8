//! The transport's one error type: opaque, with predicates, the HTTP status, Polygon's `request_id`
//! or S3's error `Code`; and the reading of an error body (Polygon's JSON, S3's XML).

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

/// A failed request: what, where (path without secrets), the status and the server's request id.
///
/// Opaque, with predicates as hyper and tower errors have them; the cause, if any, is in
/// [`std::error::Error::source`]. Nothing in it carries the API key, the S3 secret, a signature
/// or the S3 access key id.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    method: &'static str,
    path: Option<String>,
    /// What the request was for, shown instead of method and path (`flat file KEY`).
    subject: Option<String>,
    /// S3's error `Code` (`AccessDenied`, `SignatureDoesNotMatch`, …).
    code: Option<String>,
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
                method: "GET",
                path: None,
                subject: None,
                code: None,
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

    pub(crate) fn with_method(mut self, method: &http::Method) -> Self {
        self.inner.method = if method == http::Method::HEAD { "HEAD" } else { "GET" };
        self
    }

    pub(crate) fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.inner.subject = Some(subject.into());
        self
    }

    pub(crate) fn with_code(mut self, code: Option<String>) -> Self {
        self.inner.code = code;
        self
    }

    /// Replaces `secret` wherever the server's text repeated it (a defence: S3's `Message` names
    /// neither the key id nor the secret, but a look-alike server might). Values shorter than 8
    /// characters are left alone: they would match ordinary words (real ones are 20 and 40).
    pub(crate) fn scrub(mut self, secret: &str) -> Self {
        if secret.len() >= 8
            && let Some(m) = &mut self.inner.message
            && m.contains(secret)
        {
            *m = m.replace(secret, "<redacted>");
        }
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

    /// The flat-file host (S3) refused with `AccessDenied` (403). At Massive this is ambiguous:
    /// the file is not published yet (a session's files appear about 11:00 ET the next day), it
    /// is outside the plan's history, or the plan has no flat-files access. A listing of its
    /// prefix tells the first (the listing answers, without the file) from the others.
    pub fn is_access_denied(&self) -> bool {
        self.code() == Some("AccessDenied")
    }

    /// The flat-file host refused the credentials: `SignatureDoesNotMatch` (the secret access
    /// key is wrong) or `InvalidAccessKeyId` (the access key id is unknown). Never retried.
    pub fn is_bad_credentials(&self) -> bool {
        matches!(self.code(), Some("SignatureDoesNotMatch" | "InvalidAccessKeyId"))
    }

    /// 412 Precondition Failed: a download resumed with `If-Match` found the resource replaced
    /// since it began (its ETag no longer matches). Download it again from the start.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self.inner.kind, Kind::Status(StatusCode::PRECONDITION_FAILED))
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

    /// Polygon's `request_id` (its error body, else `x-request-id`) or S3's `RequestId` (its error
    /// body, else `x-amz-request-id`), when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The server's error text (`error` or `message` of Polygon's JSON body, `Message` of S3's
    /// XML one), when there was one.
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

    /// The request path, with any `apiKey` parameter, and a presigned URL's `X-Amz-Signature`,
    /// `X-Amz-Credential` and `X-Amz-Security-Token`, redacted.
    pub fn path(&self) -> Option<&str> {
        self.inner.path.as_deref()
    }

    /// S3's error `Code` (`AccessDenied`, `SignatureDoesNotMatch`, `InvalidAccessKeyId`,
    /// `PreconditionFailed`, …), when the flat-file host sent an XML error body.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(s) = &i.subject {
            write!(f, "{s}: ")?;
        } else if let Some(p) = &i.path {
            write!(f, "{} {p}: ", i.method)?;
        }
        match i.kind {
            Kind::Config => f.write_str("invalid transport settings")?,
            Kind::Connect => f.write_str("connection failed")?,
            Kind::Timeout => f.write_str("timed out")?,
            Kind::Body => f.write_str("response body could not be read")?,
            Kind::TooLarge => f.write_str("response body too large")?,
            Kind::Status(s) => write!(f, "HTTP {}", s.as_u16())?,
        }
        if let Some(c) = &i.code {
            write!(f, " {c}")?;
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
            .field("method", &i.method)
            .field("path", &i.path)
            .field("subject", &i.subject)
            .field("code", &i.code)
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

/// What an error body says: Polygon's JSON `{"status":"ERROR","request_id":…,"error":…}` (or
/// `message`), or S3's XML `<Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId>`.
/// Only these fields are read: S3's others (`StringToSign`, `CanonicalRequest`,
/// `AWSAccessKeyId`, …) can carry the access key id and are never kept.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    pub(crate) message: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) code: Option<String>,
}

impl ErrorBody {
    pub(crate) fn parse(body: &[u8]) -> ErrorBody {
        if let Ok(p) = serde_json::from_slice::<polygon_model::ErrorResponse>(body) {
            return ErrorBody { message: p.error.or(p.message), request_id: p.request_id, code: None };
        }
        let Ok(text) = std::str::from_utf8(body) else { return ErrorBody::default() };
        let Some(start) = text.find("<Error>") else { return ErrorBody::default() };
        let xml = &text[start..];
        ErrorBody {
            code: xml_field(xml, "Code"),
            message: xml_field(xml, "Message"),
            request_id: xml_field(xml, "RequestId"),
        }
    }
}

/// The text of `<name>…</name>`, unescaped, when there is one (at most 1,000 characters: a message,
/// not a document).
fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let from = xml.find(&open)? + open.len();
    let len = xml[from..].find(&format!("</{name}>"))?;
    let raw: String = xml[from..from + len].chars().take(1_000).collect();
    let text = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_hosts_are_read() {
        let polygon = br#"{"status":"ERROR","request_id":"r1","error":"Unknown API Key"}"#;
        assert_eq!(
            ErrorBody::parse(polygon),
            ErrorBody { message: Some("Unknown API Key".into()), request_id: Some("r1".into()), code: None }
        );
        let s3 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>\
            <Message>The request signature &amp; &lt;key&gt;</Message><AWSAccessKeyId>AKID</AWSAccessKeyId>\
            <StringToSign>AWS4-HMAC-SHA256 AKID</StringToSign><RequestId>R2</RequestId></Error>";
        let got = ErrorBody::parse(s3);
        assert_eq!(got.code.as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(got.message.as_deref(), Some("The request signature & <key>"));
        assert_eq!(got.request_id.as_deref(), Some("R2"));
        assert!(!format!("{got:?}").contains("AKID"), "only Code, Message and RequestId are kept");
        assert_eq!(ErrorBody::parse(b"plain text"), ErrorBody::default());
        assert_eq!(ErrorBody::parse(b""), ErrorBody::default());
    }

    #[test]
    fn s3_errors_show_their_code_and_subject() {
        let e = Error::new(Kind::Status(StatusCode::FORBIDDEN))
            .with_code(Some("AccessDenied".into()))
            .with_message("Access Denied")
            .with_path("/flatfiles/k?X-Amz-Signature=<redacted>".into())
            .with_subject("flat file k");
        assert_eq!(e.to_string(), "flat file k: HTTP 403 AccessDenied: Access Denied");
        assert!(e.is_access_denied() && e.is_auth() && !e.is_bad_credentials());
        let e = Error::new(Kind::Status(StatusCode::FORBIDDEN)).with_code(Some("InvalidAccessKeyId".into()));
        assert!(e.is_bad_credentials() && !e.is_access_denied());
        let e = Error::new(Kind::Status(StatusCode::NOT_FOUND)).with_path("/x".into()).with_method(&http::Method::HEAD);
        assert_eq!(e.to_string(), "HEAD /x: HTTP 404");
        let e = Error::new(Kind::Body).with_message("the host said AKIA1234 is unknown").scrub("AKIA1234").scrub("x");
        assert_eq!(e.message(), Some("the host said <redacted> is unknown"));
    }
}
