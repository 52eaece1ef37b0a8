//! `FileHost`: Massive's flat-file host (S3-compatible, `https://files.massive.com`, bucket
//! `flatfiles`, path-style): ListObjectsV2, HEAD and downloads of day files. rusty-s3 signs
//! (SigV4 presigned URLs) and parses the listing; a `Transport` of the host's own, which carries no
//! API key, sends.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use rusty_s3::S3Action as _;

use crate::error::Kind;
use crate::{BodyStream, Error, S3Secret, Transport, TransportBuilder};

/// The file host's defaults, one constant each (as [`crate::defaults`] are the REST API's).
pub mod defaults {
    use std::time::Duration;

    use polygon_model::RateLimit;

    /// The endpoint (`POLYGON_S3_ENDPOINT`).
    pub const ENDPOINT: &str = "https://files.massive.com";
    /// The bucket (`POLYGON_S3_BUCKET`).
    pub const BUCKET: &str = "flatfiles";
    /// The SigV4 region Massive's documentation configures S3 clients with.
    pub const REGION: &str = "us-east-1";
    /// Largest file accepted: 1 GiB (a day of minute bars of the whole market is about 50-70 MB
    /// of gzip, trades and quotes files are larger; the REST bound of `MAX_BODY_MB` would be too
    /// small for some). Streamed downloads hold a chunk at a time; [`FileHost::get`](crate::FileHost::get) holds it all.
    pub const MAX_BODY_BYTES: u64 = 1 << 30;
    /// Client-side limit on requests to the file host: 20 a second, our choice, not a figure of
    /// Massive's (downloads are not charged to the REST quota, and this limit is not the REST one).
    pub const RATE_LIMIT: RateLimit = RateLimit { requests: 20, per: Duration::from_secs(1) };
    /// Most requests (downloads) in flight at once, and idle connections kept.
    pub const MAX_CONNECTIONS: usize = 8;
    /// Time for a whole call, a file's download and its resumes included: 30 minutes. (The
    /// attempt timeout, the REST default, bounds each wait for a response head or a chunk.)
    pub const DEADLINE: Duration = Duration::from_secs(30 * 60);
    /// How much longer than the deadline a presigned URL stays valid, so that a late resume is
    /// still signed.
    pub const SIGNATURE_MARGIN: Duration = Duration::from_secs(5 * 60);
}

/// S3 accepts presigned URLs valid for at most this long.
const MAX_PRESIGNED: Duration = Duration::from_secs(7 * 24 * 3600);

/// An object of the file host, as a listing or a response's headers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key (`us_stocks_sip/minute_aggs_v1/2024/07/2024-07-01.csv.gz`).
    pub key: String,
    /// Its size in bytes, as stored (gzip).
    pub size: u64,
    /// Its entity tag, quotes included (`"9b2cf535f27731c974343645a3985328"`): opaque; a file
    /// replaced after publication has a new one.
    pub etag: String,
    /// When it was stored, when the host said.
    pub last_modified: Option<SystemTime>,
}

/// A downloaded object: its bytes exactly as stored (a `.csv.gz` stays gzip) and what describes it.
#[derive(Debug, Clone)]
pub struct Object {
    /// Key, size (the body's length), ETag, Last-Modified.
    pub info: ObjectInfo,
    /// The bytes.
    pub body: Bytes,
}

