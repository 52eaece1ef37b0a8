//! Indicator computation over [`BarColumns`]: the [`Backend`] trait and [`CpuBackend`] (rayon),
//! with design.md's semantics (pandas-compatible), and with feature `cuda` the CUDA backend
//! (`cuda::CudaBackend`: kernels parallel across time, unified or device memory, double-buffered).
//! [`select`] picks one as `GPU_BACKEND` says.
//!
//! | column | definition |
//! |---|---|
//! | `log_return` | ln(c[i] / c[i-1]); NaN at the first bar |
//! | `sma_20` | mean of the last 20 closes |
//! | `ema_20` | `ewm(span=20, adjust=False)`: from the first bar, alpha = 2/21 |
//! | `std_20` | sample std (ddof=1) of the last 20 log returns; first value at bar 20 |
//! | `bb_upper_20`, `bb_lower_20` | sma_20 ± 2 × population std (ddof=0) of the last 20 closes |
//! | `rsi_14` | Wilder's, first value at bar 14; 100 when the average loss is 0 |
//! | `vwap` | Σ(price·v)/Σv from each New York day's first bar; price = vw, else (h+l+c)/3 |
//!
//! Windows are computed per window in two passes (mean, then squared deviations), never with
//! running sums of squares, so results stay within 1e-9 relative of a plain f64 reference.
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

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod synthetic;

use polygon_model::{BarColumns, ny_date_minute};
use rayon::prelude::*;

/// Why indicators could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend asked for is not available in this build or on this machine.
    #[error("backend {backend} is not available: {reason}")]
    Unavailable {
        /// `cuda`, …
        backend: &'static str,
        /// Why.
        reason: String,
    },
    /// The backend failed while computing (a device error).
    #[error("backend {backend} failed: {reason}")]
    Failed {
        /// `cuda`, …
        backend: &'static str,
        /// What failed.
        reason: String,
    },
}

/// Indicator columns, row-aligned with the input [`BarColumns`] (same offsets, same length).
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)] // the names are design.md's, documented on the crate
pub struct Indicators {
    pub log_return: Vec<f64>,
    pub sma_20: Vec<f64>,
    pub ema_20: Vec<f64>,
    pub std_20: Vec<f64>,
    pub bb_upper_20: Vec<f64>,
    pub bb_lower_20: Vec<f64>,
    pub rsi_14: Vec<f64>,
    pub vwap: Vec<f64>,
}

impl Indicators {
    /// The column names, in output order.
    pub const NAMES: [&'static str; 8] =
        ["log_return", "sma_20", "ema_20", "std_20", "bb_upper_20", "bb_lower_20", "rsi_14", "vwap"];

    fn nan(n: usize) -> Self {
        let v = || vec![f64::NAN; n];
        Indicators {
            log_return: v(),
            sma_20: v(),
            ema_20: v(),
            std_20: v(),
            bb_upper_20: v(),
            bb_lower_20: v(),
            rsi_14: v(),
            vwap: v(),
        }
    }

    /// Indicators from eight columns in [`Indicators::NAMES`] order.
    pub fn from_columns(columns: [Vec<f64>; 8]) -> Self {
        let [log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap] = columns;
        Indicators { log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap }
    }

    /// The columns by name, in [`Indicators::NAMES`] order.
    pub fn columns(&self) -> [&[f64]; 8] {
        [
            &self.log_return,
            &self.sma_20,
            &self.ema_20,
            &self.std_20,
            &self.bb_upper_20,
            &self.bb_lower_20,
            &self.rsi_14,
            &self.vwap,
        ]
    }
}

/// Computes indicators for a chunk of tickers.
pub trait Backend: Send + Sync {
    /// A short name for logs (`cpu`, `cuda`).
    fn name(&self) -> &'static str;

    /// Every indicator for every series of `bars`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the backend cannot run here.
    fn compute(&self, bars: &BarColumns) -> Result<Indicators, Error>;

    /// Indicators of several chunks. Backends that can overlap one chunk's transfers with another's
    /// computation (CUDA, double-buffered) override it; the default runs them one by one.
    ///
    /// # Errors
    /// As [`Backend::compute`].
    fn compute_all(&self, chunks: &[BarColumns]) -> Result<Vec<Indicators>, Error> {
        chunks.iter().map(|c| self.compute(c)).collect()
    }
}

/// Which backend to use (design.md's `GPU_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// CUDA when a device initialises, else the CPU.
    #[default]
    Auto,
    /// rayon on the CPU.
    Cpu,
    /// CUDA (an error where it is not available).
    Cuda,
}

/// How the CUDA backend holds memory (design.md's `GPU_MEMORY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryMode {
    /// Unified (managed) memory: on Grace-Hopper the GPU reads host memory coherently.
    #[default]
    Unified,
    /// Device buffers with pinned host buffers and explicit, double-buffered copies.
    Device,
}

/// Sizes a backend pre-allocates for: the largest chunk it will be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Series per chunk (`BATCH_SIZE`).
    pub series: usize,
    /// Bars per chunk, all series together.
    pub bars: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity { series: 256, bars: 256 * 20_000 }
    }
}

