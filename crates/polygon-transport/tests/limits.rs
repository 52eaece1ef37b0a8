//! Bounds a hostile or broken server cannot push the transport past: the body size (a gzip bomb,
//! a huge `Content-Length`, a chunked body that never ends, each against a hand-written HTTP/1.1
//! server over a real socket) and a `Retry-After` longer than the request's deadline (the simulator).

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use flate2::{Compress, Compression, FlushCompress, Status};
use polygon_sim::Simulator;
use polygon_transport::{ApiKey, Transport, TransportBuilder};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const MIB: usize = 1 << 20;
/// The limit the tests set: small, so that refusing at it is cheap and going past it is not.
const LIMIT: usize = 8 * MIB;
/// What the bomb inflates to.
const BOMB: usize = 1024 * MIB;

/// A gzip member of `mib` MiB of zeros, built without compressing them all: a raw deflate stream
/// compressed a MiB at a time with a sync flush after each, so the second MiB's blocks (which look
/// back only at zeros) can be repeated for every further MiB. The CRC is combined, not computed.
fn zeros_gzip(mib: usize) -> Vec<u8> {
    fn segment(c: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 << 10);
        let mut used = 0;
        loop {
            let before = c.total_in();
            let status = c.compress_vec(&input[used..], &mut out, flush).unwrap();
            used += (c.total_in() - before) as usize;
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => used == input.len() && out.len() < out.capacity(),
            };
            if done {
                return out;
            }
            out.reserve(64 << 10);
        }
    }
    let zeros = vec![0u8; MIB];
    let mut c = Compress::new(Compression::best(), false);
    let first = segment(&mut c, &zeros, FlushCompress::Sync);
    let next = segment(&mut c, &zeros, FlushCompress::Sync);
    let end = segment(&mut c, &[], FlushCompress::Finish);
    let (mut crc, mut one) = (flate2::Crc::new(), flate2::Crc::new());
    one.update(&zeros);
    for _ in 0..mib {
        crc.combine(&one);
    }
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.extend_from_slice(&first);
    for _ in 1..mib {
        gz.extend_from_slice(&next);
    }
    gz.extend_from_slice(&end);
    gz.extend_from_slice(&crc.sum().to_le_bytes());
    gz.extend_from_slice(&((mib * MIB) as u32).to_le_bytes());
    gz
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What the test server sends for a path.
#[derive(Clone)]
enum Reply {
    /// `Content-Length` and the bytes, gzip-encoded or not.
    Whole { body: Vec<u8>, gzip: bool },
    /// A `Content-Length` of `declared`, then zeros until the client hangs up.
    Claims { declared: u64 },
    /// Chunked: `total` bytes in 64 KiB chunks, then the last chunk.
    Chunked { total: usize },
}

/// A one-request-per-connection HTTP/1.1 server on 127.0.0.1 that answers each path from `routes`.
async fn serve(routes: Vec<(&'static str, Reply)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = std::sync::Arc::new(routes);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                // A client that refuses the body hangs up: the write errors, and that is fine.
                let _ = answer(stream, &routes).await;
            });
        }
    });
    addr
}

