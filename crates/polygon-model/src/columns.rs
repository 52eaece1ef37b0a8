//! `BarColumns`: a batch of tickers' bars as one struct of arrays, with per-ticker offsets.

use crate::Ticker;
use crate::response::Bar;

/// The value of [`BarColumns::n`] for a bar whose trade count is absent.
pub const N_ABSENT: u64 = u64::MAX;

/// A batch of bars for one or more tickers, column by column.
///
/// Ticker `k`'s bars are rows `offsets[k]..offsets[k + 1]` of every column; `offsets` always
/// starts with 0 and has one more entry than `tickers`. A batch is a handful of contiguous
/// buffers: the shape kernels and Parquet writers want, and what the cache archives with rkyv.
///
/// Units: `t` is the bar start in Unix ms; prices in the quote currency; `v` in shares.
/// Absent values are encoded without an `Option` so the columns stay plain numbers:
/// `vw` is NaN when absent (Polygon never sends NaN), `n` is [`N_ABSENT`].
///
/// ```
/// use polygon_model::{BarColumns, Bar};
/// let mut cols = BarColumns::new();
/// cols.begin_series("AAPL".parse().unwrap());
/// cols.push(&Bar { o: 1.0, h: 2.0, l: 0.5, c: 1.5, v: 100.0, vw: None, n: Some(3), t: 0, otc: None });
/// assert_eq!(cols.series(0).unwrap().close, &[1.5]);
/// assert_eq!(cols.vw(0), None);
/// ```
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct BarColumns {
    /// The tickers, in batch order.
    pub tickers: Vec<Ticker>,
    /// Row offsets: ticker `k` owns `offsets[k]..offsets[k + 1]`.
    pub(crate) offsets: Vec<u32>,
    /// Bar start, Unix ms.
    pub t: Vec<i64>,
    /// Open.
    pub o: Vec<f64>,
    /// High.
    pub h: Vec<f64>,
    /// Low.
    pub l: Vec<f64>,
    /// Close.
    pub c: Vec<f64>,
    /// Volume.
    pub v: Vec<f64>,
    /// Volume-weighted average price, NaN when absent.
    pub vw: Vec<f64>,
    /// Trade count, [`N_ABSENT`] when absent.
    pub n: Vec<u64>,
}

/// One ticker's rows, borrowed from a [`BarColumns`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // same fields as BarColumns
pub struct SeriesView<'a> {
    pub ticker: &'a Ticker,
    pub t: &'a [i64],
    pub open: &'a [f64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    pub volume: &'a [f64],
    pub vw: &'a [f64],
    pub n: &'a [u64],
}

impl SeriesView<'_> {
    /// Number of bars.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// No bars.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }
}

/// An empty batch (offsets `[0]`, like [`BarColumns::new`]).
impl Default for BarColumns {
    fn default() -> Self {
        BarColumns::new()
    }
}

impl BarColumns {
    /// An empty batch.
    pub fn new() -> Self {
        BarColumns {
            tickers: Vec::new(),
            offsets: vec![0],
            t: Vec::new(),
            o: Vec::new(),
            h: Vec::new(),
            l: Vec::new(),
            c: Vec::new(),
            v: Vec::new(),
            vw: Vec::new(),
            n: Vec::new(),
        }
    }

    /// An empty batch with room for `bars` rows.
    pub fn with_capacity(tickers: usize, bars: usize) -> Self {
        let mut c = BarColumns::new();
        c.tickers.reserve(tickers);
        c.offsets.reserve(tickers);
        c.reserve(bars);
        c
    }

    /// Reserves room for `additional` more rows in every column.
    pub fn reserve(&mut self, additional: usize) {
        self.t.reserve(additional);
        for col in [&mut self.o, &mut self.h, &mut self.l, &mut self.c, &mut self.v, &mut self.vw] {
            col.reserve(additional);
        }
        self.n.reserve(additional);
    }

