//! CPU backend throughput: 256 tickers × 100,000 bars, against this machine's memory bandwidth.
//! Run: `cargo bench -p polygon-gpu --bench cpu`.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::Instant;

use polygon_gpu::{Backend, CpuBackend, Indicators};
use polygon_model::{BarColumns, N_ABSENT};

fn main() {
    let (tickers, bars) = (256usize, 100_000usize);
    let mut cols = BarColumns::with_capacity(tickers, tickers * bars);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for k in 0..tickers {
        cols.begin_series(format!("T{k}").parse().unwrap());
        let mut p = 20.0 + k as f64;
        for i in 0..bars {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p *= 1.0 + ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.002;
            let t = 1_704_186_000_000 + (i as i64 / 960) * 86_400_000 + (i as i64 % 960) * 60_000;
            cols.push_row(t, p, p * 1.001, p * 0.999, p, 100.0, if i % 5 == 0 { f64::NAN } else { p }, N_ABSENT);
        }
    }
    let b = CpuBackend::new();
    let n = (tickers * bars) as f64;
    println!("| tickers × bars | output | threads | seconds | bars/s | GB/s moved | of 45 GB/s |");
    println!("|---|---|---|---|---|---|---|");
    let runs = 5;
    let row = |what: &str, secs: f64| {
        // Reads t, h, l, c, v, vw (48 B) and writes eight f64 columns (64 B) per bar.
        let gbs = n * 112.0 / secs / 1e9;
        println!(
            "| {tickers} × {bars} | {what} | {} | {secs:.3} | {:.1} M | {gbs:.2} | {:.0} % |",
            rayon::current_num_threads(),
            n / secs / 1e6,
            100.0 * gbs / 45.0
        );
    };
    b.compute(&cols).unwrap(); // warm the pool
    let s = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(b.compute(&cols).unwrap());
    }
    row("fresh each call (`compute`)", s.elapsed().as_secs_f64() / runs as f64);
    let mut out = Indicators::default();
    b.compute_into(&cols, &mut out).unwrap(); // allocate and fault in once
    let s = Instant::now();
    for _ in 0..runs {
        b.compute_into(&cols, &mut out).unwrap();
        std::hint::black_box(&out);
    }
    row("reused (`compute_into`, as a stream does)", s.elapsed().as_secs_f64() / runs as f64);
}
