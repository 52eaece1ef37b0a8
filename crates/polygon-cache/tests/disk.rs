//! The disk tier against real files and real processes: a value outlives its process, a bad file
//! (corrupt, truncated, another kind's) is never trusted, a writer killed mid-write leaves nothing
//! a reader trusts, two processes at once load a key once, the bound holds, TTLs by class, scopes
//! apart, user-only permissions.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use polygon_cache::{Cache, CacheKey, Clear, Tier, Tiers, TtlClass, TtlPolicy};
use polygon_model::{Bar, BarColumns, TradesResponse};

fn columns(n: usize, ticker: &str) -> BarColumns {
    let mut c = BarColumns::new();
    c.begin_series(ticker.parse().unwrap());
    for i in 0..n {
        let p = 100.0 + i as f64;
        c.push(&Bar {
            v: 10.0 + i as f64,
            vw: Some(p),
            o: p,
            c: p,
            h: p + 1.0,
            l: p - 1.0,
            t: i as i64,
            n: Some(3),
            otc: None,
        });
    }
    c
}

fn key(name: &str) -> CacheKey {
    CacheKey::from_canonical("disk-test", name)
}

/// A directory of the test's own, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("pgh200-disk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn cache(dir: &Path) -> Cache {
    Cache::builder().disk(dir).build().await.unwrap()
}

/// Every value file under `dir`.
fn value_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pgc") {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_value_outlives_its_process_and_reads_back_the_same() {
    let dir = Dir::new("outlives");
    let first = cache(&dir.0).await;
    first.put(&key("a"), &columns(500, "AAPL"), TtlClass::Immutable).await;
    drop(first);
    // A second cache on the same directory (as a second process would be): no memory, no Redis.
    let second = cache(&dir.0).await;
    let got = second.get::<BarColumns>(&key("a")).await.expect("on disk");
    assert_eq!(got.tier(), Tier::Disk);
    assert_eq!(got.to_value(), columns(500, "AAPL"));
    assert_eq!(second.get::<BarColumns>(&key("a")).await.unwrap().tier(), Tier::Memory, "promoted to memory");
    assert!(second.get::<BarColumns>(&key("b")).await.is_none());
    let s = second.stats();
    assert_eq!((s.disk_hits, s.memory_hits, s.misses), (1, 1, 1), "{s:?}");
    assert!(s.disk_bytes_read > 500 * 8 * 8, "{s:?}");
}

#[tokio::test]
async fn corrupt_truncated_or_foreign_files_are_misses_deleted_and_counted() {
    let dir = Dir::new("corrupt");
    let c = cache(&dir.0).await;
    for name in ["flip", "cut", "foreign", "empty"] {
        c.put(&key(name), &columns(200, "MSFT"), TtlClass::Immutable).await;
    }
    let other = cache(&dir.0).await; // nothing in memory: every read goes to the files
    let files = value_files(&dir.0);
    assert_eq!(files.len(), 4);
    // Damage each file in its own way, then see that every key is a miss.
    let mut bytes: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let last = bytes[0].len() - 1;
    bytes[0][last] ^= 0x55; // a flipped bit in the archive
    let half = bytes[1].len() / 2;
    bytes[1].truncate(half); // truncated
    bytes[2] = polygon_cache::encode(&TradesResponse {
        results: vec![],
        status: "OK".into(),
        request_id: "r".into(),
        next_url: None,
    }); // another kind's value
    bytes[3].clear(); // empty
    for (p, b) in files.iter().zip(&bytes) {
        std::fs::write(p, b).unwrap();
    }
    for name in ["flip", "cut", "foreign", "empty"] {
        assert!(other.get::<BarColumns>(&key(name)).await.is_none(), "{name}: never trusted");
    }
    assert_eq!(other.stats().corrupt, 4);
    assert!(value_files(&dir.0).is_empty(), "every bad file was deleted");
    // Loading again stores a good value that reads back.
    let e = other
        .get_or_load(&key("flip"), TtlClass::Immutable, || async { Ok::<_, std::io::Error>(columns(7, "IBM")) })
        .await
        .unwrap();
    assert_eq!(e.tier(), Tier::Loaded);
    other.clear_memory();
    assert_eq!(other.get::<BarColumns>(&key("flip")).await.unwrap().to_value(), columns(7, "IBM"));
}

