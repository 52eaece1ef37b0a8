//! Which build of the CPU passes runs: [`avx2`] (the CPU has AVX2 and tests have not switched it
//! off), `with_avx2!` (a function compiled twice, dispatched at run time) and, with feature
//! `test-support`, `use_simd`.

/// Whether the CPU backend may use its AVX2 builds (`use_simd`, feature `test-support`).
#[cfg(any(target_arch = "x86_64", feature = "test-support"))]
static WIDE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Whether the CPU backend uses its AVX2 builds: the CPU has AVX2 and `use_simd` allows it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn avx2() -> bool {
    WIDE.load(std::sync::atomic::Ordering::Relaxed) && std::arch::is_x86_feature_detected!("avx2")
}

/// Lets the CPU backend use AVX2 where the CPU has it (the default), or keeps it to the baseline
/// x86-64 build: for tests that check both give the same bits, and for measuring the difference.
#[cfg(feature = "test-support")]
#[doc(hidden)]
pub fn use_simd(on: bool) {
    WIDE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// `fn $name(args)` running `$body(args)` compiled for AVX2 when the CPU has it (the SIMD lanes
/// of the passes in `passes.rs` are four wide instead of two), and for the baseline otherwise. Both
/// compile the same IEEE operations in the same order (no contraction into FMA), so the results
/// are the same bits either way.
macro_rules! with_avx2 {
    ($(#[$m:meta])* $vis:vis fn $name:ident => $body:ident($($a:ident: $t:ty),* $(,)?)) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)] // the columns it reads and writes
        $vis fn $name($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                fn wide($($a: $t),*) {
                    $body($($a),*)
                }
                if $crate::cpu::simd::avx2() {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { wide($($a),*) };
                }
            }
            $body($($a),*)
        }
    };
}
pub(super) use with_avx2;