/// Massive's flat-file host: list, HEAD and download objects of one bucket.
///
/// Every request is a SigV4 presigned URL (rusty-s3), valid for the transport's deadline plus
/// [`defaults::SIGNATURE_MARGIN`], sent by a [`Transport`] of this host's own: its own pool,
/// rate limit, retries, retry budget and body bound ([`defaults`]), no API key (it sends no
/// `Authorization` header at all: the credentials are the URL's signature), and no gzip decoding
/// (a `.csv.gz` is data, kept as stored). Wherever a URL is shown (spans, logs, errors) its
/// `X-Amz-Signature`, `X-Amz-Credential` (which names the access key id) and
/// `X-Amz-Security-Token` are redacted; the secret never leaves the signer. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), polygon_transport::Error> {
/// use polygon_transport::{FileHost, S3Secret};
/// let files = FileHost::builder(
///     std::env::var("POLYGON_S3_ACCESS_KEY_ID").unwrap_or_default(),
///     S3Secret::new(std::env::var("POLYGON_S3_SECRET_ACCESS_KEY").unwrap_or_default())?,
/// )
/// .build()?;
/// for f in files.list("us_stocks_sip/minute_aggs_v1/2024/07/").await? {
///     let mut day = files.open(&f.key).await?;
///     while let Some(chunk) = day.next_chunk().await? {
///         // write `chunk` out, or feed a gzip decoder
/// #       let _ = chunk;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FileHost {
    inner: Arc<Host>,
}

struct Host {
    endpoint: String,
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
    /// For scrubbing server text; never shown.
    access_key_id: String,
    secret: S3Secret,
    transport: Transport,
    expires: Duration,
}

/// The access key id in a builder: not secret in S3's sense, but kept out of every output all
/// the same (it is half of the credentials, and a presigned URL's credential starts with it).
#[derive(Clone)]
struct AccessKeyId(String);

impl fmt::Debug for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Settings of a [`FileHost`]; [`FileHost::builder`] starts from the [`defaults`].
#[derive(Debug, Clone)]
pub struct FileHostBuilder {
    endpoint: String,
    bucket: String,
    region: String,
    access_key_id: AccessKeyId,
    secret: S3Secret,
    transport: TransportBuilder,
}

impl FileHost {
    /// Settings for the file host with these credentials (`POLYGON_S3_ACCESS_KEY_ID`,
    /// `POLYGON_S3_SECRET_ACCESS_KEY`: the dashboard's flat-file keys, not the API key),
    /// everything else at its [`defaults`] value.
    pub fn builder(access_key_id: impl Into<String>, secret: S3Secret) -> FileHostBuilder {
        let transport = Transport::builder(defaults::ENDPOINT)
            .rate_limit(Some(defaults::RATE_LIMIT))
            .max_connections(defaults::MAX_CONNECTIONS)
            .max_idle_per_host(defaults::MAX_CONNECTIONS)
            .deadline(defaults::DEADLINE)
            .max_body_bytes(defaults::MAX_BODY_BYTES);
        FileHostBuilder {
            endpoint: defaults::ENDPOINT.to_owned(),
            bucket: defaults::BUCKET.to_owned(),
            region: defaults::REGION.to_owned(),
            access_key_id: AccessKeyId(access_key_id.into()),
            secret,
            transport,
        }
    }
}

impl FileHostBuilder {
    /// The endpoint (`POLYGON_S3_ENDPOINT`, default [`defaults::ENDPOINT`]): `http(s)://host[:port]`,
    /// with an optional path prefix.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The bucket (`POLYGON_S3_BUCKET`, default [`defaults::BUCKET`]), addressed path-style.
    pub fn bucket(mut self, name: impl Into<String>) -> Self {
        self.bucket = name.into();
        self
    }

    /// The SigV4 region (default [`defaults::REGION`]).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Adjusts the file host's transport: its connections, rate limit, retries, timeouts, body
    /// bound, extra CA (`ca_cert`), HTTP version. It starts from the REST [`crate::defaults`]
    /// with this module's [`defaults`] over them. Whatever `f` does, the built transport has the
    /// endpoint as its base, no API key and no gzip decoding.
    pub fn transport(mut self, f: impl FnOnce(TransportBuilder) -> TransportBuilder) -> Self {
        self.transport = f(self.transport);
        self
    }

