//! The fault matrix: one batch of tickers under each fault, compared with a clean run of the same
//! batch. For each: every ticker comes back bar-for-bar equal to the clean run or reported failed
//! with its reason; nothing corrupt or partial is left in the cache (a rerun through the same
//! cache against a healthy simulator gives exactly the clean bars); extra requests stay within the
//! retry budget; the run ends within a bound. Prints the table recorded in docs/reliability.md.

#![allow(clippy::print_stdout)] // the matrix prints its table (docs/reliability.md)

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::Redis;
use polygon_cache::Cache;
use polygon_fetch::{FetchConfig, Fetcher};
use polygon_model::{BarColumns, Date, Multiplier, RateLimit, Ticker, Timespan};
use polygon_sim::{SimHandle, Simulator, SimulatorBuilder};
use polygon_transport::{ApiKey, Transport};

const NOW: i64 = 1_751_241_600_000; // 2025-06-30
const RETRIES: u32 = 3;
const BOUND: Duration = Duration::from_secs(120);

fn batch() -> Vec<Ticker> {
    ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "BRK.B", "JPM", "V", "XOM", "UNH"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

fn range() -> (Date, Date) {
    // Across two calendar months: two chunks per ticker.
    ("2024-02-27".parse().unwrap(), "2024-03-05".parse().unwrap())
}

fn transport(sim: &SimHandle) -> Transport {
    Transport::builder(sim.base_url())
        .api_key(ApiKey::new("k").unwrap())
        .rate_limit(None)
        .max_retries(RETRIES)
        .backoff(Duration::from_millis(5), Duration::from_millis(100))
        .attempt_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn cache(redis: Option<String>) -> Cache {
    let mut b =
        Cache::builder().command_timeout(Duration::from_millis(300)).health_interval(Duration::from_millis(100));
    if let Some(url) = redis {
        b = b.redis_url(url);
    }
    b.build().await.unwrap()
}

fn fetcher(sim: &SimHandle, cache: Cache) -> Fetcher {
    Fetcher::new(transport(sim), cache, FetchConfig { max_workers: 6, now_ms: Some(NOW), ..FetchConfig::default() })
}

type Results = Vec<(Ticker, Result<BarColumns, polygon_fetch::FetchError>)>;

async fn run(f: &Fetcher) -> Results {
    let (from, to) = range();
    tokio::time::timeout(BOUND, f.get_aggregates_batch(&batch(), Multiplier::ONE, Timespan::Minute, from, to))
        .await
        .expect("the run ends within its bound")
}

async fn sim(b: SimulatorBuilder) -> SimHandle {
    b.now_ms(NOW).seed(7).build().spawn().await.unwrap()
}

enum RedisFault {
    None,
    Killed,
    Paused,
    WrongPassword,
    Full,
}

struct Row {
    name: &'static str,
    requests: u64,
    rate_limited: u64,
    retries: u64,
    failed: Vec<String>,
    lost: usize,
}

async fn scenario(
    name: &'static str,
    sim_builder: SimulatorBuilder,
    fault: RedisFault,
    clean: &HashMap<Ticker, BarColumns>,
    clean_requests: u64,
) -> Row {
    let s = sim(sim_builder).await;
    let mut redis = match fault {
        RedisFault::WrongPassword => Some(Redis::start_with(&["--requirepass", "right-password"])),
        RedisFault::Full => Some(Redis::start_with(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"])),
        _ => Some(Redis::start()),
    };
    let url = redis.as_ref().map(|r| match fault {
        RedisFault::WrongPassword => format!("redis://:wrong-password@127.0.0.1:{}/0", r.1),
        _ => r.url(),
    });
    let c = cache(url.clone()).await;
    let f = fetcher(&s, c.clone());
    let results = match fault {
        RedisFault::Killed | RedisFault::Paused => {
            let r = redis.as_mut().unwrap();
            let (killed, paused) = (matches!(fault, RedisFault::Killed), matches!(fault, RedisFault::Paused));
            let run = run(&f);
            tokio::pin!(run);
            // Midway: once a few chunks are in, take Redis away, then bring it back.
            let mut done = None;
            loop {
                tokio::select! {
                    r = &mut run => { done = Some(r); break; }
                    () = tokio::time::sleep(Duration::from_millis(5)) => {
                        if f.progress().chunks_loaded >= 4 { break; }
                    }
                }
            }
            assert!(done.is_none(), "{name}: the batch finished before the fault could be injected midway");
            if done.is_none() {
                if killed {
                    r.kill();
                } else if paused {
                    r.signal("-STOP");
                }
                let mut run_rest = run;
                let out = tokio::select! {
                    r = &mut run_rest => Some(r),
                    () = tokio::time::sleep(Duration::from_millis(400)) => None,
                };
                if killed {
                    r.restart();
                } else {
                    r.signal("-CONT");
                }
                done = Some(match out {
                    Some(o) => o,
                    None => run_rest.await,
                });
            }
            done.unwrap()
        }
        _ => run(&f).await,
    };
    let stats = s.stats();
    let retries = f.transport().stats().retries;
    let mut failed = Vec::new();
    let mut lost = 0;
    for t in batch() {
        match results.iter().find(|(x, _)| *x == t).map(|(_, r)| r) {
            Some(Ok(c)) if c == &clean[&t] => {}
            Some(Ok(_)) | None => lost += 1,
            Some(Err(e)) => {
                assert!(e.to_string().contains(t.as_str()), "the error names its ticker: {e}");
                failed.push(format!("{t}: {e}"));
            }
        }
    }
    assert_eq!(lost, 0, "{name}: a ticker came back with different bars or not at all");
    // Extra requests within the retry budget: at most RETRIES per chunk (pagination loops aside,
    // which stop at the first repeated cursor).
    assert!(stats.requests <= clean_requests * (1 + u64::from(RETRIES)), "{name}: {} requests", stats.requests);

    // Nothing corrupt or partial left behind: the same cache (memory and Redis) in front of a
    // healthy simulator gives exactly the clean bars.
    let healthy = sim(Simulator::builder()).await;
    let again = run(&fetcher(&healthy, c.clone())).await;
    for (t, r) in &again {
        assert!(r.as_ref().is_ok_and(|c| c == &clean[t]), "{name}: {t} after the fault: {r:?}");
    }
    c.clear_memory();
    if let Some(url) = url {
        let fresh = cache(Some(url)).await;
        let again = run(&fetcher(&healthy, fresh)).await;
        for (t, r) in &again {
            assert!(r.as_ref().is_ok_and(|c| c == &clean[t]), "{name}: {t} from Redis after the fault");
        }
    }
    healthy.shutdown().await;
    s.shutdown().await;
    Row { name, requests: stats.requests, rate_limited: stats.rate_limited, retries, failed, lost }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_matrix_loses_no_data_and_leaves_nothing_partial() {
    let start = Instant::now();
    let clean_sim = sim(Simulator::builder()).await;
    let clean_fetch = fetcher(&clean_sim, cache(None).await);
    let clean: HashMap<Ticker, BarColumns> =
        run(&clean_fetch).await.into_iter().map(|(t, r)| (t, r.expect("the clean run succeeds"))).collect();
    let clean_requests = clean_sim.stats().requests;
    assert!(clean.values().all(|c| c.len() > 1000));

    let b = Simulator::builder;
    let rows = vec![
        scenario("clean", b(), RedisFault::None, &clean, clean_requests).await,
        scenario(
            "20 % faults (5xx, resets, truncated, stalled)",
            b().fault_rate(0.2).stall(Duration::from_secs(5)),
            RedisFault::None,
            &clean,
            clean_requests,
        )
        .await,
        scenario(
            "429 bursts with Retry-After (4/s)",
            b().rate_limit(Some(RateLimit { requests: 4, per: Duration::from_secs(1) })),
            RedisFault::None,
            &clean,
            clean_requests,
        )
        .await,
        scenario("next_url that loops", b().loop_next_url(true), RedisFault::None, &clean, clean_requests).await,
        scenario(
            "valid JSON of the wrong shape (AAPL: results missing; TSLA: a price as a string)",
            b().wrong_shape_tickers(["AAPL", "TSLA"]),
            RedisFault::None,
            &clean,
            clean_requests,
        )
        .await,
        scenario("Redis killed midway, restarted", b(), RedisFault::Killed, &clean, clean_requests).await,
        scenario("Redis paused (SIGSTOP) midway", b(), RedisFault::Paused, &clean, clean_requests).await,
        scenario("Redis with a wrong password", b(), RedisFault::WrongPassword, &clean, clean_requests).await,
        scenario("Redis full (maxmemory 1mb, noeviction)", b(), RedisFault::Full, &clean, clean_requests).await,
    ];
    println!(
        "\n| injected | requests | 429s | retries | tickers failed (reported) | data lost |\n|---|---|---|---|---|---|"
    );
    for r in &rows {
        let why =
            r.failed.first().map(|f| format!(", e.g. {}", f.chars().take(90).collect::<String>())).unwrap_or_default();
        println!(
            "| {} | {} | {} | {} | {}{} | {} |",
            r.name,
            r.requests,
            r.rate_limited,
            r.retries,
            r.failed.len(),
            why,
            r.lost
        );
    }
    assert!(rows[2].rate_limited > 0, "the 429 scenario met 429s");
    println!("\n(clean run: {clean_requests} requests; whole matrix {:.1} s)", start.elapsed().as_secs_f64());
    // The looping cursor is the one fault no retry can fix: every ticker is reported, none hangs.
    assert_eq!(rows[3].failed.len(), batch().len());
    assert!(rows[3].failed.iter().all(|f| f.contains("pagination")), "{:?}", rows[3].failed);
    // Wrong-shape bodies are reported for exactly the two tickers served them.
    let wrong: Vec<&str> = rows[4].failed.iter().map(|f| f.split(':').next().unwrap()).collect();
    assert_eq!(wrong, ["AAPL", "TSLA"], "{:?}", rows[4].failed);
    for r in rows.iter().filter(|r| r.name.starts_with("Redis") || r.name == "clean") {
        assert!(r.failed.is_empty(), "{}: Redis trouble never fails a ticker: {:?}", r.name, r.failed);
    }
}
