//! The flat-file store: Massive's S3-compatible endpoint (`files.massive.com`, bucket `flatfiles`)
//! on the simulator's own port, path-style.
//!
//! - `GET /flatfiles?list-type=2` (ListObjectsV2 with `prefix`, `delimiter`, `max-keys`,
//!   `continuation-token`, `start-after`, `encoding-type`), `GET` and `HEAD` of an object (with a
//!   single `Range`, `If-Match` (412) and `If-None-Match` (304)), `HEAD /flatfiles` (HeadBucket).
//! - Objects: `us_stocks_sip/minute_aggs_v1/YYYY/MM/YYYY-MM-DD.csv.gz` and
//!   `us_stocks_sip/day_aggs_v1/…`, gzip CSV with the header
//!   `ticker,volume,open,close,high,low,window_start,transactions` (`window_start` in Unix ns, no
//!   VWAP column), one row per ticker and bar sorted by ticker then time, every listed ticker of
//!   the session: exactly the REST bars of that session as traded (`adjusted=false`).
//! - A session's files are published at 11:00 New York on the next calendar day (Massive says
//!   "by about 11:00 ET"); before that, and for weekends, holidays and any other key, the answer
//!   is 403 `AccessDenied`, as Massive answers, and the listing leaves the day out.
//! - AWS Signature V4 is verified, in the `Authorization` header and in presigned queries:
//!   `InvalidAccessKeyId` (403) for an unknown key id, `SignatureDoesNotMatch` (403) for a bad
//!   signature, `AccessDenied` for a missing or expired one, `RequestTimeTooSkewed` for a header
//!   date more than 15 minutes from the real clock (not the simulator's frozen one: clients sign
//!   with the real time).
//! - The ETag is the first 16 bytes of the SHA-256 of the object, in hex (real S3 uses MD5 for
//!   single-part uploads; both are opaque to clients). Rendered objects are kept in memory,
//!   bounded, each rendered once however many ask at once; a listing renders the objects it
//!   lists (their sizes and ETags are real), so list a month, not the whole store.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Method};
use polygon_model::{Date, NyseCalendar, Timespan};
use ring::{digest, hmac};

use crate::market::{self, Listing, dollars};

/// The bucket.
pub const BUCKET: &str = "flatfiles";
/// The minute aggregates' key prefix.
pub const MINUTE_PREFIX: &str = "us_stocks_sip/minute_aggs_v1/";
/// The day aggregates' key prefix.
pub const DAY_PREFIX: &str = "us_stocks_sip/day_aggs_v1/";
/// The header of every aggregates file.
pub const CSV_HEADER: &str = "ticker,volume,open,close,high,low,window_start,transactions";
/// The first session the simulated store holds (a simulator choice; Massive's history depends
/// on the plan).
pub const FIRST_DAY: (i32, u32, u32) = (2016, 1, 4);
/// A session's files appear at this minute of the next calendar day, New York.
pub const PUBLISH_MINUTE: u32 = 11 * 60;

/// What can be wrong with one flat file on purpose (tests of the client's error paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlatFileFault {
    /// The gzip stream stops halfway (the body is complete at the HTTP level).
    TruncatedGzip,
    /// Bytes in the middle of the gzip stream are flipped: its CRC or its inflate fails.
    CorruptGzip,
    /// The third data row's `open` reads `1.2x`.
    BadCsvField,
}

/// S3 settings of a simulator.
#[derive(Clone)]
pub(crate) struct S3Config {
    pub access_key_id: Arc<str>,
    pub secret: Arc<str>,
    pub faults: Vec<(String, FlatFileFault)>,
    pub cache_bytes: usize,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            access_key_id: Arc::from(DEFAULT_ACCESS_KEY_ID),
            secret: Arc::from(DEFAULT_SECRET),
            faults: Vec::new(),
            cache_bytes: 1 << 30,
        }
    }
}