    /// Starts the next ticker's run of rows; following pushes belong to it.
    pub fn begin_series(&mut self, ticker: Ticker) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.tickers.push(ticker);
        self.offsets.push(self.t.len() as u32);
    }

    /// Appends one bar to the current ticker.
    ///
    /// # Panics
    /// If no series was begun, or the batch would exceed `u32::MAX` rows.
    pub fn push(&mut self, bar: &Bar) {
        self.push_row(bar.t, bar.o, bar.h, bar.l, bar.c, bar.v, bar.vw.unwrap_or(f64::NAN), bar.n.unwrap_or(N_ABSENT));
    }

    /// Appends one row to the current ticker (`vw` NaN and `n` [`N_ABSENT`] mean absent).
    ///
    /// # Panics
    /// If no series was begun, or the batch would exceed `u32::MAX` rows.
    #[allow(clippy::too_many_arguments)] // one argument per column, in column order
    #[inline]
    pub fn push_row(&mut self, t: i64, o: f64, h: f64, l: f64, c: f64, v: f64, vw: f64, n: u64) {
        assert!(!self.tickers.is_empty(), "BarColumns::push before begin_series");
        self.t.push(t);
        self.o.push(o);
        self.h.push(h);
        self.l.push(l);
        self.c.push(c);
        self.v.push(v);
        self.vw.push(vw);
        self.n.push(n);
        let len = u32::try_from(self.t.len()).expect("a BarColumns batch holds at most u32::MAX rows");
        *self.offsets.last_mut().expect("offsets start with 0") = len;
    }

    /// Empties the batch, keeping its memory for the next one.
    pub fn clear(&mut self) {
        self.tickers.clear();
        self.offsets.clear();
        self.offsets.push(0);
        self.truncate(0);
    }

    /// Drops rows past `len` (and the tickers whose runs start after it); used to undo a failed append.
    pub fn truncate(&mut self, len: usize) {
        self.t.truncate(len);
        for col in [&mut self.o, &mut self.h, &mut self.l, &mut self.c, &mut self.v, &mut self.vw] {
            col.truncate(len);
        }
        self.n.truncate(len);
        let len = len as u32;
        for off in self.offsets.iter_mut() {
            *off = (*off).min(len);
        }
    }

    /// Drops the last series begun and its rows (a ticker whose append failed half-way); does
    /// nothing when no series was begun.
    pub fn abandon_series(&mut self) {
        if self.tickers.pop().is_some() {
            self.offsets.pop();
            let start = *self.offsets.last().expect("offsets start with 0") as usize;
            self.truncate(start);
        }
    }

    /// Total rows across tickers.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    /// Number of tickers.
    pub fn num_series(&self) -> usize {
        self.tickers.len()
    }
    /// Whether the batch is consistent: every column as long as `t`, and the series boundaries
    /// one more than the tickers, running from 0 to the row count without decreasing. The columns
    /// are public `Vec`s, so a caller can break this (a column truncated by hand); a backend that
    /// indexes by the offsets (CUDA's kernels) checks it before it trusts them.
    ///
    /// # Errors
    /// What is inconsistent, naming the column.
    pub fn check(&self) -> Result<(), String> {
        let lens = [self.o.len(), self.h.len(), self.l.len(), self.c.len(), self.v.len(), self.vw.len(), self.n.len()];
        check_lengths(self.t.len(), lens)?;
        check_offsets(self.tickers.len(), &self.offsets, self.t.len(), |o| o)
    }

    /// Row offsets, `num_series() + 1` entries starting at 0.
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// Ticker `k`'s rows.
    pub fn series(&self, k: usize) -> Option<SeriesView<'_>> {
        let ticker = self.tickers.get(k)?;
        let r = self.offsets[k] as usize..self.offsets[k + 1] as usize;
        Some(SeriesView {
            ticker,
            t: &self.t[r.clone()],
            open: &self.o[r.clone()],
            high: &self.h[r.clone()],
            low: &self.l[r.clone()],
            close: &self.c[r.clone()],
            volume: &self.v[r.clone()],
            vw: &self.vw[r.clone()],
            n: &self.n[r],
        })
    }

    /// Every ticker's rows, in batch order.
    pub fn iter_series(&self) -> impl ExactSizeIterator<Item = SeriesView<'_>> {
        (0..self.num_series()).map(|k| self.series(k).expect("k < num_series"))
    }

    /// Row `i`'s VWAP, `None` when absent.
    pub fn vw(&self, i: usize) -> Option<f64> {
        self.vw.get(i).copied().filter(|x| !x.is_nan())
    }

    /// Row `i`'s trade count, `None` when absent.
    pub fn n(&self, i: usize) -> Option<u64> {
        self.n.get(i).copied().filter(|x| *x != N_ABSENT)
    }

    /// Row `i` as an owned [`Bar`] (the slow path; kernels read the columns).
    pub fn bar(&self, i: usize) -> Option<Bar> {
        Some(Bar {
            o: *self.o.get(i)?,
            h: self.h[i],
            l: self.l[i],
            c: self.c[i],
            v: self.v[i],
            vw: self.vw(i),
            n: self.n(i),
            t: self.t[i],
            otc: None,
        })
    }

    /// Appends every series of `other`.
    pub fn extend_from(&mut self, other: &BarColumns) {
        for s in other.iter_series() {
            self.begin_series(s.ticker.clone());
            self.t.extend_from_slice(s.t);
            for (col, from) in [
                (&mut self.o, s.open),
                (&mut self.h, s.high),
                (&mut self.l, s.low),
                (&mut self.c, s.close),
                (&mut self.v, s.volume),
                (&mut self.vw, s.vw),
            ] {
                col.extend_from_slice(from);
            }
            self.n.extend_from_slice(s.n);
            let len = u32::try_from(self.t.len()).expect("a BarColumns batch holds at most u32::MAX rows");
            *self.offsets.last_mut().expect("offsets start with 0") = len;
        }
    }

    /// Bytes held by the columns (not counting spare capacity).
    pub fn byte_len(&self) -> usize {
        self.len() * (8 * 8) + self.offsets.len() * 4 + self.tickers.iter().map(|t| t.as_str().len()).sum::<usize>()
    }
}

