//! A streaming decoder of Massive's flat-file aggregate CSV (one gzip CSV per trading day, header
//! `ticker,volume,open,close,high,low,window_start,transactions`, `window_start` in Unix ns, no
//! VWAP) straight into per-ticker [`BarColumns`], with errors that name the line, column and byte.
//!
//! Push style: the caller gunzips and feeds chunks of any size as they arrive
//! ([`FlatFileDecoder::feed`]), then calls [`FlatFileDecoder::finish`]. Only the partial line at a
//! chunk's end is copied (and carried to the next chunk); complete lines are parsed in place. Rows
//! go straight into the columns: no per-row allocation, and the current series is found by
//! comparing the row's ticker bytes with the previous row's, so a hash lookup happens only when the
//! ticker changes. With a ticker filter, rows of other tickers cost a byte comparison and a scan to
//! the end of the line; their numbers are never parsed.
//!
//! Numbers take the same route as the JSON decoder ([`decode_aggregates`](crate::decode_aggregates)):
//! a Clinger fast path, else the standard library's correctly rounded parser, so the same decimal
//! text gives the same `f64` bit for bit.

use std::collections::HashMap;
use std::fmt;

use crate::Ticker;
use crate::columns::{BarColumns, N_ABSENT};
use crate::decode::{POW10, POW10_U64, scan_digits};
use crate::error::Error;

/// The longest line accepted, in bytes without its line break. A real row is about 60 bytes; the
/// limit bounds what a stream without line breaks can make the decoder hold.
pub const MAX_CSV_LINE_LEN: usize = 64 * 1024;

/// Why a flat file failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsvErrorKind {
    /// The stream held no bytes at all: not even a header.
    Empty,
    /// A required column (named by [`CsvError::field`]) is missing from the header.
    MissingColumn,
    /// A column we read (named by [`CsvError::field`]) appears twice in the header.
    DuplicateColumn,
    /// A field is not of its column's form.
    Expected {
        /// What the column takes (`a number`, `an integer`, …).
        what: &'static str,
        /// The field as written (cut after 64 bytes).
        found: String,
    },
    /// A number overflowed to infinity.
    NonFinite {
        /// The field as written.
        found: String,
    },
    /// An integer does not fit its column's type.
    OutOfRange {
        /// The field as written.
        found: String,
    },
    /// A `window_start` (ns) that is not a whole millisecond.
    NotWholeMillisecond {
        /// The value, Unix ns.
        window_start: i64,
    },
    /// A ticker that is not a valid [`Ticker`].
    InvalidTicker {
        /// The field as written.
        found: String,
        /// The rule it broke.
        reason: String,
    },
    /// A second row for the same ticker and `window_start`.
    DuplicateRow {
        /// The ticker.
        ticker: String,
        /// The repeated `window_start`, Unix ns.
        window_start: i64,
    },
    /// The row ends before the header's last column ([`CsvError::field`] names the first missing).
    MissingFields {
        /// Fields the row has.
        found: usize,
        /// Columns of the header.
        expected: usize,
    },
    /// The row has more fields than the header has columns.
    ExtraFields {
        /// Columns of the header.
        expected: usize,
    },
    /// A line longer than [`MAX_CSV_LINE_LEN`] bytes.
    LineTooLong,
    /// More rows kept than a [`BarColumns`] holds (`u32::MAX`).
    TooManyRows,
}

/// A flat-file decode failure: where (line, column, byte) and what.
///
/// The decoder does not know the file's name: a caller that does attaches it with
/// [`CsvError::with_file`], and [`Display`](fmt::Display) then starts with it:
///
/// ```
/// let csv = b"ticker,volume,open,close,high,low,window_start,transactions\n\
///             AAPL,100,1.2x,1,1,1,1719835200000000000,3\n";
/// let err = polygon_model::decode_flat_file(csv).unwrap_err();
/// assert_eq!((err.line, err.field.as_str(), err.offset), (2, "open", 69));
/// assert_eq!(
///     err.with_file("2024-07-01.csv.gz").to_string(),
///     r#"2024-07-01.csv.gz: line 2, field "open": expected a number, found "1.2x" (byte 69)"#,
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// The file, when the caller attached it ([`CsvError::with_file`]).
    pub file: Option<String>,
    /// The 1-based line (the header is line 1).
    pub line: u64,
    /// The column's name as the header spells it, or `""` for the line itself.
    pub field: String,
    /// Byte offset in the decompressed stream (a byte-order mark included) where the problem is:
    /// the start of the field, or of the line.
    pub offset: u64,
    /// What was wrong.
    pub kind: CsvErrorKind,
}

