//! Fetch throughput against the simulator: many small pages at 20 ms latency against the ideal
//! `min(MAX_WORKERS / latency, rate limit)`, and minute bars cold, warm from memory and warm from
//! Redis. Starts its own redis-server. Run: `cargo bench -p polygon-fetch --bench fetch`.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::{Duration, Instant};

use polygon_cache::Cache;
use polygon_fetch::{FetchConfig, Fetcher};
use polygon_model::{Date, Multiplier, RateLimit, Ticker, Timespan};
use polygon_test_support::Redis;
use polygon_transport::{ApiKey, Transport};

const NOW: i64 = 1_751_241_600_000;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn fetcher(base: &str, cache: Cache, workers: usize) -> Fetcher {
    limited_fetcher(base, cache, workers, None)
}

fn limited_fetcher(base: &str, cache: Cache, workers: usize, limit: Option<RateLimit>) -> Fetcher {
    let t = Transport::builder(base)
        .api_key(ApiKey::new("bench").unwrap())
        .rate_limit(limit)
        .max_connections(workers)
        .build()
        .unwrap();
    Fetcher::new(t, cache, FetchConfig { max_workers: workers, now_ms: Some(NOW), ..FetchConfig::default() })
}

fn main() {
    let redis = Redis::start(); // killed when main returns
    let redis_url = redis.url();
    // The simulator stands in for a remote service: it gets its own runtime (one worker thread),
    // the client another, so neither's tasks wait in the other's scheduler queue.
    let sim_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let spawn_sim = |latency: u64| {
        sim_rt.block_on(polygon_sim::Simulator::builder().now_ms(NOW).latency_ms(latency).build().spawn()).unwrap()
    };
    let sim = spawn_sim(20);
    // What "20 ms" really is on the simulator's runtime (its own timer, not tokio's 1 ms tick).
    let effective_latency = sim_rt.block_on(async {
        let s = Instant::now();
        for _ in 0..50 {
            polygon_sim::timer::sleep(Duration::from_millis(20)).await;
        }
        s.elapsed().as_secs_f64() / 50.0
    });
    let sim_minutes = spawn_sim(0);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        // 1. Many small pages at 20 ms: one year of daily bars for each of N tickers = N requests.
        let universe: Vec<Ticker> =
            polygon_sim::market::Universe::get().profiles().iter().map(|p| p.ticker.parse().unwrap()).collect();
        println!("simulator sleep of 20 ms measured at {:.2} ms\n", effective_latency * 1e3);
        println!(
            "| MAX_WORKERS | rate limit | requests | seconds | req/s | ideal at 20 ms | of ideal | ideal at measured latency | of that |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let mut offset = 0;
        let limit_300: RateLimit = "300/s".parse().unwrap();
        for (workers, limit) in [(10usize, None), (50, None), (100, None), (50, Some(limit_300))] {
            let n = match (workers, limit) {
                (_, Some(_)) => 600,
                (10, _) => 500,
                _ => workers * 25,
            };
            let tickers = &universe[offset..offset + n];
            offset += n;
            // The simulator renders each body once and caches it: warm it with one pass, so the
            // measured pass (a new fetcher, cold cache) measures the client, not the generator.
            // With a rate limit the warm pass shares the measured pass's transport, so the limiter's
            // initial burst is spent and the measured pass sees the steady rate the ideal assumes.
            let warm = limited_fetcher(sim.base_url(), Cache::builder().build().await.unwrap(), workers, limit);
            warm.get_aggregates_batch(tickers, Multiplier::ONE, Timespan::Day, d("2024-01-01"), d("2024-12-31")).await;
            let cfg = FetchConfig { max_workers: workers, now_ms: Some(NOW), ..FetchConfig::default() };
            let f = if limit.is_some() {
                // Rendering made the first pass slower than the limit: a second (cached bodies,
                // no client cache) runs at the limit and leaves the bucket empty.
                let drain = Fetcher::new(warm.transport().clone(), Cache::builder().build().await.unwrap(), cfg.clone());
                drain.get_aggregates_batch(tickers, Multiplier::ONE, Timespan::Day, d("2024-01-01"), d("2024-12-31")).await;
                Fetcher::new(warm.transport().clone(), Cache::builder().build().await.unwrap(), cfg)
            } else {
                fetcher(sim.base_url(), Cache::builder().build().await.unwrap(), workers)
            };
            let before = sim.stats().aggs;
            let s = Instant::now();
            let out =
                f.get_aggregates_batch(tickers, Multiplier::ONE, Timespan::Day, d("2024-01-01"), d("2024-12-31")).await;
            let secs = s.elapsed().as_secs_f64();
            assert!(out.iter().all(|(_, r)| r.is_ok()));
            let reqs = sim.stats().aggs - before;
            let cap = limit.map_or(f64::INFINITY, |l| l.requests as f64 / l.per.as_secs_f64());
            let ideal = (workers as f64 / 0.020).min(cap);
            let real_ideal = (workers as f64 / effective_latency).min(cap);
            let rate = reqs as f64 / secs;
            let shown = limit.map_or("off".to_owned(), |l| format!("{}/s", l.requests));
            println!(
                "| {workers} | {shown} | {reqs} | {secs:.2} | {rate:.0} | {ideal:.0} | {:.0} % | {real_ideal:.0} | {:.0} % |",
                100.0 * rate / ideal,
                100.0 * rate / real_ideal
            );
        }

        // 2. Minute bars: 30 tickers × 3 months, no added latency: cold, warm (memory), warm (Redis).
        let sim = &sim_minutes;
        let tickers: Vec<Ticker> = universe[..30].to_vec();
        let (from, to) = (d("2024-01-02"), d("2024-03-28"));
        let cache = Cache::builder().redis_url(&redis_url).build().await.unwrap();
        let f = fetcher(sim.base_url(), cache, 10);
        // Warm the simulator's rendered bodies (not our cache) the same way.
        fetcher(sim.base_url(), Cache::builder().build().await.unwrap(), 10)
            .get_aggregates_batch(&tickers, Multiplier::ONE, Timespan::Minute, from, to)
            .await;
        println!("\n| minute bars, 30 tickers × 3 months | bars | seconds | bars/s | requests |");
        println!("|---|---|---|---|---|");
        let run = |name: &'static str, f: Fetcher| {
            let tickers = tickers.clone();
            async move {
                let before = sim.stats().aggs;
                let s = Instant::now();
                let out = f.get_aggregates_batch(&tickers, Multiplier::ONE, Timespan::Minute, from, to).await;
                let secs = s.elapsed().as_secs_f64();
                let bars: usize = out.iter().map(|(_, r)| r.as_ref().unwrap().len()).sum();
                println!("| {name} | {bars} | {secs:.3} | {:.0} | {} |", bars as f64 / secs, sim.stats().aggs - before);
            }
        };
        run("cold (API, decode, store in memory and Redis)", f.clone()).await;
        run("warm from memory", f.clone()).await;
        let fresh = fetcher(sim.base_url(), Cache::builder().redis_url(&redis_url).build().await.unwrap(), 10);
        run("warm from Redis (a new process's cache)", fresh).await;
        let p = f.progress();
        let ts = f.transport().stats();
        println!(
            "\ncold run: {} pages, {:.1} MB JSON decoded, {} chunks loaded",
            p.pages,
            ts.bytes as f64 / 1e6,
            p.chunks_loaded
        );
    });
}