// The archived columns are little-endian, naturally aligned primitives (rkyv 0.8's defaults);
// on a little-endian host they have exactly the layout of the native types.
const _: () = assert!(align_of::<rkyv::rend::f64_le>() == align_of::<f64>());
const _: () = assert!(size_of::<rkyv::rend::f64_le>() == size_of::<f64>());
const _: () = assert!(align_of::<rkyv::rend::i64_le>() == align_of::<i64>());
const _: () = assert!(align_of::<rkyv::rend::u64_le>() == align_of::<u64>());
const _: () = assert!(align_of::<rkyv::rend::u32_le>() == align_of::<u32>());

/// Borrowed columns of an archived batch, as plain slices: what kernels and writers take,
/// straight from a cache buffer with no deserialisation (little-endian hosts).
#[cfg(target_endian = "little")]
impl ArchivedBarColumns {
    /// Row offsets (`num_series() + 1` entries).
    pub fn offsets(&self) -> &[u32] {
        plain(self.offsets.as_slice())
    }

    /// Number of tickers.
    pub fn num_series(&self) -> usize {
        self.tickers.len()
    }

    /// Bar start, Unix ms.
    pub fn t_slice(&self) -> &[i64] {
        plain(self.t.as_slice())
    }

    /// A price or volume column by name: `o`, `h`, `l`, `c`, `v` or `vw`.
    pub fn f64_column(&self, name: &str) -> Option<&[f64]> {
        let col = match name {
            "o" => &self.o,
            "h" => &self.h,
            "l" => &self.l,
            "c" => &self.c,
            "v" => &self.v,
            "vw" => &self.vw,
            _ => return None,
        };
        Some(plain(col.as_slice()))
    }

    /// Trade counts ([`N_ABSENT`] when absent).
    pub fn n_slice(&self) -> &[u64] {
        plain(self.n.as_slice())
    }
}