    /// Builds the file host. Needs a tokio runtime when used, not when built.
    ///
    /// # Errors
    /// [`Error::is_config`], naming the setting: an empty or malformed access key id
    /// (`POLYGON_S3_ACCESS_KEY_ID`, never repeated), an endpoint that is not
    /// `http(s)://host[:port][/prefix]` (`POLYGON_S3_ENDPOINT`), an empty bucket name or one with a
    /// `/` (`POLYGON_S3_BUCKET`), an empty region, or a transport setting [`TransportBuilder::build`]
    /// refuses.
    pub fn build(self) -> Result<FileHost, Error> {
        let id = self.access_key_id.0.trim();
        if id.is_empty() {
            return Err(Error::config("POLYGON_S3_ACCESS_KEY_ID is empty"));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
            return Err(Error::config("POLYGON_S3_ACCESS_KEY_ID has characters an access key id cannot have"));
        }
        let endpoint = self.endpoint.trim().trim_end_matches('/').to_owned();
        let bad_endpoint =
            || Error::config(format!("POLYGON_S3_ENDPOINT {endpoint:?} must be http(s)://host[:port][/prefix]"));
        let uri: http::Uri = endpoint.parse().map_err(|_| bad_endpoint())?;
        let authority = uri.authority().map(http::uri::Authority::as_str).unwrap_or("");
        if !matches!(uri.scheme_str(), Some("http" | "https"))
            || uri.host().is_none_or(str::is_empty)
            || authority.contains('@')
            || uri.query().is_some()
        {
            return Err(bad_endpoint());
        }
        let bucket = self.bucket.trim().to_owned();
        if bucket.is_empty() || bucket.contains('/') {
            return Err(Error::config(format!("POLYGON_S3_BUCKET {bucket:?} is not a bucket name")));
        }
        let region = self.region.trim().to_owned();
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::config(format!("the S3 region {region:?} is not a region name")));
        }
        let bucket = rusty_s3::Bucket::new(
            endpoint.parse().map_err(|_| bad_endpoint())?,
            rusty_s3::UrlStyle::Path,
            bucket,
            region,
        )
        .map_err(|_| bad_endpoint())?;
        let mut tb = self.transport;
        // The transport's base is the endpoint's origin, as rusty-s3 serialises it (the host it
        // signs for); requests are the signed URLs' paths and queries against it.
        tb.base_url = bucket.base_url().origin().ascii_serialization();
        // Never the REST API's key toward the file host, and files as stored.
        tb.api_key = None;
        tb.gzip = false;
        let expires = (tb.deadline + defaults::SIGNATURE_MARGIN).clamp(Duration::from_secs(1), MAX_PRESIGNED);
        let transport = tb.build()?;
        Ok(FileHost {
            inner: Arc::new(Host {
                endpoint,
                credentials: rusty_s3::Credentials::new(id, self.secret.expose()),
                bucket,
                access_key_id: id.to_owned(),
                secret: self.secret,
                transport,
                expires,
            }),
        })
    }
}

/// What a request was for, for errors.
enum Subject<'a> {
    Listing(&'a str),
    File(&'a str),
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Listing(prefix) => write!(f, "flat-file listing of {prefix:?}"),
            Subject::File(key) => write!(f, "flat file {key}"),
        }
    }
}