/// The access key id the simulator accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY_ID: &str = "SIMFLATFILESKEY";
/// The secret the simulator accepts unless told otherwise.
pub const DEFAULT_SECRET: &str = "sim-flat-files-secret";

/// One rendered object.
#[derive(Debug)]
pub(crate) struct Object {
    pub body: Bytes,
    pub etag: String,
    /// Unix ms it was published.
    pub last_modified_ms: i64,
}

type Cell = Arc<tokio::sync::OnceCell<Arc<Object>>>;

/// Rendered objects, bounded by bytes, oldest out first.
#[derive(Default)]
pub(crate) struct ObjectCache {
    map: HashMap<String, Cell>,
    order: VecDeque<(String, usize)>,
    bytes: usize,
}

/// An S3 answer.
pub(crate) struct S3Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// A HEAD answer: the headers say the length, no body is sent.
    pub head: bool,
    /// Counted as: list, get, head or denied.
    pub kind: S3Kind,
}

/// What an S3 request was, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum S3Kind {
    List,
    Get,
    Head,
    Denied,
}

/// True for a path the flat-file store answers (the bucket and everything under it).
pub(crate) fn is_s3_path(path: &str) -> bool {
    let rest = path.trim_start_matches('/');
    rest == BUCKET || rest.starts_with("flatfiles/")
}

/// A dataset day's key.
pub fn key_of(prefix: &str, date: Date) -> String {
    let (y, m, _) = date.ymd();
    format!("{prefix}{y:04}/{m:02}/{date}.csv.gz")
}

/// The dataset and date of a key, if it names one of the store's files.
fn parse_key(key: &str) -> Option<(Timespan, Date)> {
    let (span, rest) = if let Some(r) = key.strip_prefix(MINUTE_PREFIX) {
        (Timespan::Minute, r)
    } else if let Some(r) = key.strip_prefix(DAY_PREFIX) {
        (Timespan::Day, r)
    } else {
        return None;
    };
    let date: Date = rest.get(8..18)?.parse().ok()?;
    (key_of(if span == Timespan::Minute { MINUTE_PREFIX } else { DAY_PREFIX }, date) == key).then_some((span, date))
}

/// Unix ms at which `date`'s files appear.
pub fn published_at_ms(date: Date) -> i64 {
    date.add_days(1).ny_unix_ms(PUBLISH_MINUTE)
}

fn first_day() -> Date {
    Date::from_ymd(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).expect("a date")
}

fn published(date: Date, now_ms: i64) -> bool {
    date >= first_day() && NyseCalendar.is_trading_day(date) && published_at_ms(date) <= now_ms
}

/// Every published key, sorted (day aggregates sort before minute aggregates).
fn all_keys(now_ms: i64) -> Vec<String> {
    let Ok((today, _)) = polygon_model::ny_date_minute(now_ms) else { return Vec::new() };
    let days: Vec<Date> = NyseCalendar.trading_days(first_day(), today).filter(|d| published(*d, now_ms)).collect();
    let mut keys: Vec<String> = Vec::with_capacity(days.len() * 2);
    for prefix in [DAY_PREFIX, MINUTE_PREFIX] {
        keys.extend(days.iter().map(|d| key_of(prefix, *d)));
    }
    keys
}

