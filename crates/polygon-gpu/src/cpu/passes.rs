//! The three passes over one series, each compiled for AVX2 and for the baseline: the log returns
//! and their std ([`log_returns`]), everything from closes alone ([`close_windows`]) and the daily
//! VWAP ([`day_vwap`]).

use polygon_model::ny_date_minute;

use super::lanes::Lanes;
use super::log_ratio::{far, log_ratio_near, near};
use super::rolling::rolling;
use super::simd::with_avx2;
use super::{RSI, W};

with_avx2!(
    /// `log_return` and `std_20`; see [`log_returns_body`].
    pub(super) fn log_returns => log_returns_body(c: &[f64], lr: &mut [f64], std: &mut [f64])
);
with_avx2!(
    /// `sma_20`, the bands, `ema_20` and `rsi_14`; see [`close_windows_body`].
    pub(super) fn close_windows => close_windows_body(
        c: &[f64], sma: &mut [f64], bbu: &mut [f64], bbl: &mut [f64], ema: &mut [f64], rsi: &mut [f64],
    )
);
with_avx2!(
    /// `vwap`; see [`day_vwap_body`].
    pub(super) fn day_vwap => day_vwap_body(
        t: &[i64], h: &[f64], l: &[f64], c: &[f64], v: &[f64], vw: &[f64], vwap: &mut [f64],
    )
);

/// Bars per block of the passes below: each block's columns stay in the first-level cache
/// between the passes.
const PASS: usize = 512;

/// `log_return` and `std_20` (sample std of the last 20 log returns).
///
/// Block by block, the loops that carry nothing from one bar to the next (the log returns, the
/// square roots) are kept apart from the one that does (the sliding window), so the compiler runs
/// them in SIMD lanes: divisions and square roots share one unit per core, and lanes are what
/// speeds that unit up.
#[inline(always)]
fn log_returns_body(c: &[f64], lr: &mut [f64], std: &mut [f64]) {
    let n = c.len();
    lr[0] = f64::NAN;
    std[..W.min(n)].fill(f64::NAN);
    let ddof = W as f64 / (W - 1) as f64;
    let mut lanes = Lanes::new();
    for start in (0..n).step_by(PASS) {
        let (from, end) = (start.max(1), (start + PASS).min(n));
        let (r, a, b) = (&mut lr[from..end], &c[from..end], &c[from - 1..end - 1]);
        // Whether every bar of the block is `near` its predecessor, folded without a branch so
        // that the check runs in the same SIMD lanes as the ratios; the rare block with a large
        // move (or an odd price) then goes over its bars again.
        let mut all_near = true;
        for ((r, &a), &b) in r.iter_mut().zip(a).zip(b) {
            *r = log_ratio_near(a, b);
            all_near &= near(a, b);
        }
        if !all_near {
            for ((r, &a), &b) in r.iter_mut().zip(a).zip(b) {
                if !near(a, b) {
                    far(r, a, b);
                }
            }
        }
        let from = start.max(W);
        if from < end {
            rolling(&lr[..end], from, ddof, &mut lanes, |i, _, sd| std[i] = sd);
        }
    }
}