impl FileHost {
    /// The file host's transport (its counters: [`Transport::stats`]).
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        self.inner.bucket.name()
    }

    /// Every object whose key starts with `prefix` (`us_stocks_sip/minute_aggs_v1/2024/07/`), in
    /// key order, following continuation tokens to the end of the listing (ListObjectsV2, up
    /// to 1,000 keys a request). A day not yet published is simply absent.
    ///
    /// # Errors
    /// [`Error::is_bad_credentials`] (the secret or the access key id is wrong; the message names
    /// the setting), [`Error::is_access_denied`] (the credentials have no flat-files access),
    /// the transport's errors, or [`Error::is_body`] for a listing that cannot be read (not
    /// ListObjectsV2 XML, an object without a size or ETag, a continuation token that repeats).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, Error> {
        let h = &*self.inner;
        let subject = Subject::Listing(prefix);
        let unreadable = |what: String| Error::new(Kind::Body).with_message(what).with_subject(subject.to_string());
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = HashSet::new();
        loop {
            let mut action = h.bucket.list_objects_v2(Some(&h.credentials));
            action.with_prefix(prefix);
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let path = path_of(action.sign(h.expires).as_str());
            let resp = h.transport.get(&path).await.map_err(|e| self.explain(e, &subject))?;
            let text = std::str::from_utf8(&resp.body).map_err(|_| unreadable("the listing is not UTF-8".into()))?;
            let page = rusty_s3::actions::ListObjectsV2::parse_response(text)
                .map_err(|e| unreadable(format!("the listing is not ListObjectsV2 XML ({e})")))?;
            for c in page.contents {
                let (Some(size), Some(etag)) = (c.size, c.etag) else {
                    return Err(unreadable(format!("the listing gives {} without a size or an ETag", c.key)));
                };
                let last_modified = c.last_modified.as_deref().and_then(parse_iso8601);
                out.push(ObjectInfo { key: c.key, size, etag, last_modified });
            }
            match page.next_continuation_token {
                None => return Ok(out),
                Some(t) if !seen.insert(t.clone()) => {
                    return Err(unreadable(
                        "the listing's continuation token repeated (a server bug): stopped rather than loop".into(),
                    ));
                }
                Some(t) => token = Some(t),
            }
        }
    }

    /// The object's size, ETag and Last-Modified, by `HEAD`.
    ///
    /// # Errors
    /// As [`get`](Self::get). A HEAD's error response has no body, so no reason: on a 403 or 400
    /// the reason is asked for with a one-byte ranged GET, so that the error tells bad
    /// credentials from access denied as `get`'s does.
    pub async fn head(&self, key: &str) -> Result<ObjectInfo, Error> {
        let h = &*self.inner;
        let subject = Subject::File(key);
        check_key(key)?;
        let path = path_of(h.bucket.head_object(Some(&h.credentials), key).sign(h.expires).as_str());
        match h.transport.request(Method::HEAD, &path, HeaderMap::new()).await {
            Ok(r) => info_of(key, &r.headers).map_err(|e| e.with_subject(subject.to_string())),
            Err(e)
                if e.code().is_none()
                    && matches!(e.status(), Some(StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST)) =>
            {
                let mut range = HeaderMap::new();
                range.insert(header::RANGE, HeaderValue::from_static("bytes=0-0"));
                match h.transport.request(Method::GET, &self.get_path(key), range).await {
                    Err(why) if why.code().is_some() => Err(self.explain(why, &subject)),
                    _ => Err(self.explain(e, &subject)),
                }
            }
            Err(e) => Err(self.explain(e, &subject)),
        }
    }

    /// The whole object, its bytes exactly as stored (gzip stays gzip), with its ETag. Read as
    /// [`open`](Self::open) reads it (resumed where a cut body stopped); if the file is replaced
    /// during the download (412 to the resume's `If-Match`), it is downloaded once more from
    /// the start. Holds the whole file: for large ones prefer `open`.
    ///
    /// # Errors
    /// [`Error::is_access_denied`] (not published yet, outside the plan, or no flat-files access:
    /// [`list`](Self::list) its prefix to tell the first from the others),
    /// [`Error::is_bad_credentials`], [`Error::is_body_too_large`] (over the file host's
    /// `max_body_bytes`, [`defaults::MAX_BODY_BYTES`]), or the transport's errors; each names the key.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the download.
    pub async fn get(&self, key: &str) -> Result<Object, Error> {
        let mut restarted = false;
        'download: loop {
            let mut file = self.open(key).await?;
            let limit = self.inner.transport.inner.cfg.max_body_bytes;
            let mut buf = BytesMut::with_capacity(usize::try_from(file.info.size.min(limit)).unwrap_or(0));
            loop {
                match file.next_chunk().await {
                    Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) if e.is_precondition_failed() && !restarted => {
                        tracing::info!(key, "the flat file was replaced during its download: starting again");
                        restarted = true;
                        continue 'download;
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut info = file.info;
            info.size = buf.len() as u64;
            return Ok(Object { info, body: buf.freeze() });
        }
    }

    /// Starts downloading the object: once its response head is in, a [`FileStream`] of its
    /// bytes as stored, chunk by chunk, so that a large day file is never held whole. A body cut
    /// short or stalled is resumed where it stopped (`Range` and `If-Match`, see [`BodyStream`]).
    ///
    /// # Errors
    /// As [`get`](Self::get), for reaching the response head.
    ///
    /// # Cancel safety
    /// Dropping the future, or the stream, cancels the download.
    pub async fn open(&self, key: &str) -> Result<FileStream, Error> {
        check_key(key)?;
        let subject = Subject::File(key);
        let body = self.inner.transport.get_stream(&self.get_path(key)).await.map_err(|e| self.explain(e, &subject))?;
        let info = info_of(key, body.headers()).map_err(|e| e.with_subject(subject.to_string()))?;
        Ok(FileStream { host: self.clone(), info, body })
    }

    fn get_path(&self, key: &str) -> String {
        let h = &*self.inner;
        path_of(h.bucket.get_object(Some(&h.credentials), key).sign(h.expires).as_str())
    }

    /// `e`, named by what it was for, with what to do about S3's code, and without the
    /// credentials even if the server repeated them.
    fn explain(&self, e: Error, subject: &Subject<'_>) -> Error {
        let hint = match (e.code(), subject) {
            (Some("SignatureDoesNotMatch"), _) => Some(
                "the S3 secret access key does not match (POLYGON_S3_SECRET_ACCESS_KEY): copy it again from \
                 the dashboard's flat-file keys (it is not the API key)",
            ),
            (Some("InvalidAccessKeyId"), _) => Some(
                "the S3 access key id is unknown to the flat-file host (POLYGON_S3_ACCESS_KEY_ID): copy it again \
                 from the dashboard's flat-file keys (it is not the API key)",
            ),
            (Some("AccessDenied"), Subject::File(_)) => Some(
                "the flat-file host denies this file: it is not published yet (a session's files appear about \
                 11:00 ET the next day), it is outside the plan's history, or the plan has no flat-files access; \
                 list its prefix to tell a file not yet published (absent from the listing) from no access \
                 (the listing is denied too)",
            ),
            (Some("AccessDenied"), Subject::Listing(_)) => Some(
                "the flat-file host denies this listing: the plan has no flat-files access, or none to this prefix",
            ),
            (Some("RequestTimeTooSkewed"), _) => {
                Some("this machine's clock is more than 15 minutes off: S3 signatures carry the time")
            }
            (Some("NoSuchBucket"), _) => Some("POLYGON_S3_BUCKET names no bucket on this host"),
            _ => None,
        };
        let e = e.with_subject(subject.to_string()).scrub(&self.inner.access_key_id).scrub(self.inner.secret.expose());
        match hint {
            Some(h) => e.with_hint(h),
            None => e,
        }
    }
}

