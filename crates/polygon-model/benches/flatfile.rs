//! Decode throughput per bar of a whole-market flat-file day (2,500 tickers x 400 minutes = 1M
//! rows of CSV, fed in 64 KiB chunks as a network stream would), unfiltered and filtered to 5 and
//! 500 tickers, against the same bars as JSON pages (one 400-bar page per ticker) through the JSON
//! decoder, into one batch as the CSV decoder returns and page by page into small batches that
//! stay in cache. Run: `cargo bench -p polygon-model --bench flatfile`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use polygon_model::{
    AggregatesResponse, Bar, BarColumns, FlatFileDecoder, Ticker, decode_aggregates, decode_aggregates_into,
};
use std::hint::black_box;

const TICKERS: usize = 2_500;
const MINUTES: usize = 400;
const CHUNK: usize = 64 << 10;

/// Ticker names in sorted order: `A`…`Z`, then two and three letters.
fn ticker(k: usize) -> String {
    let l = |i: usize| (b'A' + (i % 26) as u8) as char;
    match k {
        0..26 => l(k).to_string(),
        26..702 => format!("{}{}", l((k - 26) / 26), l(k - 26)),
        _ => format!("{}{}{}", l((k - 702) / 676), l((k - 702) / 26), l(k - 702)),
    }
}

/// A cent-grid random walk per ticker, integer volumes and trade counts, as Massive's files hold.
fn market() -> Vec<(String, Vec<Bar>)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut names: Vec<String> = (0..TICKERS).map(ticker).collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let mut p = 1_000 + (rnd() % 50_000) as i64; // cents
            let bars = (0..MINUTES)
                .map(|i| {
                    let o = p;
                    p = (p + (rnd() % 21) as i64 - 10).max(100);
                    let c = p;
                    let h = o.max(c) + (rnd() % 6) as i64;
                    let l = o.min(c) - (rnd() % 6) as i64;
                    Bar {
                        v: (100 + rnd() % 250_000) as f64,
                        vw: None,
                        o: o as f64 / 100.0,
                        c: c as f64 / 100.0,
                        h: h as f64 / 100.0,
                        l: (l.max(1)) as f64 / 100.0,
                        t: 1_719_840_600_000 + i as i64 * 60_000,
                        n: Some(1 + rnd() % 3_000),
                        otc: None,
                    }
                })
                .collect();
            (name, bars)
        })
        .collect()
}

fn csv_of(market: &[(String, Vec<Bar>)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = b"ticker,volume,open,close,high,low,window_start,transactions\n".to_vec();
    for (name, bars) in market {
        for b in bars {
            // Display of f64 is the shortest text that round-trips, as Massive's writer gives.
            let (v, o, c, h, l, ns, n) = (b.v, b.o, b.c, b.h, b.l, b.t * 1_000_000, b.n.unwrap_or(0));
            writeln!(out, "{name},{v},{o},{c},{h},{l},{ns},{n}").expect("write to a Vec");
        }
    }
    out
}

fn json_pages(market: &[(String, Vec<Bar>)]) -> Vec<Vec<u8>> {
    market
        .iter()
        .map(|(name, bars)| {
            serde_json::to_vec(&AggregatesResponse {
                ticker: name.clone(),
                query_count: bars.len() as u64,
                results_count: bars.len() as u64,
                adjusted: false,
                results: bars.clone(),
                status: "OK".into(),
                request_id: "6a7e466379af0a71039d60cc78e72282".into(),
                count: Some(bars.len() as u64),
                next_url: None,
            })
            .expect("serialise")
        })
        .collect()
}

fn decode_csv(csv: &[u8], filter: Option<&[Ticker]>, reserve: usize) -> usize {
    let mut d = match filter {
        Some(f) => FlatFileDecoder::with_filter(f),
        None => FlatFileDecoder::new(),
    };
    d.reserve(reserve);
    for chunk in csv.chunks(CHUNK) {
        d.feed(chunk).expect("valid");
    }
    d.finish().expect("valid").bars.len()
}

fn bench(c: &mut Criterion) {
    let market = market();
    let rows = (TICKERS * MINUTES) as u64;
    let csv = csv_of(&market);
    let pages = json_pages(&market);
    assert_eq!(decode_csv(&csv, None, 0), rows as usize);
    let every = |k: usize| -> Vec<Ticker> {
        market.iter().step_by(TICKERS / k).map(|(n, _)| Ticker::new(n).expect("valid")).collect()
    };
    let (five, five_hundred) = (every(5), every(500));

    let mut g = c.benchmark_group("flatfile_1m_minute_bars");
    g.throughput(Throughput::Elements(rows));
    g.sample_size(10);
    g.bench_function("csv FlatFileDecoder, all tickers (per row)", |b| b.iter(|| decode_csv(black_box(&csv), None, 0)));
    g.bench_function("csv FlatFileDecoder, all tickers, reserve(rows) hint (per row)", |b| {
        b.iter(|| decode_csv(black_box(&csv), None, rows as usize))
    });
    g.bench_function("csv FlatFileDecoder, 5 tickers kept (per row of the file)", |b| {
        b.iter(|| decode_csv(black_box(&csv), Some(&five), 0))
    });
    g.bench_function("csv FlatFileDecoder, 500 tickers kept (per row of the file)", |b| {
        b.iter(|| decode_csv(black_box(&csv), Some(&five_hundred), 0))
    });
    // Into one batch of every ticker, as the CSV decoder returns (1M-row columns).
    let names: Vec<Ticker> = market.iter().map(|(n, _)| Ticker::new(n).expect("valid")).collect();
    g.bench_function("json decode_aggregates_into one batch, 2,500 pages of 400 bars (per bar)", |b| {
        b.iter(|| {
            let mut cols = BarColumns::new();
            for (p, name) in pages.iter().zip(&names) {
                cols.begin_series(name.clone());
                decode_aggregates_into(black_box(p), &mut cols).expect("valid");
            }
            cols.len()
        })
    });
    // A page at a time, each its own small batch (stays in cache).
    g.bench_function("json decode_aggregates, 2,500 pages of 400 bars, a batch each (per bar)", |b| {
        b.iter(|| pages.iter().map(|p| decode_aggregates(black_box(p)).expect("valid").bars.len()).sum::<usize>())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
