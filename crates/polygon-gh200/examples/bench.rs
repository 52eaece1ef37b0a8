//! The driver of `cargo xtask bench <mode>` (which starts the simulator and redis-server processes
//! and passes their addresses): `enhanced`, `scaling-test`, `large-scale`. Prints a table last and
//! writes JSON (and for scaling-test an SVG chart) to `--out`.
//!
//! `bench MODE --base-url URL --ca PEM --redis-url URL|none --out target/bench/MODE.json
//!  [--latency-ms N] [--python]`

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use polygon_gh200::cache::Cache;
use polygon_gh200::fetch::{FetchConfig, Fetcher};
use polygon_gh200::gpu::{Backend, CpuBackend, Indicators};
use polygon_gh200::model::{BarColumns, Date, Multiplier, Ticker, Timespan};
use polygon_gh200::transport::{ApiKey, Transport};

struct Args {
    mode: String,
    base: String,
    ca: String,
    redis: Option<String>,
    out: String,
    latency_ms: f64,
    python: bool,
}

fn args() -> Args {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| v.iter().position(|a| a == flag).and_then(|i| v.get(i + 1)).cloned();
    Args {
        mode: v.first().cloned().unwrap_or_default(),
        base: get("--base-url").expect("--base-url"),
        ca: get("--ca").expect("--ca"),
        redis: get("--redis-url").filter(|r| r != "none"),
        out: get("--out").expect("--out"),
        latency_ms: get("--latency-ms").and_then(|s| s.parse().ok()).unwrap_or(20.0),
        python: v.iter().any(|a| a == "--python"),
    }
}

const KEY: &str = "bench-key";

fn transport(a: &Args, pooled: bool, workers: usize) -> Transport {
    Transport::builder(&a.base)
        .api_key(ApiKey::new(KEY).expect("key"))
        .ca_cert(&a.ca)
        .rate_limit(None)
        .max_connections(workers.max(1) * 2)
        .max_idle_per_host(if pooled { workers.max(1) * 2 } else { 0 })
        .build()
        .expect("transport")
}

