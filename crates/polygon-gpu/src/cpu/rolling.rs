//! The sliding windows: [`rolling`] (mean and standard deviation of every 20-bar window, O(1) per
//! window on shifted sums restarted every [`BLOCK`] bars) and its serial tail; the four-lane
//! middle is in `lanes.rs`.

use std::cmp::Ordering::{Equal, Greater};

use super::W;
use super::lanes::{LANES, Lanes, rolling_lanes};

/// Windows slide in blocks of this many bars from an exact start (see [`rolling`]).
pub(super) const BLOCK: usize = 64;
/// A window is recomputed exactly when W·var falls below this fraction of the largest shifted sum
/// of squares seen in its block: below it, cancellation could cost more than 1e-10 of the result.
pub(super) const CANCEL: f64 = 1.0 / 4096.0;

/// Sum in four independent lanes: the same two-pass arithmetic as a plain loop (rounding differs
/// only in the last bits) without one long chain of dependent additions.
#[inline(always)]
fn sum4(x: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut chunks = x.chunks_exact(4);
    for c in &mut chunks {
        for k in 0..4 {
            acc[k] += f(c[k]);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v)).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Mean and sum of squared deviations of a window, two passes.
#[inline(always)]
fn mean_ss(x: &[f64]) -> (f64, f64) {
    let m = sum4(x, |v| v) / x.len() as f64;
    (m, sum4(x, |v| (v - m) * (v - m)))
}

/// Mean and standard deviation of every `W`-window of `x` ending at `first..x.len()`, passed to
/// `emit(end, mean, sd)`: `sd` is the square root of the population variance times `scale`
/// (`W/(W − 1)` for the sample deviation, 1 for the population's).
///
/// O(1) per window: each block of [`BLOCK`] windows starts with one computed exactly (two-pass);
/// its mean `k` becomes the shift, and the next windows add the entering value's and drop the
/// leaving value's `x - k` and `(x - k)^2`. Shifting by a nearby mean keeps the sums small, and
/// restarting every block keeps rounding from accumulating: the error of `s2` is below
/// `2 · BLOCK · eps · smax` (the block's largest `s2`). A window whose `W·var` is below
/// `CANCEL · smax` (a flat stretch after a jump, NaN or infinity in the window, a negative
/// rounding) is recomputed exactly and starts a new block, so every result is within about
/// `2 · BLOCK · eps / CANCEL` ≈ 1e-10 relative of the two-pass value.
///
/// Four blocks slide side by side ([`rolling_lanes`]), in one AVX register where the CPU has
/// AVX2: a window then costs a quarter of the instructions (callgrind: the whole backend 18 %
/// fewer); the last few windows of a pass go one block after another.
#[inline(always)]
pub(super) fn rolling(x: &[f64], first: usize, scale: f64, lanes: &mut Lanes, mut emit: impl FnMut(usize, f64, f64)) {
    let n = x.len();
    let mut j = first;
    // LANES blocks side by side, of up to BLOCK windows each (at least 8, so that laying them
    // out pays), then the few windows left one block after another.
    while n - j >= LANES * 8 {
        let q = ((n - j) / LANES).min(BLOCK);
        rolling_lanes(x, j, q, scale, lanes, &mut emit);
        j += LANES * q;
    }
    rolling_serial(x, j, scale, emit);
}

/// A window's mean, sum of squared deviations and the residue `Σ(x − mean)`, exactly (two
/// passes): where a block starts, or restarts after an ill-conditioned window. Out of line, as
/// restarts within a block are rare.
#[cold]
#[inline(never)]
pub(super) fn restart(win: &[f64]) -> (f64, f64, f64) {
    let (k, s2) = mean_ss(win);
    (k, s2, sum4(win, |v| v - k))
}

/// [`rolling`] one block after another, for the last few windows.
#[inline(always)]
fn rolling_serial(x: &[f64], first: usize, scale: f64, mut emit: impl FnMut(usize, f64, f64)) {
    let (n, w) = (x.len(), W as f64);
    // Multiplying by 1/W (rounded once) instead of dividing: a division costs several
    // multiplications' time, and three a window were most of the loop.
    let inv = 1.0 / w;
    let mut j = first;
    'block: while j < n {
        let win = &x[j + 1 - W..=j];
        let (k, mut s2) = mean_ss(win);
        emit(j, k, (s2 * inv * scale).sqrt());
        // The window's sums shifted by its own mean: s2 is its two-pass sum of squares, s1 the
        // (tiny) rounding residue of Σ(x - k).
        let mut s1 = sum4(win, |v| v - k);
        let mut smax = s2;
        let end = (j + BLOCK).min(n);
        j += 1;
        while j < end {
            let (xn, xo) = (x[j] - k, x[j - W] - k);
            s1 += xn - xo;
            s2 += (xn - xo) * (xn + xo);
            smax = smax.max(s2);
            let var = (s2 - s1 * s1 * inv) * inv;
            // Not `>=` when NaN is involved: that window is recomputed too.
            let well_conditioned = matches!((var * w).partial_cmp(&(smax * CANCEL)), Some(Greater | Equal));
            if !well_conditioned {
                continue 'block; // window j again, exactly, as the start of a new block
            }
            emit(j, k + s1 * inv, (var * scale).sqrt());
            j += 1;
        }
    }
}