impl CsvError {
    /// The same error, naming the file it came from.
    #[must_use]
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        write!(f, "line {}", self.line)?;
        if !self.field.is_empty() {
            write!(f, ", field {:?}", self.field)?;
        }
        f.write_str(": ")?;
        match &self.kind {
            CsvErrorKind::Empty => f.write_str("the stream is empty: expected a header line")?,
            CsvErrorKind::MissingColumn => f.write_str("required column missing from the header")?,
            CsvErrorKind::DuplicateColumn => f.write_str("column appears twice in the header")?,
            CsvErrorKind::Expected { what, found } => write!(f, "expected {what}, found {found:?}")?,
            CsvErrorKind::NonFinite { found } => write!(f, "number {found:?} is not finite")?,
            CsvErrorKind::OutOfRange { found } => write!(f, "integer {found:?} is out of range")?,
            CsvErrorKind::NotWholeMillisecond { window_start } => {
                write!(f, "{window_start} ns is not a whole millisecond")?;
            }
            CsvErrorKind::InvalidTicker { found, reason } => write!(f, "invalid ticker {found:?}: {reason}")?,
            CsvErrorKind::DuplicateRow { ticker, window_start } => {
                write!(f, "a second row for ticker {ticker:?} at window_start {window_start}")?;
            }
            CsvErrorKind::MissingFields { found, expected } => {
                let s = if *found == 1 { "" } else { "s" };
                write!(f, "the row ends after {found} field{s}, the header has {expected}")?;
            }
            CsvErrorKind::ExtraFields { expected } => {
                write!(f, "the row has more fields than the header's {expected}")?;
            }
            CsvErrorKind::LineTooLong => write!(f, "line longer than {MAX_CSV_LINE_LEN} bytes")?,
            CsvErrorKind::TooManyRows => f.write_str("more rows than a batch holds (u32::MAX)")?,
        }
        write!(f, " (byte {})", self.offset)
    }
}

impl std::error::Error for CsvError {}

/// One decoded flat file.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatFileDay {
    /// One series per ticker that has at least one (kept) row, sorted by ticker; each series
    /// ascending by `t` (Unix ms, `window_start / 1e6`). `vw` is NaN (the files have no VWAP) and
    /// `n` is [`N_ABSENT`] where `transactions` is empty or not a column.
    pub bars: BarColumns,
    /// Data rows in the file, kept or filtered out (blank lines not counted).
    pub rows: u64,
}

/// Decodes a whole decompressed flat file held in memory, every ticker kept.
///
/// The same as one [`FlatFileDecoder::feed`] and [`FlatFileDecoder::finish`].
///
/// # Errors
/// As [`FlatFileDecoder::feed`] and [`FlatFileDecoder::finish`].
pub fn decode_flat_file(csv: &[u8]) -> Result<FlatFileDay, CsvError> {
    let mut d = FlatFileDecoder::new();
    d.feed(csv)?;
    d.finish()
}

/// A column the decoder reads, or one it ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Ticker,
    Volume,
    Open,
    Close,
    High,
    Low,
    WindowStart,
    Transactions,
    Other,
}

/// The columns read, by header name; all but `transactions` required (checked in this order).
const COLUMNS: [(&str, Col); 8] = [
    ("ticker", Col::Ticker),
    ("volume", Col::Volume),
    ("open", Col::Open),
    ("close", Col::Close),
    ("high", Col::High),
    ("low", Col::Low),
    ("window_start", Col::WindowStart),
    ("transactions", Col::Transactions),
];

const WINDOW_START: &str = "window_start";

/// The header, read once.
#[derive(Debug)]
struct Layout {
    /// Each header column's role, in file order.
    cols: Vec<Col>,
    /// Each header column's name as written (trimmed), for error messages.
    names: Vec<String>,
    /// Index of the ticker column.
    ticker: usize,
    /// The columns are exactly Massive's, in Massive's order: rows take [`standard_fields`].
    standard: bool,
}

/// What the current (previous row's) ticker maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// No row read yet.
    None,
    /// Filtered out: skip its rows.
    Skip,
    /// Series index.
    Series(u32),
}

/// A ticker's series while decoding.
#[derive(Debug)]
struct SeriesState {
    ticker: Ticker,
    /// `t` of the series' latest row (in file order).
    last_t: i64,
    rows: u32,
    /// A row arrived with `t` below its predecessor's: the series needs sorting at the end.
    unsorted: bool,
}

/// A run of consecutive kept rows of one series, from `start` to the next run's start.
#[derive(Debug, Clone, Copy)]
struct Run {
    series: u32,
    start: u32,
}

/// Where a row of an unsorted series came from, to name a duplicate found only after sorting.
#[derive(Debug, Clone, Copy)]
struct Origin {
    row: u32,
    line: u64,
    offset: u64,
}

/// The kept rows, in file order.
#[derive(Debug, Default)]
struct Rows {
    t: Vec<i64>,
    o: Vec<f64>,
    h: Vec<f64>,
    l: Vec<f64>,
    c: Vec<f64>,
    v: Vec<f64>,
    n: Vec<u64>,
}

