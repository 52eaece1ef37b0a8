//! The disk tier's hit against Redis's and memory's, on the packed pages the fetcher stores (5,000
//! and 50,000 minute bars): the shipped read (the file into one aligned buffer, validated in
//! place), a memory-mapped read of the same file (map, header CRC, validation: what a zero-copy
//! tier would do), with the page cache warm and, where this process may drop it (root), cold.
//! Starts its own redis-server on a free port. Run: `cargo bench -p polygon-cache --bench disk`.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use polygon_cache::{Cache, CacheKey, Tier, TtlClass};
use polygon_model::{ArchivedPackedBars, BarColumns, Date, Multiplier, PackedBars, TimeBound, Timespan};
use polygon_test_support::Redis;

const NOW: i64 = 1_751_241_600_000;

fn columns(n: usize) -> BarColumns {
    let from = TimeBound::Date("2024-01-02".parse::<Date>().unwrap());
    let to = TimeBound::Date("2024-06-28".parse::<Date>().unwrap());
    let mut bars = polygon_sim::expected_aggregates("AAPL", Multiplier::ONE, Timespan::Minute, from, to, NOW);
    bars.truncate(n);
    let mut c = BarColumns::with_capacity(1, n);
    c.begin_series("AAPL".parse().unwrap());
    bars.iter().for_each(|b| c.push(b));
    c
}

/// p50 and p99 of `iters` runs of `f` (after `iters / 10` unmeasured), in microseconds; `prep`
/// runs before each, untimed.
async fn measure<F, Fut>(iters: usize, mut prep: impl FnMut(), mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..iters / 10 {
        prep();
        f().await;
    }
    let mut t: Vec<Duration> = Vec::with_capacity(iters);
    for _ in 0..iters {
        prep();
        let s = Instant::now();
        f().await;
        t.push(s.elapsed());
    }
    t.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(t[iters / 2]), us(t[(iters * 99) / 100]))
}

fn value_file(dir: &Path) -> PathBuf {
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "pgc") {
                return e.path();
            }
        }
    }
    panic!("no value file under {}", dir.display())
}

/// Drops the page cache (root only); whether it could.
fn drop_page_cache() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", b"1").is_ok()
}

fn unpack(a: &ArchivedPackedBars, n: usize) -> f64 {
    let mut out = BarColumns::with_capacity(1, n);
    out.begin_series("AAPL".parse().unwrap());
    a.append_rows_to(&mut out, i64::MIN, i64::MAX);
    out.c.iter().sum::<f64>()
}

fn main() {
    let server = Redis::start();
    let dir = std::env::temp_dir().join(format!("pgh200-bench-disk-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let redis = Cache::builder().redis_url(server.url()).build().await.unwrap();
        let can_drop = drop_page_cache();
        println!("| page | path | p50 µs | p99 µs |\n|---|---|---|---|");
        for n in [5_000usize, 50_000] {
            let _ = std::fs::remove_dir_all(&dir);
            let disk = Cache::builder().disk(&dir).build().await.unwrap();
            let packed = PackedBars::pack(&columns(n));
            let key = CacheKey::from_canonical("bench-disk", &format!("n={n}"));
            disk.put(&key, &packed, TtlClass::Immutable).await;
            redis.put(&key, &packed, TtlClass::Immutable).await;
            let file = value_file(&dir);
            let size = file.metadata().unwrap().len();
            let iters = if n == 5_000 { 400 } else { 100 };
            let memory = measure(
                iters,
                || (),
                || async {
                    let e = disk.get::<PackedBars>(&key).await.unwrap();
                    std::hint::black_box(unpack(e.archived(), n));
                },
            )
            .await;
            let from_disk = measure(
                iters,
                || disk.clear_memory(),
                || async {
                    let e = disk.get::<PackedBars>(&key).await.unwrap();
                    assert_eq!(e.tier(), Tier::Disk);
                    std::hint::black_box(unpack(e.archived(), n));
                },
            )
            .await;
            let mapped = measure(
                iters,
                || (),
                || async {
                    let f = std::fs::File::open(&file).unwrap();
                    // SAFETY: the benchmark's own file, never modified while mapped (the tier
                    // publishes by rename and never rewrites a file in place).
                    let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
                    let payload = &map[polygon_cache::HEADER_LEN..];
                    let crc = u32::from_le_bytes(map[12..16].try_into().unwrap());
                    assert_eq!(crc32fast::hash(payload), crc);
                    let a = rkyv::access::<ArchivedPackedBars, rkyv::rancor::Error>(payload).unwrap();
                    a.check().unwrap();
                    std::hint::black_box(unpack(a, n));
                },
            )
            .await;
            let from_redis = measure(
                iters,
                || redis.clear_memory(),
                || async {
                    let e = redis.get::<PackedBars>(&key).await.unwrap();
                    assert_eq!(e.tier(), Tier::Redis);
                    std::hint::black_box(unpack(e.archived(), n));
                },
            )
            .await;
            let mut rows = vec![
                ("memory hit + decode into columns", memory),
                ("disk hit (read into an aligned buffer, validated in place) + decode, page cache warm", from_disk),
                ("memory-mapped file (map, CRC-32, validation) + decode, page cache warm", mapped),
                ("Redis hit (GET, CRC-32, aligned copy, validation) + decode", from_redis),
            ];
            if can_drop {
                let cold_iters = 20;
                let cold_disk = measure(
                    cold_iters,
                    || {
                        disk.clear_memory();
                        drop_page_cache();
                    },
                    || async {
                        let e = disk.get::<PackedBars>(&key).await.unwrap();
                        std::hint::black_box(unpack(e.archived(), n));
                    },
                )
                .await;
                rows.push(("disk hit + decode, page cache dropped before each", cold_disk));
            }
            for (name, (p50, p99)) in rows {
                println!(
                    "| {n} bars ({} KB file, {:.1} B/bar) | {name} | {p50:.1} | {p99:.1} |",
                    size / 1024,
                    size as f64 / n as f64
                );
            }
            let _ = redis.clear().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
        if !can_drop {
            println!("\n(the page cache could not be dropped: not root; no cold rows)");
        }
    });
}