#[tokio::test]
async fn the_bound_holds_after_writing_more_than_it() {
    let dir = Dir::new("bound");
    let c = Cache::builder().disk(&dir.0).disk_bytes(1 << 20).build().await.unwrap();
    // 40 values of about 100 KB: 4 MB through a 1 MiB tier.
    for i in 0..40 {
        c.put(&key(&format!("v{i}")), &columns(1_500, "NVDA"), TtlClass::Immutable).await;
    }
    // The eviction runs on a thread of its own: wait for it to finish.
    for _ in 0..1_000 {
        if c.disk_settled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(c.disk_settled(), "the eviction finished");
    let total: u64 = value_files(&dir.0).iter().map(|p| p.metadata().unwrap().len()).sum();
    assert!(total <= 1 << 20, "{total} bytes on disk over a 1 MiB bound");
    let (_, usage) = c.disk_usage().unwrap();
    assert_eq!(usage.iter().map(|u| u.bytes).sum::<u64>(), total);
    // The least recently used went first: the last value written is still there.
    c.clear_memory();
    assert_eq!(c.get::<BarColumns>(&key("v39")).await.unwrap().tier(), Tier::Disk);
    assert!(c.get::<BarColumns>(&key("v0")).await.is_none(), "the oldest was evicted");
}

#[tokio::test]
async fn a_live_entry_expires_on_disk_and_a_closed_range_does_not() {
    let dir = Dir::new("ttl");
    let ttl = TtlPolicy { live: Duration::from_millis(300), ..TtlPolicy::default() };
    let c = Cache::builder().disk(&dir.0).ttl(ttl).build().await.unwrap();
    c.put(&key("live"), &columns(10, "A"), TtlClass::Live).await;
    c.put(&key("closed"), &columns(10, "A"), TtlClass::Immutable).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let fresh = cache(&dir.0).await;
    assert!(fresh.get::<BarColumns>(&key("live")).await.is_none(), "the live entry expired");
    assert_eq!(fresh.get::<BarColumns>(&key("closed")).await.unwrap().tier(), Tier::Disk);
    assert_eq!(value_files(&dir.0).len(), 1, "the expired file was removed");
}

#[tokio::test]
async fn scopes_stay_apart_and_clear_takes_only_its_own() {
    let dir = Dir::new("scopes");
    let official = Cache::builder().disk(&dir.0).upstream("https://api.massive.com").build().await.unwrap();
    let sim = Cache::builder().disk(&dir.0).upstream("http://127.0.0.1:9999").build().await.unwrap();
    let demo = Cache::builder().disk(&dir.0).namespace("demo").build().await.unwrap();
    sim.put(&key("k"), &columns(5, "SIM"), TtlClass::Immutable).await;
    demo.put(&key("k"), &columns(6, "DEMO"), TtlClass::Immutable).await;
    assert!(official.get::<BarColumns>(&key("k")).await.is_none(), "another upstream's bars never answer");
    let sim2 = Cache::builder().disk(&dir.0).upstream("http://127.0.0.1:9999/").build().await.unwrap();
    assert_eq!(sim2.get::<BarColumns>(&key("k")).await.unwrap().to_value(), columns(5, "SIM"));
    let (_, usage) = official.disk_usage().unwrap();
    let scopes: Vec<&str> = usage.iter().map(|u| u.scope.as_str()).collect();
    assert_eq!(scopes, [sim.scope().as_str(), "demo"]);
    assert_eq!(demo.clear_tiers(Tiers { memory: true, disk: true, redis: false }, Clear::Scope).await.unwrap(), 1);
    assert!(sim2.get::<BarColumns>(&key("k")).await.is_some(), "another scope survives");
    assert_eq!(official.clear_tiers(Tiers::ALL, Clear::Scope).await.unwrap(), 0, "the official scope is empty");
    // A namespace's clear takes every upstream of it: the default namespace's simulator scope.
    assert_eq!(official.clear().await.unwrap(), 1);
    sim.put(&key("k"), &columns(5, "SIM"), TtlClass::Immutable).await;
    assert_eq!(demo.clear_tiers(Tiers::ALL, Clear::Everything).await.unwrap(), 1, "everything: the last file");
    assert!(value_files(&dir.0).is_empty());
}

#[tokio::test]
async fn the_directory_and_files_are_the_users_alone() {
    let dir = Dir::new("perms");
    let c = cache(&dir.0).await;
    c.put(&key("p"), &columns(5, "A"), TtlClass::Immutable).await;
    let mode = |p: &Path| p.metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.0), 0o700);
    let files = value_files(&dir.0);
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600);
    assert_eq!(mode(files[0].parent().unwrap()), 0o700);
    assert_eq!(mode(files[0].parent().unwrap().parent().unwrap()), 0o700);
}