/// A push-style streaming decoder of one flat file.
///
/// ```
/// use polygon_model::{FlatFileDecoder, Ticker};
/// let csv = b"ticker,volume,open,close,high,low,window_start,transactions\n\
///             AAPL,100,1.5,1.75,2,1,1719835200000000000,3\n\
///             MSFT,200.0,10,11,12,9,1719835200000000000,\n\
///             MSFT,300,11,12,13,10,1719835260000000000,7\n";
/// let only = [Ticker::new("MSFT")?];
/// let mut d = FlatFileDecoder::with_filter(&only);
/// for chunk in csv.chunks(7) {
///     d.feed(chunk).unwrap(); // as chunks arrive from the network, already gunzipped
/// }
/// let day = d.finish().unwrap();
/// assert_eq!(day.rows, 3);
/// let msft = day.bars.series(0).unwrap();
/// assert_eq!(msft.ticker.as_str(), "MSFT");
/// assert_eq!(msft.t, &[1_719_835_200_000, 1_719_835_260_000]); // ms
/// assert_eq!(msft.volume, &[200.0, 300.0]);
/// assert_eq!(day.bars.n(0), None); // empty transactions
/// assert!(msft.vw.iter().all(|x| x.is_nan())); // flat files carry no VWAP
/// # Ok::<(), polygon_model::Error>(())
/// ```
///
/// The input is plain comma-separated text as Massive writes it: no quoting, `\n` or `\r\n`
/// line breaks, an optional UTF-8 byte-order mark, an optional final line break; blank lines are
/// skipped. The header is required and columns are found by name (`ticker`, `volume`, `open`,
/// `close`, `high`, `low`, `window_start` required; `transactions` optional; others ignored;
/// names trimmed of spaces and surrounding double quotes), so any column order works. Rows need not be sorted: each ticker's rows are sorted by time (stably)
/// and the series by ticker at [`finish`](Self::finish). Rows of tickers outside the filter are
/// not validated beyond finding their ticker field.
///
/// On any error nothing is returned: the error is kept, and every later `feed` and `finish` returns
/// it again.
#[derive(Debug)]
pub struct FlatFileDecoder {
    layout: Option<Layout>,
    st: State,
}

/// Everything but the header, so rows can borrow the layout while they mutate this.
#[derive(Debug)]
struct State {
    /// With a filter, only the filter's tickers are in `known`: any other ticker is skipped.
    filtered: bool,
    /// Ticker bytes to series index.
    known: HashMap<Box<[u8]>, u32>,
    series: Vec<SeriesState>,
    /// The previous row's ticker bytes and what they map to.
    cur: Vec<u8>,
    cur_slot: Slot,
    /// Series of the last kept row (`u32::MAX` before any).
    last_series: u32,
    runs: Vec<Run>,
    rows: Rows,
    origins: Vec<Origin>,
    /// The partial line carried from the previous chunk, and its stream offset.
    carry: Vec<u8>,
    carry_at: u64,
    /// Bytes fed so far.
    pos: u64,
    /// The number of the next line to read (1-based).
    line: u64,
    data_rows: u64,
    failed: Option<CsvError>,
}

impl Default for FlatFileDecoder {
    fn default() -> Self {
        FlatFileDecoder::new()
    }
}

impl FlatFileDecoder {
    /// A decoder that keeps every ticker of the file.
    pub fn new() -> Self {
        FlatFileDecoder {
            layout: None,
            st: State {
                filtered: false,
                known: HashMap::new(),
                series: Vec::new(),
                cur: Vec::with_capacity(32),
                cur_slot: Slot::None,
                last_series: u32::MAX,
                runs: Vec::new(),
                rows: Rows::default(),
                origins: Vec::new(),
                carry: Vec::new(),
                carry_at: 0,
                pos: 0,
                line: 1,
                data_rows: 0,
                failed: None,
            },
        }
    }

    /// A decoder that keeps only `tickers` (repeats are harmless); other rows are skipped
    /// without parsing their numbers.
    pub fn with_filter<'a>(tickers: impl IntoIterator<Item = &'a Ticker>) -> Self {
        let mut d = FlatFileDecoder::new();
        d.st.filtered = true;
        for t in tickers {
            d.st.add_series(t.clone());
        }
        d
    }

    /// Reserves room for `rows` more kept rows: a hint that spares the columns' regrowth (30% of an
    /// unfiltered day's decode time in the `flatfile` bench) when the caller can guess the count,
    /// e.g. from the previous day's file or the decompressed size (a row is about 55 bytes).
    /// Never required.
    pub fn reserve(&mut self, rows: usize) {
        let r = &mut self.st.rows;
        r.t.reserve(rows);
        for col in [&mut r.o, &mut r.h, &mut r.l, &mut r.c, &mut r.v] {
            col.reserve(rows);
        }
        r.n.reserve(rows);
    }

    /// Decodes the next chunk of the decompressed stream (any size, split anywhere).
    ///
    /// # Errors
    /// A [`CsvError`] naming the line, column and byte offset: a header without a required column
    /// or with one twice; a field that is not of its column's form (prices and volume decimals,
    /// `window_start` an integer number of whole milliseconds in ns, `transactions` a non-negative
    /// integer or empty); a non-finite number; a ticker that is not a valid [`Ticker`]; a row with
    /// too few or too many fields; a second row for the same ticker and minute; a line over
    /// [`MAX_CSV_LINE_LEN`] bytes. After an error every call returns it again.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), CsvError> {
        if let Some(e) = &self.st.failed {
            return Err(e.clone());
        }
        let r = self.feed_inner(chunk);
        if let Err(e) = &r {
            self.fail(e.clone());
        }
        r
    }

    /// Ends the stream: decodes a last line without a line break, and sorts and returns the
    /// bars.
    ///
    /// # Errors
    /// As [`feed`](Self::feed) for the last line; an empty stream (no header); a duplicate
    /// ticker and minute among rows that arrived out of order (found only once they are sorted);
    /// any error an earlier `feed` returned.
    pub fn finish(mut self) -> Result<FlatFileDay, CsvError> {
        if let Some(e) = self.st.failed.take() {
            return Err(e);
        }
        if !self.st.carry.is_empty() {
            let mut line = std::mem::take(&mut self.st.carry);
            line.push(b'\n');
            let at = self.st.carry_at;
            self.block(&line, at)?;
        }
        if self.layout.is_none() {
            return Err(CsvError { file: None, line: 1, field: String::new(), offset: 0, kind: CsvErrorKind::Empty });
        }
        let rows = self.st.data_rows;
        Ok(FlatFileDay { bars: self.st.assemble()?, rows })
    }

    /// Keeps `e` for every later call and frees what was decoded.
    fn fail(&mut self, e: CsvError) {
        self.st.failed = Some(e);
        self.st.rows = Rows::default();
        self.st.origins = Vec::new();
        self.st.runs = Vec::new();
        self.st.carry = Vec::new();
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), CsvError> {
        let base = self.st.pos;
        self.st.pos += chunk.len() as u64;
        let mut rest = chunk;
        let mut rest_at = base;
        if !self.st.carry.is_empty() {
            let Some(nl) = find_newline(rest, 0) else {
                return self.st.append_carry(rest);
            };
            let (head, tail) = rest.split_at(nl + 1);
            let mut line = std::mem::take(&mut self.st.carry);
            line.extend_from_slice(head);
            let at = self.st.carry_at;
            let r = self.block(&line, at);
            line.clear();
            self.st.carry = line;
            r?;
            rest = tail;
            rest_at = base + (nl + 1) as u64;
        }
        let split = rest.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        let (complete, tail) = rest.split_at(split);
        if !complete.is_empty() {
            self.block(complete, rest_at)?;
        }
        if !tail.is_empty() {
            self.st.carry_at = rest_at + split as u64;
            self.st.append_carry(tail)?;
        }
        Ok(())
    }

    /// Decodes complete lines: `b` ends with `\n` and starts at stream offset `base`.
    fn block(&mut self, b: &[u8], base: u64) -> Result<(), CsvError> {
        let mut i = 0;
        if self.layout.is_none() {
            let (layout, next) = self.st.header(b, base)?;
            self.layout = Some(layout);
            i = next;
        }
        let Some(layout) = &self.layout else { return Ok(()) };
        while i < b.len() {
            i = self.st.row(layout, b, i, base)?;
        }
        Ok(())
    }
}