/// The file's bytes: gzip CSV of every listed ticker's bars of the session, as traded.
pub fn render_day_file(
    listing: &Listing,
    span: Timespan,
    date: Date,
    now_ms: i64,
    fault: Option<FlatFileFault>,
) -> Vec<u8> {
    let from = date.ny_unix_ms(0);
    let to = date.add_days(1).ny_unix_ms(0) - 1;
    let mut csv: Vec<u8> = Vec::with_capacity(1 << 20);
    csv.extend_from_slice(CSV_HEADER.as_bytes());
    csv.push(b'\n');
    let mut rows = 0usize;
    for p in listing.profiles() {
        for b in market::aggregates_as(p, span, 1, from, to, now_ms, false) {
            rows += 1;
            let open = if fault == Some(FlatFileFault::BadCsvField) && rows == 3 {
                "1.2x".to_owned()
            } else {
                dollars(b.o).to_string()
            };
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{}",
                p.ticker,
                b.v,
                open,
                dollars(b.c),
                dollars(b.h),
                dollars(b.l),
                i128::from(b.t) * 1_000_000,
                b.n
            );
        }
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(csv.len() / 4), flate2::Compression::fast());
    enc.write_all(&csv).expect("writing to a Vec");
    let mut gz = enc.finish().expect("writing to a Vec");
    match fault {
        Some(FlatFileFault::TruncatedGzip) => gz.truncate(gz.len() / 2),
        Some(FlatFileFault::CorruptGzip) => {
            let mid = gz.len() / 2;
            for b in gz.iter_mut().skip(mid).take(16) {
                *b ^= 0x5A;
            }
        }
        _ => {}
    }
    gz
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn sha256_hex(b: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, b).as_ref())
}

/// XML text with `&`, `<`, `>`, `"` escaped.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn iso8601(ms: i64) -> String {
    let d = Date::from_unix_ms_utc(ms).expect("a date in range");
    let in_day = ms.rem_euclid(86_400_000);
    format!("{d}T{:02}:{:02}:{:02}.{:03}Z", in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000)
}

fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let d = Date::from_unix_ms_utc(ms).expect("a date in range");
    let (y, m, day) = d.ymd();
    let in_day = ms.rem_euclid(86_400_000) / 1000;
    format!(
        "{}, {day:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[d.days().rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

fn error(status: u16, code: &str, message: &str, rid: &str, head: bool) -> S3Answer {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message><RequestId>{rid}</RequestId></Error>",
        xml_escape(message)
    );
    S3Answer {
        status,
        headers: vec![("content-type", "application/xml".into()), ("x-amz-request-id", rid.into())],
        body: if head { Bytes::new() } else { Bytes::from(body) },
        head,
        kind: S3Kind::Denied,
    }
}

fn denied(rid: &str, head: bool) -> S3Answer {
    error(403, "AccessDenied", "Access Denied", rid, head)
}

/// Percent-decodes S3-style (`+` stays `+`).
fn s3_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(x) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(x);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// URI-encodes as SigV4 asks: every byte but `A-Za-z0-9-_.~` (and `/` when `path`).
fn aws_encode(s: &str, path: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (path && b == b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (s3_decode(k), s3_decode(v))
        })
        .collect()
}

fn hmac_sha256(key: &[u8], msg: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg.as_bytes()).as_ref().to_vec()
}

/// Parsed SigV4 parts, from the header or the query.
struct SigV4 {
    access_key_id: String,
    /// `date/region/service/aws4_request`.
    scope: String,
    scope_date: String,
    amz_date: String,
    signed_headers: Vec<String>,
    signature: String,
    presigned: bool,
    expires_s: Option<i64>,
}

fn parse_header_auth(v: &str) -> Option<SigV4> {
    let rest = v.strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, val) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(val.to_owned()),
            "SignedHeaders" => signed = Some(val.to_owned()),
            "Signature" => sig = Some(val.to_owned()),
            _ => {}
        }
    }
    let (access_key_id, scope) = cred?.split_once('/').map(|(a, b)| (a.to_owned(), b.to_owned()))?;
    Some(SigV4 {
        scope_date: scope.split('/').next()?.to_owned(),
        access_key_id,
        scope,
        amz_date: String::new(),
        signed_headers: signed?.split(';').map(str::to_owned).collect(),
        signature: sig?,
        presigned: false,
        expires_s: None,
    })
}

