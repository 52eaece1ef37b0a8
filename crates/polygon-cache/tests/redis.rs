//! The cache against real redis-server processes the tests start, kill, pause and corrupt.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::eventually;
use polygon_cache::{Cache, CacheKey, RedisStatus, Tier, TtlClass, TtlPolicy, encode};
use polygon_model::{
    AggregatesResponse, Bar, BarColumns, GroupedDailyResponse, PrevCloseResponse, Quote, QuotesResponse, TickerBar,
    TickerInfo, TickersResponse, Trade, TradesResponse,
};
use polygon_test_support::{Redis, RedisCluster, exists, free_port, raw};

const TIMEOUT: Duration = Duration::from_millis(300);
/// Every call must come back within the command timeout plus this (scheduling on a busy 2-core CI).
const MARGIN: Duration = Duration::from_millis(1200);

fn columns(n: usize, ticker: &str) -> BarColumns {
    let mut c = BarColumns::new();
    c.begin_series(ticker.parse().unwrap());
    for i in 0..n {
        let p = 100.0 + i as f64 * 0.01;
        c.push(&Bar {
            v: 1000.0 + i as f64,
            vw: (i % 3 != 0).then_some(p),
            o: p,
            c: p + 0.01,
            h: p + 0.02,
            l: p - 0.02,
            t: i as i64 * 60_000,
            n: Some(i as u64),
            otc: None,
        });
    }
    c
}

fn key(name: &str) -> CacheKey {
    CacheKey::from_canonical("test", name)
}

/// A cache with a generous command timeout: for tests of what is stored, not of how long a dead
/// Redis may stall (a busy CI machine must not turn a slow reply into a fallback).
async fn cache(url: &str, cluster: bool) -> Cache {
    cache_with_timeout(url, cluster, Duration::from_secs(3)).await
}

/// A cache with the production command timeout, for the kill and pause tests.
async fn fast_failing_cache(url: &str, cluster: bool) -> Cache {
    cache_with_timeout(url, cluster, TIMEOUT).await
}

async fn cache_with_timeout(url: &str, cluster: bool, timeout: Duration) -> Cache {
    Cache::builder()
        .redis_url(url)
        .cluster(cluster)
        .command_timeout(timeout)
        .health_interval(Duration::from_millis(100))
        .build()
        .await
        .unwrap()
}

async fn clear_removes_ours_only(c: &Cache, ports: &[u16]) {
    for i in 0..5 {
        c.put(&key(&format!("clear-{i}")), &columns(3, "A"), TtlClass::Immutable).await;
    }
    for p in ports {
        raw(*p, &[b"SET", format!("not-ours-{p}").as_bytes(), b"x"]);
    }
    assert!(c.clear().await.unwrap() >= 5);
    assert!(c.get::<BarColumns>(&key("clear-0")).await.is_none());
    for p in ports {
        assert!(exists(*p, &format!("not-ours-{p}")), "a key outside pgh200: survives");
    }
}

