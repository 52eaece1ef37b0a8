//! The driver of `cargo xtask bench <mode>` (which starts the simulator and redis-server processes
//! and passes their addresses): `enhanced`, `scaling-test`, `large-scale`, `fetch-cli`, `fleet`. Every row
//! runs the public API (`PolygonDataSource` built from a `Config`, or the `polygon-gh200` command).
//! Prints a table last and writes JSON (and for scaling-test an SVG chart) to `--out`.
//!
//! `bench MODE --base-url URL --ca PEM --redis-url URL|none --out target/bench/MODE.json
//!  [--latency-ms N] [--python]`

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use polygon_gh200::cache::RedisStatus;
use polygon_gh200::model::{Date, Multiplier, Timespan};
use polygon_gh200::{Config, PolygonDataSource};

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

/// A data source as a user gets one: a `Config` from the settings (the simulator's URL, its CA,
/// the key, no rate limit, the `bench` namespace, the run's Redis or none) plus `settings`.
async fn source(a: &Args, settings: &[(&str, &str)]) -> PolygonDataSource {
    let redis = a.redis.clone().unwrap_or_else(|| "off".into());
    let mut all: Vec<(&str, String)> = vec![
        ("POLYGON_BASE_URL", a.base.clone()),
        ("POLYGON_CA_CERT", a.ca.clone()),
        ("POLYGON_API_KEY", KEY.into()),
        ("POLYGON_RATE_LIMIT", "off".into()),
        ("CACHE_NAMESPACE", "bench".into()),
        ("REDIS_URL", redis),
        ("GPU_BACKEND", "cpu".into()),
        // The disk tier only where a row asks for it (DISK), in a directory of the run's own.
        ("CACHE_DISK", "off".into()),
        ("CACHE_DIR", disk_dir().to_string_lossy().into_owned()),
    ];
    all.extend(settings.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let config = Config::from_lookup(&|k: &str| all.iter().rev().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("bench settings");
    let s = PolygonDataSource::new(config).await.expect("data source");
    for _ in 0..40 {
        if s.redis_status() != RedisStatus::Down {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s
}

/// The disk tier's directory for this run (removed at the end of `main`); a rerun process is
/// given its parent's.
fn disk_dir() -> std::path::PathBuf {
    std::env::var_os("PGH200_BENCH_DISK_DIR").map_or_else(
        || std::env::temp_dir().join(format!("pgh200-bench-disk-{}", std::process::id())),
        std::path::PathBuf::from,
    )
}

/// The disk tier on, Redis off: what a user without a Redis server has.
const DISK: [(&str, &str); 2] = [("CACHE_DISK", "on"), ("REDIS_URL", "off")];

/// Drops the page cache (root only); whether it could.
fn drop_page_cache() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", b"1").is_ok()
}

/// One batch in a fresh process (this program again, mode `rerun`): a new data source in a new
/// heap, as a second run of a user's script meets the cache. Only the batch is timed.
fn rerun(a: &Args, tickers: &[String], span: Timespan, from: Date, to: Date, settings: &[(&str, &str)]) -> Run {
    let exe = std::env::current_exe().expect("the bench's own path");
    let _ = std::fs::create_dir_all(disk_dir());
    let out = disk_dir().join(format!("rerun-{}.json", std::process::id()));
    let mut c = Command::new(exe);
    c.env("PGH200_BENCH_DISK_DIR", disk_dir());
    c.args(["rerun", "--base-url", &a.base, "--ca", &a.ca, "--out"]).arg(&out);
    c.args(["--redis-url", a.redis.as_deref().unwrap_or("none")]);
    c.args(["--span", &span.to_string(), "--from", &from.to_string(), "--to", &to.to_string()]);
    c.args(["--tickers", &tickers.join(",")]);
    for (k, v) in settings {
        c.args(["--set", &format!("{k}={v}")]);
    }
    let status = c.status().expect("starting the rerun process");
    assert!(status.success(), "the rerun process failed: {status}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).expect("the rerun's JSON")).expect("json");
    let _ = std::fs::remove_file(&out);
    let num = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Run {
        secs: num("secs"),
        requests: num("requests") as u64,
        bars: num("bars") as u64,
        failed: num("failed") as usize,
    }
}

/// Mode `rerun` (the child of [`rerun`]): one batch with the `--set` settings, its figures as JSON.
async fn rerun_child(a: &Args) -> serde_json::Value {
    let v: Vec<String> = std::env::args().collect();
    let get = |flag: &str| v.iter().position(|x| x == flag).and_then(|i| v.get(i + 1)).cloned().expect(flag);
    let sets: Vec<(String, String)> = v
        .windows(2)
        .filter(|w| w[0] == "--set")
        .filter_map(|w| w[1].split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let settings: Vec<(&str, &str)> = sets.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let tickers: Vec<String> = get("--tickers").split(',').map(str::to_owned).collect();
    let span: Timespan = get("--span").parse().expect("--span");
    let s = source(a, &settings).await;
    let r = batch(&s, &tickers, span, date(&get("--from")), date(&get("--to"))).await;
    s.shutdown().await;
    serde_json::json!({"secs": r.secs, "requests": r.requests, "bars": r.bars, "failed": r.failed})
}

/// A warm rerun from disk as a second process meets it: a fresh process (nothing in memory, a
/// new heap), the page cache warm, then (root only) dropped.
async fn disk_reruns(
    a: &Args,
    tickers: &[String],
    span: Timespan,
    from: Date,
    to: Date,
    extra: &[(&str, &str)],
) -> Vec<(String, Run)> {
    let mut settings = DISK.to_vec();
    settings.extend_from_slice(extra);
    let fill = source(a, &settings).await;
    let _ = fill.cache().clear().await;
    batch(&fill, tickers, span, from, to).await;
    fill.shutdown().await;
    let mut out = vec![(
        "warm from disk (a fresh process, page cache warm)".to_owned(),
        rerun(a, tickers, span, from, to, &settings),
    )];
    if drop_page_cache() {
        out.push((
            "warm from disk (a fresh process, page cache dropped)".to_owned(),
            rerun(a, tickers, span, from, to, &settings),
        ));
    }
    let s = source(a, &settings).await;
    let _ = s.cache().clear().await;
    out
}

/// No cache at all: no Redis, a memory tier of 0 bytes.
const NO_CACHE: [(&str, &str); 2] = [("REDIS_URL", "off"), ("CACHE_MEMORY_MB", "0")];

fn universe(n: usize) -> Vec<String> {
    polygon_sim::market::Universe::get().profiles().iter().take(n).map(|p| p.ticker.clone()).collect()
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

async fn batch(s: &PolygonDataSource, tickers: &[String], span: Timespan, from: Date, to: Date) -> Run {
    let before = s.transport().stats().requests;
    let start = Instant::now();
    let out = s.get_aggregates_batch(tickers, span, from, to).await;
    let secs = start.elapsed().as_secs_f64();
    let bars = out.iter().filter_map(|(_, r)| r.as_ref().ok()).map(|c| c.len() as u64).sum();
    let failed = out.iter().filter(|(_, r)| r.is_err()).count();
    Run { secs, requests: s.transport().stats().requests - before, bars, failed }
}

/// A whole stream through the public API: fetch, indicators on the configured backend, each chunk
/// given back for reuse. The bars, and the seconds the backend spent.
async fn stream(s: &PolygonDataSource, tickers: &[String], from: Date, to: Date) -> (u64, usize, f64) {
    let mut rx = s.stream(tickers, Multiplier::ONE, Timespan::Minute, from, to).expect("stream");
    let (mut bars, mut failed, mut compute) = (0u64, 0usize, 0.0);
    while let Some(chunk) = rx.recv().await {
        chunk.indicators.as_ref().expect("indicators");
        bars += chunk.bars.len() as u64;
        failed += chunk.failures.len();
        compute += chunk.compute_secs;
        s.recycle(chunk);
    }
    (bars, failed, compute)
}

fn python(a: &Args, tickers: &[String], span: &str, from: &str, to: &str, workers: usize) -> Option<(f64, u64)> {
    python_run(a, tickers, span, from, to, workers, None).map(|(secs, bars, _)| (secs, bars))
}

/// The official client's script; with `parquet`, it also writes the bars there as its users would
/// (pandas), and the third figure is the whole process's wall time, timed from outside as
/// [`cli_run`] times ours.
fn python_run(
    a: &Args,
    tickers: &[String],
    span: &str,
    from: &str,
    to: &str,
    workers: usize,
    parquet: Option<&str>,
) -> Option<(f64, u64, f64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../xtask/bench_python.py");
    let mut c = Command::new("python3");
    c.arg(script)
        .args(["--base", &a.base, "--ca", &a.ca, "--key", KEY, "--span", span, "--from", from, "--to", to])
        .args(["--workers", &workers.to_string(), "--tickers", &tickers.join(",")]);
    if let Some(p) = parquet {
        c.args(["--parquet", p]);
    }
    let start = Instant::now();
    let out = c.output().ok()?;
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!("python client failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["secs"].as_f64()?, v["bars"].as_u64()?, wall))
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
    // Warm the simulator's body cache first (untimed): the simulator shares this machine's two
    // CPUs, and the time it spends generating bars is not the client's. Every row, ours and the
    // Python client's, then meets the same server: 20 ms latency, bodies ready.
    let warm = source(a, &[("MAX_CONNECTIONS", "64"), NO_CACHE[0], NO_CACHE[1]]).await;
    batch(&warm, &tickers, Timespan::Minute, f, t).await;
    let mut rows = Vec::new();
    let one = [("MAX_CONNECTIONS", "1"), ("MAX_WORKERS", "1")];
    let naive = batch(
        &source(a, &[one[0], one[1], ("MAX_POOL_SIZE", "0"), NO_CACHE[0], NO_CACHE[1]]).await,
        &tickers,
        Timespan::Minute,
        f,
        t,
    )
    .await;
    let pooled =
        batch(&source(a, &[one[0], one[1], NO_CACHE[0], NO_CACHE[1]]).await, &tickers, Timespan::Minute, f, t).await;
    // The library's defaults (MAX_CONNECTIONS=50 requests in flight, MAX_WORKERS=10 decoding).
    let par = source(a, &[]).await;
    let _ = par.cache().clear().await;
    let parallel = batch(&par, &tickers, Timespan::Minute, f, t).await;
    // The repeat is served by Redis in a fresh process, as a second run of a script meets it;
    // without Redis, by the memory tier of the same data source.
    let tier = if par.redis_status() == RedisStatus::Up { "Redis, a fresh process" } else { "memory" };
    let cached = if par.redis_status() == RedisStatus::Up {
        rerun(a, &tickers, Timespan::Minute, f, t, &[])
    } else {
        batch(&par, &tickers, Timespan::Minute, f, t).await
    };
    let disk = disk_reruns(a, &tickers, Timespan::Minute, f, t, &[]).await;
    let mut named = vec![
        ("naive (sequential, new TLS connection each, no cache)".to_owned(), &naive),
        ("pooled (keep-alive, sequential)".to_owned(), &pooled),
        ("parallel (the defaults: MAX_CONNECTIONS=50, MAX_WORKERS=10)".to_owned(), &parallel),
        (format!("cached (the same again, warm from {tier})"), &cached),
    ];
    named.extend(disk.iter().map(|(n, r)| (format!("cached ({n})"), r)));
    for (name, r) in named {
        rows.push(serde_json::json!({"row": name, "secs": r.secs, "requests": r.requests, "bars": r.bars,
            "failed": r.failed, "bars_per_sec": r.bars as f64 / r.secs, "vs_naive": naive.secs / r.secs,
            "vs_parallel_cold": parallel.secs / r.secs, "vs_warm_redis": cached.secs / r.secs}));
    }
    let _ = par.cache().clear().await;
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
    // Processing: minute bars streamed through `PolygonDataSource::stream` (indicators on the CPU
    // while the next chunks are fetched, chunks given back for reuse).
    let minute = universe(48);
    let (mf, mt) = (date("2024-03-01"), date("2024-03-28"));
    batch(&warm, &minute, Timespan::Minute, mf, mt).await; // the simulator's cache, as above
    let small = [("BATCH_SIZE", "8"), ("QUEUE_SIZE", "4"), NO_CACHE[0], NO_CACHE[1]];
    let pf = source(a, &small).await;
    let start = Instant::now();
    let (mbars, _, compute) = stream(&pf, &minute, mf, mt).await;
    let stream_secs = start.elapsed().as_secs_f64();
    // The same stream, same chunks, with nothing computed (`stream_bars`, a fresh memory-less
    // cache, so it fetches as the first did): what the processing had to hide behind.
    let pf2 = source(a, &small).await;
    let start = Instant::now();
    let mut rx = pf2.stream_bars(&minute, Multiplier::ONE, Timespan::Minute, mf, mt).expect("stream");
    while let Some(chunk) = rx.recv().await {
        pf2.recycle_bars(chunk.columns);
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
    let _ = writeln!(
        table,
        "| row | wall s | requests | bars/s | vs naive | vs parallel cold | vs warm from {tier} |\n|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "| {} | {:.3} | {} | {:.0} | {:.1}x | {:.1}x | {:.2}x |",
            r["row"].as_str().unwrap_or(""),
            r["secs"].as_f64().unwrap_or(0.0),
            r["requests"],
            r["bars_per_sec"].as_f64().unwrap_or(0.0),
            r["vs_naive"].as_f64().unwrap_or(0.0),
            r["vs_parallel_cold"].as_f64().unwrap_or(0.0),
            r["vs_warm_redis"].as_f64().unwrap_or(0.0)
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
        let ws = w.to_string();
        let f = source(a, &[("MAX_CONNECTIONS", &ws), ("MAX_POOL_SIZE", &ws), NO_CACHE[0], NO_CACHE[1]]).await;
        let warm = source(a, &[("MAX_CONNECTIONS", "64"), NO_CACHE[0], NO_CACHE[1]]).await;
        batch(&warm, &universe(n), Timespan::Day, from, to).await;
        let r = batch(&f, &universe(n), Timespan::Day, from, to).await;
        let rate = r.requests as f64 / r.secs;
        let ideal = ideal_rate(n, w, a.latency_ms);
        by_workers.push(serde_json::json!({"workers": w, "tickers": n, "secs": r.secs, "req_per_sec": rate, "ideal": ideal, "of_ideal": rate / ideal}));
        eprintln!("workers {w}: {rate:.0} req/s (ideal {ideal:.0})");
    }
    let mut by_tickers = Vec::new();
    for n in [10usize, 100, 1_000, 5_000] {
        let w = 64;
        let ws = w.to_string();
        let f = source(a, &[("MAX_CONNECTIONS", &ws), ("MAX_POOL_SIZE", &ws), NO_CACHE[0], NO_CACHE[1]]).await;
        let warm = source(a, &[("MAX_CONNECTIONS", "64"), NO_CACHE[0], NO_CACHE[1]]).await;
        batch(&warm, &universe(n), Timespan::Day, from, to).await;
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
            format!("falls below 80 % of ideal at MAX_CONNECTIONS={} ({:.0} req/s; peak {peak:.0} req/s): the 2 CPUs, shared by the simulator and the client, not the rate limit (off)", r["workers"], r["req_per_sec"].as_f64().unwrap_or(0.0))
        });
    let mut table = format!(
        "daily bars, one request per ticker, simulator latency {} ms (a new connection {} ms more), TLS, rate limit off, the simulator's body cache warmed first (untimed); each point a fresh client (its TLS handshakes included); ideal = tickers / ((2 + ceil(tickers / MAX_CONNECTIONS)) x latency): one handshake, then rounds\n\n",
        a.latency_ms,
        2.0 * a.latency_ms
    );
    table.push_str("| MAX_CONNECTIONS | tickers | req/s | ideal | of ideal |\n|---|---|---|---|---|\n");
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
    table.push_str("\n| tickers | MAX_CONNECTIONS | req/s | ideal | of ideal |\n|---|---|---|---|---|\n");
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
        "<text x=\"{pad}\" y=\"20\">requests/s against MAX_CONNECTIONS (log-log); dashed: ideal (one handshake, then rounds of the latency)</text>"
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
    // Chunks of 32 tickers (BATCH_SIZE; the library's default of 256 suits a GPU): on two CPUs
    // a small chunk lets the indicators start sooner and finish later behind the fetching, and
    // keeps fewer fresh buffers in flight (with 128: warm 1.6 s, 17x; see docs/benchmarks.md).
    let batch = 32;
    let settings = [("BATCH_SIZE", "32"), ("QUEUE_SIZE", "2")];
    // The cold pass fills every tier: Redis (when the run has one) and the disk.
    let with_disk = [settings[0], settings[1], ("CACHE_DISK", "on")];
    let disk_only = [settings[0], settings[1], DISK[0], DISK[1]];
    let first = source(a, &with_disk).await;
    let _ = first.cache().clear().await;
    let tier = if first.redis_status() == RedisStatus::Up { "Redis" } else { "memory tier" };
    let mut results = Vec::new();
    let mut keep = Some(first);
    let mut disk_bytes = 0u64;
    for pass in ["cold", "warm", "warm from disk", "warm from disk, page cache dropped"] {
        // Every warm pass but the memory one is a fresh data source, as a second process would be.
        let s = match (pass, keep.take()) {
            ("warm", Some(prev)) if tier == "Redis" => {
                prev.shutdown().await;
                source(a, &settings).await
            }
            ("cold" | "warm", Some(prev)) => prev,
            ("warm from disk, page cache dropped", prev) => {
                if let Some(p) = prev {
                    p.shutdown().await;
                }
                if !drop_page_cache() {
                    continue;
                }
                source(a, &disk_only).await
            }
            (_, prev) => {
                if let Some(p) = prev {
                    p.shutdown().await;
                }
                source(a, &disk_only).await
            }
        };
        let start = Instant::now();
        let (bars, failed, compute) = stream(&s, &tickers, from, to).await;
        let secs = start.elapsed().as_secs_f64();
        let p = s.progress();
        let st = s.transport().stats();
        if let Some((_, usage)) = s.cache().disk_usage() {
            disk_bytes = disk_bytes.max(usage.iter().map(|u| u.bytes).sum());
        }
        results.push(serde_json::json!({"pass": pass, "secs": secs, "bars": bars, "failed": failed,
            "bars_per_sec": bars as f64 / secs, "bytes_per_sec": st.bytes as f64 / secs, "requests": st.requests,
            "cache_hits": p.cache_hits, "chunks_loaded": p.chunks_loaded,
            "hit_ratio": p.cache_hits as f64 / (p.cache_hits + p.chunks_loaded).max(1) as f64,
            "indicator_bars_per_sec": bars as f64 / compute, "peak_rss_mib": rss_mib(),
            "cache_stats": format!("{:?}", s.cache().stats())}));
        eprintln!("{pass}: {bars} bars in {secs:.1} s");
        keep = Some(s);
    }
    if let Some(s) = keep {
        let _ = s.cache().clear().await;
        s.shutdown().await;
    }
    let total_bars = results[0]["bars"].as_u64().unwrap_or(1).max(1);
    let disk_per_bar = disk_bytes as f64 / total_bars as f64;
    let workers = "50 (MAX_CONNECTIONS, the default)";
    let mut table = format!(
        "{n} tickers x 2024-01-02..2024-03-28 (61 sessions) of minute bars, streamed in chunks of {batch} tickers (BATCH_SIZE={batch}, QUEUE_SIZE=2), requests in flight {workers}, cache: {tier}, simulator latency {} ms (a new connection {} ms more), TLS\n\n",
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
    if let Some(d) = results.get(2).and_then(|r| r["secs"].as_f64()) {
        let _ = writeln!(
            table,
            "warm from disk over cold: {:.1}x; warm from disk against warm from {tier}: {:.2}x the time; {disk_bytes} bytes on disk, {disk_per_bar:.1} per bar",
            c0 / d,
            d / w0
        );
    }
    for r in &results {
        let _ = writeln!(
            table,
            "cache after {}: {}",
            r["pass"].as_str().unwrap_or(""),
            r["cache_stats"].as_str().unwrap_or("")
        );
    }
    print!("{table}");
    serde_json::json!({"mode": "large-scale", "passes": results, "warm_over_cold": c0 / w0,
        "disk_bytes": disk_bytes, "disk_bytes_per_bar": disk_per_bar, "table": table})
}

/// The `polygon-gh200` command built beside this bench (`target/release/`).
fn cli_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(|d| d.parent()).expect("target/release").join("polygon-gh200")
}

/// One run of the `polygon-gh200` command as a user types it, with `env` (and nothing else of
/// ours from the environment): its wall time, process start and Parquet writing included.
fn cli_run(args: &[&str], env: &[(&str, &str)]) -> f64 {
    let cli = cli_path();
    let mut c = Command::new(&cli);
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).args(args).envs(env.iter().copied());
    let start = Instant::now();
    let out = c.output().unwrap_or_else(|e| panic!("{}: {e}", cli.display()));
    let secs = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `polygon-gh200 fetch … --out x.parquet` with the default settings against the official client
/// with a 50-thread pool: 60 tickers x a month of minute bars, each run cold, without Redis and
/// with it.
async fn fetch_cli(a: &Args) -> serde_json::Value {
    let (n, from, to) = (60, "2024-03-01", "2024-03-31");
    let tickers = universe(n);
    let list = tickers.join(",");
    let out_dir = std::env::temp_dir().join(format!("pgh200-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("temp dir");
    let out = out_dir.join("bars.parquet");
    let out = out.to_str().expect("utf-8 path");
    // The simulator's bodies, gzip (ours) and plain (the Python client's), made first (untimed).
    let warm = source(a, &[NO_CACHE[0], NO_CACHE[1]]).await;
    batch(&warm, &tickers, Timespan::Minute, date(from), date(to)).await;
    if a.python {
        let _ = python(a, &tickers, "minute", from, to, 50);
    }
    let fetch = ["fetch", "--tickers", &list, "--from", from, "--to", to, "--out", out, "--base-url", &a.base];
    let mut rows = Vec::new();
    let mut redis_cases = vec![("no Redis (memory tier)", "off".to_owned())];
    if let Some(r) = &a.redis {
        redis_cases.push(("Redis", r.clone()));
    }
    for (name, redis) in &redis_cases {
        let env = [
            ("POLYGON_API_KEY", KEY),
            ("POLYGON_CA_CERT", a.ca.as_str()),
            ("CACHE_NAMESPACE", "bench-cli"),
            ("REDIS_URL", redis.as_str()),
            ("CACHE_DISK", "off"),
        ];
        let mut runs = Vec::new();
        for _ in 0..5 {
            if redis != "off" {
                cli_run(&["cache", "clear"], &env); // every run cold
            }
            runs.push(cli_run(&fetch, &env));
        }
        rows.push(serde_json::json!({"row": format!("polygon-gh200 fetch, defaults, {name}"), "secs": median(runs.clone()), "runs": runs}));
    }
    // The embedded disk tier, no Redis: a cold run, then the same command again (a second process).
    let dir = disk_dir().join("cli");
    let env = [
        ("POLYGON_API_KEY", KEY),
        ("POLYGON_CA_CERT", a.ca.as_str()),
        ("CACHE_NAMESPACE", "bench-cli"),
        ("REDIS_URL", "off"),
        ("CACHE_DISK", "on"),
        ("CACHE_DIR", dir.to_str().expect("utf-8 path")),
    ];
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        cli_run(&["cache", "clear"], &env);
        cold.push(cli_run(&fetch, &env));
        warm.push(cli_run(&fetch, &env));
    }
    rows.push(serde_json::json!({"row": "polygon-gh200 fetch, defaults, disk tier, cold", "secs": median(cold.clone()), "runs": cold}));
    rows.push(serde_json::json!({"row": "polygon-gh200 fetch, defaults, disk tier, warm (a second process)", "secs": median(warm.clone()), "runs": warm}));
    let mut py = serde_json::Value::Null;
    let mut py_fetch = serde_json::Value::Null;
    if a.python {
        // End to end, as ours: a fresh process that fetches and writes the same Parquet file (its
        // users' way: pandas), timed from outside; and its fetch loop alone, timed inside.
        let py_out = out_dir.join("official.parquet");
        let py_out = py_out.to_str().expect("utf-8 path");
        let runs: Vec<(f64, f64)> = (0..5)
            .filter_map(|_| python_run(a, &tickers, "minute", from, to, 50, Some(py_out)).map(|r| (r.2, r.0)))
            .collect();
        let fetch_only: Vec<f64> =
            (0..5).filter_map(|_| python(a, &tickers, "minute", from, to, 50).map(|r| r.0)).collect();
        if !runs.is_empty() {
            let wall: Vec<f64> = runs.iter().map(|r| r.0).collect();
            py = serde_json::json!({"client": "massive (official Python), 50-thread pool, end to end (a process that fetches and writes the Parquet file with pandas)", "secs": median(wall.clone()), "runs": wall});
        }
        if !fetch_only.is_empty() {
            py_fetch = serde_json::json!({"client": "massive (official Python), 50-thread pool, its fetch loop alone (timed inside the process)", "secs": median(fetch_only.clone()), "runs": fetch_only});
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut table = format!(
        "{n} tickers x {from}..{to} minute bars, simulator latency {} ms (a new connection {} ms more), TLS; \
         each figure the median of 5 cold runs of a fresh process, timed from outside\n\n| run | median wall s | vs official (50 threads, end to end) |\n|---|---|---|\n",
        a.latency_ms,
        2.0 * a.latency_ms
    );
    let py_secs = py["secs"].as_f64();
    for r in &rows {
        let secs = r["secs"].as_f64().unwrap_or(f64::NAN);
        let vs = py_secs.map_or("n/a".to_string(), |p| format!("{:.1}x", p / secs));
        let _ = writeln!(table, "| {} | {secs:.3} | {vs} |", r["row"].as_str().unwrap_or(""));
    }
    for p in [&py, &py_fetch] {
        if let (Some(s), Some(name)) = (p["secs"].as_f64(), p["client"].as_str()) {
            let vs = py_secs.map_or("n/a".to_string(), |p| format!("{:.1}x", p / s));
            let _ = writeln!(table, "| {name} | {s:.3} | {vs} |");
        }
    }
    print!("{table}");
    serde_json::json!({"mode": "fetch-cli", "rows": rows, "python": py, "python_fetch_only": py_fetch, "table": table})
}

/// `INFO commandstats` of the Redis at `url` (`redis://host:port/db`): (calls, server µs) of
/// EVAL and EVALSHA together, the fleet quota's only commands.
fn eval_stats(url: &str) -> (u64, u64) {
    use std::io::{Read as _, Write as _};
    let addr = url.trim_start_matches("redis://").split('/').next().expect("host:port");
    let mut c = std::net::TcpStream::connect(addr).expect("redis");
    c.write_all(b"INFO commandstats\r\n").expect("INFO");
    let mut text = Vec::new();
    let mut buf = [0u8; 65536];
    // One bulk string: `$len\r\n` then the text; read until all of it came.
    loop {
        let n = c.read(&mut buf).expect("INFO reply");
        text.extend_from_slice(&buf[..n]);
        let s = String::from_utf8_lossy(&text);
        if let Some((head, rest)) = s.split_once("\r\n")
            && head.trim_start_matches('$').parse::<usize>().is_ok_and(|len| rest.len() >= len)
        {
            break;
        }
    }
    let (mut calls, mut usec) = (0, 0);
    for line in String::from_utf8_lossy(&text).lines() {
        if let Some(v) = line.strip_prefix("cmdstat_eval:").or_else(|| line.strip_prefix("cmdstat_evalsha:")) {
            for kv in v.split(',') {
                match kv.split_once('=') {
                    Some(("calls", n)) => calls += n.parse::<u64>().unwrap_or(0),
                    Some(("usec", n)) => usec += n.parse::<u64>().unwrap_or(0),
                    _ => {}
                }
            }
        }
    }
    (calls, usec)
}

/// What one permit of the shared limiter costs the caller, through the cache's public API:
/// `n` permits one after another (each a round trip), then `n` from 16 tasks at once; a limit no
/// run reaches, so that nothing waits. (mean µs one at a time, permits a second from 16 tasks).
async fn permit_cost(redis: &str, n: usize) -> (f64, f64) {
    use polygon_gh200::cache::Cache;
    use polygon_gh200::model::RateLimit;
    let cache = Cache::builder().redis_url(redis).namespace("bench-permit").build().await.expect("cache");
    for _ in 0..40 {
        if cache.redis_status() == RedisStatus::Up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rate = RateLimit { requests: 1_000_000_000, per: Duration::from_secs(1) };
    let q = cache.fleet_quota("bench-permit-cost", rate, 1_000_000, "bench").expect("a Redis is configured");
    for _ in 0..200 {
        q.permit(false).await.expect("permit"); // connections warm
    }
    let start = Instant::now();
    for _ in 0..n {
        q.permit(false).await.expect("permit");
    }
    let one = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let start = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move {
                for _ in 0..n / 16 {
                    q.permit(false).await.expect("permit");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let many = (n / 16 * 16) as f64 / start.elapsed().as_secs_f64();
    (one, many)
}

/// One fleet run: `n` `polygon-gh200 fetch --shard k/n` processes on `list` at once, sharing
/// `rate` (`scope`, `burst`) through `redis` in namespace `ns`; the tickers that failed in all.
#[allow(clippy::too_many_arguments)]
fn fleet_fetch(
    cli: &std::path::Path,
    dir: &std::path::Path,
    list: &std::path::Path,
    (url, ca): (&str, &str),
    redis: &str,
    ns: &str,
    (rate, scope, burst_s): (&str, &str, &str),
    n: usize,
) -> u64 {
    let children: Vec<std::process::Child> = (0..n)
        .map(|k| {
            Command::new(cli)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .args(["fetch", "--tickers-file"])
                .arg(list)
                .args(["--shard", &format!("{k}/{n}"), "--from", "2024-12-02", "--to", "2024-12-31"])
                .args(["--timespan", "day", "--base-url", url, "--out"])
                .arg(dir.join(format!("out-{k}.csv")))
                .envs([
                    ("POLYGON_API_KEY", KEY),
                    ("POLYGON_CA_CERT", ca),
                    ("REDIS_URL", redis),
                    ("CACHE_NAMESPACE", ns),
                    ("CACHE_DISK", "off"),
                    ("POLYGON_RATE_LIMIT", rate),
                    ("RATE_LIMIT_SCOPE", scope),
                    ("POLYGON_RATE_BURST", burst_s),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("fetch")
        })
        .collect();
    // Tickers that failed, from each process's summary line (`… 0 failed; …`).
    let mut failed = 0u64;
    for c in children {
        let o = c.wait_with_output().expect("fetch");
        let err = String::from_utf8_lossy(&o.stderr);
        let summary = err.lines().rev().find(|l| l.contains(" tickers fetched, ")).unwrap_or_else(|| {
            panic!("no summary line from fetch: {err}");
        });
        failed += summary
            .split(", ")
            .nth(1)
            .and_then(|f| f.split(' ').next())
            .and_then(|f| f.parse::<u64>().ok())
            .expect("`N failed` in the summary");
    }
    failed
}

/// A simulator process of the fleet run's own (TLS, the run's latency, answering 429 past
/// `limit` a second, logging every request to `log`): its URL and CA, and the process.
fn fleet_sim(a: &Args, limit: u32, log: &std::path::Path) -> (String, String, std::process::Child) {
    use std::io::BufRead as _;
    let cli = cli_path();
    let latency = format!("{}", a.latency_ms as u64);
    let connect = format!("{}", 2 * a.latency_ms as u64);
    let mut c = Command::new(&cli)
        .args(["sim", "--tls", "--latency-ms", &latency, "--connect-latency-ms", &connect, "--api-key", KEY])
        .args(["--rate-limit", &format!("{limit}/s"), "--request-log"])
        .arg(log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("simulator");
    let mut out = std::io::BufReader::new(c.stdout.take().expect("piped"));
    let (mut url, mut cert) = (String::new(), String::new());
    out.read_line(&mut url).expect("url line");
    out.read_line(&mut cert).expect("cert line");
    (url.trim().to_owned(), cert.trim().trim_start_matches("cert: ").to_owned(), c)
}

/// `cargo xtask bench fleet`: N = 1, 2, 4 `polygon-gh200 fetch --shard k/N` processes on one
/// list, sharing `POLYGON_RATE_LIMIT` of 20/s and 200/s through one Redis (`RATE_LIMIT_SCOPE`
/// fleet), and the same with a limiter in each process (`process`), against a simulator that
/// answers 429 past the limit and logs every request. Rates are read off the simulator's log:
/// sustained = requests after the first second (the burst) over their span.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

async fn fleet(a: &Args) -> serde_json::Value {
    let Some(redis) = a.redis.clone() else {
        eprintln!("bench fleet: needs redis-server");
        std::process::exit(1);
    };
    let dir = std::env::temp_dir().join(format!("pgh200-bench-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (one_us, per_sec) = permit_cost(&redis, 20_000).await;
    println!("permit: {one_us:.1} µs one at a time (a round trip), {per_sec:.0} permits/s from 16 tasks");
    let cli = cli_path();
    let mut rows = Vec::new();
    for limit in [20u32, 200] {
        // Ten seconds of the limit's requests: one a ticker (a month of daily bars, cheap to serve).
        let tickers = universe(10 * limit as usize);
        let list = dir.join(format!("tickers-{limit}.txt"));
        std::fs::write(&list, tickers.join("\n")).expect("list");
        // The default burst (a second's worth, as the simulator's) for the sweep; a half burst once
        // at 4 processes, the margin that leaves for arrivals bunched by new connections.
        let runs: Vec<(&str, usize, Option<u32>)> = [("fleet", None), ("process", None)]
            .into_iter()
            .flat_map(|(scope, b)| [1usize, 2, 4].map(|n| (scope, n, b)))
            .chain([("fleet", 4, Some(limit / 2))])
            .collect();
        // One simulator for the limit's runs, its bodies made first by an untimed pass (a fresh
        // simulator spends its CPU making them, and tops out below 200/s on two cores).
        let log = dir.join(format!("log-{limit}"));
        let (url, ca, mut sim) = fleet_sim(a, limit, &log);
        let (rate, limit_s) = (format!("{limit}/s"), limit.to_string());
        let warm_ns = format!("bench-fleet-warm-{limit}");
        fleet_fetch(&cli, &dir, &list, (&url, &ca), &redis, &warm_ns, (&rate, "process", &limit_s), 1);
        for (scope, n, burst) in runs {
            // The simulator's and the fleet's schedules idle again: every run starts at a full burst.
            std::thread::sleep(Duration::from_millis(1500));
            let ns = format!("bench-fleet-{limit}-{scope}-{n}-b{}", burst.unwrap_or(limit));
            let burst_s = burst.map_or_else(|| limit.to_string(), |b| b.to_string());
            let (calls0, usec0) = eval_stats(&redis);
            let t0 = now_ms();
            let start = Instant::now();
            let failed = fleet_fetch(&cli, &dir, &list, (&url, &ca), &redis, &ns, (&rate, scope, &burst_s), n);
            let wall = start.elapsed().as_secs_f64();
            let (calls1, usec1) = eval_stats(&redis);
            let t1 = now_ms();
            // This run's requests: those that arrived while its processes ran.
            let mut t: Vec<(i64, bool)> = std::fs::read_to_string(&log)
                .expect("request log")
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(ms, st)| (ms.parse().unwrap_or(0), st == "429"))
                .filter(|(ms, _)| (t0..=t1).contains(ms))
                .collect();
            t.sort_unstable();
            let sent = t.len();
            let limited = t.iter().filter(|r| r.1).count();
            let mut most = 0;
            let mut lo = 0;
            for hi in 0..t.len() {
                while t[hi].0 - t[lo].0 >= 1000 {
                    lo += 1;
                }
                most = most.max(hi - lo + 1);
            }
            let first = t.first().map_or(0, |r| r.0);
            let last = t.last().map_or(0, |r| r.0);
            let after: Vec<&(i64, bool)> = t.iter().filter(|r| r.0 >= first + 1000).collect();
            let answered = |v: &[&(i64, bool)]| v.iter().filter(|r| !r.1).count();
            let span = (last - first - 1000).max(1) as f64 / 1000.0;
            let sustained = answered(&after) as f64 / span;
            let offered = after.len() as f64 / span;
            let evals = calls1 - calls0;
            let row = serde_json::json!({
                "limit": limit, "scope": scope, "processes": n, "burst": burst_s, "tickers_failed": failed, "wall_secs": wall,
                "requests": sent, "answered_429": limited, "most_in_a_second": most,
                "sustained_per_sec": sustained, "offered_per_sec": offered,
                "of_limit": sustained / f64::from(limit),
                "redis_evals_per_request": evals as f64 / sent.max(1) as f64,
                "redis_usec_per_eval": if evals > 0 { (usec1 - usec0) as f64 / evals as f64 } else { 0.0 },
            });
            println!("{row}");
            rows.push(row);
        }
        let _ = sim.kill();
        let _ = sim.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut table = format!(
        "`polygon-gh200 fetch --shard k/N` processes on one list (a month of daily bars a ticker, one request each; \
         10 x the limit tickers), one Redis, simulator latency {} ms, TLS, 429 past the limit (its burst a second's \
         worth); rates from the simulator's log after the first second (the burst). Redis evals a request: the \
         permit's and the single-flight lock's release (`process` rows: the lock's alone). Permit: {one_us:.1} µs \
         one at a time (one Redis round trip), {per_sec:.0} permits/s from 16 tasks of one process.\n\n\
         | limit | scope | burst | processes | sent/s | answered/s | of limit | most in 1 s | 429s | tickers failed | Redis evals a request | server µs an eval | wall s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        a.latency_ms
    );
    for r in &rows {
        let _ = writeln!(
            table,
            "| {}/s | {} | {} | {} | {:.1} | {:.1} | {:.0} % | {} | {} | {} | {:.2} | {:.1} | {:.1} |",
            r["limit"],
            r["scope"].as_str().unwrap_or(""),
            r["burst"].as_str().unwrap_or(""),
            r["processes"],
            r["offered_per_sec"].as_f64().unwrap_or(0.0),
            r["sustained_per_sec"].as_f64().unwrap_or(0.0),
            100.0 * r["of_limit"].as_f64().unwrap_or(0.0),
            r["most_in_a_second"],
            r["answered_429"],
            r["tickers_failed"],
            r["redis_evals_per_request"].as_f64().unwrap_or(0.0),
            r["redis_usec_per_eval"].as_f64().unwrap_or(0.0),
            r["wall_secs"].as_f64().unwrap_or(0.0)
        );
    }
    print!("{table}");
    serde_json::json!({"mode": "fleet", "permit_us_sequential": one_us, "permits_per_sec_16_tasks": per_sec, "rows": rows, "table": table})
}

#[tokio::main]
async fn main() {
    let a = args();
    let v = match a.mode.as_str() {
        "enhanced" => enhanced(&a).await,
        "scaling-test" => scaling(&a).await,
        "large-scale" => large(&a).await,
        "fetch-cli" => fetch_cli(&a).await,
        "fleet" => fleet(&a).await,
        "rerun" => {
            let v = rerun_child(&a).await;
            std::fs::write(&a.out, v.to_string()).expect("write json");
            return;
        }
        m => {
            eprintln!("unknown mode {m:?}: enhanced, scaling-test, large-scale, fetch-cli or fleet");
            std::process::exit(2);
        }
    };
    let mut v = v;
    v["date"] = serde_json::json!(std::env::var("BENCH_DATE").unwrap_or_default());
    std::fs::write(&a.out, serde_json::to_string_pretty(&v).expect("json")).expect("write json");
    let _ = std::fs::remove_dir_all(disk_dir());
    println!("\njson: {}", a.out);
}
