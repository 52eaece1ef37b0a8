//! Columns that cross into Python without a copy.
//!
//! A [`Column`] owns one Rust `Vec` and describes its memory with numpy's
//! [`__array_interface__`](https://numpy.org/doc/stable/reference/arrays.interface.html) (version
//! 3): `numpy.asarray(column)` makes an array over that very buffer whose `base` is the column,
//! so the `Vec` lives as long as any array, Series or DataFrame that views it. This needs no numpy
//! C API (so no `numpy` crate and no build-time numpy) and works under the stable ABI on every
//! Python from 3.9; the Arrow export reads the same buffers. Rust never touches a buffer again
//! once it is handed over (see [`Column`]), which is the invariant the pointer relies on.

use std::sync::Arc;

use polygon_gh200::gpu::Indicators;
use polygon_gh200::model::{BarColumns, N_ABSENT};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// One column's values.
#[derive(Debug)]
pub enum Data {
    /// `<f8`.
    F64(Vec<f64>),
    /// `<M8[ms]`: Unix milliseconds as numpy's `datetime64[ms]`.
    Millis(Vec<i64>),
    /// `<i8`: trade counts (`u64` whose absent marker lies under the mask, so any present count,
    /// below 2^63, reads the same as a signed integer).
    Counts(Vec<u64>),
    /// `|b1`: one byte per row, 1 where the value is missing.
    Mask(Vec<bool>),
    /// `<i8`: row offsets.
    Offsets(Vec<i64>),
}

impl Data {
    /// The buffer's address (taken once, from a mutable borrow, so that writes through it are
    /// allowed), its length and numpy's type string.
    fn parts_mut(&mut self) -> (usize, usize, &'static str) {
        match self {
            Data::F64(v) => (v.as_mut_ptr() as usize, v.len(), "<f8"),
            Data::Millis(v) => (v.as_mut_ptr() as usize, v.len(), "<M8[ms]"),
            Data::Counts(v) => (v.as_mut_ptr() as usize, v.len(), "<i8"),
            Data::Mask(v) => (v.as_mut_ptr() as usize, v.len(), "|b1"),
            Data::Offsets(v) => (v.as_mut_ptr() as usize, v.len(), "<i8"),
        }
    }
}

/// A column owned by Rust, viewed by numpy without a copy.
///
/// The buffer is writable from Python (so a DataFrame over it can be edited in place, as any
/// other), which is sound because Rust never reads or references the values again: the `Vec` is
/// only kept to be freed. The address is taken once, from `as_mut_ptr`, and the `Vec` is never
/// resized or moved out, so it stays valid for as long as the column lives, and numpy keeps the
/// column alive as the `base` of every array over it.
#[pyclass(frozen, module = "polygon_gh200._native")]
#[derive(Debug)]
pub struct Column {
    /// Only dropped: never read, resized or moved after `new`.
    _data: Data,
    address: usize,
    len: usize,
    typestr: &'static str,
}

impl Column {
    /// Takes `data` (no copy).
    pub fn new(mut data: Data) -> Self {
        let (address, len, typestr) = data.parts_mut();
        Column { _data: data, address, len, typestr }
    }

    /// The buffer's address and length in values (what the Arrow export points at).
    pub fn address_and_len(&self) -> (usize, usize) {
        (self.address, self.len)
    }
}

#[pymethods]
impl Column {
    fn __len__(&self) -> usize {
        self.len
    }

    /// numpy's array interface: the buffer's address, its length and its type (writable).
    #[getter(__array_interface__)]
    fn array_interface<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", PyTuple::new(py, [self.len])?)?;
        d.set_item("typestr", self.typestr)?;
        d.set_item("data", (self.address, false))?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("Column({}, len={}, at={:#x})", self.typestr, self.len, self.address)
    }
}

/// The bars of one ticker or of many (rows of ticker `k` are `offsets[k]..offsets[k + 1]`), as
/// columns named like the official client's `Agg` fields.
#[pyclass(frozen, module = "polygon_gh200._native")]
#[derive(Debug)]
pub struct Bars {
    #[pyo3(get)]
    tickers: Vec<String>,
    #[pyo3(get)]
    offsets: Py<Column>,
    #[pyo3(get)]
    timestamp: Py<Column>,
    #[pyo3(get)]
    open: Py<Column>,
    #[pyo3(get)]
    high: Py<Column>,
    #[pyo3(get)]
    low: Py<Column>,
    #[pyo3(get)]
    close: Py<Column>,
    #[pyo3(get)]
    volume: Py<Column>,
    #[pyo3(get)]
    vwap: Py<Column>,
    #[pyo3(get)]
    transactions: Py<Column>,
    /// 1 where `transactions` is absent.
    #[pyo3(get)]
    transactions_missing: Py<Column>,
    rows: usize,
    /// For the Arrow export, kept on the Rust side (never read back from the Python-writable
    /// columns): the row offsets and the validity bitmap of `transactions` (bit set where
    /// present) with its null count.
    row_offsets: Vec<u32>,
    validity: Arc<(Vec<u8>, usize)>,
}

