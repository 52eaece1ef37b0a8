//! Indicator computation over [`BarColumns`](polygon_model::BarColumns): the [`Backend`] trait and
//! [`CpuBackend`] (rayon), with design.md's semantics (pandas-compatible), and with feature `cuda`
//! the CUDA backend (`cuda::CudaBackend`: kernels parallel across time, unified or device memory,
//! double-buffered). [`select`] picks one as `GPU_BACKEND` says. [`Backend::compute_into`] and
//! [`Backend::compute_all_into`] write into outputs the caller keeps, so a stream of chunks
//! allocates its indicator columns once.
//!
//! | column | definition |
//! |---|---|
//! | `log_return` | `ln(c[i] / c[i-1])`; NaN at the first bar |
//! | `sma_20` | mean of the last 20 closes |
//! | `ema_20` | `ewm(span=20, adjust=False)`: from the first bar, alpha = 2/21 |
//! | `std_20` | sample std (ddof=1) of the last 20 log returns; first value at bar 20 |
//! | `bb_upper_20`, `bb_lower_20` | sma_20 ± 2 × population std (ddof=0) of the last 20 closes |
//! | `rsi_14` | Wilder's, first value at bar 14; 100 when the average loss is 0 |
//! | `vwap` | Σ(price·v)/Σv from each New York day's first bar; price = vw, else (h+l+c)/3 |
//!
//! Windows slide in O(1) per bar from sums shifted by a nearby exact mean and restarted every 64
//! bars, with any window where cancellation could cost accuracy recomputed exactly in two passes,
//! so results stay within 1e-9 relative of a plain two-pass f64 reference (see `cpu/rolling.rs`).
//!
//! ```
//! use polygon_gpu::{Backend, CpuBackend};
//! use polygon_model::{Bar, BarColumns};
//! let mut cols = BarColumns::new();
//! cols.begin_series("AAPL".parse().unwrap());
//! for i in 0..30 {
//!     let p = 100.0 + i as f64;
//!     cols.push(&Bar { v: 1.0, vw: None, o: p, c: p, h: p, l: p, t: 1_704_205_800_000 + i * 60_000, n: None, otc: None });
//! }
//! let ind = CpuBackend::new().compute(&cols).unwrap();
//! assert!(ind.sma_20[18].is_nan() && (ind.sma_20[19] - 109.5).abs() < 1e-12);
//! assert_eq!(ind.rsi_14[20], 100.0); // no losses
//! ```

mod backend;
mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod error;
mod indicators;
#[cfg(feature = "test-support")]
pub mod synthetic;

pub use backend::{Backend, BackendKind, Capacity, MemoryMode, select};
pub use cpu::CpuBackend;
#[cfg(feature = "test-support")]
pub use cpu::use_simd;
pub use error::Error;
pub use indicators::Indicators;
