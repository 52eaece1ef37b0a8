//! Hit latency of a cached page (5,000 and 50,000 minute bars) from memory and from Redis,
//! against decoding the same page's JSON again and against a serde binary format (postcard).
//! Starts its own redis-server on a free port. Run: `cargo bench -p polygon-cache --bench cache`.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::{Duration, Instant};

use polygon_cache::{Cache, CacheKey, TtlClass};
use polygon_model::{
    AggregatesResponse, BarColumns, Date, Multiplier, PackedBars, TimeBound, Timespan, decode_aggregates,
};
use polygon_test_support::Redis;

const NOW: i64 = 1_751_241_600_000;

/// A bar as a serde binary format holds it (postcard is not self-describing, so no skipped fields).
#[derive(serde::Serialize, serde::Deserialize)]
struct BinBar {
    v: f64,
    vw: Option<f64>,
    o: f64,
    c: f64,
    h: f64,
    l: f64,
    t: i64,
    n: Option<u64>,
}

fn page(n: usize) -> (Vec<u8>, AggregatesResponse) {
    let from = TimeBound::Date("2024-01-02".parse::<Date>().unwrap());
    let to = TimeBound::Date("2024-06-28".parse::<Date>().unwrap());
    let mut bars = polygon_sim::expected_aggregates("AAPL", Multiplier::ONE, Timespan::Minute, from, to, NOW);
    assert!(bars.len() >= n);
    bars.truncate(n);
    let resp = AggregatesResponse {
        ticker: "AAPL".into(),
        query_count: n as u64,
        results_count: n as u64,
        adjusted: true,
        results: bars,
        status: "OK".into(),
        request_id: "6a7e466379af0a71039d60cc78e72282".into(),
        count: Some(n as u64),
        next_url: None,
    };
    (serde_json::to_vec(&resp).unwrap(), resp)
}

/// p50 and p99 of `iters` runs of `f`, in microseconds.
async fn measure<F, Fut>(iters: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    for _ in 0..iters / 10 {
        f().await; // warm up
    }
    let mut t: Vec<Duration> = Vec::with_capacity(iters);
    for _ in 0..iters {
        let s = Instant::now();
        f().await;
        t.push(s.elapsed());
    }
    t.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(t[iters / 2]), us(t[(iters * 99) / 100]))
}

fn main() {
    let redis = Redis::start(); // killed however main ends
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cache = Cache::builder().redis_url(redis.url()).build().await.unwrap();
        let mut sizes = Vec::new();
        println!("| page | path | p50 µs | p99 µs | p50 vs JSON decode |");
        println!("|---|---|---|---|---|");
        for n in [5_000usize, 50_000] {
            let (json, resp) = page(n);
            let cols: BarColumns = decode_aggregates(&json).unwrap().bars;
            let bin_bars: Vec<BinBar> = resp
                .results
                .iter()
                .map(|b| BinBar { v: b.v, vw: b.vw, o: b.o, c: b.c, h: b.h, l: b.l, t: b.t, n: b.n })
                .collect();
            let bin = postcard::to_allocvec(&bin_bars).unwrap();
            let key = CacheKey::from_canonical("bench", &format!("n={n}"));
            cache.put(&key, &cols, TtlClass::Immutable).await;
            let iters = if n == 5_000 { 500 } else { 100 };
            let sum_c =
                |e: &polygon_cache::Entry<BarColumns>| e.archived().f64_column("c").unwrap().iter().sum::<f64>();
            let json_ours = measure(iters, || async {
                std::hint::black_box(decode_aggregates(std::hint::black_box(&json)).unwrap());
            })
            .await;
            let json_serde = measure(iters, || async {
                std::hint::black_box(serde_json::from_slice::<AggregatesResponse>(&json).unwrap());
            })
            .await;
            let postcard = measure(iters, || async {
                std::hint::black_box(postcard::from_bytes::<Vec<BinBar>>(&bin).unwrap());
            })
            .await;
            let value = polygon_cache::encode(&cols);
            let envelope = measure(iters, || async {
                let a = polygon_cache::decode::<BarColumns>(std::hint::black_box(&value)).unwrap();
                std::hint::black_box(a.len());
            })
            .await;
            let memory = measure(iters, || async {
                let e = cache.get::<BarColumns>(&key).await.unwrap();
                std::hint::black_box(sum_c(&e));
            })
            .await;
            let from_redis = measure(iters, || async {
                cache.clear_memory();
                let e = cache.get::<BarColumns>(&key).await.unwrap();
                assert_eq!(e.tier(), polygon_cache::Tier::Redis);
                std::hint::black_box(sum_c(&e));
            })
            .await;
            // The packed form the fetcher stores: exact decimal deltas, decoded into columns.
            let packed = PackedBars::pack(&cols);
            let pkey = CacheKey::from_canonical("bench-packed", &format!("n={n}"));
            cache.put(&pkey, &packed, TtlClass::Immutable).await;
            let unpack = |e: &polygon_cache::Entry<PackedBars>| {
                let mut out = BarColumns::with_capacity(1, n);
                out.begin_series("AAPL".parse().unwrap());
                e.archived().append_rows_to(&mut out, i64::MIN, i64::MAX);
                out.c.iter().sum::<f64>()
            };
            let pvalue = polygon_cache::encode(&packed);
            sizes.push(format!(
                "{n} bars: plain value {} KB, packed {} KB ({:.1}x smaller)",
                value.len() / 1024,
                pvalue.len() / 1024,
                value.len() as f64 / pvalue.len() as f64
            ));
            let p_envelope = measure(iters, || async {
                let a = polygon_cache::decode::<PackedBars>(std::hint::black_box(&pvalue)).unwrap();
                std::hint::black_box(a.len());
            })
            .await;
            let p_memory = measure(iters, || async {
                let e = cache.get::<PackedBars>(&pkey).await.unwrap();
                std::hint::black_box(unpack(&e));
            })
            .await;
            let p_redis = measure(iters, || async {
                cache.clear_memory();
                let e = cache.get::<PackedBars>(&pkey).await.unwrap();
                assert_eq!(e.tier(), polygon_cache::Tier::Redis);
                std::hint::black_box(unpack(&e));
            })
            .await;
            let rows = [
                ("JSON, polygon-model decoder → BarColumns", json_ours),
                ("JSON, serde_json → Vec<Bar>", json_serde),
                ("postcard (serde binary) → Vec<Bar>", postcard),
                ("rkyv value in hand: header, CRC-32, aligned copy, validation", envelope),
                ("cache hit, Redis (GET, checks, copy, validate) + read `c`", from_redis),
                ("cache hit, memory (in place) + read `c`", memory),
                ("packed value in hand: header, CRC-32, aligned copy, validation", p_envelope),
                ("packed cache hit, Redis + decode into columns + read `c`", p_redis),
                ("packed cache hit, memory + decode into columns + read `c`", p_memory),
            ];
            for (name, (p50, p99)) in rows {
                println!(
                    "| {n} bars ({} KB JSON) | {name} | {p50:.1} | {p99:.1} | {:.1}x |",
                    json.len() / 1024,
                    json_ours.0 / p50
                );
            }
        }
        for line in sizes {
            println!("\n{line}");
        }
    });
}