/// `sma_20`, the Bollinger bands, `ema_20` and `rsi_14`: everything computed from closes alone.
#[inline(always)]
fn close_windows_body(c: &[f64], sma: &mut [f64], bbu: &mut [f64], bbl: &mut [f64], ema: &mut [f64], rsi: &mut [f64]) {
    let n = c.len();
    let (alpha, beta) = (2.0 / (W as f64 + 1.0), 1.0 - 2.0 / (W as f64 + 1.0));
    // Wilder's smoothing, (a·13 + x)/14, with the divisions folded into constants: the
    // recursion contracts, so the last-bit differences do not accumulate.
    let (keep, take) = ((RSI as f64 - 1.0) / RSI as f64, 1.0 / RSI as f64);
    // The first RSI + 1 bars: the EMA starts, the first averages are simple means.
    let mut e = c[0];
    ema[0] = e;
    let (mut g, mut s) = (0.0, 0.0);
    for i in 1..=RSI.min(n - 1) {
        e = alpha * c[i] + beta * e;
        ema[i] = e;
        let d = c[i] - c[i - 1];
        g += d.max(0.0);
        s += (-d).max(0.0);
    }
    rsi[..(RSI + 1).min(n)].fill(f64::NAN);
    let mut lanes = Lanes::new();
    let (mut ag, mut al) = (g / RSI as f64, s / RSI as f64);
    if n > RSI {
        (rsi[RSI], bbl[RSI]) = (ag, al);
    }
    for start in (0..n).step_by(PASS) {
        let end = (start + PASS).min(n);
        // EMA and Wilder's averages in one pass: each is a chain of dependent multiply-adds, and
        // interleaved the core overlaps the two chains. The averages go to `rsi` (gains) and
        // `bbl` (losses, scratch until the bands are written).
        let from = start.max(RSI + 1);
        if from < end {
            let (now, before) = (&c[from..end], &c[from - 1..end - 1]);
            let outs = ema[from..end].iter_mut().zip(&mut rsi[from..end]).zip(&mut bbl[from..end]);
            for (((em, (r, l)), &x), &prev) in outs.map(|((a, b), c)| (a, (b, c))).zip(now).zip(before) {
                e = alpha * x + beta * e;
                let d = x - prev;
                ag = ag * keep + d.max(0.0) * take;
                al = al * keep + (-d).max(0.0) * take;
                (*em, *r, *l) = (e, ag, al);
            }
        }
        // RSI = 100 − 100/(1 + g/l) = 100·g/(g + l): one division a bar, in lanes.
        let from = start.max(RSI);
        if from < end {
            for (r, &al) in rsi[from..end].iter_mut().zip(&bbl[from..end]) {
                let ag = *r;
                *r = if al == 0.0 { 100.0 } else { 100.0 * ag / (ag + al) };
            }
        }
        // The windows: mean into `sma`, variance into `bbu`, then the bands in lanes.
        let from = start.max(W - 1);
        let head = start..from.min(end);
        for col in [&mut *sma, &mut *bbu, &mut *bbl] {
            col[head.clone()].fill(f64::NAN);
        }
        if from < end {
            rolling(&c[..end], from, 1.0, &mut lanes, |i, m, sd| {
                (sma[i], bbu[i], bbl[i]) = (m, m + 2.0 * sd, m - 2.0 * sd);
            });
        }
    }
}

/// `vwap`, restarting at each New York day's first bar.
///
/// In blocks: the typical price where `vw` is absent in lanes, then the running
/// sums (the loop-carried part), then `Σpv / Σv` (a division) in lanes again.
#[inline(always)]
fn day_vwap_body(t: &[i64], h: &[f64], l: &[f64], c: &[f64], v: &[f64], vw: &[f64], vwap: &mut [f64]) {
    const B: usize = 256;
    let n = c.len();
    let (mut pv, mut vol, mut day) = (0.0, 0.0, i32::MIN);
    // The New York day of t[i] changes only when t leaves [day_start, day_end): do the calendar
    // computation only then, not for every bar.
    let (mut day_start, mut day_end) = (i64::MAX, i64::MIN);
    let (mut price, mut vols) = ([0.0f64; B], [0.0f64; B]);
    for start in (0..n).step_by(B) {
        let end = (start + B).min(n);
        let m = end - start;
        let (price, vols) = (&mut price[..m], &mut vols[..m]);
        for ((((p, &h), &l), &c), &w) in
            price.iter_mut().zip(&h[start..end]).zip(&l[start..end]).zip(&c[start..end]).zip(&vw[start..end])
        {
            let typical = (h + l + c) * (1.0 / 3.0);
            *p = if w.is_nan() { typical } else { w };
        }
        let (out, tb, vb) = (&mut vwap[start..end], &t[start..end], &v[start..end]);
        let mut k = 0;
        while k < m {
            if tb[k] < day_start || tb[k] >= day_end {
                let d = match ny_date_minute(tb[k]) {
                    Ok((d, _)) => {
                        (day_start, day_end) = (d.ny_unix_ms(0), d.add_days(1).ny_unix_ms(0));
                        d.days()
                    }
                    Err(_) => {
                        (day_start, day_end) = (i64::MAX, i64::MIN);
                        i32::MIN
                    }
                };
                if d != day {
                    (pv, vol, day) = (0.0, 0.0, d);
                }
            }
            // The run of bars in this day: the running sums stay in registers.
            let run = tb[k + 1..].iter().position(|&x| x < day_start || x >= day_end).map_or(m, |p| k + 1 + p);
            for (((o, vs), &p), &vi) in
                out[k..run].iter_mut().zip(&mut vols[k..run]).zip(&price[k..run]).zip(&vb[k..run])
            {
                pv += p * vi;
                vol += vi;
                (*o, *vs) = (pv, vol);
            }
            k = run;
        }
        for (o, &vol) in out.iter_mut().zip(&*vols) {
            *o = if vol > 0.0 { *o / vol } else { f64::NAN };
        }
    }
}
