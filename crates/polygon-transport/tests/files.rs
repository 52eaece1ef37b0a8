//! The flat-file host (`FileHost`) over real sockets: against the simulator's S3 store (listings
//! across pages, GET and HEAD exactly as the store holds the files, TLS, bad credentials and an
//! unpublished day named), through a TCP tap in front of it (a body cut mid-way resumed by
//! `Range` and `If-Match`; every byte the client sent, to prove no `Authorization` header and
//! no signature in any output at TRACE), and against a scripted HTTP/1.1 server (a file replaced
//! during its download, a server that ignores the range, a `Content-Encoding: gzip` left alone).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use polygon_model::{Date, NyseCalendar, Timespan};
use polygon_sim::s3::{self, FlatFileFault};
use polygon_sim::{SimHandle, Simulator};
use polygon_transport::{ApiKey, FileHost, FileHostBuilder, HttpVersion, S3Secret, report};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// 2024-07-12 12:00 New York: July 11's files are out (since 11:00 today), July 12's are not.
const NOW: i64 = 1_720_800_000_000;
const UNIVERSE: usize = 20;
const KEY_ID: &str = "AKIAFLATTEST7Q3ZKD";
const SECRET: &str = "flat-secret-9d41c7e2b8";
const JULY: &str = "us_stocks_sip/minute_aggs_v1/2024/07/";
const JULY_DAYS: [&str; 8] =
    ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08", "2024-07-09", "2024-07-10", "2024-07-11"];

async fn sim() -> SimHandle {
    Simulator::builder().now_ms(NOW).universe(UNIVERSE).s3_credentials(KEY_ID, SECRET).build().spawn().await.unwrap()
}

fn host(endpoint: &str, key_id: &str, secret: &str) -> FileHostBuilder {
    FileHost::builder(key_id, S3Secret::new(secret).unwrap())
        .endpoint(endpoint)
        .transport(|t| t.rate_limit(None).backoff(Duration::from_millis(10), Duration::from_millis(50)))
}

fn minute_key(date: &str) -> String {
    s3::key_of(s3::MINUTE_PREFIX, date.parse().unwrap())
}

/// The file the store holds for `date`'s minute bars, rendered here.
fn day_file(date: &str) -> Vec<u8> {
    let listing = polygon_sim::market::Listing::bounded(UNIVERSE);
    s3::render_day_file(&listing, Timespan::Minute, date.parse().unwrap(), NOW, None)
}

fn published_at(date: &str) -> SystemTime {
    let ms = s3::published_at_ms(date.parse().unwrap());
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)
}

#[tokio::test]
async fn a_month_lists_every_published_day_and_get_and_head_return_each_file_as_stored() {
    let sim = sim().await;
    let files = host(sim.base_url(), KEY_ID, SECRET).build().unwrap();
    let july = files.list(JULY).await.unwrap();
    let keys: Vec<&str> = july.iter().map(|o| o.key.as_str()).collect();
    let want: Vec<String> = JULY_DAYS.iter().map(|d| minute_key(d)).collect();
    assert_eq!(keys, want, "every published session of July, none of July 12 on (not out yet) nor July 4");
    for (info, date) in july.iter().zip(JULY_DAYS) {
        let obj = files.get(&info.key).await.unwrap();
        assert_eq!(obj.body, day_file(date), "{date}: the bytes as stored");
        assert_eq!(&obj.body[..2], &[0x1f, 0x8b], "still gzip: a .csv.gz is data, never decoded");
        assert_eq!(obj.info, *info, "{date}: GET agrees with the listing (size, ETag, Last-Modified)");
        assert_eq!(info.size, obj.body.len() as u64);
        assert_eq!(info.last_modified, Some(published_at(date)));
        let head = files.head(&info.key).await.unwrap();
        assert_eq!(head, *info, "{date}: HEAD agrees with the listing");
    }
    let st = sim.stats();
    assert_eq!((st.s3_lists, st.s3_gets, st.s3_heads, st.s3_denied), (1, 8, 8, 0));
    let files_bytes: u64 = july.iter().map(|o| o.size).sum();
    assert!(st.s3_bytes_sent > files_bytes && st.s3_bytes_sent < files_bytes + 100_000, "each file sent once, whole");
    let t = files.transport().stats();
    assert_eq!((t.requests, t.attempts, t.retries, t.failures), (17, 17, 0, 0));
}

