//! A fleet on one key, as real processes: several `polygon-gh200 fetch` at once against one
//! simulator process that logs every request's arrival, with a Redis of the test's own. The shared
//! rate limit is read off the simulator's log (requests per one-second window, the rate over the
//! run), never off a clock in the test; single flight across processes off its request count.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use polygon_test_support::{Redis, SimProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_polygon-gh200");

/// One fleet at a time: each test runs four or more processes, and two fleets at once on a
/// two-core runner starve each other's Redis commands past their timeout (a process whose lock
/// command times out loads the chunk itself rather than stall, which a count of requests sees).
static ONE_FLEET: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_fleet() -> std::sync::MutexGuard<'static, ()> {
    ONE_FLEET.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A simulator process logging its requests to `log`, with `extra` flags.
fn sim(log: &Path, extra: &[&str]) -> SimProcess {
    let mut c = Command::new(BIN);
    c.args(["sim", "--request-log"]).arg(log).args(extra).stderr(Stdio::null());
    SimProcess::spawn(c, 1)
}

/// `fetch` of the tickers in `list` (a file), daily bars of 2024 (one request a ticker), into
/// `out`, started now and left running.
fn fetch(sim: &SimProcess, list: &Path, out: &Path, env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(BIN);
    c.args(["fetch", "--tickers-file"])
        .arg(list)
        .args(["--from", "2024-01-02", "--to", "2024-12-31", "--timespan", "day", "--base-url", sim.url(), "--out"])
        .arg(out)
        .env_remove("POLYGON_GH200_CONFIG")
        .env_remove("RUST_LOG")
        .env("POLYGON_API_KEY", "fleet-key")
        .env("CACHE_DISK", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("spawn fetch")
}

/// Every request in the log: (arrival Unix ms, status), in arrival order.
fn read_log(log: &Path) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = std::fs::read_to_string(log)
        .expect("the request log")
        .lines()
        .map(|l| {
            let (ms, status) = l.split_once(' ').expect("`ms status`");
            (ms.parse().expect("ms"), status.to_owned())
        })
        .collect();
    v.sort();
    v
}

/// The most requests that arrived in any one-second window, and the rate over the whole run
/// (requests after the first over the span from the first to the last).
fn window_and_rate(log: &[(i64, String)]) -> (usize, f64) {
    let t: Vec<i64> = log.iter().map(|(ms, _)| *ms).collect();
    let mut most = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] >= 1000 {
            lo += 1;
        }
        most = most.max(hi - lo + 1);
    }
    let span = (t[t.len() - 1] - t[0]).max(1) as f64 / 1000.0;
    (most, (t.len() - 1) as f64 / span)
}

/// `n` lists of `per` distinct tickers of the simulator's universe, written to files in `dir`.
fn lists(dir: &TempDir, n: usize, per: usize) -> Vec<std::path::PathBuf> {
    let all: Vec<String> =
        polygon_sim::market::Universe::get().profiles().iter().take(n * per).map(|p| p.ticker.clone()).collect();
    (0..n)
        .map(|k| {
            let p = dir.join(format!("tickers-{k}.txt"));
            std::fs::write(&p, all[k * per..(k + 1) * per].join("\n")).unwrap();
            p
        })
        .collect()
}

/// Runs `n` fetches at once (process `k` on `lists[k]`), waits for all; their exit codes and,
/// for the messages of failed assertions, their logs.
fn run_all_logged(
    sim: &SimProcess,
    lists: &[std::path::PathBuf],
    dir: &TempDir,
    env: &[(&str, &str)],
) -> (Vec<Option<i32>>, Vec<String>) {
    let children: Vec<Child> =
        lists.iter().enumerate().map(|(k, l)| fetch(sim, l, &dir.join(format!("out-{k}.csv")), env)).collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(!err.contains("panicked"), "{err}");
            (o.status.code(), err)
        })
        .unzip()
}

fn run_all(sim: &SimProcess, lists: &[std::path::PathBuf], dir: &TempDir, env: &[(&str, &str)]) -> Vec<Option<i32>> {
    run_all_logged(sim, lists, dir, env).0
}