/// Unix seconds of an `YYYYMMDDTHHMMSSZ` date.
fn amz_date_secs(s: &str) -> Option<i64> {
    if s.len() != 16 || !s.is_ascii() || &s[8..9] != "T" || !s.ends_with('Z') {
        return None;
    }
    let date = Date::from_ymd(s[0..4].parse().ok()?, s[4..6].parse().ok()?, s[6..8].parse().ok()?).ok()?;
    let (h, m, sec): (i64, i64, i64) = (s[9..11].parse().ok()?, s[11..13].parse().ok()?, s[13..15].parse().ok()?);
    (h < 24 && m < 60 && sec < 61).then(|| date.unix_ms_utc() / 1000 + h * 3600 + m * 60 + sec)
}

fn real_now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Checks the request's signature; `Err` is the answer to send.
fn authenticate(
    cfg: &S3Config,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    authority: Option<&str>,
    rid: &str,
) -> Result<(), S3Answer> {
    let head = method == Method::HEAD;
    let q = |k: &str| query.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
    let mut sig = if let Some(a) = header("authorization") {
        let Some(mut s) = parse_header_auth(a) else {
            return Err(error(
                400,
                "AuthorizationHeaderMalformed",
                "The authorization header is malformed.",
                rid,
                head,
            ));
        };
        let Some(d) = header("x-amz-date") else {
            return Err(error(
                403,
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header",
                rid,
                head,
            ));
        };
        s.amz_date = d.to_owned();
        s
    } else if q("X-Amz-Algorithm").is_some() {
        let (Some(cred), Some(date), Some(signed), Some(signature), Some(expires)) = (
            q("X-Amz-Credential"),
            q("X-Amz-Date"),
            q("X-Amz-SignedHeaders"),
            q("X-Amz-Signature"),
            q("X-Amz-Expires"),
        ) else {
            return Err(error(
                400,
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
                rid,
                head,
            ));
        };
        if q("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(error(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
                rid,
                head,
            ));
        }
        let Some((access_key_id, scope)) = cred.split_once('/') else {
            return Err(error(
                400,
                "AuthorizationQueryParametersError",
                "Error parsing the X-Amz-Credential parameter.",
                rid,
                head,
            ));
        };
        SigV4 {
            access_key_id: access_key_id.to_owned(),
            scope_date: scope.split('/').next().unwrap_or("").to_owned(),
            scope: scope.to_owned(),
            amz_date: date.to_owned(),
            signed_headers: signed.split(';').map(str::to_owned).collect(),
            signature: signature.to_owned(),
            presigned: true,
            expires_s: expires.parse().ok(),
        }
    } else {
        return Err(denied(rid, head));
    };
    if sig.access_key_id != *cfg.access_key_id {
        return Err(error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            rid,
            head,
        ));
    }
    let scope_parts: Vec<&str> = sig.scope.split('/').collect();
    if scope_parts.len() != 4 || scope_parts[2] != "s3" || scope_parts[3] != "aws4_request" {
        return Err(error(400, "AuthorizationHeaderMalformed", "The credential scope is malformed.", rid, head));
    }
    let Some(signed_at) = amz_date_secs(&sig.amz_date).filter(|_| sig.amz_date.starts_with(&sig.scope_date)) else {
        return Err(error(
            403,
            "AccessDenied",
            "X-Amz-Date must be YYYYMMDDTHHMMSSZ and match the credential scope",
            rid,
            head,
        ));
    };
    let now = real_now_s();
    if sig.presigned {
        let Some(exp) = sig.expires_s.filter(|e| (1..=604_800).contains(e)) else {
            return Err(error(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be from 1 to 604800 seconds",
                rid,
                head,
            ));
        };
        if now > signed_at + exp {
            return Err(error(403, "AccessDenied", "Request has expired", rid, head));
        }
    } else if (now - signed_at).abs() > 15 * 60 {
        return Err(error(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            rid,
            head,
        ));
    }
    // The canonical request.
    let mut canon_q: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !(sig.presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (aws_encode(k, false), aws_encode(v, false)))
        .collect();
    canon_q.sort();
    let canon_q = canon_q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    sig.signed_headers.sort();
    let mut canon_h = String::new();
    for h in &sig.signed_headers {
        let value = if h == "host" {
            header("host").or(authority).unwrap_or("").to_owned()
        } else {
            headers
                .get_all(h.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(canon_h, "{h}:{value}");
    }
    let payload = if sig.presigned {
        "UNSIGNED-PAYLOAD".to_owned()
    } else {
        header("x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD").to_owned()
    };
    let canonical = format!(
        "{method}\n{}\n{canon_q}\n{canon_h}\n{}\n{payload}",
        aws_encode(&s3_decode(path), true),
        sig.signed_headers.join(";")
    );
    let to_sign = format!("AWS4-HMAC-SHA256\n{}\n{}\n{}", sig.amz_date, sig.scope, sha256_hex(canonical.as_bytes()));
    let mut key = hmac_sha256(format!("AWS4{}", cfg.secret).as_bytes(), scope_parts[0]);
    for part in &scope_parts[1..] {
        key = hmac_sha256(&key, part);
    }
    let expected = hex(&hmac_sha256(&key, &to_sign));
    if expected != sig.signature {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            rid,
            head,
        ));
    }
    Ok(())
}