#[tokio::test]
async fn a_listing_longer_than_a_page_is_followed_to_its_end() {
    let sim = sim().await;
    let files = host(sim.base_url(), KEY_ID, SECRET).build().unwrap();
    // Four years of day files: more than the 1,000 keys of one ListObjectsV2 page.
    let got = files.list("us_stocks_sip/day_aggs_v1/201").await.unwrap();
    let first: Date = "2016-01-04".parse().unwrap();
    let last: Date = "2019-12-31".parse().unwrap();
    let want: Vec<String> = NyseCalendar.trading_days(first, last).map(|d| s3::key_of(s3::DAY_PREFIX, d)).collect();
    assert!(want.len() > 1000, "{} sessions", want.len());
    assert_eq!(got.iter().map(|o| o.key.clone()).collect::<Vec<_>>(), want);
    assert_eq!(sim.stats().s3_lists, 2, "two pages, the second by its continuation token");
    assert!(got.iter().all(|o| o.size > 0 && o.etag.starts_with('"')));
}

/// A TCP proxy in front of `upstream` that records every byte the client sends, and cuts the
/// first connection's responses after `cut_first_after` bytes (headers included).
struct Tap {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    async fn new(upstream: SocketAddr, cut_first_after: Option<usize>) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let record = sent.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((client, _)) = listener.accept().await {
                let cut = if n == 0 { cut_first_after } else { None };
                n += 1;
                let record = record.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let mut buf = vec![0u8; 16 << 10];
                        while let Ok(n) = cr.read(&mut buf).await {
                            if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            record.lock().unwrap().extend_from_slice(&buf[..n]);
                        }
                    });
                    let mut buf = vec![0u8; 16 << 10];
                    let mut left = cut;
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if let Some(l) = left {
                            if n >= l {
                                let _ = cw.write_all(&buf[..l]).await;
                                break;
                            }
                            left = Some(l - n);
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = cw.shutdown().await;
                    up.abort();
                });
            }
        });
        Tap { addr, sent }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn sent(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_body_cut_mid_way_is_resumed_by_range_and_if_match() {
    let sim = sim().await;
    let date = "2024-07-09";
    let want = day_file(date);
    assert!(want.len() > 200_000, "the file is long enough to be cut mid-body: {} bytes", want.len());

    // The whole-file form.
    let tap = Tap::new(sim.addr(), Some(60_000)).await;
    let files = host(&tap.url(), KEY_ID, SECRET).build().unwrap();
    let obj = files.get(&minute_key(date)).await.unwrap();
    assert!(obj.body == want, "the resumed file is byte for byte the stored one");
    let sent = tap.sent().to_ascii_lowercase();
    assert_eq!(sent.matches("get /flatfiles/").count(), 2, "one request, one resume");
    let resume = &sent[sent.rfind("get /flatfiles/").unwrap()..];
    assert!(resume.contains("\r\nrange: bytes="), "{resume}");
    assert!(resume.contains(&format!("\r\nif-match: {}", obj.info.etag)), "{resume}");
    assert!(!sent.contains("range: bytes=0-"), "the resume starts where the cut was, not at 0");
    assert_eq!(files.transport().stats().retries, 1);

    // The streamed form: the same bytes, chunk by chunk, one resume.
    let tap = Tap::new(sim.addr(), Some(60_000)).await;
    let files = host(&tap.url(), KEY_ID, SECRET).build().unwrap();
    let mut stream = files.open(&minute_key(date)).await.unwrap();
    assert_eq!(stream.info().size, want.len() as u64);
    let mut got = Vec::new();
    let mut chunks = 0;
    while let Some(c) = stream.next_chunk().await.unwrap() {
        got.extend_from_slice(&c);
        chunks += 1;
    }
    assert!(got == want && chunks > 1, "{chunks} chunks");
    assert_eq!((stream.resumes(), stream.received()), (1, want.len() as u64));
    let st = sim.stats();
    assert_eq!((st.s3_gets, st.s3_denied), (4, 0), "two downloads, each resumed once");
}

/// A one-request-per-connection HTTP/1.1 server: `reply(n, head)` is what the n-th request
/// (from 0) whose head is `head` gets: the bytes to write before closing. Records every head.
async fn scripted(reply: impl Fn(usize, &str) -> Vec<u8> + Send + Sync + 'static) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let record = heads.clone();
    let reply = Arc::new(reply);
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (record, reply, count) = (record.clone(), reply.clone(), count.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let n = count.fetch_add(1, Ordering::SeqCst);
                record.lock().unwrap().push(head.clone());
                let _ = s.write_all(&reply(n, &head)).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, heads)
}

fn version(n: u8) -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8 ^ n).collect()
}