/// Four processes, one Redis, `POLYGON_RATE_LIMIT=20/s`, each with its own 100 tickers: the
/// simulator sees the fleet's limit, not four times it, and (limiting at 20/s itself) answers no
/// 429; with `RATE_LIMIT_SCOPE=process` the same four run at four times the rate and meet 429s.
#[test]
fn four_processes_share_one_rate_limit_through_redis() {
    let _one = one_fleet();
    let redis = Redis::start();
    let dir = TempDir::new("fleet-rate");
    let lists = lists(&dir, 4, 100);
    let url = redis.url();
    let mut runs = Vec::new();
    for scope in ["fleet", "process"] {
        let log = dir.join(format!("requests-{scope}.log"));
        let sim = sim(&log, &["--rate-limit", "20/s"]);
        let ns = format!("fleet-test-{scope}");
        let env = [
            ("REDIS_URL", url.as_str()),
            ("CACHE_NAMESPACE", ns.as_str()),
            ("POLYGON_RATE_LIMIT", "20/s"),
            ("RATE_LIMIT_SCOPE", scope),
        ];
        let codes = run_all(&sim, &lists, &dir, &env);
        drop(sim);
        let entries = read_log(&log);
        let limited = entries.iter().filter(|(_, s)| s == "429").count();
        let (most, rate) = window_and_rate(&entries);
        eprintln!(
            "{scope}: {} requests, {limited} answered 429, at most {most} in a second, {rate:.1}/s",
            entries.len()
        );
        runs.push((scope, codes, entries.len(), limited, most, rate));
    }
    let (_, codes, requests, limited, most, rate) = &runs[0];
    assert!(codes.iter().all(|c| *c == Some(0)), "every fleet member finished every ticker: {codes:?}");
    assert!(*requests >= 400, "one request a ticker at least: {requests}");
    // The burst is a second's worth (20): no window holds more than the limit plus the burst
    // (two more allowed for the log's own jitter: a slot sent on time may arrive a few ms late
    // and cross a window's edge).
    assert!(*most <= 42, "{most} requests in one second");
    assert!(*rate > 10.0 && *rate < 26.0, "the fleet ran at {rate:.1}/s against a limit of 20/s");
    let (_, _, _, p_limited, p_most, p_rate) = &runs[1];
    assert!(*p_rate > 1.5 * rate, "four local limits go faster than the shared one: {p_rate:.1}/s vs {rate:.1}/s");
    assert!(*p_most > *most, "{p_most} vs {most}");
    assert!(*p_limited > 10 * *limited + 10, "local limits meet 429s ({p_limited}), the shared one hardly ({limited})");
}