/// The error for a field at `b[at..]` (its text runs to the next delimiter).
#[cold]
#[inline(never)]
fn field_error(line: u64, name: &str, b: &[u8], at: usize, base: u64, bad: Bad) -> CsvError {
    let found = found_text(b, at);
    let kind = match bad {
        Bad::Expected(what) => CsvErrorKind::Expected { what, found },
        Bad::NonFinite => CsvErrorKind::NonFinite { found },
        Bad::OutOfRange => CsvErrorKind::OutOfRange { found },
    };
    CsvError { file: None, line, field: name.to_owned(), offset: base + at as u64, kind }
}

/// The field at `b[at..]` as text, cut after 64 bytes.
fn found_text(b: &[u8], at: usize) -> String {
    let rest = b.get(at..).unwrap_or_default();
    let end = rest.iter().position(|&c| c == b',' || c == b'\n').unwrap_or(rest.len());
    let mut field = &rest[..end];
    if rest.get(end) == Some(&b'\n')
        && let Some(f) = field.strip_suffix(b"\r")
    {
        field = f;
    }
    let cut = field.len() > 64;
    let mut s = String::from_utf8_lossy(&field[..field.len().min(64)]).into_owned();
    if cut {
        s.push('…');
    }
    s
}

impl State {
    fn add_series(&mut self, ticker: Ticker) -> u32 {
        let key: Box<[u8]> = ticker.as_str().as_bytes().into();
        if let Some(&id) = self.known.get(&key) {
            return id;
        }
        let id = self.series.len() as u32;
        self.known.insert(key, id);
        self.series.push(SeriesState { ticker, last_t: 0, rows: 0, unsorted: false });
        id
    }

    fn append_carry(&mut self, bytes: &[u8]) -> Result<(), CsvError> {
        if self.carry.len() + bytes.len() > MAX_CSV_LINE_LEN {
            return Err(self.line_error(self.carry_at, CsvErrorKind::LineTooLong));
        }
        self.carry.extend_from_slice(bytes);
        Ok(())
    }

    #[cold]
    fn line_error(&self, offset: u64, kind: CsvErrorKind) -> CsvError {
        CsvError { file: None, line: self.line, field: String::new(), offset, kind }
    }

    #[cold]
    fn error(&self, field: &str, offset: u64, kind: CsvErrorKind) -> CsvError {
        CsvError { file: None, line: self.line, field: field.to_owned(), offset, kind }
    }

