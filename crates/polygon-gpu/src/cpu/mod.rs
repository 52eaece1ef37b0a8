//! [`CpuBackend`]: rayon across tickers (and across three indicator groups within a long series
//! when there are few), each series computed by the passes in `passes.rs` over the sliding
//! windows of `rolling.rs` and `lanes.rs`.

mod lanes;
mod log_ratio;
mod passes;
mod rolling;
mod simd;

use polygon_model::BarColumns;
use rayon::prelude::*;

use self::passes::{close_windows, day_vwap, log_returns};
#[cfg(feature = "test-support")]
pub use self::simd::use_simd;
use crate::{Backend, Error, Indicators};

/// The window of `sma_20`, `std_20` and the bands.
const W: usize = 20;
/// The period of `rsi_14`.
const RSI: usize = 14;

/// The CPU backend: rayon across tickers (and across three groups of indicators within each long
/// series, when a chunk has fewer series than threads to keep busy).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// The CPU backend (uses rayon's global pool).
    pub fn new() -> Self {
        CpuBackend
    }
}

/// One series' indicators into the output slices (all of the series' length; every element is
/// written, NaN where an indicator is not defined yet, so output buffers can be reused). With
/// `within`, its three independent groups run in parallel.
#[allow(clippy::too_many_arguments)] // the eight outputs, as the indicator table lists them
fn series(t: &[i64], h: &[f64], l: &[f64], c: &[f64], v: &[f64], vw: &[f64], out: [&mut [f64]; 8], within: bool) {
    let [lr, sma, ema, std, bbu, bbl, rsi, vwap] = out;
    if c.is_empty() {
        return;
    }
    let mut returns = || log_returns(c, lr, std);
    let mut closes = || close_windows(c, sma, bbu, bbl, ema, rsi);
    let mut days = || day_vwap(t, h, l, c, v, vw, vwap);
    if within {
        rayon::join(returns, || rayon::join(closes, days));
    } else {
        returns();
        closes();
        days();
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn compute(&self, bars: &BarColumns) -> Result<Indicators, Error> {
        let mut out = Indicators::default();
        self.compute_into(bars, &mut out)?;
        Ok(out)
    }

    fn compute_into(&self, bars: &BarColumns, out: &mut Indicators) -> Result<(), Error> {
        bars.check().map_err(Error::BadBatch)?;
        let per_series = out.per_series_mut(bars);
        // Few long series (one ticker over years of minutes) would leave threads idle: then the
        // indicators of a series are computed in parallel too.
        let within = per_series.len() < 2 * rayon::current_num_threads();
        per_series.into_par_iter().enumerate().for_each(|(k, cols)| {
            let s = bars.series(k).expect("one set of output slices per series");
            let within = within && s.len() >= 1 << 15;
            series(s.t, s.high, s.low, s.close, s.volume, s.vw, cols, within);
        });
        Ok(())
    }
}