/// The other process of `two_processes_on_one_directory_load_once` and of the kill test.
#[tokio::test]
#[ignore = "started by the multi-process tests as a second process"]
async fn disk_child() {
    let Ok(dir) = std::env::var("PGH200_TEST_DISK_DIR") else { return };
    let dir = PathBuf::from(dir);
    let c = cache(&dir).await;
    match std::env::var("PGH200_TEST_DISK_ROLE").as_deref() {
        Ok("load") => {
            std::fs::write(dir.join("ready"), b"1").unwrap();
            wait_for(&dir.join("go")).await;
            load_counting(&c, &dir).await;
            std::fs::write(dir.join("child-waits"), c.stats().lock_waits.to_string()).unwrap();
        }
        Ok("write-forever") => {
            let mut i = 0u64;
            loop {
                c.put(&key(&format!("w{}", i % 64)), &columns(20_000, "BIG"), TtlClass::Immutable).await;
                i += 1;
                if i == 8 {
                    std::fs::write(dir.join("writing"), b"1").unwrap();
                }
            }
        }
        _ => {}
    }
}

async fn wait_for(p: &Path) {
    for _ in 0..1_000 {
        if p.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{} never appeared", p.display());
}

/// The load both processes race for: counts itself in a file (appending one byte), takes 300 ms.
async fn load_counting(c: &Cache, dir: &Path) -> usize {
    let counter = dir.join("loads");
    c.get_or_load(&key("shared"), TtlClass::Immutable, || async move {
        use std::io::Write;
        std::fs::OpenOptions::new().create(true).append(true).open(&counter).unwrap().write_all(b"x").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, std::io::Error>(columns(10, "AMD"))
    })
    .await
    .unwrap()
    .to_value()
    .len()
}

fn child(dir: &Path, role: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["disk_child", "--exact", "--ignored", "--nocapture"])
        .env("PGH200_TEST_DISK_DIR", dir)
        .env("PGH200_TEST_DISK_ROLE", role)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_directory_load_once() {
    let dir = Dir::new("two");
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut other = child(&dir.0, "load");
    let c = cache(&dir.0).await;
    // Start together: the child says it is ready, then both miss at once and race for the load.
    wait_for(&dir.0.join("ready")).await;
    std::fs::write(dir.0.join("go"), b"1").unwrap();
    assert_eq!(load_counting(&c, &dir.0).await, 10);
    assert!(other.wait().unwrap().success());
    assert_eq!(std::fs::read(dir.0.join("loads")).unwrap(), b"x", "loaded once for both processes");
    let child_waits: u64 = std::fs::read_to_string(dir.0.join("child-waits")).unwrap().parse().unwrap();
    assert!(c.stats().lock_waits + child_waits > 0, "one of them waited on the other's lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_write_leaves_nothing_a_reader_trusts() {
    let dir = Dir::new("kill");
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut writer = child(&dir.0, "write-forever");
    wait_for(&dir.0.join("writing")).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    writer.kill().unwrap(); // SIGKILL, somewhere in a write
    writer.wait().unwrap();
    let c = cache(&dir.0).await;
    let mut hits = 0;
    for i in 0..64 {
        if let Some(e) = c.get::<BarColumns>(&key(&format!("w{i}"))).await {
            assert_eq!(e.to_value(), columns(20_000, "BIG"), "w{i}: a value is whole or absent");
            hits += 1;
        }
    }
    assert!(hits >= 8, "the values written before the kill are there ({hits})");
    assert_eq!(c.stats().corrupt, 0, "no published file is torn: a partial write stays a temporary file");
}

#[tokio::test]
async fn a_directory_others_can_write_is_refused() {
    let dir = Dir::new("open");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = Cache::builder().disk(&dir.0).build().await.unwrap_err();
    assert!(e.to_string().contains("writable by others"), "{e}");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700)).unwrap();
    Cache::builder().disk(&dir.0).build().await.unwrap();
}