/// A 200 with `etag`, declaring `body`'s length, of which only `send` bytes are sent.
fn ok(etag: &str, body: &[u8], send: usize, extra: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nETag: \"{etag}\"\r\nContent-Length: {}\r\nLast-Modified: Mon, 01 Jul 2024 15:00:00 GMT\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(&body[..send]);
    r
}

fn precondition_failed() -> Vec<u8> {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code>\
        <Message>At least one of the pre-conditions you specified did not hold</Message><RequestId>R412</RequestId></Error>";
    format!("HTTP/1.1 412 Precondition Failed\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}", xml.len())
        .into_bytes()
}

/// The first request gets 400 bytes of version 1, then the connection drops; a resume (it
/// carries `If-Match`) is refused with 412, as S3 does once the file was replaced; a fresh
/// request gets version 2 whole.
fn replaced_during_download(n: usize, head: &str) -> Vec<u8> {
    if head.to_ascii_lowercase().contains("\r\nif-match:") {
        precondition_failed()
    } else if n == 0 {
        ok("v1", &version(1), 400, "")
    } else {
        ok("v2", &version(2), 1000, "")
    }
}

#[tokio::test]
async fn a_file_replaced_during_its_download_is_fetched_again_or_reported() {
    let key = "us_stocks_sip/minute_aggs_v1/2024/07/2024-07-01.csv.gz";
    let (url, heads) = scripted(replaced_during_download).await;
    let files = host(&url, KEY_ID, SECRET).build().unwrap();
    let obj = files.get(key).await.unwrap();
    assert_eq!(obj.body, version(2), "the new version, whole: never v1's start glued to v2's end");
    assert_eq!(obj.info.etag, "\"v2\"");
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 3, "{heads:#?}");
    let resume = heads[1].to_ascii_lowercase();
    assert!(resume.contains("\r\nrange: bytes=400-\r\n") && resume.contains("\r\nif-match: \"v1\"\r\n"), "{resume}");
    assert!(!heads[2].to_ascii_lowercase().contains("range:"), "started again from the start");

    // The streamed form cannot take back what it handed over: it says so.
    let (url, _) = scripted(replaced_during_download).await;
    let files = host(&url, KEY_ID, SECRET).build().unwrap();
    let mut stream = files.open(key).await.unwrap();
    let mut got = Vec::new();
    let err = loop {
        match stream.next_chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => panic!("the stream ended without noticing the new version"),
            Err(e) => break e,
        }
    };
    assert_eq!(got, version(1)[..400]);
    assert!(err.is_precondition_failed() && err.code() == Some("PreconditionFailed"), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(key) && text.contains("download it again"), "{text}");
    assert!(matches!(stream.next_chunk().await, Ok(None)), "after an error the stream is over");
}

#[tokio::test]
async fn a_server_that_ignores_the_range_has_the_bytes_already_received_dropped() {
    let (url, heads) =
        scripted(|n, _| if n == 0 { ok("v1", &version(1), 400, "") } else { ok("v1", &version(1), 1000, "") }).await;
    let files = host(&url, KEY_ID, SECRET).build().unwrap();
    let obj = files.get("k.csv.gz").await.unwrap();
    assert_eq!(obj.body, version(1));
    assert_eq!(heads.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_gzip_content_encoding_is_left_as_stored_and_never_asked_for() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"ticker,volume\nAAPL,1\n").unwrap();
    let gz = gz.finish().unwrap();
    let body = gz.clone();
    let (url, heads) = scripted(move |_, _| ok("gz", &body, body.len(), "Content-Encoding: gzip\r\n")).await;
    let files = host(&url, KEY_ID, SECRET).build().unwrap();
    assert_eq!(files.get("a.csv.gz").await.unwrap().body, gz, "stored gzip bytes, not their CSV");
    assert!(files.list("x").await.unwrap_err().is_body(), "not a listing: an unreadable one");
    for h in heads.lock().unwrap().iter() {
        assert!(!h.to_ascii_lowercase().contains("accept-encoding"), "{h}");
    }
}