/// Four unsharded processes on the same 200 tickers at once: each chunk is fetched once in
/// all (single flight through Redis), and the four outputs are identical.
#[test]
fn four_processes_on_the_same_tickers_fetch_each_chunk_once() {
    let _one = one_fleet();
    let redis = Redis::start();
    let dir = TempDir::new("fleet-flight");
    let one = lists(&dir, 1, 200).remove(0);
    let log = dir.join("requests.log");
    let sim = sim(&log, &["--latency-ms", "20"]);
    let env = [("REDIS_URL", redis.url()), ("POLYGON_RATE_LIMIT", "off".into())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (codes, logs) = run_all_logged(&sim, &[one.clone(), one.clone(), one.clone(), one], &dir, &env);
    drop(sim);
    assert!(codes.iter().all(|c| *c == Some(0)), "{codes:?}");
    let entries = read_log(&log);
    assert_eq!(entries.len(), 200, "one request a ticker in all, not one a ticker a process: {logs:?}");
    let first = std::fs::read(dir.join("out-0.csv")).unwrap();
    assert!(first.len() > 200 * 100, "a real output: {} bytes", first.len());
    for k in 1..4 {
        assert!(std::fs::read(dir.join(format!("out-{k}.csv"))).unwrap() == first, "output {k} differs from output 0");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Redis killed while four processes share 20/s: each falls back to its fair share (5/s, the
/// four members its heartbeat counted), so the simulator still sees at most the limit; Redis
/// restarted a few seconds later: they return to the shared limit and say so. Every process
/// finishes, with the same data as a fetch of its tickers without any Redis.
#[test]
fn redis_killed_mid_run_each_process_keeps_to_its_share_and_finishes() {
    let _one = one_fleet();
    let mut redis = Redis::start();
    let dir = TempDir::new("fleet-kill");
    let lists = lists(&dir, 4, 100);
    let log = dir.join("requests.log");
    let server = sim(&log, &[]);
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("POLYGON_RATE_LIMIT", "20/s"),
        ("RATE_LIMIT_SCOPE", "fleet"),
        ("RUST_LOG", "warn,polygon_gh200::fleet=info"),
    ];
    let children: Vec<Child> =
        lists.iter().enumerate().map(|(k, l)| fetch(&server, l, &dir.join(format!("out-{k}.csv")), &env)).collect();
    // Past two heartbeats (every 2 s), so that each member has counted the four.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let killed = now_ms();
    redis.kill();
    // 400 requests at 20/s take 20 s: the fleet is still running when Redis comes back.
    std::thread::sleep(std::time::Duration::from_secs(5));
    redis.restart();
    let mut logs = Vec::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(0), "{err}");
        logs.push(err);
    }
    for (k, l) in logs.iter().enumerate() {
        let fell = l.matches("fleet rate limit: Redis does not answer").count();
        assert_eq!(fell, 1, "process {k} says once that it falls back: {l}");
        assert!(l.contains("back on the shared limit"), "process {k} says it is back on the shared limit: {l}");
    }
    let entries = read_log(&log);
    let before = entries.iter().filter(|(ms, _)| *ms < killed).count();
    let after: Vec<(i64, String)> = entries.iter().filter(|(ms, _)| *ms >= killed + 1000).cloned().collect();
    assert!(
        before > 50 && after.len() > 100,
        "a run on both sides of the kill: {before} before, {} after",
        after.len()
    );
    let (most, rate) = window_and_rate(&after);
    eprintln!("after the kill: {} requests, at most {most} in a second, {rate:.1}/s", after.len());
    assert!(most <= 42, "{most} requests in one second after the kill");
    assert!(rate > 10.0 && rate < 26.0, "{rate:.1}/s after the kill against 20/s");
    // The same tickers without Redis, no limit: the data each process wrote.
    let sim2 = sim(&dir.join("reference.log"), &[]);
    for (k, l) in lists.iter().enumerate() {
        let reference = dir.join(format!("ref-{k}.csv"));
        let o = fetch(&sim2, l, &reference, &[("REDIS_URL", "off"), ("POLYGON_RATE_LIMIT", "off")])
            .wait_with_output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let (got, want) =
            (std::fs::read(dir.join(format!("out-{k}.csv"))).unwrap(), std::fs::read(&reference).unwrap());
        assert!(got == want, "process {k}'s output differs from its reference");
    }
}

/// The shared limit on a three-master Redis Cluster: its keys share a hash tag, one slot.
#[test]
fn the_shared_rate_limit_works_on_a_redis_cluster() {
    let _one = one_fleet();
    let cluster = polygon_test_support::RedisCluster::start();
    let dir = TempDir::new("fleet-cluster");
    let lists = lists(&dir, 4, 50);
    let log = dir.join("requests.log");
    let sim = sim(&log, &["--rate-limit", "20/s"]);
    let url = cluster.url();
    let env = [("REDIS_URL", url.as_str()), ("POLYGON_RATE_LIMIT", "20/s"), ("RATE_LIMIT_SCOPE", "fleet")];
    let codes = run_all(&sim, &lists, &dir, &env);
    drop(sim);
    assert!(codes.iter().all(|c| *c == Some(0)), "{codes:?}");
    let entries = read_log(&log);
    let limited = entries.iter().filter(|(_, s)| s == "429").count();
    let (most, rate) = window_and_rate(&entries);
    eprintln!("cluster: {} requests, {limited} answered 429, at most {most} in a second, {rate:.1}/s", entries.len());
    assert!(most <= 42, "{most} requests in one second");
    assert!(rate > 10.0 && rate < 26.0, "{rate:.1}/s against 20/s");
    assert!(limited <= 4, "{limited} answered 429");
}