impl ArchivedBarColumns {
    /// Whether the archive is a consistent batch: every column as long as `t`, offsets starting at
    /// 0, never decreasing and ending at the row count, one more offset than tickers, every ticker
    /// a valid symbol. Byte validation (`rkyv::access`) cannot know these; readers that slice by
    /// offsets rely on them.
    ///
    /// # Errors
    /// What is inconsistent.
    pub fn check(&self) -> Result<(), String> {
        let lens = [self.o.len(), self.h.len(), self.l.len(), self.c.len(), self.v.len(), self.vw.len(), self.n.len()];
        check_lengths(self.t.len(), lens)?;
        check_series(self.tickers.iter().map(|t| t.as_str()), self.offsets.as_slice(), self.t.len())
    }
}

/// Whether every column after `t` (`o, h, l, c, v, vw, n`, in that order) has `rows` rows.
fn check_lengths(rows: usize, lens: [usize; 7]) -> Result<(), String> {
    const NAMES: [&str; 7] = ["o", "h", "l", "c", "v", "vw", "n"];
    match NAMES.iter().zip(lens).find(|(_, len)| *len != rows) {
        Some((name, len)) => Err(format!("column {name} has {len} rows, t has {rows}")),
        None => Ok(()),
    }
}

/// Whether series boundaries are consistent with `rows` rows: one more offset than `tickers`,
/// running from 0 to `rows` without decreasing.
fn check_offsets<O: Copy>(tickers: usize, offsets: &[O], rows: usize, native: impl Fn(O) -> u32) -> Result<(), String> {
    if offsets.len() != tickers + 1 {
        return Err(format!("{} offsets for {tickers} tickers", offsets.len()));
    }
    if native(offsets[0]) != 0 || native(offsets[offsets.len() - 1]) as usize != rows {
        return Err(format!("offsets must run from 0 to {rows}"));
    }
    if offsets.windows(2).any(|w| native(w[1]) < native(w[0])) {
        return Err("offsets decrease".into());
    }
    Ok(())
}

/// Whether archived series boundaries are consistent with `rows` rows: one more offset than
/// tickers, running from 0 to `rows` without decreasing, every ticker a valid symbol.
pub(crate) fn check_series<'a>(
    tickers: impl ExactSizeIterator<Item = &'a str>,
    offsets: &[rkyv::rend::u32_le],
    rows: usize,
) -> Result<(), String> {
    check_offsets(tickers.len(), offsets, rows, rkyv::rend::u32_le::to_native)?;
    for t in tickers {
        t.parse::<Ticker>().map_err(|e| format!("ticker {t:?}: {e}"))?;
    }
    Ok(())
}

/// Marker for rend's little-endian primitives and the native type they mirror.
///
/// # Safety
/// `Self` must have the size, alignment and (on little-endian hosts) bit layout of `Native`.
#[cfg(target_endian = "little")]
unsafe trait LittleEndianOf<Native> {}
// SAFETY: checked above: same size and alignment; rend stores the little-endian bytes, which on a
// little-endian host are the native representation.
#[cfg(target_endian = "little")]
unsafe impl LittleEndianOf<f64> for rkyv::rend::f64_le {}
// SAFETY: as above.
#[cfg(target_endian = "little")]
unsafe impl LittleEndianOf<i64> for rkyv::rend::i64_le {}
// SAFETY: as above.
#[cfg(target_endian = "little")]
unsafe impl LittleEndianOf<u64> for rkyv::rend::u64_le {}
// SAFETY: as above.
#[cfg(target_endian = "little")]
unsafe impl LittleEndianOf<u32> for rkyv::rend::u32_le {}

#[cfg(target_endian = "little")]
fn plain<L: LittleEndianOf<N>, N>(s: &[L]) -> &[N] {
    // SAFETY: `LittleEndianOf` guarantees identical size, alignment and bit layout, so the same
    // memory read as `N` is a valid slice of the same length and lifetime.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<N>(), s.len()) }
}

impl BarColumns {
    /// Restores the batch to `rows` rows and `series` tickers (undoes a failed append).
    pub(crate) fn rollback(&mut self, rows: usize, series: usize) {
        self.truncate(rows);
        self.tickers.truncate(series);
        self.offsets.truncate(series + 1);
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64) -> Bar {
        Bar { o: 1.0, h: 2.0, l: 0.5, c: 1.5, v: 10.0, vw: Some(1.2), n: Some(4), t, otc: None }
    }

