//! CPU backend throughput: 256 tickers × 100,000 bars, against this machine's memory bandwidth,
//! measured in the same run (hosts differ: a figure from another day's machine is no yardstick).
//! Run: `cargo bench -p polygon-gpu --bench cpu`.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::Instant;

use polygon_gpu::{Backend, CpuBackend, Indicators};
use polygon_model::{BarColumns, N_ABSENT};
use rayon::prelude::*;

/// Bytes a bar moves: the backend reads t, h, l, c, v, vw (48 B) and writes eight f64 columns (64 B).
const BAR_BYTES: f64 = 112.0;
/// The figure the issue gives for this kind of machine (read + write, two threads).
const NOMINAL_GBS: f64 = 45.0;

fn main() {
    // `CPU_BENCH_SIZE=TICKERSxBARS` overrides the size (a small one shows the compute alone, from cache).
    let (tickers, bars) = std::env::var("CPU_BENCH_SIZE")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once('x')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((256usize, 100_000usize));
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
    let threads = rayon::current_num_threads();
    let runs = 5;

    // The yardsticks, measured now on the same threads: STREAM's triad, and the backend's own
    // access pattern (the same six columns in and eight out, series by series) with no indicator
    // arithmetic, the fastest any backend could go on this machine.
    let mut out = Indicators::default();
    b.compute_into(&cols, &mut out).unwrap(); // allocate and fault in once
    let triad = triad_gbs(runs);
    let bound = best_of(runs, || copy_pattern(&cols, &mut out));
    let bound_gbs = n * BAR_BYTES / bound / 1e9;
    println!(
        "this machine now, {threads} threads: STREAM triad {triad:.1} GB/s; the backend's access pattern without \
         arithmetic {:.1} M bars/s = {bound_gbs:.1} GB/s (the bound)",
        n / bound / 1e6
    );
    println!();
    println!("| tickers × bars | output | threads | seconds | bars/s | GB/s moved | of 45 GB/s | of the bound |");
    println!("|---|---|---|---|---|---|---|---|");
    let row = |what: &str, secs: f64| {
        let gbs = n * BAR_BYTES / secs / 1e9;
        println!(
            "| {tickers} × {bars} | {what} | {threads} | {secs:.3} | {:.1} M | {gbs:.2} | {:.0} % | {:.0} % |",
            n / secs / 1e6,
            100.0 * gbs / NOMINAL_GBS,
            100.0 * gbs / bound_gbs
        );
    };
    b.compute(&cols).unwrap(); // warm the pool
    let s = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(b.compute(&cols).unwrap());
    }
    row("fresh each call (`compute`)", s.elapsed().as_secs_f64() / runs as f64);
    let s = Instant::now();
    for _ in 0..runs {
        b.compute_into(&cols, &mut out).unwrap();
        std::hint::black_box(&out);
    }
    row("reused (`compute_into`, as a stream does)", s.elapsed().as_secs_f64() / runs as f64);
}

/// The fastest of `runs` timings of `f`, in seconds.
fn best_of(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// STREAM's triad `a = b + 3c` over 3 × 256 MiB in rayon's pool: GB/s read and written, the
/// fastest of `runs`.
fn triad_gbs(runs: usize) -> f64 {
    let len = 32 << 20;
    let (mut a, b, c) = (vec![0.0f64; len], vec![1.0f64; len], vec![2.0f64; len]);
    let secs = best_of(runs, || {
        a.par_chunks_mut(1 << 16).zip(b.par_chunks(1 << 16)).zip(c.par_chunks(1 << 16)).for_each(|((a, b), c)| {
            for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                *a = b + 3.0 * c;
            }
        });
        std::hint::black_box(&a);
    });
    3.0 * 8.0 * len as f64 / secs / 1e9
}

/// The backend's memory traffic and nothing else: each series' six input columns read and eight
/// output columns written, series in parallel as the backend runs them.
fn copy_pattern(cols: &BarColumns, out: &mut Indicators) {
    out.per_series_mut(cols).into_par_iter().enumerate().for_each(|(k, outs)| {
        let s = cols.series(k).expect("one set of output slices per series");
        let (t, h, l, c, v, vw) = (s.t, s.high, s.low, s.close, s.volume, s.vw);
        // Block by block (each block's inputs in the first-level cache), every input read once and
        // every output written once.
        let [o0, o1, o2, o3, o4, o5, o6, o7] = outs;
        for s in (0..c.len()).step_by(512) {
            let e = (s + 512).min(c.len());
            o0[s..e].iter_mut().zip(&t[s..e]).zip(&h[s..e]).for_each(|((o, &t), &h)| *o = t as f64 + h);
            o1[s..e].iter_mut().zip(&l[s..e]).zip(&v[s..e]).for_each(|((o, &l), &v)| *o = l + v);
            o2[s..e].copy_from_slice(&vw[s..e]);
            for o in [&mut *o3, &mut *o4, &mut *o5, &mut *o6, &mut *o7] {
                o[s..e].copy_from_slice(&c[s..e]);
            }
        }
    });
    std::hint::black_box(out);
}
