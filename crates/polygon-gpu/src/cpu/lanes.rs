//! Four blocks of sliding windows side by side ([`rolling_lanes`]), in one AVX register where the
//! CPU has AVX2 ([`slide_avx2`]) and lane by lane elsewhere ([`slide`]), with the same bits.

use std::cmp::Ordering::{Equal, Greater};

use super::W;
use super::rolling::{BLOCK, CANCEL, restart};
#[cfg(target_arch = "x86_64")]
use super::simd::avx2;

/// Blocks slid side by side in [`super::rolling::rolling`].
pub(super) const LANES: usize = 4;

/// Scratch for [`rolling_lanes`]: its input and results, lane beside lane. Made once per series
/// and pass (zeroing it for every 256 windows cost more than the windows' arithmetic).
pub(super) struct Lanes {
    xt: [[f64; LANES]; BLOCK + W - 1],
    mt: [[f64; LANES]; BLOCK],
    vt: [[f64; LANES]; BLOCK],
}

impl Lanes {
    pub(super) fn new() -> Self {
        Lanes { xt: [[0.0; LANES]; BLOCK + W - 1], mt: [[0.0; LANES]; BLOCK], vt: [[0.0; LANES]; BLOCK] }
    }
}

/// The windows ending at `j0 .. j0 + LANES·q`, as LANES blocks of `q` (≤ [`BLOCK`]) side by
/// side: each lane's values are laid out next to the other lanes' (`xt[i][l]`), so one SIMD
/// operation advances all four blocks, and the results are put back in order at the end.
#[inline(always)]
pub(super) fn rolling_lanes(
    x: &[f64],
    j0: usize,
    q: usize,
    scale: f64,
    lanes: &mut Lanes,
    emit: &mut impl FnMut(usize, f64, f64),
) {
    let inv = 1.0 / W as f64;
    let span = q + W - 1;
    let base: [usize; LANES] = std::array::from_fn(|l| j0 + l * q + 1 - W);
    // Lane `l` reads `x[base[l]..][..span]`; its window `i` is `xt[i..i + W]`.
    for (l, &b) in base.iter().enumerate() {
        for (row, &v) in lanes.xt[..span].iter_mut().zip(&x[b..][..span]) {
            row[l] = v;
        }
    }
    let mut st = Sums::default();
    for (l, &b) in base.iter().enumerate() {
        let (m, ss, r) = restart(&x[b..][..W]);
        (st.k[l], st.s2[l], st.s1[l], st.smax[l]) = (m, ss, r, ss);
        (lanes.mt[0][l], lanes.vt[0][l]) = (m, ss * inv);
    }
    // Window `i` of lane `l` again, exactly: a new block starts there.
    let exact = |l: usize, i: usize| restart(&x[base[l] + i..][..W]);
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2, checked by `avx2`.
        unsafe { slide_avx2(lanes, q, &mut st, exact) };
    } else {
        slide(lanes, q, &mut st, exact);
    }
    #[cfg(not(target_arch = "x86_64"))]
    slide(lanes, q, &mut st, exact);
    // The square roots while the variances are side by side: in SIMD lanes, one unit's work.
    for v in lanes.vt[..q].as_flattened_mut() {
        *v = (*v * scale).sqrt();
    }
    for (l, &b) in base.iter().enumerate() {
        for i in 0..q {
            emit(b + W - 1 + i, lanes.mt[i][l], lanes.vt[i][l]);
        }
    }
}

/// The running sums of [`rolling_lanes`]' four blocks: each block's shift `k` (its exact start's
/// mean), `Σ(x − k)`, `Σ(x − k)²`, and the largest `Σ(x − k)²` seen in the block.
#[derive(Default)]
struct Sums {
    k: [f64; LANES],
    s1: [f64; LANES],
    s2: [f64; LANES],
    smax: [f64; LANES],
}