async fn round_trip(url: &str, cluster: bool) {
    let c = cache(url, cluster).await;
    assert_eq!(c.redis_status(), RedisStatus::Up);
    let cols = columns(5_000, "AAPL");
    c.put(&key("cols"), &cols, TtlClass::Immutable).await;
    c.clear_memory();
    let e = c.get::<BarColumns>(&key("cols")).await.expect("in redis");
    assert_eq!(e.tier(), Tier::Redis);
    // A column handed on as a slice, straight from the archive.
    assert_eq!(e.archived().f64_column("c").unwrap(), &cols.c[..]);
    assert_eq!(e.archived().t_slice(), &cols.t[..]);
    let back = e.to_value();
    assert_eq!(back.offsets(), cols.offsets());
    assert_eq!((back.bar(1), back.bar(4_999)), (cols.bar(1), cols.bar(4_999)));
    // And from memory the second time.
    assert_eq!(c.get::<BarColumns>(&key("cols")).await.unwrap().tier(), Tier::Memory);

    // Every endpoint's payload.
    let bar = Bar { v: 10.0, vw: Some(1.5), o: 1.0, c: 2.0, h: 2.5, l: 0.5, t: 7, n: Some(3), otc: None };
    let tbar = TickerBar {
        ticker: "AAPL".into(),
        v: 10.0,
        vw: None,
        o: 1.0,
        c: 2.0,
        h: 2.5,
        l: 0.5,
        t: 7,
        n: None,
        otc: Some(true),
    };
    let aggs = AggregatesResponse {
        ticker: "AAPL".into(),
        query_count: 1,
        results_count: 1,
        adjusted: true,
        results: vec![bar],
        status: "OK".into(),
        request_id: "r".into(),
        count: Some(1),
        next_url: Some("https://x/y?cursor=z".into()),
    };
    let grouped = GroupedDailyResponse {
        query_count: 1,
        results_count: 1,
        adjusted: true,
        results: vec![tbar.clone()],
        status: "OK".into(),
        request_id: "r".into(),
        count: Some(1),
    };
    let prev = PrevCloseResponse {
        ticker: "AAPL".into(),
        query_count: 1,
        results_count: 1,
        adjusted: true,
        results: vec![tbar],
        status: "OK".into(),
        request_id: "r".into(),
    };
    let trades = TradesResponse {
        results: vec![Trade {
            conditions: Some(vec![12, 37]),
            exchange: 4,
            id: "1".into(),
            participant_timestamp: Some(1_704_186_000_000_000_001),
            price: 190.01,
            sequence_number: 9,
            sip_timestamp: 1_704_186_000_000_000_123,
            size: 50.0,
            tape: Some(3),
        }],
        status: "OK".into(),
        request_id: "r".into(),
        next_url: None,
    };
    let quotes = QuotesResponse {
        results: vec![Quote {
            ask_exchange: Some(1),
            ask_price: 1.01,
            ask_size: 2.0,
            bid_exchange: None,
            bid_price: 1.0,
            bid_size: 3.0,
            participant_timestamp: None,
            sequence_number: 1,
            sip_timestamp: 1_704_186_000_000_000_777,
            tape: None,
        }],
        status: "OK".into(),
        request_id: "r".into(),
        next_url: Some("n".into()),
    };
    let tickers = TickersResponse {
        results: vec![TickerInfo {
            ticker: "A".into(),
            name: "Agilent".into(),
            market: "stocks".into(),
            locale: "us".into(),
            primary_exchange: Some("XNYS".into()),
            kind: Some("CS".into()),
            active: true,
            currency_name: None,
            cik: None,
            composite_figi: None,
            last_updated_utc: None,
        }],
        status: "OK".into(),
        request_id: "r".into(),
        count: Some(1),
        next_url: None,
    };
    c.put(&key("aggs"), &aggs, TtlClass::Immutable).await;
    c.put(&key("grouped"), &grouped, TtlClass::Immutable).await;
    c.put(&key("prev"), &prev, TtlClass::Live).await;
    c.put(&key("trades"), &trades, TtlClass::Immutable).await;
    c.put(&key("quotes"), &quotes, TtlClass::Immutable).await;
    c.put(&key("tickers"), &tickers, TtlClass::Reference).await;
    c.clear_memory();
    assert_eq!(c.get::<AggregatesResponse>(&key("aggs")).await.unwrap().to_value(), aggs);
    assert_eq!(c.get::<GroupedDailyResponse>(&key("grouped")).await.unwrap().to_value(), grouped);
    assert_eq!(c.get::<PrevCloseResponse>(&key("prev")).await.unwrap().to_value(), prev);
    assert_eq!(c.get::<TradesResponse>(&key("trades")).await.unwrap().to_value(), trades);
    assert_eq!(c.get::<QuotesResponse>(&key("quotes")).await.unwrap().to_value(), quotes);
    assert_eq!(c.get::<TickersResponse>(&key("tickers")).await.unwrap().to_value(), tickers);
    let s = c.stats();
    assert_eq!((s.redis_hits, s.corrupt, s.errors), (7, 0, 0));
}

#[tokio::test]
async fn round_trip_of_columns_and_every_payload() {
    let r = Redis::start();
    round_trip(&r.url(), false).await;
    clear_removes_ours_only(&cache(&r.url(), false).await, &[r.port()]).await;
}