impl fmt::Debug for FileHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &*self.inner;
        f.debug_struct("FileHost")
            .field("endpoint", &h.endpoint)
            .field("bucket", &h.bucket.name())
            .field("region", &h.bucket.region())
            .field("access_key_id", &"<redacted>")
            .field("secret", &h.secret)
            .field("transport", &h.transport)
            .finish()
    }
}

/// A flat file being downloaded, from [`FileHost::open`]: its bytes as stored, chunk by chunk.
pub struct FileStream {
    host: FileHost,
    info: ObjectInfo,
    body: BodyStream,
}

impl FileStream {
    /// Key, size (`Content-Length`), ETag and Last-Modified of the object being downloaded.
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    /// Bytes handed over so far.
    pub fn received(&self) -> u64 {
        self.body.received()
    }

    /// Times the download was resumed where it stopped.
    pub fn resumes(&self) -> u32 {
        self.body.resumes()
    }

    /// The next chunk of the file, `None` once it is complete (then [`received`](Self::received)
    /// equals the size).
    ///
    /// # Errors
    /// As [`BodyStream::chunk`], naming the key; [`Error::is_precondition_failed`] when the file
    /// was replaced during the download (the bytes handed over belong to the old version: open
    /// it again). After an error the stream is over.
    ///
    /// # Cancel safety
    /// As [`BodyStream::chunk`].
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self.body.chunk().await {
            Ok(c) => Ok(c),
            Err(e) => Err(self.host.explain(e, &Subject::File(&self.info.key))),
        }
    }
}