    /// Reads the header line at the start of `b`; returns the layout and where the next line starts.
    fn header(&mut self, b: &[u8], base: u64) -> Result<(Layout, usize), CsvError> {
        let nl = find_newline(b, 0).unwrap_or(b.len());
        let mut line = &b[..nl];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        let mut at = 0usize;
        if let Some(l) = line.strip_prefix(b"\xEF\xBB\xBF") {
            line = l;
            at = 3;
        }
        if nl > MAX_CSV_LINE_LEN {
            return Err(self.line_error(base, CsvErrorKind::LineTooLong));
        }
        let mut cols = Vec::new();
        let mut names = Vec::new();
        let mut found: [Option<usize>; 8] = [None; 8];
        for raw in line.split(|&c| c == b',') {
            let name = String::from_utf8_lossy(raw.trim_ascii());
            let name = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(&name).to_owned();
            let col = match COLUMNS.iter().position(|(n, _)| *n == name) {
                Some(k) => {
                    if found[k].is_some() {
                        return Err(self.error(&name, base + at as u64, CsvErrorKind::DuplicateColumn));
                    }
                    found[k] = Some(cols.len());
                    COLUMNS[k].1
                }
                None => Col::Other,
            };
            cols.push(col);
            names.push(name);
            at += raw.len() + 1;
        }
        for (k, (name, col)) in COLUMNS.iter().enumerate() {
            if found[k].is_none() && *col != Col::Transactions {
                return Err(self.error(name, base, CsvErrorKind::MissingColumn));
            }
        }
        self.line += 1;
        let ticker = found[0].unwrap_or(0);
        let standard = cols.len() == COLUMNS.len() && cols.iter().zip(&COLUMNS).all(|(a, (_, b))| a == b);
        Ok((Layout { cols, names, ticker, standard }, nl + 1))
    }