#[tokio::test]
async fn round_trip_on_a_three_node_cluster() {
    let cl = RedisCluster::start();
    round_trip(&cl.url(), true).await;
    // Twenty keys land on all three nodes: clear must scan every node to find them all.
    let c = cache(&cl.url(), true).await;
    for i in 0..20 {
        c.put(&key(&format!("spread-{i}")), &columns(3, "A"), TtlClass::Immutable).await;
    }
    assert!(c.clear().await.unwrap() >= 20);
    c.clear_memory();
    for i in 0..20 {
        assert!(c.get::<BarColumns>(&key(&format!("spread-{i}"))).await.is_none());
    }
}

#[tokio::test]
async fn ttls_expire_by_class() {
    let r = Redis::start();
    let c = Cache::builder()
        .redis_url(r.url())
        .ttl(TtlPolicy { live: Duration::from_secs(2), ..TtlPolicy::default() })
        .build()
        .await
        .unwrap();
    c.put(&key("live"), &columns(3, "A"), TtlClass::Live).await;
    c.put(&key("history"), &columns(3, "A"), TtlClass::Immutable).await;
    let pttl = |k: &CacheKey| {
        let reply = raw(r.port(), &[b"PTTL", k.as_str().as_bytes()]).unwrap();
        String::from_utf8_lossy(&reply[1..reply.len() - 2]).parse::<i64>().unwrap()
    };
    assert!((1..=2_000).contains(&pttl(&key("live"))));
    assert!(pttl(&key("history")) > 6 * 86_400_000, "7 days for history");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert!(!exists(r.port(), key("live").as_str()), "expired in Redis");
    assert!(c.get::<BarColumns>(&key("live")).await.is_none(), "and in memory");
    assert!(c.get::<BarColumns>(&key("history")).await.is_some());
}

/// Gets and sets in a loop; Redis is killed at `kill_at` and restarted at `restart_at`. Every call
/// must return within the timeout plus a margin, and be right, served by memory meanwhile.
/// `server(false)` kills Redis, `server(true)` restarts it.
async fn kill_run(c: &Cache, mut server: impl FnMut(bool)) {
    let mut slowest = Duration::ZERO;
    for i in 0..60 {
        if i == 20 {
            server(false);
        }
        if i == 40 {
            server(true);
        }
        let k = key(&format!("kill-{}", i % 10));
        let started = Instant::now();
        if i < 10 || i % 2 == 0 {
            c.put(&k, &columns(50, "MSFT"), TtlClass::Immutable).await;
        }
        let got = c.get::<BarColumns>(&k).await.expect("served by some tier");
        assert_eq!(got.to_value().len(), 50);
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < TIMEOUT + MARGIN, "a call took {slowest:?}");
    let s = c.stats();
    assert!(s.fallbacks > 0 || s.errors > 0, "Redis was really gone for a while: {s:?}");
    // Redis is used again without restarting the process.
    assert!(eventually(15, || c.redis_status() == RedisStatus::Up).await, "back up");
}

#[tokio::test]
async fn redis_killed_and_restarted_mid_run() {
    let mut r = Redis::start();
    let c = fast_failing_cache(&r.url(), false).await;
    kill_run(&c, |up| if up { r.restart() } else { r.kill() }).await;
    c.put(&key("after"), &columns(5, "A"), TtlClass::Immutable).await;
    assert!(exists(r.port(), key("after").as_str()), "writes reach the restarted Redis");
}

#[tokio::test]
async fn a_cluster_node_killed_and_restarted_mid_run() {
    let mut cl = RedisCluster::start();
    let c = fast_failing_cache(&cl.url(), true).await;
    kill_run(&c, |up| if up { cl.nodes[1].restart() } else { cl.nodes[1].kill() }).await;
}

#[tokio::test]
async fn a_paused_redis_never_stalls_a_call() {
    let r = Redis::start();
    let c = fast_failing_cache(&r.url(), false).await;
    c.put(&key("p"), &columns(10, "A"), TtlClass::Immutable).await;
    r.signal("STOP");
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        c.put(&key(&format!("p{i}")), &columns(10, "A"), TtlClass::Immutable).await;
        assert!(c.get::<BarColumns>(&key("p")).await.is_some(), "memory still serves");
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < TIMEOUT + MARGIN, "a call took {slowest:?}");
    assert_eq!(c.redis_status(), RedisStatus::Down);
    r.signal("CONT");
    assert!(eventually(15, || c.redis_status() == RedisStatus::Up).await);
}

