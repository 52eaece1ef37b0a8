//! The fault matrix: one batch of tickers under each fault, compared with a clean run of the same
//! batch, one `#[test]` per fault (so a failure names its fault). For each: every ticker comes back
//! bar-for-bar equal to the clean run or reported failed with its reason; nothing corrupt or partial
//! is left in the cache (a rerun through the same cache against a healthy simulator gives exactly
//! the clean bars); extra requests stay within the retry budget; the run ends within a bound; and
//! the fault's own expectation (which tickers fail, and why). Each prints its row of the table in
//! docs/reliability.md: `cargo test -p polygon-fetch --test faults -- --nocapture --test-threads 1`.

#![allow(clippy::print_stdout)] // each scenario prints its row of the table (docs/reliability.md)

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use RedisFault::{Full, Killed, NoFault, Paused, WrongPassword};
use polygon_cache::Cache;
use polygon_fetch::{FetchConfig, Fetcher};
use polygon_model::{BarColumns, Date, Multiplier, Ticker, Timespan};
use polygon_sim::{SimHandle, Simulator, SimulatorBuilder};
use polygon_test_support::Redis;
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
    NoFault,
    Killed,
    Paused,
    WrongPassword,
    Full,
}

/// What a scenario's own check looks at (its printed row of the table has every column: injected,
/// requests, 429s, retries, tickers failed (reported), data lost).
struct Row {
    rate_limited: u64,
    failed: Vec<String>,
}

/// The clean run every scenario is compared with: each ticker's bars and the requests it took.
struct Clean {
    bars: HashMap<Ticker, BarColumns>,
    requests: u64,
}

/// The clean run, once per process: on a runtime of its own (each test has its own runtime, and a
/// simulator lives only as long as the runtime that spawned it).
fn clean() -> &'static Clean {
    static CLEAN: OnceLock<Clean> = OnceLock::new();
    CLEAN.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async {
                let clean_sim = sim(Simulator::builder()).await;
                let clean_fetch = fetcher(&clean_sim, cache(None).await);
                let bars: HashMap<Ticker, BarColumns> =
                    run(&clean_fetch).await.into_iter().map(|(t, r)| (t, r.expect("the clean run succeeds"))).collect();
                assert!(bars.values().all(|c| c.len() > 1000));
                let requests = clean_sim.stats().requests;
                println!("(clean run: {requests} requests)");
                clean_sim.shutdown().await;
                Clean { bars, requests }
            })
        })
        .join()
        .expect("the clean run")
    })
}

async fn scenario(name: &'static str, sim_builder: SimulatorBuilder, fault: RedisFault) -> Row {
    let Clean { bars: clean, requests: clean_requests } = clean();
    let clean_requests = *clean_requests;
    let s = sim(sim_builder).await;
    let mut redis = match fault {
        WrongPassword => Some(Redis::start_with(&["--requirepass", "right-password"])),
        Full => Some(Redis::start_with(&["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"])),
        _ => Some(Redis::start()),
    };
    let url = redis.as_ref().map(|r| match fault {
        WrongPassword => format!("redis://:wrong-password@127.0.0.1:{}/0", r.port()),
        _ => r.url(),
    });
    let c = cache(url.clone()).await;
    let f = fetcher(&s, c.clone());
    let results = match fault {
        Killed | Paused => {
            let r = redis.as_mut().unwrap();
            let (killed, paused) = (matches!(fault, Killed), matches!(fault, Paused));
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
    let why = failed.first().map(|f| format!(", e.g. {}", f.chars().take(90).collect::<String>())).unwrap_or_default();
    println!("| {name} | {} | {} | {retries} | {}{why} | {lost} |", stats.requests, stats.rate_limited, failed.len());
    Row { rate_limited: stats.rate_limited, failed }
}

/// Redis trouble (and no trouble) never fails a ticker.
fn none_fail(name: &str, r: &Row) {
    assert!(r.failed.is_empty(), "{name}: Redis trouble never fails a ticker: {:?}", r.failed);
}

/// What every scenario checks is enough: failures are allowed if reported.
fn reported(_: &str, _: &Row) {}

/// The simulator's rate limit was met, and every ticker still came back.
fn met_429s(name: &str, r: &Row) {
    assert!(r.rate_limited > 0, "{name}: the 429 scenario met 429s");
}

/// The looping cursor is the one fault no retry can fix: every ticker is reported, none hangs.
fn all_fail_with_pagination(_: &str, r: &Row) {
    assert_eq!(r.failed.len(), batch().len());
    assert!(r.failed.iter().all(|f| f.contains("pagination")), "{:?}", r.failed);
}

/// Wrong-shape bodies are reported for exactly the two tickers served them.
fn aapl_and_tsla_fail(_: &str, r: &Row) {
    let wrong: Vec<&str> = r.failed.iter().map(|f| f.split(':').next().unwrap()).collect();
    assert_eq!(wrong, ["AAPL", "TSLA"], "{:?}", r.failed);
}

/// One `#[test]` per line: `test_name: "its row in the table", simulator, Redis fault => check;`,
/// where `check` is what this fault must do beyond what every scenario checks.
macro_rules! scenarios {
    ($($test:ident: $name:literal, $sim:expr, $fault:expr => $check:expr;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let row = scenario($name, $sim, $fault).await;
            ($check)($name, &row);
        }
    )*};
}

fn b() -> SimulatorBuilder {
    Simulator::builder()
}

scenarios! {
    clean_run: "clean", b(), NoFault => none_fail;
    transient_faults: "20 % faults (5xx, resets, truncated, stalled)",
        b().fault_rate(0.2).stall(Duration::from_secs(5)), NoFault => reported;
    rate_limited: "429 bursts with Retry-After (4/s)", b().rate_limit("4/s".parse().ok()), NoFault => met_429s;
    looping_next_url: "next_url that loops", b().loop_next_url(true), NoFault => all_fail_with_pagination;
    wrong_shape: "valid JSON of the wrong shape (AAPL: results missing; TSLA: a price as a string)",
        b().wrong_shape_tickers(["AAPL", "TSLA"]), NoFault => aapl_and_tsla_fail;
    redis_killed_midway: "Redis killed midway, restarted", b(), Killed => none_fail;
    redis_paused_midway: "Redis paused (SIGSTOP) midway", b(), Paused => none_fail;
    redis_wrong_password: "Redis with a wrong password", b(), WrongPassword => none_fail;
    redis_full: "Redis full (maxmemory 1mb, noeviction)", b(), Full => none_fail;
}