/// The backend `kind` asks for. `Auto` tries CUDA (in a build with feature `cuda`) and falls back to
/// the CPU, logging which it chose and why.
///
/// # Errors
/// [`Error::Unavailable`] when `Cuda` is asked for and cannot be had: a build without the `cuda`
/// feature, no driver, or no device.
pub fn select(kind: BackendKind, memory: MemoryMode, capacity: Capacity) -> Result<std::sync::Arc<dyn Backend>, Error> {
    match kind {
        BackendKind::Cpu => {
            tracing::info!(backend = "cpu", "indicator backend chosen by configuration");
            Ok(std::sync::Arc::new(CpuBackend::new()))
        }
        BackendKind::Cuda => cuda_backend(memory, capacity),
        BackendKind::Auto => match cuda_backend(memory, capacity) {
            Ok(b) => {
                tracing::info!(backend = "cuda", ?memory, "indicator backend: a CUDA device initialised");
                Ok(b)
            }
            Err(e) => {
                tracing::info!(backend = "cpu", reason = %e, "indicator backend: CUDA not available, using the CPU");
                Ok(std::sync::Arc::new(CpuBackend::new()))
            }
        },
    }
}

#[cfg(feature = "cuda")]
fn cuda_backend(memory: MemoryMode, capacity: Capacity) -> Result<std::sync::Arc<dyn Backend>, Error> {
    Ok(std::sync::Arc::new(cuda::CudaBackend::new(memory, capacity)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda_backend(_: MemoryMode, _: Capacity) -> Result<std::sync::Arc<dyn Backend>, Error> {
    Err(Error::Unavailable {
        backend: "cuda",
        reason: "this build has no CUDA support (rebuild with `--features cuda`)".into(),
    })
}

/// The CPU backend: rayon across tickers (and across the eight indicators within each ticker).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// The CPU backend (uses rayon's global pool).
    pub fn new() -> Self {
        CpuBackend
    }
}

const W: usize = 20;
const RSI: usize = 14;

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

/// Mean and population variance of a window, two passes.
#[inline(always)]
fn mean_var(x: &[f64]) -> (f64, f64) {
    let m = sum4(x, |v| v) / x.len() as f64;
    let ss = sum4(x, |v| (v - m) * (v - m));
    (m, ss / x.len() as f64)
}

/// One series' indicators into the output slices (all of the series' length).
#[allow(clippy::too_many_arguments)] // the eight outputs, as the indicator table lists them
fn series(t: &[i64], h: &[f64], l: &[f64], c: &[f64], v: &[f64], vw: &[f64], out: [&mut [f64]; 8]) {
    let [lr, sma, ema, std, bbu, bbl, rsi, vwap] = out;
    let n = c.len();
    for i in 1..n {
        lr[i] = (c[i] / c[i - 1]).ln();
    }
    for i in W - 1..n {
        let (m, var) = mean_var(&c[i + 1 - W..=i]);
        sma[i] = m;
        bbu[i] = m + 2.0 * var.sqrt();
        bbl[i] = m - 2.0 * var.sqrt();
    }
    for i in W..n {
        let (_, var) = mean_var(&lr[i + 1 - W..=i]);
        std[i] = (var * W as f64 / (W - 1) as f64).sqrt();
    }
    let alpha = 2.0 / (W as f64 + 1.0);
    if n > 0 {
        ema[0] = c[0];
    }
    for i in 1..n {
        ema[i] = alpha * c[i] + (1.0 - alpha) * ema[i - 1];
    }
    if n > RSI {
        let (mut g, mut s) = (0.0, 0.0);
        for i in 1..=RSI {
            let d = c[i] - c[i - 1];
            g += d.max(0.0);
            s += (-d).max(0.0);
        }
        let (mut ag, mut al) = (g / RSI as f64, s / RSI as f64);
        let rsi_of = |ag: f64, al: f64| if al == 0.0 { 100.0 } else { 100.0 - 100.0 / (1.0 + ag / al) };
        rsi[RSI] = rsi_of(ag, al);
        for i in RSI + 1..n {
            let d = c[i] - c[i - 1];
            ag = (ag * (RSI as f64 - 1.0) + d.max(0.0)) / RSI as f64;
            al = (al * (RSI as f64 - 1.0) + (-d).max(0.0)) / RSI as f64;
            rsi[i] = rsi_of(ag, al);
        }
    }
    let (mut pv, mut vol, mut day) = (0.0, 0.0, i32::MIN);
    // The New York day of t[i] changes only when t leaves [day_start, day_end): do the calendar
    // computation only then, not for every bar.
    let (mut day_start, mut day_end) = (i64::MAX, i64::MIN);
    for i in 0..n {
        if t[i] < day_start || t[i] >= day_end {
            let d = match ny_date_minute(t[i]) {
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
        let price = if vw[i].is_nan() { (h[i] + l[i] + c[i]) / 3.0 } else { vw[i] };
        pv += price * v[i];
        vol += v[i];
        vwap[i] = if vol > 0.0 { pv / vol } else { f64::NAN };
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn compute(&self, bars: &BarColumns) -> Result<Indicators, Error> {
        let mut out = Indicators::nan(bars.len());
        let offsets = bars.offsets();
        // Split every output column at the series boundaries, then hand each series its slices.
        let mut per_series: Vec<[&mut [f64]; 8]> = Vec::with_capacity(bars.num_series());
        {
            let Indicators { log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap } = &mut out;
            let mut rest: [&mut [f64]; 8] =
                [log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap];
            for w in offsets.windows(2) {
                let len = (w[1] - w[0]) as usize;
                let split = rest.map(|col| col.split_at_mut(len));
                let (heads, tails): (Vec<_>, Vec<_>) = split.into_iter().unzip();
                per_series.push(heads.try_into().expect("eight columns"));
                rest = tails.try_into().expect("eight columns");
            }
        }
        per_series.into_par_iter().enumerate().for_each(|(k, cols)| {
            let r = offsets[k] as usize..offsets[k + 1] as usize;
            series(
                &bars.t[r.clone()],
                &bars.h[r.clone()],
                &bars.l[r.clone()],
                &bars.c[r.clone()],
                &bars.v[r.clone()],
                &bars.vw[r],
                cols,
            );
        });
        Ok(out)
    }
}