/// The shared state the store needs.
pub(crate) struct Store<'a> {
    pub cfg: &'a S3Config,
    pub listing: &'a Listing,
    pub cache: &'a Mutex<ObjectCache>,
    pub now_ms: i64,
}

impl Store<'_> {
    async fn object(&self, key: &str, span: Timespan, date: Date) -> Arc<Object> {
        let cell = {
            let mut c = self.cache.lock().expect("object cache lock");
            c.map.entry(key.to_owned()).or_default().clone()
        };
        let fault = self.cfg.faults.iter().find(|(k, _)| k == key).map(|(_, f)| *f);
        let listing = self.listing.clone();
        let now = self.now_ms;
        let obj = cell
            .get_or_init(|| async move {
                let body = tokio::task::spawn_blocking(move || render_day_file(&listing, span, date, now, fault))
                    .await
                    .expect("rendering a day file does not panic");
                let etag = format!("\"{}\"", &sha256_hex(&body)[..32]);
                Arc::new(Object { body: Bytes::from(body), etag, last_modified_ms: published_at_ms(date) })
            })
            .await
            .clone();
        let mut c = self.cache.lock().expect("object cache lock");
        if !c.order.iter().any(|(k, _)| k == key) {
            c.order.push_back((key.to_owned(), obj.body.len()));
            c.bytes += obj.body.len();
            while c.bytes > self.cfg.cache_bytes && c.order.len() > 1 {
                let (old, len) = c.order.pop_front().expect("not empty");
                c.map.remove(&old);
                c.bytes -= len;
            }
        }
        obj
    }
}