async fn answer(mut s: TcpStream, routes: &[(&'static str, Reply)]) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("");
    let Some((_, reply)) = routes.iter().find(|(p, _)| *p == path) else {
        return s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    };
    let zeros = vec![0u8; 64 << 10];
    match reply {
        Reply::Whole { body, gzip } => {
            let enc = if *gzip { "Content-Encoding: gzip\r\n" } else { "" };
            let h = format!("HTTP/1.1 200 OK\r\n{enc}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            s.write_all(h.as_bytes()).await?;
            s.write_all(body).await?;
        }
        Reply::Claims { declared } => {
            let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n");
            s.write_all(h.as_bytes()).await?;
            let mut sent = 0u64;
            while sent < *declared {
                let n = zeros.len().min((*declared - sent) as usize);
                s.write_all(&zeros[..n]).await?;
                sent += n as u64;
            }
        }
        Reply::Chunked { total } => {
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").await?;
            let mut left = *total;
            while left > 0 {
                let n = zeros.len().min(left);
                s.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                s.write_all(&zeros[..n]).await?;
                s.write_all(b"\r\n").await?;
                left -= n;
            }
            s.write_all(b"0\r\n\r\n").await?;
        }
    }
    s.flush().await
}

fn transport(addr: SocketAddr, limit: usize) -> Transport {
    Transport::builder(format!("http://{addr}"))
        .api_key(ApiKey::new("limits-test-key").unwrap())
        .rate_limit(None)
        .max_body_bytes(limit as u64)
        .build()
        .unwrap()
}

/// This process's peak resident set (`VmHWM`), in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    let kib: usize = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024
}

/// The error of `got`, without printing a body (the bomb's would be a GiB of `Debug`).
fn refused(got: Result<polygon_transport::Response, polygon_transport::Error>) -> polygon_transport::Error {
    match got {
        Ok(r) => panic!("a {} byte body was accepted", r.body.len()),
        Err(e) => e,
    }
}

fn assert_too_large(e: &polygon_transport::Error, path: &str, limit_shown: &str) {
    let text = e.to_string();
    assert!(e.is_body_too_large() && !e.is_body() && !e.is_server(), "{e:?}");
    assert_eq!(e.attempts(), 1, "a body over the limit is not retried: {text}");
    assert!(text.contains(&format!("GET {path}")), "the error names the request: {text}");
    assert!(text.contains(limit_shown), "the error names the limit: {text}");
    assert!(text.contains("MAX_BODY_MB"), "the error names the setting that raises it: {text}");
}

#[test]
fn the_bomb_fixture_is_valid_gzip_of_zeros() {
    // The crafted stream is real gzip: flate2 decodes it to the zeros it claims, CRC and size checked.
    let gz = zeros_gzip(3);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
    assert_eq!(out.len(), 3 * MIB);
    assert!(out.iter().all(|b| *b == 0));
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_without_inflating_it() {
    let bomb = zeros_gzip(BOMB / MIB);
    assert!(bomb.len() < 2 * MIB, "about 1 MiB on the wire: {}", bomb.len());
    // The same bomb with a trailer that understates its size (libdeflate declines, flate2 streams)…
    let mut lying = bomb.clone();
    let n = lying.len();
    lying[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
    // … and as the first of two members, the last one small and honest.
    let mut members = bomb.clone();
    members.extend_from_slice(&gzip(b"tail"));
    let addr = serve(vec![
        ("/bomb", Reply::Whole { body: bomb, gzip: true }),
        ("/bomb-lying", Reply::Whole { body: lying, gzip: true }),
        ("/bomb-members", Reply::Whole { body: members, gzip: true }),
    ])
    .await;
    let t = transport(addr, LIMIT);
    for path in ["/bomb", "/bomb-lying", "/bomb-members"] {
        let e = refused(t.get(path).await);
        assert_too_large(&e, path, "8 MiB");
    }
    let peak = peak_rss();
    assert!(peak < 512 * MIB, "peak RSS {} MiB: the bomb was inflated", peak / MIB);
}

#[tokio::test]
async fn plain_bodies_over_the_limit_are_refused_by_length_or_as_they_arrive() {
    let addr = serve(vec![
        ("/length", Reply::Claims { declared: BOMB as u64 }),
        ("/chunked", Reply::Chunked { total: 64 * MIB }),
    ])
    .await;
    let t = transport(addr, LIMIT);
    let e = refused(t.get("/length").await);
    assert_too_large(&e, "/length", "8 MiB");
    assert!(e.to_string().contains(&format!("Content-Length {BOMB}")), "refused on its header: {e}");
    let e = refused(t.get("/chunked").await);
    assert_too_large(&e, "/chunked", "8 MiB");
}

#[tokio::test]
async fn bodies_of_exactly_the_limit_pass_and_one_byte_less_refuses_them() {
    let plain = vec![7u8; LIMIT];
    let (a, b) = (vec![b'a'; LIMIT / 2], vec![b'b'; LIMIT / 2]);
    let mut members = gzip(&a);
    members.extend_from_slice(&gzip(&b));
    let addr = serve(vec![
        ("/plain", Reply::Whole { body: plain.clone(), gzip: false }),
        ("/chunked", Reply::Chunked { total: LIMIT }),
        ("/gzip", Reply::Whole { body: zeros_gzip(LIMIT / MIB), gzip: true }),
        ("/gzip-members", Reply::Whole { body: members, gzip: true }),
    ])
    .await;
    let t = transport(addr, LIMIT);
    assert_eq!(t.get("/plain").await.unwrap().body, plain);
    assert_eq!(t.get("/chunked").await.unwrap().body.len(), LIMIT);
    let gz = t.get("/gzip").await.unwrap().body;
    assert!(gz.len() == LIMIT && gz.iter().all(|b| *b == 0));
    assert_eq!(t.get("/gzip-members").await.unwrap().body, [a, b].concat(), "both members, in full");

    let tight = transport(addr, LIMIT - 1);
    for path in ["/plain", "/chunked", "/gzip", "/gzip-members"] {
        let e = refused(tight.get(path).await);
        assert_too_large(&e, path, &format!("{} bytes", LIMIT - 1));
    }
}

const NOW: i64 = 1_751_241_600_000; // 2025-06-30 00:00 UTC

fn sim_transport(base: &str) -> TransportBuilder {
    Transport::builder(base).api_key(ApiKey::new("test-key-0123456789").unwrap()).rate_limit(None)
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_ends_the_request_at_once_and_says_why() {
    // One request a minute: the second gets 429 with a Retry-After of about 60 s.
    let sim =
        Simulator::builder().now_ms(NOW).rate_limit(Some("1/min".parse().unwrap())).build().spawn().await.unwrap();
    let t = sim_transport(sim.base_url()).deadline(Duration::from_secs(5)).build().unwrap();
    let path = "/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31";
    t.get(path).await.unwrap();
    // A guard against a hang, not a measurement: sleeping out the wait would take a minute.
    let e = tokio::time::timeout(Duration::from_secs(30), t.get(path)).await.expect("no waiting").unwrap_err();
    let text = e.to_string();
    assert!(e.is_rate_limited(), "{e:?}");
    let wait = e.retry_after().expect("the server's Retry-After is kept");
    assert!(wait > Duration::from_secs(5), "{wait:?}");
    assert!(text.contains(&format!("asked to wait {} s", wait.as_secs())), "the message names the wait: {text}");
    assert!(text.contains("5 s deadline") && text.contains("POLYGON_RATE_LIMIT"), "and what to do: {text}");
    assert_eq!(e.attempts(), 1, "not retried");
    assert_eq!(sim.stats().requests, 2);

    // The host is now paused past any new request's deadline: the next one ends at once too,
    // without reaching the server.
    let e = tokio::time::timeout(Duration::from_secs(30), t.get(path)).await.expect("no waiting").unwrap_err();
    let text = e.to_string();
    assert!(e.is_rate_limited(), "{e:?}");
    assert!(text.contains("paused") && text.contains("asked to wait"), "{text}");
    assert!(e.retry_after().is_some_and(|d| d > Duration::from_secs(5) && d <= wait), "{e:?}");
    assert_eq!(sim.stats().requests, 2, "the paused request was not sent");
}