impl fmt::Debug for FileStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStream").field("info", &self.info).field("body", &self.body).finish()
    }
}

/// The path and query of a signed URL (the transport's base is its origin).
fn path_of(signed: &str) -> String {
    let rest = signed.split_once("://").map_or(signed, |(_, r)| r);
    rest.find('/').map_or_else(|| "/".to_owned(), |i| rest[i..].to_owned())
}

/// Refuses an empty key (it would address the bucket).
fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::config("a flat file's key is empty"));
    }
    Ok(())
}

/// An object's description from a GET's or HEAD's headers.
fn info_of(key: &str, headers: &HeaderMap) -> Result<ObjectInfo, Error> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let size = text(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| Error::new(Kind::Body).with_message("the response has no Content-Length"))?;
    let etag = text(header::ETAG).ok_or_else(|| Error::new(Kind::Body).with_message("the response has no ETag"))?;
    let last_modified = text(header::LAST_MODIFIED).and_then(|v| httpdate::parse_http_date(v).ok());
    Ok(ObjectInfo { key: key.to_owned(), size, etag: etag.to_owned(), last_modified })
}

/// A listing's `LastModified`: `2024-07-01T15:00:00.000Z` (fractional seconds optional).
fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let (date, time) = s.trim().split_once('T')?;
    let date: polygon_model::Date = date.parse().ok()?;
    let time = time.strip_suffix('Z')?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: u64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    let day_ms = u64::try_from(date.unix_ms_utc()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(day_ms + ((h * 60 + m) * 60 + sec) * 1000 + ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_times_parse() {
        let t = parse_iso8601("2024-07-01T15:00:00.123Z").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis(), 1_719_846_000_123);
        let t = parse_iso8601("2024-07-01T15:00:00Z").unwrap();
        assert_eq!(httpdate::fmt_http_date(t), "Mon, 01 Jul 2024 15:00:00 GMT");
        for bad in ["2024-07-01 15:00:00Z", "2024-07-01T15:00:00", "2024-07-01T25:00:00Z", "x"] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_and_named() {
        let secret = S3Secret::new("s").unwrap();
        let err = |b: FileHostBuilder| b.build().unwrap_err().to_string();
        assert!(err(FileHost::builder("", secret.clone())).contains("POLYGON_S3_ACCESS_KEY_ID"));
        let e = err(FileHost::builder("AK/ID", secret.clone()));
        assert!(e.contains("POLYGON_S3_ACCESS_KEY_ID") && !e.contains("AK/ID"), "{e}");
        for bad in ["ftp://x", "files.massive.com", "https://u:p@x", "https://x?a=1", ""] {
            let e = err(FileHost::builder("AKID", secret.clone()).endpoint(bad));
            assert!(e.contains("POLYGON_S3_ENDPOINT"), "{bad}: {e}");
        }
        assert!(err(FileHost::builder("AKID", secret.clone()).bucket("a/b")).contains("POLYGON_S3_BUCKET"));
        let host = FileHost::builder("AKID", secret).build().unwrap();
        assert_eq!((host.endpoint(), host.bucket()), (defaults::ENDPOINT, defaults::BUCKET));
        let cfg = &host.transport().inner.cfg;
        assert!(cfg.api_key.is_none() && !cfg.gzip);
        assert_eq!(cfg.max_body_bytes, defaults::MAX_BODY_BYTES);
        assert_eq!(host.transport().base_url(), "https://files.massive.com");
        assert_eq!(host.get_path("a b/c.csv.gz").split('?').next(), Some("/flatfiles/a%20b/c.csv.gz"));
        assert_eq!(path_of("http://h:1/p/q?x=1"), "/p/q?x=1");
    }
}