/// Windows `1..q` of the four lanes of `lanes.xt`, into `lanes.mt` (mean) and `lanes.vt`
/// (variance); a lane whose window is ill-conditioned restarts from `exact(lane, i)`.
/// Lane by lane, the same IEEE operations in the same order as [`slide_avx2`], so the same bits.
#[inline(always)]
fn slide(lanes: &mut Lanes, q: usize, st: &mut Sums, exact: impl Fn(usize, usize) -> (f64, f64, f64)) {
    let (w, inv) = (W as f64, 1.0 / W as f64);
    for i in 1..q {
        let (xn, xo) = (lanes.xt[i + W - 1], lanes.xt[i - 1]);
        for l in 0..LANES {
            let (a, b) = (xn[l] - st.k[l], xo[l] - st.k[l]);
            let d = a - b;
            st.s1[l] += d;
            st.s2[l] += d * (a + b);
            // `maxpd`'s rule: the second operand unless the first is greater (NaN: the second).
            st.smax[l] = if st.s2[l] > st.smax[l] { st.s2[l] } else { st.smax[l] };
            let mut var = (st.s2[l] - st.s1[l] * st.s1[l] * inv) * inv;
            let mut mean = st.k[l] + st.s1[l] * inv;
            // Not `>=` when NaN is involved: that window is recomputed too.
            if !matches!((var * w).partial_cmp(&(st.smax[l] * CANCEL)), Some(Greater | Equal)) {
                let (m, ss, r) = exact(l, i);
                (st.k[l], st.s2[l], st.s1[l], st.smax[l], mean, var) = (m, ss, r, ss, m, ss * inv);
            }
            (lanes.mt[i][l], lanes.vt[i][l]) = (mean, var);
        }
    }
}

/// [`slide`] with the four lanes in one AVX register.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn slide_avx2(lanes: &mut Lanes, q: usize, st: &mut Sums, exact: impl Fn(usize, usize) -> (f64, f64, f64)) {
    use std::arch::x86_64::*;
    let (w, inv) = (W as f64, 1.0 / W as f64);
    let (wv, invv, cancel) = (_mm256_set1_pd(w), _mm256_set1_pd(inv), _mm256_set1_pd(CANCEL));
    // SAFETY: a load of four f64 from a `[f64; 4]` (`LANES`).
    let load = |a: &[f64; LANES]| unsafe { _mm256_loadu_pd(a.as_ptr()) };
    let (mut k, mut s1, mut s2, mut smax) = (load(&st.k), load(&st.s1), load(&st.s2), load(&st.smax));
    for i in 1..q {
        let (xn, xo) = (load(&lanes.xt[i + W - 1]), load(&lanes.xt[i - 1]));
        let (a, b) = (_mm256_sub_pd(xn, k), _mm256_sub_pd(xo, k));
        let d = _mm256_sub_pd(a, b);
        s1 = _mm256_add_pd(s1, d);
        s2 = _mm256_add_pd(s2, _mm256_mul_pd(d, _mm256_add_pd(a, b)));
        smax = _mm256_max_pd(s2, smax);
        let mut var = _mm256_mul_pd(_mm256_sub_pd(s2, _mm256_mul_pd(_mm256_mul_pd(s1, s1), invv)), invv);
        let mut mean = _mm256_add_pd(k, _mm256_mul_pd(s1, invv));
        let ok = _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(_mm256_mul_pd(var, wv), _mm256_mul_pd(smax, cancel)));
        if ok != (1 << LANES) - 1 {
            let mut arr = [[0.0; LANES]; 6];
            for (a, v) in arr.iter_mut().zip([k, s1, s2, smax, mean, var]) {
                // SAFETY: a store of four f64 into a `[f64; 4]`.
                unsafe { _mm256_storeu_pd(a.as_mut_ptr(), v) };
            }
            for l in (0..LANES).filter(|l| ok & (1 << l) == 0) {
                let (m, ss, r) = exact(l, i);
                (arr[0][l], arr[1][l], arr[2][l], arr[3][l], arr[4][l], arr[5][l]) = (m, r, ss, ss, m, ss * inv);
            }
            [k, s1, s2, smax, mean, var] = arr.each_ref().map(load);
        }
        // SAFETY: stores of four f64 into `[f64; 4]` rows.
        unsafe {
            _mm256_storeu_pd(lanes.mt[i].as_mut_ptr(), mean);
            _mm256_storeu_pd(lanes.vt[i].as_mut_ptr(), var);
        }
    }
    for (a, v) in [&mut st.k, &mut st.s1, &mut st.s2, &mut st.smax].into_iter().zip([k, s1, s2, smax]) {
        // SAFETY: a store of four f64 into a `[f64; 4]`.
        unsafe { _mm256_storeu_pd(a.as_mut_ptr(), v) };
    }
}