    /// Decodes the line at `b[start..]` (`b` ends with `\n`); returns where the next line starts.
    #[inline]
    fn row(&mut self, lay: &Layout, b: &[u8], start: usize, base: u64) -> Result<usize, CsvError> {
        // Blank line.
        match b.get(start) {
            Some(b'\n') => {
                self.line += 1;
                return Ok(start + 1);
            }
            Some(b'\r') if b.get(start + 1) == Some(&b'\n') => {
                self.line += 1;
                return Ok(start + 2);
            }
            _ => {}
        }
        // The ticker field, then what it maps to.
        let mut tk_at = start;
        for k in 0..lay.ticker {
            let e = field_end(b, tk_at);
            if b.get(e) != Some(&b',') {
                return Err(self.missing_fields(lay, k + 1, base + e as u64));
            }
            tk_at = e + 1;
        }
        let tk_end = field_end(b, tk_at);
        let mut tk = &b[tk_at..tk_end];
        if b.get(tk_end) == Some(&b'\n')
            && let Some(t) = tk.strip_suffix(b"\r")
        {
            tk = t;
        }
        let slot = match self.cur_slot {
            s @ (Slot::Skip | Slot::Series(_)) if tk == self.cur.as_slice() => s,
            _ => self.switch(tk, base + tk_at as u64)?,
        };
        self.data_rows += 1;
        let id = match slot {
            Slot::Series(id) => id,
            _ => {
                let nl = find_newline(b, tk_end).unwrap_or(b.len().saturating_sub(1));
                if nl - start > MAX_CSV_LINE_LEN {
                    return Err(self.line_error(base + start as u64, CsvErrorKind::LineTooLong));
                }
                self.line += 1;
                return Ok(nl + 1);
            }
        };
        // The usual layout in straight-line code; anything it does not take, the general loop
        // below reads again (and names the field of any error).
        if lay.standard
            && let Some((p, ns, ns_at, n, end)) = standard_fields(b, tk_end)
            && end - start <= MAX_CSV_LINE_LEN
            && ns % 1_000_000 == 0
        {
            self.push(id, ns, base + ns_at as u64, p, n)?;
            self.line += 1;
            return Ok(end + 1);
        }
        // Every field, in header order.
        let (mut o, mut h, mut l, mut c, mut v) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut ns, mut ns_at, mut n) = (0i64, 0usize, N_ABSENT);
        let mut i = start;
        let last = lay.cols.len() - 1;
        for (k, &col) in lay.cols.iter().enumerate() {
            let at = i;
            let r = match col {
                Col::Ticker => {
                    i = tk_end;
                    Ok(())
                }
                Col::Open => decimal(b, i).map(|(x, e)| (o, i) = (x, e)),
                Col::High => decimal(b, i).map(|(x, e)| (h, i) = (x, e)),
                Col::Low => decimal(b, i).map(|(x, e)| (l, i) = (x, e)),
                Col::Close => decimal(b, i).map(|(x, e)| (c, i) = (x, e)),
                Col::Volume => decimal(b, i).map(|(x, e)| (v, i) = (x, e)),
                Col::WindowStart => integer(b, i).map(|(x, e)| (ns, ns_at, i) = (x, at, e)),
                Col::Transactions => count(b, i).map(|(x, e)| (n, i) = (x, e)),
                Col::Other => {
                    i = field_end(b, i);
                    Ok(())
                }
            };
            if let Err(bad) = r {
                return Err(field_error(self.line, &lay.names[k], b, at, base, bad));
            }
            // The delimiter after the field.
            match b.get(i) {
                Some(b',') if k < last => i += 1,
                Some(b'\n') if k == last => {}
                Some(b'\r') if k == last => i += 1, // the field parsers stop at '\r' only before '\n'
                Some(b',') => {
                    return Err(
                        self.line_error(base + i as u64, CsvErrorKind::ExtraFields { expected: lay.cols.len() })
                    );
                }
                _ => return Err(self.missing_fields(lay, k + 1, base + i as u64)),
            }
        }
        if i - start > MAX_CSV_LINE_LEN {
            return Err(self.line_error(base + start as u64, CsvErrorKind::LineTooLong));
        }
        if ns % 1_000_000 != 0 {
            let kind = CsvErrorKind::NotWholeMillisecond { window_start: ns };
            return Err(self.error(WINDOW_START, base + ns_at as u64, kind));
        }
        self.push(id, ns, base + ns_at as u64, [o, h, l, c, v], n)?;
        self.line += 1;
        Ok(i + 1)
    }

    #[cold]
    fn missing_fields(&self, lay: &Layout, found: usize, offset: u64) -> CsvError {
        let name = lay.names.get(found).map_or("", String::as_str);
        self.error(name, offset, CsvErrorKind::MissingFields { found, expected: lay.cols.len() })
    }

    /// The row's ticker differs from the previous row's: find (or make) its series.
    #[cold]
    #[inline(never)]
    fn switch(&mut self, tk: &[u8], offset: u64) -> Result<Slot, CsvError> {
        let slot = if let Some(&id) = self.known.get(tk) {
            Slot::Series(id)
        } else if self.filtered {
            Slot::Skip
        } else {
            let text = std::str::from_utf8(tk).map_err(|_| "not valid UTF-8".to_owned());
            let ticker = text.and_then(|s| {
                Ticker::new(s).map_err(|e| match e {
                    Error::BadArgument { reason, .. } => reason,
                })
            });
            match ticker {
                Ok(t) => Slot::Series(self.add_series(t)),
                Err(reason) => {
                    let found = String::from_utf8_lossy(tk).into_owned();
                    return Err(self.error("ticker", offset, CsvErrorKind::InvalidTicker { found, reason }));
                }
            }
        };
        self.cur.clear();
        self.cur.extend_from_slice(tk);
        self.cur_slot = slot;
        Ok(slot)
    }

    #[inline]
    fn push(&mut self, id: u32, ns: i64, ns_at: u64, p: [f64; 5], n: u64) -> Result<(), CsvError> {
        let row = self.rows.t.len();
        if row >= u32::MAX as usize {
            return Err(self.line_error(ns_at, CsvErrorKind::TooManyRows));
        }
        let t = ns / 1_000_000;
        let Some(s) = self.series.get_mut(id as usize) else {
            return Err(self.line_error(ns_at, CsvErrorKind::TooManyRows)); // unreachable: ids index `series`
        };
        if s.rows > 0 {
            if t == s.last_t {
                let ticker = s.ticker.as_str().to_owned();
                return Err(self.error(WINDOW_START, ns_at, CsvErrorKind::DuplicateRow { ticker, window_start: ns }));
            }
            s.unsorted |= t < s.last_t;
        }
        s.last_t = t;
        s.rows += 1;
        if s.unsorted {
            self.origins.push(Origin { row: row as u32, line: self.line, offset: ns_at });
        }
        if id != self.last_series {
            self.runs.push(Run { series: id, start: row as u32 });
            self.last_series = id;
        }
        let r = &mut self.rows;
        r.t.push(t);
        r.o.push(p[0]);
        r.h.push(p[1]);
        r.l.push(p[2]);
        r.c.push(p[3]);
        r.v.push(p[4]);
        r.n.push(n);
        Ok(())
    }

    /// The kept rows as columns: series sorted by ticker, each sorted by time.
    fn assemble(self) -> Result<BarColumns, CsvError> {
        let State { series, runs, rows, origins, .. } = self;
        let total = rows.t.len();
        let end_of = |k: usize| runs.get(k + 1).map_or(total, |r| r.start as usize);
        let ticker_of = |r: &Run| &series[r.series as usize].ticker;
        // The usual file: each ticker once, in ticker order, each in time order. Nothing to move.
        let in_order = runs.windows(2).all(|w| ticker_of(&w[0]) < ticker_of(&w[1]));
        if in_order && series.iter().all(|s| !s.unsorted) {
            let mut offsets = Vec::with_capacity(runs.len() + 1);
            offsets.extend(runs.iter().map(|r| r.start));
            offsets.push(total as u32);
            let tickers = runs.iter().map(|r| ticker_of(r).clone()).collect();
            let Rows { t, o, h, l, c, v, n } = rows;
            return Ok(BarColumns { tickers, offsets, t, o, h, l, c, v, vw: vec![f64::NAN; total], n });
        }
        // Otherwise a stable placement: series by ticker, each one's runs in file order.
        let mut order: Vec<u32> = (0..series.len() as u32).filter(|&k| series[k as usize].rows > 0).collect();
        order.sort_by(|a, b| series[*a as usize].ticker.cmp(&series[*b as usize].ticker));
        let mut next = vec![0u32; series.len()];
        let mut offsets = Vec::with_capacity(order.len() + 1);
        let mut acc = 0u32;
        for &k in &order {
            offsets.push(acc);
            next[k as usize] = acc;
            acc += series[k as usize].rows;
        }
        offsets.push(acc);
        let mut perm = vec![0u32; total];
        for (k, run) in runs.iter().enumerate() {
            let slot = &mut next[run.series as usize];
            for row in run.start..end_of(k) as u32 {
                perm[*slot as usize] = row;
                *slot += 1;
            }
        }
        // Sort the series that need it (stably: equal times keep file order) and find the first
        // duplicate in file order. The later row of a duplicate pair arrived after its series
        // turned unsorted (before, times only rose), so `origins` knows where it came from.
        let mut dup: Option<(Origin, u32, i64)> = None;
        for (j, &k) in order.iter().enumerate() {
            if !series[k as usize].unsorted {
                continue;
            }
            let seg = &mut perm[offsets[j] as usize..offsets[j + 1] as usize];
            seg.sort_by_key(|&r| rows.t[r as usize]);
            for w in seg.windows(2) {
                let t = rows.t[w[1] as usize];
                if rows.t[w[0] as usize] == t {
                    let at = origins.binary_search_by_key(&w[1], |o| o.row).ok().map(|p| origins[p]);
                    let at = at.unwrap_or(Origin { row: w[1], line: 0, offset: 0 });
                    if dup.is_none_or(|(d, ..)| at.line < d.line) {
                        dup = Some((at, k, t));
                    }
                }
            }
        }
        if let Some((at, k, t)) = dup {
            let ticker = series[k as usize].ticker.as_str().to_owned();
            let kind = CsvErrorKind::DuplicateRow { ticker, window_start: t * 1_000_000 };
            return Err(CsvError { file: None, line: at.line, field: WINDOW_START.into(), offset: at.offset, kind });
        }
        let tickers = order.iter().map(|&k| series[k as usize].ticker.clone()).collect();
        let gather_f = |col: &[f64]| perm.iter().map(|&r| col[r as usize]).collect::<Vec<_>>();
        Ok(BarColumns {
            tickers,
            offsets,
            t: perm.iter().map(|&r| rows.t[r as usize]).collect(),
            o: gather_f(&rows.o),
            h: gather_f(&rows.h),
            l: gather_f(&rows.l),
            c: gather_f(&rows.c),
            v: gather_f(&rows.v),
            vw: vec![f64::NAN; total],
            n: perm.iter().map(|&r| rows.n[r as usize]).collect(),
        })
    }
}