#[tokio::test]
async fn corrupt_values_are_misses_deleted_and_counted() {
    let r = Redis::start();
    let c = cache(&r.url(), false).await;
    let good = encode(&columns(20, "A"));
    let mut wrong_schema = good.clone();
    wrong_schema[4] = 99;
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let wrong_type =
        encode(&TradesResponse { results: vec![], status: "OK".into(), request_id: "r".into(), next_url: None });
    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut flipped = good.clone();
    let mid = flipped.len() - 100;
    flipped[mid] ^= 1;
    let cases: [(&str, &[u8]); 6] = [
        ("random", &random),
        ("truncated", &truncated),
        ("schema", &wrong_schema),
        ("wrong-type", &wrong_type),
        ("flipped", &flipped),
        ("empty", b""),
    ];
    for (i, (name, bytes)) in cases.iter().enumerate() {
        let k = key(name);
        assert_eq!(raw(r.port(), &[b"SET", k.as_str().as_bytes(), bytes]).as_deref(), Some(&b"+OK\r\n"[..]));
        assert!(c.get::<BarColumns>(&k).await.is_none(), "{name} is a miss");
        assert!(!exists(r.port(), k.as_str()), "{name} was deleted");
        assert_eq!(c.stats().corrupt, i as u64 + 1, "{name} was counted");
    }
    // And a good value next to them is a hit.
    raw(r.port(), &[b"SET", key("good").as_str().as_bytes(), &good]).unwrap();
    assert_eq!(c.get::<BarColumns>(&key("good")).await.unwrap().to_value().len(), 20);
}

#[tokio::test]
async fn concurrent_misses_of_one_key_load_once() {
    let r = Redis::start();
    let c = cache(&r.url(), false).await;
    let loads = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (c, loads) = (c.clone(), loads.clone());
        set.spawn(async move {
            c.get_or_load(&key("flight"), TtlClass::Immutable, || async {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, std::io::Error>(columns(100, "NVDA"))
            })
            .await
            .unwrap()
            .to_value()
            .len()
        });
    }
    while let Some(n) = set.join_next().await {
        assert_eq!(n.unwrap(), 100);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(c.stats().loads, 1);
    // A failed load stores nothing, and the next caller loads again.
    let e = c
        .get_or_load::<BarColumns, _, _, _>(&key("fails"), TtlClass::Immutable, || async { Err("upstream down") })
        .await;
    assert_eq!(e.unwrap_err(), "upstream down");
    assert!(!exists(r.port(), key("fails").as_str()));
}

/// A lock of this cache's own that no task is loading (its release failed, or its SET NX ran on
/// the server after the command had timed out here) is removed at once, not waited out for its
/// TTL; another holder's lock is still waited for (`two_processes_load_once`).
#[tokio::test]
async fn a_leftover_lock_of_our_own_is_taken_over_not_waited_out() {
    let r = Redis::start();
    let c = Cache::builder()
        .redis_url(r.url())
        .command_timeout(Duration::from_secs(3))
        .lock_ttl(Duration::from_secs(20))
        .build()
        .await
        .unwrap();
    let k = key("leftover");
    let lock = format!("{}:lock", k.as_str());
    let stale = format!("{}-987654", c.lock_owner());
    raw(r.port(), &[b"SET", lock.as_bytes(), stale.as_bytes(), b"PX", b"60000"]);
    let got =
        c.get_or_load(&k, TtlClass::Immutable, || async { Ok::<_, std::io::Error>(columns(50, "IBM")) }).await.unwrap();
    assert_eq!(got.to_value().len(), 50);
    let s = c.stats();
    assert_eq!((s.loads, s.stale_locks, s.lock_waits), (1, 1, 0), "{s:?}");
    assert!(exists(r.port(), k.as_str()), "the value was stored");
    assert!(!exists(r.port(), &lock), "and the lock released");

    // Someone else's lock (another owner's token) is a live holder: it is waited for.
    let k2 = key("foreign");
    let lock2 = format!("{}:lock", k2.as_str());
    raw(r.port(), &[b"SET", lock2.as_bytes(), b"someone-else-1", b"PX", b"300"]);
    c.get_or_load(&k2, TtlClass::Immutable, || async { Ok::<_, std::io::Error>(columns(5, "IBM")) }).await.unwrap();
    let s = c.stats();
    assert_eq!(s.stale_locks, 1, "a foreign lock is not taken over");
    assert!(s.lock_waits >= 1, "a foreign lock is waited for: {s:?}");
}