    #[test]
    fn an_abandoned_series_leaves_the_batch_as_before_it() {
        let mut c = BarColumns::new();
        c.abandon_series();
        c.begin_series("AAPL".parse().unwrap());
        (0..3).for_each(|t| c.push(&bar(t)));
        let before = c.clone();
        c.begin_series("MSFT".parse().unwrap());
        (3..7).for_each(|t| c.push(&bar(t)));
        c.abandon_series();
        assert_eq!(c, before);
        assert_eq!(c.check(), Ok(()));
        c.abandon_series();
        assert_eq!((c.len(), c.num_series()), (0, 0));
    }

    #[test]
    fn check_finds_columns_cut_by_hand() {
        let mut c = BarColumns::new();
        c.begin_series("AAPL".parse().unwrap());
        (0..5).for_each(|t| c.push(&bar(t)));
        c.begin_series("MSFT".parse().unwrap());
        (5..9).for_each(|t| c.push(&bar(t)));
        assert_eq!(c.check(), Ok(()));
        let mut cut = c.clone();
        cut.o.truncate(3);
        assert_eq!(cut.check(), Err("column o has 3 rows, t has 9".into()));
        // Every column cut alike: the lengths agree, the offsets still point past the end.
        let mut cut = c.clone();
        for col in [&mut cut.o, &mut cut.h, &mut cut.l, &mut cut.c, &mut cut.v, &mut cut.vw] {
            col.truncate(2);
        }
        cut.t.truncate(2);
        cut.n.truncate(2);
        assert_eq!(cut.check(), Err("offsets must run from 0 to 2".into()));
    }

    #[test]
    fn offsets_track_series() {
        let mut c = BarColumns::new();
        c.begin_series("AAPL".parse().unwrap());
        c.push(&bar(1));
        c.push(&bar(2));
        c.begin_series("MSFT".parse().unwrap());
        c.begin_series("BRK.B".parse().unwrap());
        c.push(&bar(3));
        assert_eq!(c.offsets(), &[0, 2, 2, 3]);
        assert_eq!(c.series(0).unwrap().t, &[1, 2]);
        assert!(c.series(1).unwrap().is_empty());
        assert_eq!(c.series(2).unwrap().t, &[3]);
        assert_eq!(c.bar(2), Some(bar(3)));
        c.truncate(1);
        assert_eq!(c.offsets(), &[0, 1, 1, 1]);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn absent_values_round_trip() {
        let mut c = BarColumns::new();
        c.begin_series("A".parse().unwrap());
        let b = Bar { vw: None, n: None, ..bar(9) };
        c.push(&b);
        assert_eq!(c.bar(0), Some(b));
    }

    impl ArchivedBarColumns {
        fn c_slice_for_test(&self) -> &[f64] {
            self.f64_column("c").unwrap()
        }
    }

    #[test]
    fn rkyv_round_trip_with_validation() {
        let mut c = BarColumns::new();
        c.begin_series("AAPL".parse().unwrap());
        c.push(&bar(1));
        c.push(&Bar { vw: None, n: None, ..bar(2) });
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&c).unwrap();
        let archived = rkyv::access::<ArchivedBarColumns, rkyv::rancor::Error>(&bytes).unwrap();
        assert_eq!(archived.t.len(), 2);
        let back: BarColumns = rkyv::deserialize::<_, rkyv::rancor::Error>(archived).unwrap();
        assert_eq!(archived.c_slice_for_test(), &[1.5, 1.5]);
        assert_eq!(archived.t_slice(), &[1, 2]);
        assert_eq!(archived.offsets(), &[0, 2]);
        // NaN != NaN, so compare through the Option view.
        assert_eq!(back.bar(0), c.bar(0));
        assert_eq!(back.bar(1), c.bar(1));
        assert_eq!(back.offsets(), c.offsets());
    }
}