/// The fields after the ticker in Massive's order (`,volume,open,close,high,low,window_start,
/// transactions` and the line break, from `b[i]`): `[o, h, l, c, v]`, `window_start` and where it
/// starts, `transactions`, and the index of the `\n`. `None` for anything else.
#[inline(always)]
fn standard_fields(b: &[u8], i: usize) -> Option<([f64; 5], i64, usize, u64, usize)> {
    let comma = |j: usize| (b.get(j) == Some(&b',')).then_some(j + 1);
    let (v, j) = decimal(b, comma(i)?).ok()?;
    let (o, j) = decimal(b, comma(j)?).ok()?;
    let (c, j) = decimal(b, comma(j)?).ok()?;
    let (h, j) = decimal(b, comma(j)?).ok()?;
    let (l, j) = decimal(b, comma(j)?).ok()?;
    let ns_at = comma(j)?;
    let (ns, j) = integer(b, ns_at).ok()?;
    let (n, j) = count(b, comma(j)?).ok()?;
    let end = match b.get(j) {
        Some(b'\n') => j,
        Some(b'\r') => j + 1, // `count` stops at '\r' only before '\n'
        _ => return None,
    };
    Some(([o, h, l, c, v], ns, ns_at, n, end))
}

/// Why a field did not parse.
#[derive(Debug, Clone, Copy)]
enum Bad {
    Expected(&'static str),
    NonFinite,
    OutOfRange,
}

/// Whether a field ends at `b[i]`: `,`, `\n` or `\r\n`.
#[inline(always)]
fn at_delimiter(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        Some(b',' | b'\n') => true,
        Some(b'\r') => b.get(i + 1) == Some(&b'\n'),
        _ => false,
    }
}

/// The end of the field at `b[i..]`: the next `,` or `\n` (or `b.len()`).
#[inline(always)]
fn field_end(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c == b',' || c == b'\n' {
            break;
        }
        i += 1;
    }
    i
}

/// The first `\n` at or after `b[i]`, eight bytes at a time.
#[inline]
fn find_newline(b: &[u8], mut i: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])) ^ (LO * b'\n' as u64);
        // High bit of the lowest zero byte (exact for the first match, which is all we use).
        let zero = x.wrapping_sub(LO) & !x & HI;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| c == b'\n').map(|p| i + p)
}

/// A decimal (`-`? digits [`.` digits] [`e` [`+-`] digits], a digit on one side of the point at
/// least) at `b[i..]`, ending at a field delimiter; the value, correctly rounded, and its end.
#[inline(always)]
fn decimal(b: &[u8], i: usize) -> Result<(f64, usize), Bad> {
    const NOT: Bad = Bad::Expected("a number");
    let start = i;
    let mut j = i;
    let neg = b.get(j) == Some(&b'-');
    if neg {
        j += 1;
    }
    let (int, ni) = scan_digits(b, j);
    j += ni;
    let mut mant = int;
    let mut exp10: i32 = 0;
    let mut digits = ni;
    if b.get(j) == Some(&b'.') {
        j += 1;
        let (frac, nf) = scan_digits(b, j);
        j += nf;
        digits += nf;
        if digits <= 19 {
            mant = mant * POW10_U64[nf] + frac;
            exp10 = -(nf as i32);
        }
    }
    if digits == 0 {
        return Err(NOT);
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        let eneg = match b.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let at = j;
        let mut e: i32 = 0;
        while let Some(&c) = b.get(j) {
            if !c.is_ascii_digit() {
                break;
            }
            e = (e * 10 + (c - b'0') as i32).min(100_000);
            j += 1;
        }
        if j == at {
            return Err(NOT);
        }
        exp10 += if eneg { -e } else { e };
    }
    if !at_delimiter(b, j) {
        return Err(NOT);
    }
    let x = if digits <= 19 && mant <= (1u64 << 53) && (-22..=22).contains(&exp10) {
        let m = mant as f64;
        let x = if exp10 < 0 { m / POW10[(-exp10) as usize] } else { m * POW10[exp10 as usize] };
        if neg { -x } else { x }
    } else {
        // ASCII digits, sign, '.', 'e': valid UTF-8 and a float literal Rust parses.
        let s = std::str::from_utf8(&b[start..j]).map_err(|_| NOT)?;
        s.parse::<f64>().map_err(|_| NOT)?
    };
    if !x.is_finite() {
        return Err(Bad::NonFinite);
    }
    Ok((x, j))
}

