//! [`Indicators`]: the eight output columns, row-aligned with the input bars.

use polygon_model::BarColumns;

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

    /// Indicators from eight columns in [`Indicators::NAMES`] order.
    pub fn from_columns(columns: [Vec<f64>; 8]) -> Self {
        let [log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap] = columns;
        Indicators { log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap }
    }

    /// The columns themselves, in [`Indicators::NAMES`] order, for a backend to fill in place.
    pub(crate) fn columns_vec_mut(&mut self) -> [&mut Vec<f64>; 8] {
        let Indicators { log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap } = self;
        [log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap]
    }

    /// The columns resized to `bars.len()` (their memory reused; the new values are NaN) and split
    /// at `bars`' series boundaries: for each series, its eight disjoint slices in
    /// [`Indicators::NAMES`] order, so that a backend can fill series in parallel.
    pub fn per_series_mut(&mut self, bars: &BarColumns) -> Vec<[&mut [f64]; 8]> {
        let n = bars.len();
        let mut rest: [&mut [f64]; 8] = self.columns_vec_mut().map(|col| {
            col.resize(n, f64::NAN);
            &mut col[..]
        });
        let mut per_series = Vec::with_capacity(bars.num_series());
        for w in bars.offsets().windows(2) {
            let split = rest.map(|col| col.split_at_mut((w[1] - w[0]) as usize));
            let (heads, tails): (Vec<_>, Vec<_>) = split.into_iter().unzip();
            per_series.push(heads.try_into().expect("eight columns"));
            rest = tails.try_into().expect("eight columns");
        }
        per_series
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
