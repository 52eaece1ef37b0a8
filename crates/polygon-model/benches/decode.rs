//! Decode throughput of a 50,000-bar minute aggregates page: this crate's decoder straight into
//! `BarColumns` against `serde_json` into `Vec<Bar>`. Run: `cargo bench -p polygon-model --bench decode`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use polygon_model::{AggregatesResponse, Bar, decode_aggregates};
use std::hint::black_box;

/// A realistic page: a cent-grid random walk, 4-decimal VWAP, integer volumes and trade counts,
/// in Polygon's field order, as the simulator and the real API write it.
fn page(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut p = 18_512i64; // cents
    let bars = (0..n)
        .map(|i| {
            let o = p;
            p = (p + (rnd() % 21) as i64 - 10).max(100);
            let c = p;
            let h = o.max(c) + (rnd() % 6) as i64;
            let l = o.min(c) - (rnd() % 6) as i64;
            let vw = ((o + c) * 50 + (rnd() % 100) as i64) as f64 / 10_000.0;
            Bar {
                v: (100 + rnd() % 250_000) as f64,
                vw: Some(vw),
                o: o as f64 / 100.0,
                c: c as f64 / 100.0,
                h: h as f64 / 100.0,
                l: l as f64 / 100.0,
                t: 1_704_186_000_000 + i as i64 * 60_000,
                n: Some(1 + rnd() % 3_000),
                otc: None,
            }
        })
        .collect::<Vec<_>>();
    serde_json::to_vec(&AggregatesResponse {
        ticker: "AAPL".into(),
        query_count: n as u64,
        results_count: n as u64,
        adjusted: true,
        results: bars,
        status: "OK".into(),
        request_id: "6a7e466379af0a71039d60cc78e72282".into(),
        count: Some(n as u64),
        next_url: Some("https://api.massive.com/v2/aggs/ticker/AAPL/range/1/minute/1712000000000/1714000000000?cursor=bGltaXQ9NTAwMDAmc29ydD1hc2M".into()),
    })
    .expect("serialise")
}

fn bench(c: &mut Criterion) {
    let body = page(50_000);
    // The same bytes for the Python peer (benches/python_decode.py).
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = std::fs::write(out.join("aggs_50k.json"), &body);
    }
    let mut g = c.benchmark_group("decode_50k_minute_bars");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(30);
    g.bench_function("polygon_model::decode_aggregates -> BarColumns", |b| {
        b.iter(|| decode_aggregates(black_box(&body)).expect("valid"))
    });
    g.bench_function("serde_json -> Vec<Bar>", |b| {
        b.iter(|| serde_json::from_slice::<AggregatesResponse>(black_box(&body)).expect("valid"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