#[tokio::test]
async fn bad_credentials_are_refused_at_once_and_name_the_setting() {
    let sim = sim().await;
    let key = minute_key("2024-07-01");
    let wrong_secret = host(sim.base_url(), KEY_ID, "not-the-secret-51f0").build().unwrap();
    let unknown_id = host(sim.base_url(), "AKIAUNKNOWN0000", SECRET).build().unwrap();
    for (files, code, setting) in [
        (&wrong_secret, "SignatureDoesNotMatch", "POLYGON_S3_SECRET_ACCESS_KEY"),
        (&unknown_id, "InvalidAccessKeyId", "POLYGON_S3_ACCESS_KEY_ID"),
    ] {
        let errors = [
            files.list(JULY).await.unwrap_err(),
            files.get(&key).await.unwrap_err(),
            files.head(&key).await.unwrap_err(),
            files.open(&key).await.unwrap_err(),
        ];
        for e in &errors {
            assert!(e.is_bad_credentials() && !e.is_access_denied(), "{e:?}");
            assert_eq!(e.code(), Some(code));
            assert_eq!(e.attempts(), 1, "never retried");
            let text = format!("{e} {e:?} {}", report(e));
            assert!(text.contains(setting), "{text}");
            for secret in [SECRET, "not-the-secret-51f0", KEY_ID, "AKIAUNKNOWN0000"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        assert!(errors[0].to_string().contains("flat-file listing of"), "{}", errors[0]);
        assert!(errors[1].to_string().contains(&key), "{}", errors[1]);
    }
    let st = sim.stats();
    assert_eq!((st.s3_gets, st.s3_lists, st.s3_heads), (0, 0, 0));
    // Per host: list, get, a HEAD and its one-byte GET for the reason, open.
    assert_eq!(st.s3_denied, 10);
}

#[tokio::test]
async fn a_day_not_published_is_access_denied_naming_the_file_and_absent_from_the_listing() {
    let sim = sim().await;
    let files = host(sim.base_url(), KEY_ID, SECRET).build().unwrap();
    for date in ["2024-07-12", "2024-07-04", "2024-07-15"] {
        let key = minute_key(date);
        for e in [files.get(&key).await.unwrap_err(), files.head(&key).await.unwrap_err()] {
            assert!(e.is_access_denied() && e.is_auth() && !e.is_bad_credentials(), "{e:?}");
            assert_eq!(e.status().map(|s| s.as_u16()), Some(403));
            let text = e.to_string();
            assert!(
                text.contains(&key) && text.contains("not published yet") && text.contains("list its prefix"),
                "{text}"
            );
        }
    }
    let july = files.list(JULY).await.unwrap();
    assert!(!july.iter().any(|o| o.key.contains("2024-07-12")), "the listing is how callers tell");
    // A damaged file is still served as stored: deciding it is damaged is the decoder's job.
    let sim = Simulator::builder()
        .now_ms(NOW)
        .universe(UNIVERSE)
        .flat_file_fault(minute_key("2024-07-02"), FlatFileFault::TruncatedGzip)
        .build()
        .spawn()
        .await
        .unwrap();
    let files = host(sim.base_url(), s3::DEFAULT_ACCESS_KEY_ID, s3::DEFAULT_SECRET).build().unwrap();
    let obj = files.get(&minute_key("2024-07-02")).await.unwrap();
    assert_eq!(obj.body.len(), day_file("2024-07-02").len() / 2);
}

#[tokio::test]
async fn no_authorization_header_ever_reaches_the_file_host() {
    let sim = sim().await;
    let tap = Tap::new(sim.addr(), None).await;
    let api_key = "rest-api-key-must-stay-home-77";
    // Even a transport told to carry the API key is built without it for the file host.
    let files =
        host(&tap.url(), KEY_ID, SECRET).transport(|t| t.api_key(ApiKey::new(api_key).unwrap())).build().unwrap();
    let july = files.list(JULY).await.unwrap();
    files.head(&july[0].key).await.unwrap();
    files.get(&july[0].key).await.unwrap();
    files.get(&minute_key("2024-07-12")).await.unwrap_err();
    files.head(&minute_key("2024-07-12")).await.unwrap_err();
    let sent = tap.sent();
    let lower = sent.to_ascii_lowercase();
    assert_eq!(lower.matches(" http/1.1\r\n").count(), 6, "every request was recorded:\n{sent}");
    assert_eq!(lower.matches("x-amz-signature=").count(), 6, "each signed in its URL");
    assert!(!lower.contains("\r\nauthorization:"), "an Authorization header went to the file host:\n{sent}");
    assert!(!lower.contains("bearer") && !sent.contains(api_key), "the API key went to the file host");
    assert!(!sent.contains(SECRET), "the secret itself is never sent");
    assert!(format!("{files:?}").contains("api_key: None"), "{files:?}");
}

#[tokio::test]
async fn tls_with_the_simulators_certificate() {
    let sim = Simulator::builder()
        .now_ms(NOW)
        .universe(UNIVERSE)
        .s3_credentials(KEY_ID, SECRET)
        .tls(true)
        .build()
        .spawn()
        .await
        .unwrap();
    assert!(sim.base_url().starts_with("https://"));
    for v in [HttpVersion::Auto, HttpVersion::Http1] {
        let cert = sim.cert_path().unwrap().to_owned();
        let files =
            host(sim.base_url(), KEY_ID, SECRET).transport(|t| t.ca_cert(cert).http_version(v)).build().unwrap();
        let july = files.list(JULY).await.unwrap();
        assert_eq!(july.len(), JULY_DAYS.len());
        assert_eq!(files.get(&july[1].key).await.unwrap().body, day_file(JULY_DAYS[1]), "{v:?}");
        assert_eq!(files.head(&july[1].key).await.unwrap(), july[1]);
    }
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every value of `param` in `text` (case-insensitive), up to the next `&`, space, quote or
/// bracket.
fn values_of<'t>(text: &'t str, param: &str) -> Vec<&'t str> {
    let lower = text.to_ascii_lowercase();
    let needle = format!("{}=", param.to_ascii_lowercase());
    lower
        .match_indices(&needle)
        .map(|(i, _)| {
            let v = &text[i + needle.len()..];
            &v[..v.find(|c: char| c.is_whitespace() || "&\"}),:".contains(c)).unwrap_or(v.len())]
        })
        .collect()
}

#[test]
fn trace_logs_errors_and_debug_never_carry_the_secret_the_signature_or_the_key_id() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let bad_secret = "bad-flat-secret-3e9a17";
    let bad_id = "AKIABADKEYID9X2W";
    let mut outputs = Vec::new();
    let mut sent = String::new();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // Plain HTTP through a tap (which records the signatures sent, and cuts the first
            // body so that a resume is logged too), and TLS with HTTP/2.
            let sim = sim().await;
            let tap = Tap::new(sim.addr(), Some(30_000)).await;
            let tls = Simulator::builder()
                .now_ms(NOW)
                .universe(UNIVERSE)
                .s3_credentials(KEY_ID, SECRET)
                .tls(true)
                .build()
                .spawn()
                .await
                .unwrap();
            let cert = tls.cert_path().unwrap().to_owned();
            let tls_url = tls.base_url().to_owned();
            let plain = tap.url();
            let builders = [
                host(&plain, KEY_ID, SECRET),
                host(&tls_url, KEY_ID, SECRET).transport(|t| t.ca_cert(cert.clone())),
                host(&plain, KEY_ID, bad_secret),
                host(&tls_url, bad_id, SECRET).transport(|t| t.ca_cert(cert.clone())),
            ];
            for b in builders {
                outputs.push(format!("{b:?}"));
                let files = b.build().unwrap();
                outputs.push(format!("{files:?}"));
                let key = minute_key("2024-07-10");
                let results = [
                    files.get(&key).await.map(|o| o.info),
                    files.list(JULY).await.map(|l| l[0].clone()),
                    files.head(&key).await,
                    files.get(&minute_key("2024-07-12")).await.map(|o| o.info),
                ];
                for r in results {
                    match r {
                        Ok(info) => outputs.push(format!("{info:?}")),
                        Err(e) => outputs.push(format!("{e} {e:?} {}", report(&e))),
                    }
                }
                match files.open(&key).await {
                    Ok(mut s) => {
                        outputs.push(format!("{s:?}"));
                        while let Ok(Some(_)) = s.next_chunk().await {}
                        outputs.push(format!("{s:?}"));
                    }
                    Err(e) => outputs.push(format!("{e} {e:?}")),
                }
                tracing::info!(files = ?files, "done");
            }
            sent = tap.sent();
        });
    });
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.len() > 1_000, "TRACE output was captured ({} bytes)", logs.len());
    assert!(logs.contains("polygon.get") && logs.contains("polygon.stream"), "the request spans are logged");
    assert!(logs.contains("resuming the body"), "the cut body's resume is logged");
    let all = format!("{logs}\n{}", outputs.join("\n"));
    assert!(all.contains("X-Amz-Signature=<redacted>"), "URLs are shown, redacted");
    let signatures = values_of(&sent, "X-Amz-Signature");
    let credentials = values_of(&sent, "X-Amz-Credential");
    assert!(signatures.len() >= 8 && credentials.len() == signatures.len(), "{} signatures recorded", signatures.len());
    for s in signatures.iter().chain(&credentials) {
        assert!(!all.contains(s), "a signature or credential sent ({s}) is in the output");
    }
    for secret in [SECRET, bad_secret, KEY_ID, bad_id] {
        assert!(!all.contains(secret), "{secret} leaked");
    }
    for param in ["X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token"] {
        for v in values_of(&all, param) {
            assert!(v.starts_with("<redacted>"), "{param} shown unredacted: {v}");
        }
    }
}
