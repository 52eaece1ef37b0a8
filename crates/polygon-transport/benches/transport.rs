//! Requests per second against the simulator over TLS: pooled keep-alive against a fresh connection
//! per request, HTTP/1.1 against HTTP/2, for small bodies and for 5 MB pages.
//! Run: `cargo bench -p polygon-transport --bench transport` (prints a table).

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::Instant;

use polygon_transport::{ApiKey, HttpVersion, Transport};

const NOW: i64 = 1_751_241_600_000;
const SMALL: &str = "/v2/aggs/ticker/AAPL/range/1/day/2024-06-03/2024-06-07"; // 5 daily bars, ~0.6 KB
// 50,000 minute bars of SPY (≈ 4.9 MB of JSON, ≈ 1.2 MB gzip on the wire).
const LARGE: &str = "/v2/aggs/ticker/SPY/range/1/minute/2024-01-02/2024-04-30?limit=50000";

struct Row {
    name: String,
    requests: usize,
    secs: f64,
    connections: u64,
    wire: u64,
    bytes: u64,
}

/// One measured case: name, HTTP version, pooled, path, requests, concurrency.
struct Case(&'static str, HttpVersion, bool, &'static str, usize, usize);

async fn run(base: &str, cert: &std::path::Path, case: Case) -> Row {
    let Case(name, version, pooled, path, n, conc) = case;
    let t = Transport::builder(base)
        .api_key(ApiKey::new("bench").unwrap())
        .ca_cert(cert)
        .rate_limit(None)
        .http_version(version)
        .max_idle_per_host(if pooled { 64 } else { 0 })
        .max_connections(conc)
        .build()
        .unwrap();
    t.get(path).await.unwrap(); // warm the simulator's body cache (and the pool, when pooled)
    let before = t.stats();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..conc {
        let t = t.clone();
        let path = path.to_owned();
        let share = n / conc + usize::from(w < n % conc);
        set.spawn(async move {
            for _ in 0..share {
                t.get(&path).await.unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let after = t.stats();
    Row {
        name: name.to_owned(),
        requests: n,
        secs,
        connections: after.connections_opened - before.connections_opened,
        wire: after.bytes_wire - before.bytes_wire,
        bytes: after.bytes - before.bytes,
    }
}

fn main() {
    // The simulator gets its own runtime thread, so client and server do not share a scheduler.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async {
            let sim = polygon_sim::Simulator::builder().now_ms(NOW).tls(true).build().spawn().await.unwrap();
            tx.send((sim.base_url().to_owned(), sim.cert_path().unwrap().to_owned())).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let (base, cert) = rx.recv().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let rows = rt.block_on(async {
        let c = &cert;
        let cases = [
            Case("small, sequential, fresh TLS connection each (HTTP/1.1)", HttpVersion::Http1, false, SMALL, 200, 1),
            Case("small, sequential, pooled keep-alive (HTTP/1.1)", HttpVersion::Http1, true, SMALL, 2000, 1),
            Case("small, sequential, pooled (HTTP/2)", HttpVersion::Http2, true, SMALL, 2000, 1),
            Case("small, 16 concurrent, fresh connection each (HTTP/1.1)", HttpVersion::Http1, false, SMALL, 400, 16),
            Case("small, 16 concurrent, pooled (HTTP/1.1)", HttpVersion::Http1, true, SMALL, 4000, 16),
            Case("small, 16 concurrent, pooled (HTTP/2, one connection)", HttpVersion::Http2, true, SMALL, 4000, 16),
            Case("5 MB page, sequential, pooled (HTTP/1.1)", HttpVersion::Http1, true, LARGE, 20, 1),
            Case("5 MB page, sequential, pooled (HTTP/2)", HttpVersion::Http2, true, LARGE, 20, 1),
            Case("5 MB page, 4 concurrent, pooled (HTTP/1.1)", HttpVersion::Http1, true, LARGE, 20, 4),
            Case("5 MB page, 4 concurrent, pooled (HTTP/2)", HttpVersion::Http2, true, LARGE, 20, 4),
        ];
        let mut rows = Vec::new();
        for case in cases {
            rows.push(run(&base, c, case).await);
        }
        rows
    });
    println!("| case | requests | req/s | connections opened | MB/s decoded (wire) |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {} | {:.1} ({:.1}) |",
            r.name,
            r.requests,
            r.requests as f64 / r.secs,
            r.connections,
            r.bytes as f64 / r.secs / 1e6,
            r.wire as f64 / r.secs / 1e6
        );
    }
    let rate = |i: usize| rows[i].requests as f64 / rows[i].secs;
    println!("\npooled over fresh, sequential: {:.1}x; 16 concurrent: {:.1}x", rate(1) / rate(0), rate(4) / rate(3));
    println!(
        "HTTP/2 over HTTP/1.1, 5 MB sequential: {:.2}x; 4 concurrent: {:.2}x",
        rate(7) / rate(6),
        rate(9) / rate(8)
    );
}
