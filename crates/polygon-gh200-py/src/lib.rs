//! `polygon_gh200._native`: the extension module under the Python package `polygon_gh200`.
//!
//! It wraps [`polygon_gh200::PolygonDataSource`] and nothing below it: arguments are converted
//! in, results out. The Python layer (`python/polygon_gh200`) builds DataFrames from what this
//! module hands over and gives the API its docstrings and types.
//!
//! - [`columns`]: Rust-owned columns handed to numpy without a copy (`__array_interface__`).
//! - [`arrow`]: `output="arrow"`, the Arrow PyCapsule stream over the same buffers.
//! - [`block`]: running the facade's futures with the GIL released, Ctrl-C and cancellation
//!   checked several times a second, panics turned into exceptions.
//! - [`errors`]: the facade's errors as the package's exception classes.
//! - [`source`]: `_Source`, `_Stream`, the indicator call.
//! - [`sim`]: the in-process simulator.

mod arrow;
mod block;
mod columns;
mod errors;
mod sim;
mod source;

use pyo3::prelude::*;

pub use arrow::ArrowTable;
pub use block::Cancel;
pub use columns::{Bars, Column, IndicatorColumns};
pub use sim::Simulator;
pub use source::{Source, Stream};

/// Today's date in New York (`YYYY-MM-DD`): the default `to_date`.
#[pyfunction]
fn today_new_york() -> PyResult<String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    new_york_date(now_ms)
}

/// The New York date (`YYYY-MM-DD`) of an instant in Unix ms (a timezone-aware datetime given as
/// a date).
#[pyfunction]
fn new_york_date(ms: i64) -> PyResult<String> {
    let (date, _) =
        polygon_gh200::model::ny_date_minute(ms).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    Ok(date.to_string())
}

/// The tickers of `tickers` that worker `k` of `n` takes (`polygon_gh200::model::shard`:
/// rendezvous hashing, so N workers given the same list split it without talking).
#[pyfunction]
fn shard_select(py: Python<'_>, tickers: Vec<String>, k: u32, n: u32) -> PyResult<Vec<String>> {
    let shard = polygon_gh200::model::Shard::new(k, n).map_err(|e| errors::argument(py, "shard", e))?;
    Ok(shard.select(&tickers).into_iter().map(str::to_owned).collect())
}

/// The setting names `PolygonDataSource(**settings)` accepts, lower case, with the variable each
/// stands for.
#[pyfunction]
fn settings() -> Vec<(String, &'static str)> {
    polygon_gh200::Config::VARIABLES.iter().map(|v| (keyword(v), *v)).collect()
}

/// The keyword of a variable: lower case, without the `POLYGON_` prefix (`api_key`, `base_url`).
fn keyword(variable: &str) -> String {
    variable.strip_prefix("POLYGON_").unwrap_or(variable).to_ascii_lowercase()
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("INDICATOR_NAMES", polygon_gh200::gpu::Indicators::NAMES.to_vec())?;
    m.add_class::<Source>()?;
    m.add_class::<Stream>()?;
    m.add_class::<Column>()?;
    m.add_class::<Bars>()?;
    m.add_class::<IndicatorColumns>()?;
    m.add_class::<Cancel>()?;
    m.add_class::<ArrowTable>()?;
    m.add_class::<Simulator>()?;
    m.add("SIM_S3_ACCESS_KEY_ID", polygon_sim::s3::DEFAULT_ACCESS_KEY_ID)?;
    m.add("SIM_S3_SECRET", polygon_sim::s3::DEFAULT_SECRET)?;
    m.add_function(wrap_pyfunction!(today_new_york, m)?)?;
    m.add_function(wrap_pyfunction!(settings, m)?)?;
    m.add_function(wrap_pyfunction!(new_york_date, m)?)?;
    m.add_function(wrap_pyfunction!(shard_select, m)?)?;
    m.add_function(wrap_pyfunction!(source::demo, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_the_variables_in_lower_case_without_the_polygon_prefix() {
        assert_eq!(keyword("POLYGON_API_KEY"), "api_key");
        assert_eq!(keyword("POLYGON_BASE_URL"), "base_url");
        assert_eq!(keyword("MAX_WORKERS"), "max_workers");
        assert_eq!(keyword("REDIS_URL"), "redis_url");
        let names: Vec<String> = polygon_gh200::Config::VARIABLES.iter().map(|v| keyword(v)).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "two variables map to one keyword: {names:?}");
    }
}