#[pymethods]
impl Bars {
    fn __len__(&self) -> usize {
        self.rows
    }

    fn __repr__(&self) -> String {
        format!("Bars({} tickers, {} rows)", self.tickers.len(), self.rows)
    }
}

fn col(py: Python<'_>, data: Data) -> PyResult<Py<Column>> {
    Py::new(py, Column::new(data))
}

impl Bars {
    /// Moves `bars`' columns into Python objects: the price, volume and time buffers are the
    /// very `Vec`s the pipeline filled. The mask of absent trade counts is the one new buffer.
    pub fn from_columns(py: Python<'_>, mut bars: BarColumns) -> PyResult<Bars> {
        let rows = bars.len();
        let offsets: Vec<i64> = bars.offsets().iter().map(|&o| i64::from(o)).collect();
        let tickers: Vec<String> = bars.tickers.iter().map(ToString::to_string).collect();
        let missing: Vec<bool> = bars.n.iter().map(|&n| n == N_ABSENT).collect();
        let row_offsets = bars.offsets().to_vec();
        let mut bits = vec![0u8; rows.div_ceil(8)];
        let mut nulls = 0;
        for (i, &m) in missing.iter().enumerate() {
            if m {
                nulls += 1;
            } else {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        Ok(Bars {
            tickers,
            offsets: col(py, Data::Offsets(offsets))?,
            timestamp: col(py, Data::Millis(std::mem::take(&mut bars.t)))?,
            open: col(py, Data::F64(std::mem::take(&mut bars.o)))?,
            high: col(py, Data::F64(std::mem::take(&mut bars.h)))?,
            low: col(py, Data::F64(std::mem::take(&mut bars.l)))?,
            close: col(py, Data::F64(std::mem::take(&mut bars.c)))?,
            volume: col(py, Data::F64(std::mem::take(&mut bars.v)))?,
            vwap: col(py, Data::F64(std::mem::take(&mut bars.vw)))?,
            transactions: col(py, Data::Counts(std::mem::take(&mut bars.n)))?,
            transactions_missing: col(py, Data::Mask(missing))?,
            rows,
            row_offsets,
            validity: Arc::new((bits, nulls)),
        })
    }

    /// The columns in output order with their names (for the Arrow export).
    pub fn named(&self) -> [(&'static str, &Py<Column>); 8] {
        [
            ("timestamp", &self.timestamp),
            ("open", &self.open),
            ("high", &self.high),
            ("low", &self.low),
            ("close", &self.close),
            ("volume", &self.volume),
            ("vwap", &self.vwap),
            ("transactions", &self.transactions),
        ]
    }

    /// The tickers.
    pub fn tickers(&self) -> &[String] {
        &self.tickers
    }

    /// Row offsets: ticker `k` owns `offsets[k]..offsets[k + 1]`.
    pub fn row_offsets(&self) -> &[u32] {
        &self.row_offsets
    }

    /// `transactions`' validity bitmap (bit set where present) and null count.
    pub fn validity(&self) -> &Arc<(Vec<u8>, usize)> {
        &self.validity
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// The indicator columns of design.md, row-aligned with the bars they were computed from.
#[pyclass(frozen, module = "polygon_gh200._native")]
#[derive(Debug)]
pub struct IndicatorColumns {
    /// In [`Indicators::NAMES`] order.
    columns: Vec<Py<Column>>,
}

impl IndicatorColumns {
    /// Moves `ind`'s columns into Python objects (no copy).
    pub fn from_indicators(py: Python<'_>, ind: Indicators) -> PyResult<Self> {
        let Indicators { log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap } = ind;
        let columns = [log_return, sma_20, ema_20, std_20, bb_upper_20, bb_lower_20, rsi_14, vwap]
            .into_iter()
            .map(|v| col(py, Data::F64(v)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(IndicatorColumns { columns })
    }
}

impl IndicatorColumns {
    /// The names, in design.md's order.
    pub fn names(&self) -> &'static [&'static str] {
        &Indicators::NAMES
    }

    /// The columns, in the same order.
    pub fn columns(&self) -> &[Py<Column>] {
        &self.columns
    }
}

#[pymethods]
impl IndicatorColumns {
    /// `(name, column)` pairs in design.md's order.
    fn items<'py>(&self, py: Python<'py>) -> Vec<(&'static str, Bound<'py, Column>)> {
        Indicators::NAMES.iter().zip(&self.columns).map(|(n, c)| (*n, c.bind(py).clone())).collect()
    }
}