/// Answers one request to the store.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn answer(
    store: Store<'_>,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    authority: Option<&str>,
    rid: &str,
) -> S3Answer {
    let head = method == Method::HEAD;
    if method != Method::GET && method != Method::HEAD {
        return error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.", rid, head);
    }
    let query = parse_query(raw_query);
    if let Err(a) = authenticate(store.cfg, method, path, &query, headers, authority, rid) {
        return a;
    }
    let key = s3_decode(path.trim_start_matches('/').strip_prefix(BUCKET).unwrap_or("").trim_start_matches('/'));
    if key.is_empty() {
        if head {
            return S3Answer {
                status: 200,
                headers: vec![("x-amz-request-id", rid.into())],
                body: Bytes::new(),
                head,
                kind: S3Kind::Head,
            };
        }
        return list(&store, &query, rid).await;
    }
    let Some((span, date)) = parse_key(&key).filter(|(_, d)| published(*d, store.now_ms)) else {
        return denied(rid, head);
    };
    let obj = store.object(&key, span, date).await;
    let len = obj.body.len();
    let mut out = vec![
        ("content-type", "application/octet-stream".to_owned()),
        ("etag", obj.etag.clone()),
        ("last-modified", http_date(obj.last_modified_ms)),
        ("accept-ranges", "bytes".to_owned()),
        ("x-amz-request-id", rid.to_owned()),
    ];
    // Conditional requests, as S3 answers them: a resumed download pins the version it began
    // with (`If-Match`), a cache revalidates (`If-None-Match`).
    let cond = |h: http::header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(m) = cond(http::header::IF_MATCH)
        && m != "*"
        && !m.split(',').any(|e| e.trim() == obj.etag)
    {
        return error(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            rid,
            head,
        );
    }
    if let Some(m) = cond(http::header::IF_NONE_MATCH)
        && (m == "*" || m.split(',').any(|e| e.trim() == obj.etag))
    {
        out.retain(|(k, _)| *k != "content-type");
        return S3Answer { status: 304, headers: out, body: Bytes::new(), head: true, kind: S3Kind::Head };
    }
    let range = headers.get(http::header::RANGE).and_then(|v| v.to_str().ok());
    let (status, body) = match byte_range(range, len) {
        Ok(None) => (200, obj.body.clone()),
        Ok(Some((a, b))) => {
            out.push(("content-range", format!("bytes {a}-{b}/{len}")));
            (206, obj.body.slice(a..=b))
        }
        Err(()) => {
            let mut e = error(416, "InvalidRange", "The requested range is not satisfiable", rid, head);
            e.headers.push(("content-range", format!("bytes */{len}")));
            return e;
        }
    };
    out.push(("content-length", body.len().to_string()));
    S3Answer {
        status,
        headers: out,
        body: if head { Bytes::new() } else { body },
        head,
        kind: if head { S3Kind::Head } else { S3Kind::Get },
    }
}

