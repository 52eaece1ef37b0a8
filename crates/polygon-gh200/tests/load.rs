//! Load: 10,000 tickers of daily bars in one batch through `PolygonDataSource` finishes with every
//! ticker, bounded memory and file descriptors; after `shutdown` and drop, no task, file descriptor
//! or connection is left behind.
//!
//! Daily bars are fetched a calendar year at a time (one request per ticker, `polygon-fetch`'s
//! plan) and the simulator builds each daily bar from its session's minutes, so against a
//! simulator whose clock is today a week's request costs it a whole year of minute bars per ticker
//! (2.5 million sessions for the batch: three quarters of the 80 s this test took). Its
//! clock is frozen just after the requested week instead: the same one request per ticker, the
//! year's chunk holding only the sessions that exist by then.

use std::time::Duration;

use polygon_gh200::cache::Cache;
use polygon_gh200::model::Timespan;
use polygon_gh200::{Config, PolygonDataSource};

/// The simulator's clock: 2024-01-09 00:00 in New York, after the week 2024-01-02..08 closed.
const NOW: i64 = 1_704_776_400_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tickers_in_one_batch_then_nothing_is_left_behind() {
    let sim = polygon_sim::Simulator::builder().api_key("k").now_ms(NOW).build().spawn().await.unwrap();
    let url = sim.base_url().to_owned();
    let metrics = tokio::runtime::Handle::current().metrics();
    let (fds_before, tasks_before) = (open_fds(), metrics.num_alive_tasks());

    let config = Config::from_lookup(&|k: &str| match k {
        "POLYGON_API_KEY" => Some("k".into()),
        "POLYGON_BASE_URL" => Some(url.clone()),
        "POLYGON_RATE_LIMIT" => Some("off".into()),
        "MAX_WORKERS" => Some("32".into()),
        "MAX_CONNECTIONS" => Some("32".into()),
        "GPU_BACKEND" => Some("cpu".into()),
        _ => None,
    })
    .unwrap();
    let transport = config.transport_builder().build().unwrap();
    let cache = Cache::builder().memory_bytes(64 << 20).build().await.unwrap();
    let source = PolygonDataSource::with_parts(config, transport, cache).unwrap();
    let tickers: Vec<String> =
        polygon_sim::market::Universe::get().profiles().iter().take(10_000).map(|p| p.ticker.clone()).collect();
    let (from, to) = ("2024-01-02".parse().unwrap(), "2024-01-08".parse().unwrap());
    let out = source.get_aggregates_batch(&tickers, Timespan::Day, from, to).await;

    assert_eq!(out.len(), 10_000, "every ticker comes back");
    let failed: Vec<_> = out.iter().filter(|(_, r)| r.is_err()).take(3).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let bars: usize = out.iter().map(|(_, r)| r.as_ref().map_or(0, |c| c.len())).sum();
    assert!(bars > 10_000 * 4, "about 5 sessions each (Jan 2, 3, 4, 5, 8): {bars}");
    assert_eq!(sim.stats().requests, 10_000, "one request per ticker, no retries");
    // Bounded: connections at most MAX_CONNECTIONS (each one descriptor here), memory far below
    // what 10,000 unbounded anything would take.
    let fds_during = open_fds();
    assert!(fds_during <= fds_before + 32 + 8, "{fds_before} -> {fds_during} descriptors");
    assert!(sim.stats().max_in_flight <= 32, "at most MAX_WORKERS requests at once: {:?}", sim.stats());
    let peak = peak_rss_mib();
    assert!(peak < 1024.0, "peak RSS {peak:.0} MiB");

    source.shutdown().await;
    drop(out);
    drop(source);
    assert!(eventually(|| sim.stats().open_connections == 0).await, "connections left open: {:?}", sim.stats());
    assert!(eventually(|| open_fds() <= fds_before).await, "descriptors: {fds_before} -> {}", open_fds());
    assert!(
        eventually(|| metrics.num_alive_tasks() <= tasks_before).await,
        "tasks: {tasks_before} -> {}",
        metrics.num_alive_tasks()
    );
    sim.shutdown().await;
}