async fn cache(a: &Args, enabled: bool) -> Cache {
    let mut b = Cache::builder().namespace("bench");
    if !enabled {
        return b.memory_bytes(0).build().await.expect("cache");
    }
    if let Some(r) = &a.redis {
        b = b.redis_url(r);
    }
    let c = b.build().await.expect("cache");
    for _ in 0..40 {
        if !matches!(c.redis_status(), polygon_gh200::cache::RedisStatus::Down) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c
}

fn fetcher(t: Transport, c: Cache, workers: usize, queue: usize) -> Fetcher {
    Fetcher::new(t, c, FetchConfig { max_workers: workers, queue_size: queue, ..FetchConfig::default() })
}

fn universe(n: usize) -> Vec<Ticker> {
    polygon_sim::market::Universe::get().profiles().iter().take(n).map(|p| p.ticker.parse().expect("ticker")).collect()
}

fn date(s: &str) -> Date {
    s.parse().expect("date")
}

struct Run {
    secs: f64,
    requests: u64,
    bars: u64,
    failed: usize,
}

async fn batch(f: &Fetcher, tickers: &[Ticker], span: Timespan, from: Date, to: Date) -> Run {
    let before = f.transport().stats().requests;
    let start = Instant::now();
    let out = f.get_aggregates_batch(tickers, Multiplier::ONE, span, from, to).await;
    let secs = start.elapsed().as_secs_f64();
    let bars = out.iter().filter_map(|(_, r)| r.as_ref().ok()).map(|c| c.len() as u64).sum();
    let failed = out.iter().filter(|(_, r)| r.is_err()).count();
    Run { secs, requests: f.transport().stats().requests - before, bars, failed }
}

fn python(a: &Args, tickers: &[Ticker], span: &str, from: &str, to: &str, workers: usize) -> Option<(f64, u64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/bench_python.py");
    let list: Vec<&str> = tickers.iter().map(Ticker::as_str).collect();
    let out = Command::new("python3")
        .arg(script)
        .args(["--base", &a.base, "--ca", &a.ca, "--key", KEY, "--span", span, "--from", from, "--to", to])
        .args(["--workers", &workers.to_string(), "--tickers", &list.join(",")])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("python client failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["secs"].as_f64()?, v["bars"].as_u64()?))
}

/// Indicators of one streamed chunk on a blocking thread, into `out` (one set of output columns
/// reused chunk after chunk, as a pipeline would): the chunk's bars and the seconds it took.
/// Computes a streamed chunk into `out` (reused) and gives the chunk's columns back to `f`.
async fn compute_reusing(f: &Fetcher, backend: CpuBackend, cols: BarColumns, out: &mut Indicators) -> (u64, f64) {
    let s = Instant::now();
    let mut o = std::mem::take(out);
    let (n, o, cols) =
        tokio::task::spawn_blocking(move || backend.compute_into(&cols, &mut o).map(|()| (cols.len() as u64, o, cols)))
            .await
            .expect("join")
            .expect("cpu");
    *out = o;
    f.recycle(cols);
    (n, s.elapsed().as_secs_f64())
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn enhanced(a: &Args) -> serde_json::Value {
    // Minute bars of one calendar month: one request per ticker (about 7,000 bars, 650 KB of JSON).
    // A month is the planner's chunk for minute bars, so both clients ask for and decode the same
    // bytes; a week would cost us the whole month (the cacheable unit) and the Python client a week.
    let (n, from, to) = (200, "2024-03-01", "2024-03-31");
    let tickers = universe(n);
    let (f, t) = (date(from), date(to));
    let workers = 64;
    // Warm the simulator's body cache first (untimed): the simulator shares this machine's two
    // CPUs, and the time it spends generating bars is not the client's. Every row, ours and the
    // Python client's, then meets the same server: 20 ms latency, bodies ready.
    let warm = fetcher(transport(a, true, workers), cache(a, false).await, workers, 4);
    batch(&warm, &tickers, Timespan::Minute, f, t).await;
    let mut rows = Vec::new();
    let naive =
        batch(&fetcher(transport(a, false, 1), cache(a, false).await, 1, 1), &tickers, Timespan::Minute, f, t).await;
    let pooled =
        batch(&fetcher(transport(a, true, 1), cache(a, false).await, 1, 1), &tickers, Timespan::Minute, f, t).await;
    let c = cache(a, true).await;
    let _ = c.clear().await;
    let par = fetcher(transport(a, true, workers), c.clone(), workers, 4);
    let parallel = batch(&par, &tickers, Timespan::Minute, f, t).await;
    c.clear_memory(); // the repeat is served by Redis (as another process would be), else memory
    let cached = batch(&par, &tickers, Timespan::Minute, f, t).await;
    let tier = if c.redis_status() == polygon_gh200::cache::RedisStatus::Up { "Redis" } else { "memory" };
    for (name, r) in [
        ("naive (sequential, new TLS connection each, no cache)", &naive),
        ("pooled (keep-alive, sequential)", &pooled),
        (&*format!("parallel (pooled, MAX_WORKERS={workers})"), &parallel),
        (&*format!("cached (the same again, warm from {tier})"), &cached),
    ] {
        rows.push(serde_json::json!({"row": name, "secs": r.secs, "requests": r.requests, "bars": r.bars,
            "failed": r.failed, "bars_per_sec": r.bars as f64 / r.secs, "vs_naive": naive.secs / r.secs}));
    }
    let saved = 100.0 * (1.0 - cached.requests as f64 / parallel.requests.max(1) as f64);
    let mut py = Vec::new();
    if a.python {
        // The simulator caches gzip and plain bodies apart, and the Python client asks for plain
        // ones: warm those too (untimed), so its rows meet the same ready server.
        let _ = python(a, &tickers, "minute", from, to, 50);
        for w in [1usize, 50] {
            if let Some((secs, bars)) = python(a, &tickers, "minute", from, to, w) {
                py.push(serde_json::json!({"client": format!("massive (official Python), {} ", if w == 1 { "defaults, sequential".to_string() } else { format!("{w}-thread pool") }),
                    "secs": secs, "bars": bars, "ours_parallel_speedup": secs / parallel.secs, "ours_warm_speedup": secs / cached.secs}));
            }
        }
    }
    // Processing: minute bars streamed and computed on the CPU while the next chunk is fetched.
    let minute = universe(48);
    let pf = Fetcher::new(
        transport(a, true, workers),
        cache(a, false).await,
        FetchConfig { max_workers: workers, batch_size: 8, queue_size: 4, ..FetchConfig::default() },
    );
    let backend = CpuBackend::new();
    let (mf, mt) = (date("2024-03-01"), date("2024-03-28"));
    batch(&warm, &minute, Timespan::Minute, mf, mt).await; // the simulator's cache, as above
    let start = Instant::now();
    let mut rx = pf.stream_aggregates(minute.clone(), Multiplier::ONE, Timespan::Minute, mf, mt);
    let (mut compute, mut mbars) = (0.0, 0u64);
    let mut out = Indicators::default();
    while let Some(chunk) = rx.recv().await {
        let (n, secs) = compute_reusing(&pf, backend, chunk.columns, &mut out).await;
        (mbars, compute) = (mbars + n, compute + secs);
    }
    let stream_secs = start.elapsed().as_secs_f64();
    // The same stream, same chunks, with nothing computed (a fresh memory-less cache, so it
    // fetches as the first did): what the processing had to hide behind.
    let pf2 = Fetcher::new(
        transport(a, true, workers),
        cache(a, false).await,
        FetchConfig { max_workers: workers, batch_size: 8, queue_size: 4, ..FetchConfig::default() },
    );
    let start = Instant::now();
    let mut rx = pf2.stream_aggregates(minute.clone(), Multiplier::ONE, Timespan::Minute, mf, mt);
    while let Some(chunk) = rx.recv().await {
        pf2.recycle(chunk.columns);
    }
    let fetch_only = start.elapsed().as_secs_f64();
    let overlap = ((fetch_only + compute - stream_secs) / compute).clamp(0.0, 1.0);
    let cpu_rate = mbars as f64 / compute;

    let mut table = String::new();
    let _ = writeln!(
        table,
        "workload: {n} tickers x {from}..{to} minute bars (one request each), simulator latency {} ms (a new \
         connection {} ms more: the TCP and TLS handshakes), TLS, rate limit off; the simulator's body cache \
         warmed first (untimed)\n",
        a.latency_ms,
        2.0 * a.latency_ms
    );
    let _ = writeln!(table, "| row | wall s | requests | bars/s | vs naive |\n|---|---|---|---|---|");
    for r in &rows {
        let _ = writeln!(
            table,
            "| {} | {:.3} | {} | {:.0} | {:.1}x |",
            r["row"].as_str().unwrap_or(""),
            r["secs"].as_f64().unwrap_or(0.0),
            r["requests"],
            r["bars_per_sec"].as_f64().unwrap_or(0.0),
            r["vs_naive"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(table, "\nAPI calls saved on the repeat: {saved:.0} % (the seed claims up to 90 %)");
    for p in &py {
        let _ = writeln!(
            table,
            "{}: {:.3} s for {} bars; ours parallel is {:.1}x faster, ours warm {:.0}x",
            p["client"].as_str().unwrap_or(""),
            p["secs"].as_f64().unwrap_or(0.0),
            p["bars"],
            p["ours_parallel_speedup"].as_f64().unwrap_or(0.0),
            p["ours_warm_speedup"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(
        table,
        "processing: 48 tickers x March 2024 minute bars ({mbars} bars): CPU indicators {:.1} M bars/s; \
         streamed fetch+compute {stream_secs:.3} s vs the same stream with no compute {fetch_only:.3} s + \
         compute {compute:.3} s: {:.0} % of the processing overlapped fetching; CUDA: no GPU on this machine",
        cpu_rate / 1e6,
        overlap * 100.0
    );
    print!("{table}");
    serde_json::json!({"mode": "enhanced", "rows": rows, "api_calls_saved_pct": saved, "python": py,
        "processing": {"bars": mbars, "cpu_bars_per_sec": cpu_rate, "stream_secs": stream_secs,
        "fetch_only_secs": fetch_only, "compute_secs": compute, "overlap": overlap}, "table": table})
}

/// The best a fresh client can do for `n` one-request tickers at `w` workers: one handshake (two
/// round trips, the connections opening in parallel), then `ceil(n / w)` rounds of the latency.
fn ideal_rate(n: usize, w: usize, latency_ms: f64) -> f64 {
    let rounds = n.div_ceil(w.min(n).max(1)) as f64;
    n as f64 / ((2.0 + rounds) * latency_ms / 1e3)
}

async fn scaling(a: &Args) -> serde_json::Value {
    let (from, to) = (date("2024-01-02"), date("2024-12-31"));
    let mut by_workers = Vec::new();
    for w in [1usize, 2, 4, 8, 16, 32, 64, 128, 256] {
        let n = (w * 8).max(32);
        let f = fetcher(transport(a, true, w), cache(a, false).await, w, 4);
        batch(&fetcher(transport(a, true, 64), cache(a, false).await, 64, 4), &universe(n), Timespan::Day, from, to)
            .await;
        let r = batch(&f, &universe(n), Timespan::Day, from, to).await;
        let rate = r.requests as f64 / r.secs;
        let ideal = ideal_rate(n, w, a.latency_ms);
        by_workers.push(serde_json::json!({"workers": w, "tickers": n, "secs": r.secs, "req_per_sec": rate, "ideal": ideal, "of_ideal": rate / ideal}));
        eprintln!("workers {w}: {rate:.0} req/s (ideal {ideal:.0})");
    }
    let mut by_tickers = Vec::new();
    for n in [10usize, 100, 1_000, 5_000] {
        let w = 64;
        let f = fetcher(transport(a, true, w), cache(a, false).await, w, 4);
        batch(&fetcher(transport(a, true, 64), cache(a, false).await, 64, 4), &universe(n), Timespan::Day, from, to)
            .await;
        let r = batch(&f, &universe(n), Timespan::Day, from, to).await;
        let rate = r.requests as f64 / r.secs;
        let ideal = ideal_rate(n, w, a.latency_ms);
        by_tickers.push(serde_json::json!({"tickers": n, "workers": w, "secs": r.secs, "req_per_sec": rate, "ideal": ideal, "of_ideal": rate / ideal, "failed": r.failed}));
        eprintln!("tickers {n}: {rate:.0} req/s (ideal {ideal:.0})");
    }
    let peak = by_workers.iter().map(|r| r["req_per_sec"].as_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let sat = by_workers
        .iter()
        .find(|r| r["of_ideal"].as_f64().unwrap_or(1.0) < 0.8)
        .map_or("never below 80 % of ideal in this range".to_string(), |r| {
            format!("falls below 80 % of ideal at MAX_WORKERS={} ({:.0} req/s; peak {peak:.0} req/s): the 2 CPUs, shared by the simulator and the client, not the rate limit (off)", r["workers"], r["req_per_sec"].as_f64().unwrap_or(0.0))
        });
    let mut table = format!(
        "daily bars, one request per ticker, simulator latency {} ms (a new connection {} ms more), TLS, rate limit off, the simulator's body cache warmed first (untimed); each point a fresh client (its TLS handshakes included); ideal = tickers / ((2 + ceil(tickers / MAX_WORKERS)) x latency): one handshake, then rounds\n\n",
        a.latency_ms,
        2.0 * a.latency_ms
    );
    table.push_str("| MAX_WORKERS | tickers | req/s | ideal | of ideal |\n|---|---|---|---|---|\n");
    for r in &by_workers {
        let _ = writeln!(
            table,
            "| {} | {} | {:.0} | {:.0} | {:.0} % |",
            r["workers"],
            r["tickers"],
            r["req_per_sec"].as_f64().unwrap_or(0.0),
            r["ideal"].as_f64().unwrap_or(0.0),
            100.0 * r["of_ideal"].as_f64().unwrap_or(0.0)
        );
    }
    table.push_str("\n| tickers | MAX_WORKERS | req/s | ideal | of ideal |\n|---|---|---|---|---|\n");
    for r in &by_tickers {
        let _ = writeln!(
            table,
            "| {} | {} | {:.0} | {:.0} | {:.0} % |",
            r["tickers"],
            r["workers"],
            r["req_per_sec"].as_f64().unwrap_or(0.0),
            r["ideal"].as_f64().unwrap_or(0.0),
            100.0 * r["of_ideal"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = writeln!(table, "\nsaturation: {sat}");
    print!("{table}");
    let svg = chart(&by_workers);
    let svg_path = a.out.replace(".json", ".svg");
    std::fs::write(&svg_path, svg).expect("write svg");
    println!("chart: {svg_path}");
    serde_json::json!({"mode": "scaling-test", "by_workers": by_workers, "by_tickers": by_tickers, "saturation": sat, "table": table})
}

/// Throughput against MAX_WORKERS on log-log axes, with the ideal line.
fn chart(rows: &[serde_json::Value]) -> String {
    let (w, h, pad) = (640.0, 400.0, 60.0);
    let pts: Vec<(f64, f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["workers"].as_f64().unwrap_or(1.0),
                r["req_per_sec"].as_f64().unwrap_or(1.0),
                r["ideal"].as_f64().unwrap_or(1.0),
            )
        })
        .collect();
    let ymax = pts.iter().map(|p| p.1.max(p.2)).fold(1.0, f64::max).log10().ceil();
    let xmax = pts.iter().map(|p| p.0).fold(1.0, f64::max).log2();
    let x = |v: f64| pad + (w - 2.0 * pad) * v.log2() / xmax;
    let y = |v: f64| h - pad - (h - 2.0 * pad) * v.max(1.0).log10() / ymax;
    let line = |f: &dyn Fn(&(f64, f64, f64)) -> f64| {
        pts.iter().map(|p| format!("{:.1},{:.1}", x(p.0), y(f(p)))).collect::<Vec<_>>().join(" ")
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{pad}\" y=\"20\">requests/s against MAX_WORKERS (log-log); dashed: ideal (one handshake, then rounds of the latency)</text>"
    );
    let _ =
        writeln!(s, "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>", h - pad, w - pad, h - pad);
    let _ = writeln!(s, "<line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{}\" stroke=\"black\"/>", h - pad);
    for p in &pts {
        let _ = writeln!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", x(p.0), h - pad + 16.0, p.0);
    }
    for e in 0..=ymax as i32 {
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">1e{e}</text>",
            pad - 6.0,
            y(10f64.powi(e)) + 4.0
        );
    }
    let _ =
        writeln!(s, "<polyline fill=\"none\" stroke=\"gray\" stroke-dasharray=\"6,4\" points=\"{}\"/>", line(&|p| p.2));
    let _ =
        writeln!(s, "<polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"2\" points=\"{}\"/>", line(&|p| p.1));
    s.push_str("</svg>\n");
    s
}

async fn large(a: &Args) -> serde_json::Value {
    let (n, from, to) = (2_000, date("2024-01-02"), date("2024-03-28"));
    let tickers = universe(n);
    let workers = 64;
    // Chunks of 32 tickers (BATCH_SIZE; the library's default of 256 suits a GPU): on two CPUs
    // a small chunk lets the indicators start sooner and finish later behind the fetching, and
    // keeps fewer fresh buffers in flight (with 128: warm 1.6 s, 17x; see docs/benchmarks.md).
    let batch = 32;
    let c = cache(a, true).await;
    let _ = c.clear().await;
    let tier = if c.redis_status() == polygon_gh200::cache::RedisStatus::Up { "Redis" } else { "memory tier" };
    let mut results = Vec::new();
    for pass in ["cold", "warm"] {
        if pass == "warm" {
            c.clear_memory();
        }
        let f = Fetcher::new(
            transport(a, true, workers),
            c.clone(),
            FetchConfig { max_workers: workers, batch_size: batch, queue_size: 2, ..FetchConfig::default() },
        );
        let backend = CpuBackend::new();
        let start = Instant::now();
        let mut rx = f.stream_aggregates(tickers.clone(), Multiplier::ONE, Timespan::Minute, from, to);
        let (mut bars, mut failed, mut compute) = (0u64, 0usize, 0.0);
        let mut out = Indicators::default();
        while let Some(chunk) = rx.recv().await {
            failed += chunk.failures.len();
            let (n, secs) = compute_reusing(&f, backend, chunk.columns, &mut out).await;
            (bars, compute) = (bars + n, compute + secs);
        }
        let secs = start.elapsed().as_secs_f64();
        let p = f.progress();
        let st = f.transport().stats();
        results.push(serde_json::json!({"pass": pass, "secs": secs, "bars": bars, "failed": failed,
            "bars_per_sec": bars as f64 / secs, "bytes_per_sec": st.bytes as f64 / secs, "requests": st.requests,
            "cache_hits": p.cache_hits, "chunks_loaded": p.chunks_loaded,
            "hit_ratio": p.cache_hits as f64 / (p.cache_hits + p.chunks_loaded).max(1) as f64,
            "indicator_bars_per_sec": bars as f64 / compute, "peak_rss_mib": rss_mib(),
            "cache_stats": format!("{:?}", c.stats())}));
        eprintln!("{pass}: {bars} bars in {secs:.1} s");
    }
    let _ = c.clear().await;
    let mut table = format!(
        "{n} tickers x 2024-01-02..2024-03-28 (61 sessions) of minute bars, streamed in chunks of {batch} tickers (BATCH_SIZE={batch}, QUEUE_SIZE=2), MAX_WORKERS={workers}, cache: {tier}, simulator latency {} ms (a new connection {} ms more), TLS\n\n",
        a.latency_ms,
        2.0 * a.latency_ms
    );
    table.push_str("| pass | wall s | bars | bars/s | MB/s | requests | cache hit ratio | indicators bars/s | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in &results {
        let _ = writeln!(
            table,
            "| {} | {:.1} | {} | {:.2} M | {:.1} | {} | {:.0} % | {:.1} M | {:.0} |",
            r["pass"].as_str().unwrap_or(""),
            r["secs"].as_f64().unwrap_or(0.0),
            r["bars"],
            r["bars_per_sec"].as_f64().unwrap_or(0.0) / 1e6,
            r["bytes_per_sec"].as_f64().unwrap_or(0.0) / 1e6,
            r["requests"],
            100.0 * r["hit_ratio"].as_f64().unwrap_or(0.0),
            r["indicator_bars_per_sec"].as_f64().unwrap_or(0.0) / 1e6,
            r["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
    }
    let (c0, w0) = (results[0]["secs"].as_f64().unwrap_or(1.0), results[1]["secs"].as_f64().unwrap_or(1.0));
    let _ = writeln!(table, "\nwarm over cold: {:.1}x", c0 / w0);
    for r in &results {
        let _ = writeln!(
            table,
            "cache after {}: {}",
            r["pass"].as_str().unwrap_or(""),
            r["cache_stats"].as_str().unwrap_or("")
        );
    }
    print!("{table}");
    serde_json::json!({"mode": "large-scale", "passes": results, "warm_over_cold": c0 / w0, "table": table})
}

#[tokio::main]
async fn main() {
    let a = args();
    let v = match a.mode.as_str() {
        "enhanced" => enhanced(&a).await,
        "scaling-test" => scaling(&a).await,
        "large-scale" => large(&a).await,
        m => {
            eprintln!("unknown mode {m:?}: enhanced, scaling-test or large-scale");
            std::process::exit(2);
        }
    };
    let mut v = v;
    v["date"] = serde_json::json!(std::env::var("BENCH_DATE").unwrap_or_default());
    std::fs::write(&a.out, serde_json::to_string_pretty(&v).expect("json")).expect("write json");
    println!("\njson: {}", a.out);
}