/// A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; `Ok(None)` for none (or one we do
/// not support, which S3 also ignores: several ranges), `Err` for one past the end.
fn byte_range(h: Option<&str>, len: usize) -> Result<Option<(usize, usize)>, ()> {
    let Some(spec) = h.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let r = match (a.parse::<usize>(), b.parse::<usize>()) {
        (Ok(a), Ok(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
        (Ok(a), Err(_)) if b.is_empty() => (a, len.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
        _ => return Ok(None),
    };
    if len == 0 || r.0 >= len { Err(()) } else { Ok(Some(r)) }
}

/// ListObjectsV2 over the published keys.
async fn list(store: &Store<'_>, query: &[(String, String)], rid: &str) -> S3Answer {
    let q = |k: &str| query.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
    if q("list-type") != Some("2") {
        // ListObjects (v1) is not served: Massive's documentation uses v2 clients.
        return error(400, "InvalidArgument", "Only ListObjectsV2 (list-type=2) is supported", rid, false);
    }
    let prefix = q("prefix").unwrap_or("");
    let delimiter = q("delimiter").filter(|d| !d.is_empty());
    let max_keys: usize = match q("max-keys").map(str::parse::<usize>) {
        None => 1000,
        Some(Ok(n)) => n.min(1000),
        Some(Err(_)) => return error(400, "InvalidArgument", "max-keys must be a whole number", rid, false),
    };
    let url_encoding = match q("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => return error(400, "InvalidArgument", "Invalid Encoding Method specified in Request", rid, false),
    };
    let token = q("continuation-token");
    let after: String = match token {
        Some(t) => {
            use base64::Engine as _;
            match base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(k) => k,
                None => {
                    return error(400, "InvalidArgument", "The continuation token provided is incorrect", rid, false);
                }
            }
        }
        None => q("start-after").unwrap_or("").to_owned(),
    };
    let mut contents: Vec<&str> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let keys = all_keys(store.now_ms);
    let mut last = None;
    let mut truncated = false;
    for k in keys.iter().filter(|k| k.starts_with(prefix) && k.as_str() > after.as_str()) {
        let common =
            delimiter.and_then(|d| k[prefix.len()..].find(d).map(|i| k[..prefix.len() + i + d.len()].to_owned()));
        if let Some(c) = &common
            && (prefixes.last() == Some(c) || c.as_str() <= after.as_str())
        {
            continue;
        }
        if contents.len() + prefixes.len() == max_keys {
            truncated = true;
            break;
        }
        match common {
            Some(c) => {
                last = Some(c.clone());
                prefixes.push(c);
            }
            None => {
                last = Some(k.clone());
                contents.push(k);
            }
        }
    }
    let enc = |s: &str| if url_encoding { aws_encode(s, true) } else { xml_escape(s) };
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    let _ = write!(x, "<Name>{BUCKET}</Name><Prefix>{}</Prefix>", enc(prefix));
    if let Some(t) = token {
        let _ = write!(x, "<ContinuationToken>{}</ContinuationToken>", xml_escape(t));
    }
    if let Some(s) = q("start-after") {
        let _ = write!(x, "<StartAfter>{}</StartAfter>", enc(s));
    }
    let _ = write!(x, "<KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys>", contents.len() + prefixes.len());
    if let Some(d) = delimiter {
        let _ = write!(x, "<Delimiter>{}</Delimiter>", enc(d));
    }
    if url_encoding {
        x.push_str("<EncodingType>url</EncodingType>");
    }
    let _ = write!(x, "<IsTruncated>{truncated}</IsTruncated>");
    if truncated && let Some(l) = &last {
        use base64::Engine as _;
        let _ = write!(
            x,
            "<NextContinuationToken>{}</NextContinuationToken>",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(l)
        );
    }
    for k in contents {
        let (span, date) = parse_key(k).expect("our own key");
        let obj = store.object(k, span, date).await;
        let _ = write!(
            x,
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            enc(k),
            iso8601(obj.last_modified_ms),
            xml_escape(&obj.etag),
            obj.body.len()
        );
    }
    for p in prefixes {
        let _ = write!(x, "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(&p));
    }
    x.push_str("</ListBucketResult>");
    S3Answer {
        status: 200,
        headers: vec![("content-type", "application/xml".into()), ("x-amz-request-id", rid.into())],
        body: Bytes::from(x),
        head: false,
        kind: S3Kind::List,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_publication() {
        let d: Date = "2024-07-01".parse().expect("date");
        let k = key_of(MINUTE_PREFIX, d);
        assert_eq!(k, "us_stocks_sip/minute_aggs_v1/2024/07/2024-07-01.csv.gz");
        assert_eq!(parse_key(&k), Some((Timespan::Minute, d)));
        assert_eq!(parse_key("us_stocks_sip/minute_aggs_v1/2024/08/2024-07-01.csv.gz"), None);
        let at = published_at_ms(d);
        assert!(published(d, at) && !published(d, at - 1));
        assert!(!published("2024-07-04".parse().expect("date"), i64::MAX / 4), "a holiday has no file");
    }

    #[test]
    fn dates_format_as_s3_does() {
        assert_eq!(iso8601(1_719_846_000_123), "2024-07-01T15:00:00.123Z");
        assert_eq!(http_date(1_719_846_000_000), "Mon, 01 Jul 2024 15:00:00 GMT");
        assert_eq!(amz_date_secs("20240701T150000Z"), Some(1_719_846_000));
        assert_eq!(amz_date_secs("2024-07-01T15:00:00Z"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=2-4"), 10), Ok(Some((2, 4))));
        assert_eq!(byte_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
    }

    #[test]
    fn aws_encoding() {
        assert_eq!(aws_encode("a b/c~d+e", false), "a%20b%2Fc~d%2Be");
        assert_eq!(aws_encode("us_stocks_sip/x.csv.gz", true), "us_stocks_sip/x.csv.gz");
        assert_eq!(s3_decode("a%2Bb+c"), "a+b+c");
    }
}