/// A signed integer at `b[i..]` ending at a field delimiter (leading zeros allowed).
#[inline(always)]
fn integer(b: &[u8], i: usize) -> Result<(i64, usize), Bad> {
    let mut j = i;
    let neg = b.get(j) == Some(&b'-');
    if neg {
        j += 1;
    }
    while b.get(j) == Some(&b'0') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    let (v, n) = scan_digits(b, j);
    j += n;
    if n == 0 || !at_delimiter(b, j) {
        return Err(Bad::Expected("an integer"));
    }
    // 19 digits fit a u64.
    if n > 19 {
        return Err(Bad::OutOfRange);
    }
    let x = if neg {
        if v > i64::MAX as u64 + 1 {
            return Err(Bad::OutOfRange);
        }
        (v as i64).wrapping_neg()
    } else {
        i64::try_from(v).map_err(|_| Bad::OutOfRange)?
    };
    Ok((x, j))
}

/// A trade count at `b[i..]`: empty (absent, [`N_ABSENT`]) or a non-negative integer below
/// [`N_ABSENT`], perhaps written as a decimal with a zero fraction (`12.0`).
#[inline(always)]
fn count(b: &[u8], i: usize) -> Result<(u64, usize), Bad> {
    const NOT: Bad = Bad::Expected("a non-negative integer or nothing");
    if at_delimiter(b, i) {
        return Ok((N_ABSENT, i));
    }
    let mut j = i;
    while b.get(j) == Some(&b'0') && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    let first = j;
    let (v, n) = scan_digits(b, j);
    j += n;
    if n == 0 {
        return Err(NOT);
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
    }
    if !at_delimiter(b, j) {
        return Err(NOT);
    }
    // 19 digits always fit a u64; 20 may; more never do. u64::MAX itself means absent.
    if n > 20 || (n == 20 && (v < 10_000_000_000_000_000_000 || b[first] > b'1')) || v == N_ABSENT {
        return Err(Bad::OutOfRange);
    }
    Ok((v, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_search_matches_a_plain_loop() {
        let text = b"abcdefgh\nijklmnopqrstu\n\n12345678901234567\nx";
        for i in 0..=text.len() {
            let want = text[i..].iter().position(|&c| c == b'\n').map(|p| i + p);
            assert_eq!(find_newline(text, i), want, "from {i}");
        }
        // Bytes next to '\n' in value (0x0B, 0x09, 0x8A) are not it.
        assert_eq!(find_newline(b"\x0b\x09\x8a\x0b\x09\x8a\x0b\x09\x8a\n", 0), Some(9));
    }

    #[test]
    fn number_forms() {
        let ok = |s: &str| decimal(format!("{s},").as_bytes(), 0).map(|(x, _)| x).ok();
        assert_eq!(ok("189.98"), Some(189.98));
        assert_eq!(ok("1234.0"), Some(1234.0));
        assert_eq!(ok("-0.5"), Some(-0.5));
        assert_eq!(ok("5."), Some(5.0));
        assert_eq!(ok(".5"), Some(0.5));
        assert_eq!(ok("1.5e-05"), Some(1.5e-5));
        assert_eq!(ok("12345678901234567890.5"), Some(12345678901234567890.5));
        for bad in ["", "-", ".", "1.2x", "1e", "nan", "inf", "+1", "1 ", "1..2", "0x10"] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
        assert!(matches!(decimal(b"1e400\n", 0), Err(Bad::NonFinite)));
        assert_eq!(integer(b"-0042\r\n", 0).ok(), Some((-42, 5)));
        assert!(matches!(integer(b"9223372036854775808,", 0), Err(Bad::OutOfRange)));
        assert_eq!(integer(b"-9223372036854775808,", 0).ok(), Some((i64::MIN, 20)));
        assert_eq!(count(b",", 0).ok(), Some((N_ABSENT, 0)));
        assert_eq!(count(b"12.00\n", 0).ok(), Some((12, 5)));
        assert!(matches!(count(b"18446744073709551615\n", 0), Err(Bad::OutOfRange)));
        assert_eq!(count(b"18446744073709551614\n", 0).ok(), Some((u64::MAX - 1, 20)));
        assert!(matches!(count(b"12.5\n", 0), Err(Bad::Expected(_))));
    }
}
