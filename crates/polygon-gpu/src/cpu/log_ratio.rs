//! `ln(a / b)` of neighbouring closes: [`log_ratio_near`] (a short polynomial, in SIMD lanes) for
//! the moves of under 2 % that [`near`] admits, [`far`] (the logarithm) for the rest.

/// Whether `ln(a / b)` may take the series in [`log_ratio_near`]: the prices within about 2 % of
/// each other (then `a − b` is exact) and their sum finite. A multiplication, not a division.
#[inline(always)]
pub(super) fn near(a: f64, b: f64) -> bool {
    let m = a + b;
    (a - b).abs() <= 0.01 * m.abs() && m.is_finite()
}

/// `ln(a / b)` for [`near`] prices, within a few ulps.
///
/// Most bars move less than 2 %: then `ln(a/b) = 2·atanh(s)` with `s = (a − b)/(a + b)`, where
/// `a − b` is exact (Sterbenz: `a` and `b` within a factor of 2), so `s` carries 1.5 ulps, and
/// `atanh(s) = s·(1 + s²/3 + s⁴/5 + …)` converges to below an ulp in six terms for `|s| ≤ 0.01`.
/// One division and a short polynomial instead of a division and a logarithm, and no branch,
/// so a loop of them runs in SIMD lanes. (`(a / b).ln()` would also lose the digits of a tiny
/// return to the rounded ratio.)
#[inline(always)]
pub(super) fn log_ratio_near(a: f64, b: f64) -> f64 {
    let s = (a - b) / (a + b);
    let q = s * s;
    let p = 1.0 + q * (1.0 / 3.0 + q * (1.0 / 5.0 + q * (1.0 / 7.0 + q * (1.0 / 9.0 + q * (1.0 / 11.0)))));
    2.0 * s * p
}

/// `ln(a / b)` for prices that are not [`near`]: rare (a move of more than 2 %, or an odd
/// price). Out of line, so that the loop calling it stays a loop of compares and the compiler
/// does not compute a logarithm for every bar to spare itself the branch.
#[cold]
#[inline(never)]
pub(super) fn far(r: &mut f64, a: f64, b: f64) {
    *r = (a / b).ln();
}

/// `ln(a / b)` for any prices: large moves, zero, negative, NaN or infinite ones go to `ln`.
#[cfg(test)]
fn log_ratio(a: f64, b: f64) -> f64 {
    if near(a, b) { log_ratio_near(a, b) } else { (a / b).ln() }
}

#[cfg(test)]
mod tests {
    use super::log_ratio;

    #[test]
    fn log_ratio_is_ln_of_the_ratio_within_a_few_ulps_and_exact_at_the_edges() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = 0.01 + (x >> 11) as f64 / (1u64 << 53) as f64 * 5_000.0;
            // Moves of up to ±3 %, on either side of the 2 % switch, and one-cent steps.
            let r = ((x >> 7) % 60_001) as f64 / 1e6 - 0.03;
            let a = if i % 3 == 0 { ((b * 100.0).round() + 1.0) / 100.0 } else { b * (1.0 + r) };
            // `(a / b).ln()` rounds the ratio first and loses up to an ulp of the ratio: relative
            // to a tiny return that is far more than ours does. `a - b` is exact here.
            let want = if r.abs() < 0.5 { ((a - b) / b).ln_1p() } else { (a / b).ln() };
            let got = log_ratio(a, b);
            if want != 0.0 {
                worst = worst.max(((got - want) / want).abs());
            } else {
                assert_eq!(got, 0.0);
            }
        }
        assert!(worst < 1e-14, "worst relative error {worst:e}");
        assert_eq!(log_ratio(5.0, 5.0), 0.0);
        assert!(log_ratio(0.0, 0.0).is_nan());
        assert!(log_ratio(f64::NAN, 1.0).is_nan());
        assert_eq!(log_ratio(1.0, 0.0), f64::INFINITY);
        assert_eq!(log_ratio(0.0, 1.0), f64::NEG_INFINITY);
        assert!(log_ratio(-1.0, 1.0).is_nan());
        assert!((log_ratio(-101.0, -100.0) - (1.01f64).ln()).abs() < 1e-16);
        let (a, b) = (1.7e308, 1.69e308);
        assert_eq!(log_ratio(a, b), (a / b).ln(), "a + b overflows: ln itself");
    }
}