/// The other process of `two_processes_load_once`: runs only when that test starts it.
#[tokio::test]
#[ignore = "started by two_processes_load_once as a second process"]
async fn second_process_loader() {
    let Ok(url) = std::env::var("PGH200_TEST_REDIS_URL") else { return };
    let c = cache(&url, false).await;
    let port: u16 = std::env::var("PGH200_TEST_REDIS_PORT").unwrap().parse().unwrap();
    raw(port, &[b"INCR", b"ready"]);
    assert!(eventually(20, || raw(port, &[b"GET", b"go"]).as_deref() == Some(&b"$1\r\n1\r\n"[..])).await);
    fleet_load(&c, port).await;
}

/// The load both processes race to do: counts itself in Redis, takes 300 ms.
async fn fleet_load(c: &Cache, port: u16) -> usize {
    c.get_or_load(&key("fleet"), TtlClass::Immutable, || async move {
        raw(port, &[b"INCR", b"fleet-loads"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, std::io::Error>(columns(10, "AMD"))
    })
    .await
    .unwrap()
    .to_value()
    .len()
}

#[tokio::test]
async fn two_processes_load_once() {
    let r = Redis::start();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["second_process_loader", "--exact", "--ignored", "--nocapture"])
        .env("PGH200_TEST_REDIS_URL", r.url())
        .env("PGH200_TEST_REDIS_PORT", r.port().to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = r.port();
    let c = cache(&r.url(), false).await;
    // Start together: the child says it is ready, then both miss at once and race for the load.
    assert!(eventually(30, || raw(port, &[b"GET", b"ready"]).as_deref() == Some(&b"$1\r\n1\r\n"[..])).await);
    raw(port, &[b"SET", b"go", b"1"]);
    assert_eq!(fleet_load(&c, port).await, 10);
    assert!(child.wait().unwrap().success());
    assert_eq!(
        raw(r.port(), &[b"GET", b"fleet-loads"]).as_deref(),
        Some(&b"$1\r\n1\r\n"[..]),
        "loaded once for the fleet"
    );
}

#[tokio::test]
async fn without_redis_the_memory_tier_is_the_cache() {
    let port = free_port();
    let started = Instant::now();
    let c = fast_failing_cache(&format!("redis://127.0.0.1:{port}/0"), false).await;
    assert!(started.elapsed() < Duration::from_secs(5), "building does not wait on a dead Redis");
    assert_eq!(c.redis_status(), RedisStatus::Down);
    c.put(&key("m"), &columns(3, "A"), TtlClass::Immutable).await;
    assert_eq!(c.get::<BarColumns>(&key("m")).await.unwrap().tier(), Tier::Memory);
    assert!(c.get::<BarColumns>(&key("absent")).await.is_none());
    assert_eq!(c.stats().fallbacks, 2, "the put and the missing get went around the dead Redis");
    let e = Cache::builder().redis_url("redis://user:hunter2@[bad").build().await.unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test]
async fn acl_user_and_password_work_and_are_never_shown() {
    let r =
        Redis::start_with(&["--user", "default", "off", "--user", "fleet", "on", ">s3cret-pw", "~*", "&*", "+@all"]);
    let good = format!("redis://fleet:s3cret-pw@127.0.0.1:{}/0", r.port());
    let c = cache(&good, false).await;
    assert_eq!(c.redis_status(), RedisStatus::Up, "authenticated as the ACL user");
    c.put(&key("acl"), &columns(5, "A"), TtlClass::Immutable).await;
    c.clear_memory();
    assert_eq!(c.get::<BarColumns>(&key("acl")).await.unwrap().tier(), Tier::Redis);
    for text in [format!("{c:?}"), format!("{:?}", Cache::builder().redis_url(&good))] {
        assert!(!text.contains("s3cret-pw"), "password shown: {text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    // A wrong password: Redis is unusable, the cache still works from memory, nothing waits long.
    let bad = format!("redis://fleet:wrong-pw@127.0.0.1:{}/0", r.port());
    let started = Instant::now();
    let c = fast_failing_cache(&bad, false).await;
    assert_ne!(c.redis_status(), RedisStatus::Up);
    c.put(&key("m"), &columns(5, "A"), TtlClass::Immutable).await;
    assert_eq!(c.get::<BarColumns>(&key("m")).await.unwrap().tier(), Tier::Memory);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!format!("{c:?}").contains("wrong-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_keeps_its_entries_apart_and_clears_only_them() {
    let r = Redis::start();
    let plain = cache(&r.url(), false).await;
    let demo = Cache::builder()
        .redis_url(r.url())
        .command_timeout(Duration::from_secs(3))
        .namespace("demo")
        .build()
        .await
        .unwrap();
    let k = key("namespaced");
    demo.put(&k, &columns(4, "AAPL"), TtlClass::Immutable).await;
    plain.put(&key("plain"), &columns(2, "MSFT"), TtlClass::Immutable).await;
    let stored = format!("pgh200:demo:{}", &k.as_str()["pgh200:".len()..]);
    assert!(exists(r.port(), &stored), "stored under the namespace");
    assert!(!exists(r.port(), k.as_str()), "not under the default key");
    assert!(plain.get::<BarColumns>(&k).await.is_none(), "the default cache does not see it");
    demo.clear_memory();
    assert_eq!(demo.get::<BarColumns>(&k).await.unwrap().tier(), Tier::Redis);
    let (keys, bytes) = demo.redis_usage(false).await.unwrap();
    assert_eq!(keys, 1, "usage counts the namespace's keys only");
    let strlen = raw(r.port(), &[b"STRLEN", stored.as_bytes()]).unwrap();
    assert_eq!(format!(":{bytes}\r\n").into_bytes(), strlen, "bytes are the value's length");
    assert!(bytes > 4 * 8 * 8, "an envelope of four bars is at least their columns");
    assert_eq!(demo.clear().await.unwrap(), 1, "only the namespace's key");
    assert!(exists(r.port(), key("plain").as_str()), "the default entry survives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_reply_is_a_miss_not_an_outage() {
    let r = Redis::start_with(&["--enable-debug-command", "yes"]);
    let c = fast_failing_cache(&r.url(), false).await;
    c.put(&key("slow"), &columns(10, "A"), TtlClass::Immutable).await;
    c.clear_memory();
    // Redis is single-threaded: DEBUG SLEEP holds every client for a second.
    let port = r.port();
    let sleeper = std::thread::spawn(move || raw(port, &[b"DEBUG", b"SLEEP", b"1.0"]));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(c.get::<BarColumns>(&key("slow")).await.is_none(), "a reply past the timeout is a miss");
    assert_eq!(c.redis_status(), RedisStatus::Up, "one slow reply does not take Redis out of use");
    sleeper.join().unwrap();
    let hit = c.get::<BarColumns>(&key("slow")).await.expect("served again once Redis answers");
    assert_eq!(hit.tier(), Tier::Redis);

    // Forty GETs in flight through one stall all time out together: still one slow moment.
    c.clear_memory();
    let sleeper = std::thread::spawn(move || raw(port, &[b"DEBUG", b"SLEEP", b"0.5"]));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let c = c.clone();
        set.spawn(async move { c.get::<BarColumns>(&key("slow")).await.is_none() });
    }
    let mut missed = 0;
    while let Some(m) = set.join_next().await {
        missed += usize::from(m.unwrap());
    }
    assert_eq!(missed, 40, "every GET in the stall timed out (a miss)");
    assert!(c.stats().errors >= 40);
    assert_eq!(c.redis_status(), RedisStatus::Up, "a burst of timeouts from one stall is not an outage");
    sleeper.join().unwrap();
}
