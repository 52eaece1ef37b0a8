//! Synthetic chunks for tests, benchmarks and `gpu-check` (feature `test-support`): seeded random
//! walks with absent `vw`, overnight gaps (VWAP restarts), a DST change inside the range, and
//! series of very different lengths (1 bar, shorter than every window, long).

use polygon_model::{BarColumns, N_ABSENT};

/// 2024-03-08 15:00 New York (EST): two sessions before the March 2024 DST change.
pub const START_MS: i64 = 1_709_928_000_000;

/// A chunk of `lengths.len()` series, series `k` of `lengths[k]` minute bars, from `seed`.
pub fn chunk(lengths: &[usize], seed: u64) -> BarColumns {
    let total = lengths.iter().sum();
    let mut cols = BarColumns::with_capacity(lengths.len(), total);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    for (k, &n) in lengths.iter().enumerate() {
        cols.begin_series(format!("S{k}").parse().expect("a valid ticker"));
        let mut p = 10.0 + 500.0 * rnd();
        let mut t = START_MS;
        for i in 0..n {
            p *= 1.0 + (rnd() - 0.5) * 0.004;
            let spread = p * 0.002 * rnd();
            let vw = if rnd() < 0.8 { p + spread * (rnd() - 0.5) } else { f64::NAN };
            cols.push_row(t, p, p + spread, p - spread, p, (100.0 + 1000.0 * rnd()).round(), vw, N_ABSENT);
            // 960 minutes a session, then to the next morning (some minutes have no bar).
            t += if i % 960 == 959 {
                8 * 3_600_000 + 60_000
            } else if rnd() < 0.1 {
                120_000
            } else {
                60_000
            };
        }
    }
    cols
}

/// `series` series of `bars` bars each (the benchmark's shape).
pub fn uniform(series: usize, bars: usize, seed: u64) -> BarColumns {
    chunk(&vec![bars; series], seed)
}

/// Relative difference of two results, treating equal NaNs as equal; `f64::INFINITY` where one is
/// NaN and the other not.
pub fn max_relative_error(a: &crate::Indicators, b: &crate::Indicators) -> f64 {
    let mut worst = 0.0f64;
    for (x, y) in a.columns().iter().zip(b.columns()) {
        if x.len() != y.len() {
            return f64::INFINITY;
        }
        for (p, q) in x.iter().zip(y) {
            let e = match (p.is_nan(), q.is_nan()) {
                (true, true) => 0.0,
                (false, false) => (p - q).abs() / p.abs().max(q.abs()).max(1e-300),
                _ => f64::INFINITY,
            };
            worst = worst.max(if p == q { 0.0 } else { e });
        }
    }
    worst
}
