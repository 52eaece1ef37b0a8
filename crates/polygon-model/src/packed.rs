//! [`PackedBars`]: a [`BarColumns`] batch in a compact, exact encoding, for the cache.
//!
//! Market data is decimal: prices on a tick grid (cents, or 1/10,000 of a dollar under $1), VWAP
//! to four decimals, whole shares and trade counts, timestamps on the minute. Stored as raw `f64`
//! a minute bar costs 64 bytes; stored as the integers it really is, as deltas from the previous
//! row, most rows need one or two bytes per column. A cache that moves a sixth of the bytes out of
//! Redis (minute bars from the simulator: 5.9x smaller) serves a warm batch several times faster,
//! and its memory tier holds six times as much.
//!
//! Every column is encoded on its own:
//! - integers (`t`, `n`) are read as `i64`; floats (`o` … `vw`) as `m / 10^scale` for the smallest
//!   `scale` at which every value of the column is exactly that decimal (checked bit for bit, so
//!   decoding gives back the very same `f64`s; absent VWAPs, NaN, have their own code). A column
//!   where no scale is exact (`-0.0`, binary fractions, a non-canonical NaN) is stored raw;
//! - the integers become zigzag-coded deltas from the previous row or offsets from the column's
//!   smallest value, whichever is smaller (volumes are cheaper as offsets), divided by their common
//!   divisor (60,000 for minute timestamps), and written in blocks of [`BLOCK`] rows, each block in
//!   the fewest bytes (0, 1, 2, 4 or 8) that hold its largest word.
//!
//! The encoding is lossless for every batch (`unpack(pack(x)) == x`, NaN payloads and all); the
//! archive is an ordinary rkyv value, validated on read like any other, and [`ArchivedPackedBars::check`]
//! verifies the block layout before anything is decoded.

use crate::Ticker;
use crate::columns::BarColumns;

/// Rows per block; each block of each column has its own byte width.
pub const BLOCK: usize = 128;
/// The largest decimal scale tried (10^9: nanodollars; beyond that a column is stored raw).
pub const MAX_SCALE: u8 = 9;
/// The most rows one value may hold (a cached chunk is one ticker over one unit: a month of minute
/// bars is about 20,000): a forged value of all-constant blocks cannot make a reader allocate
/// without bound.
pub const MAX_ROWS: usize = 1 << 24;
/// Number of columns: `t o h l c v vw n`.
const COLUMNS: usize = 8;
const NAMES: [&str; COLUMNS] = ["t", "o", "h", "l", "c", "v", "vw", "n"];

/// The column holds 8-byte little-endian words as they were.
const RAW: u8 = 0;
/// The column holds integer deltas (`t`, `n`).
const INT: u8 = 1;
/// The column holds decimal deltas: value = m / 10^scale, `m == NAN_CODE` for NaN.
const DECIMAL: u8 = 2;
/// The decimal code of the canonical NaN (an absent VWAP); no exact decimal reaches it.
const NAN_CODE: i64 = i64::MIN;
/// Integers above this are not exact in an `f64`.
const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

const POW10: [f64; MAX_SCALE as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// A batch of bars, encoded column by column as exact decimal deltas: each float column as
/// `m / 10^scale` at the smallest exact scale, integers as zigzag deltas or offsets in blocks of
/// [`PACKED_BLOCK`](crate::PACKED_BLOCK) rows; lossless for every batch (`unpack(pack(x)) == x`).
///
/// ```
/// use polygon_model::{Bar, BarColumns, PackedBars};
/// let mut cols = BarColumns::new();
/// cols.begin_series("AAPL".parse().unwrap());
/// for i in 0..1_000 {
///     let cents = 18_000 + i % 7;
///     let c = cents as f64 / 100.0;
///     let vw = (cents * 100 + 12) as f64 / 1e4;
///     cols.push(&Bar { o: c, h: c, l: c, c, v: 1_200.0, vw: Some(vw), n: Some(30), t: 1_704_205_800_000 + 60_000 * i, otc: None });
/// }
/// let packed = PackedBars::pack(&cols);
/// assert!(packed.encoded_len() * 4 < cols.byte_len());
/// assert_eq!(packed.unpack(), cols);
/// ```
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct PackedBars {
    tickers: Vec<Ticker>,
    offsets: Vec<u32>,
    rows: u32,
    columns: Vec<PackedColumn>,
}

/// One encoded column.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct PackedColumn {
    /// [`RAW`], [`INT`] or [`DECIMAL`].
    codec: u8,
    /// The decimal exponent ([`DECIMAL`] only).
    scale: u8,
    /// Words are deltas from the previous value (else offsets from `base`).
    delta: bool,
    /// Word 0 is NaN and every other word is one more than its value ([`DECIMAL`] only).
    nan: bool,
    /// Every difference is a multiple of this (1 when none is shared, or one overflowed).
    unit: i64,
    /// Where the deltas start (the first value), or what the offsets are from (the smallest).
    base: i64,
    /// Bytes per delta of each block of [`BLOCK`] rows: 0, 1, 2, 4 or 8.
    widths: Vec<u8>,
    /// The deltas (or, raw, the words), little-endian, block after block.
    data: Vec<u8>,
}

impl PackedBars {
    /// Encodes `cols`; exact for every input.
    pub fn pack(cols: &BarColumns) -> PackedBars {
        let f = [&cols.o, &cols.h, &cols.l, &cols.c, &cols.v, &cols.vw];
        let mut columns = Vec::with_capacity(COLUMNS);
        columns.push(pack_ints(INT, 0, &cols.t));
        columns.extend(f.iter().map(|c| pack_f64(c)));
        let n: Vec<i64> = cols.n.iter().map(|&x| x as i64).collect();
        columns.push(pack_ints(INT, 0, &n));
        PackedBars {
            tickers: cols.tickers.clone(),
            offsets: cols.offsets().to_vec(),
            rows: u32::try_from(cols.len()).expect("a BarColumns batch holds at most u32::MAX rows"),
            columns,
        }
    }

    /// Decodes into a new batch (the slow path for a value in hand; readers of archives use
    /// [`ArchivedPackedBars::append_rows_to`]).
    pub fn unpack(&self) -> BarColumns {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(self).expect("serialising into memory cannot fail");
        let a = rkyv::access::<ArchivedPackedBars, rkyv::rancor::Error>(&bytes).expect("just serialised");
        a.unpack()
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.rows as usize
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Bytes of encoded column data (what the compression is measured by).
    pub fn encoded_len(&self) -> usize {
        self.columns.iter().map(|c| c.data.len() + c.widths.len() + 24).sum()
    }
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn width_of(max: u64) -> u8 {
    match max {
        0 => 0,
        1..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFFFF_FFFF => 4,
        _ => 8,
    }
}

/// The integers `v` in block form: as deltas from the previous value or as offsets from the
/// smallest, whichever is smaller, divided by their common divisor. In a decimal column the NaN
/// code takes the word 0 and leaves the running value alone.
fn pack_ints(codec: u8, scale: u8, v: &[i64]) -> PackedColumn {
    let nan = codec == DECIMAL && v.contains(&NAN_CODE);
    let values = || v.iter().copied().filter(move |&x| !(nan && x == NAN_CODE));
    let first = values().next().unwrap_or(0);
    let base = values().min().unwrap_or(0);
    // The common divisor of all differences (that of consecutive ones is the same), unless a
    // difference overflows: then words wrap and no divisor applies.
    let mut unit = 0u64;
    let mut prev = first;
    for x in values() {
        match x.checked_sub(prev) {
            Some(d) => unit = gcd(unit, d.unsigned_abs()),
            None => {
                unit = 1;
                break;
            }
        }
        if unit == 1 {
            break;
        }
        prev = x;
    }
    let unit = i64::try_from(unit.max(1)).unwrap_or(1);
    // Both forms' words, block by block; the smaller form is kept.
    let words = |delta: bool| {
        let mut prev = first;
        v.iter().map(move |&x| {
            if nan && x == NAN_CODE {
                return 0;
            }
            let w = if delta {
                let z = zigzag(x.wrapping_sub(prev) / unit);
                prev = x;
                z
            } else {
                (x.wrapping_sub(base) / unit) as u64
            };
            w + u64::from(nan)
        })
    };
    let size = |delta: bool| {
        let mut it = words(delta);
        let mut total = 0usize;
        for rows in (0..v.len()).step_by(BLOCK).map(|r| BLOCK.min(v.len() - r)) {
            let max = it.by_ref().take(rows).fold(0, |m, w| m | w);
            total += usize::from(width_of(max)) * rows;
        }
        total
    };
    let delta = size(true) < size(false);
    let mut widths = Vec::with_capacity(v.len().div_ceil(BLOCK));
    let mut data = Vec::with_capacity(v.len() * 2);
    let mut it = words(delta);
    let mut block = [0u64; BLOCK];
    for rows in (0..v.len()).step_by(BLOCK).map(|r| BLOCK.min(v.len() - r)) {
        let mut max = 0;
        for w in &mut block[..rows] {
            *w = it.next().expect("one word a row");
            max |= *w;
        }
        let width = width_of(max);
        widths.push(width);
        for w in &block[..rows] {
            data.extend_from_slice(&w.to_le_bytes()[..usize::from(width)]);
        }
    }
    PackedColumn { codec, scale, delta, nan, unit, base: if delta { first } else { base }, widths, data }
}

/// The integer `x` is at `scale`, if it is exactly `m / 10^scale`.
fn decimal_at(x: f64, scale: u8) -> Option<i64> {
    if x.to_bits() == f64::NAN.to_bits() {
        return Some(NAN_CODE);
    }
    let p = POW10[scale as usize];
    let m = (x * p).round();
    // Compare what decoding will produce (`-0.0` rounds to the integer 0, which decodes as `+0.0`).
    (m.abs() < EXACT && ((m as i64) as f64 / p).to_bits() == x.to_bits()).then_some(m as i64)
}

fn pack_f64(v: &[f64]) -> PackedColumn {
    // The smallest scale at which every value is exact; a value exact at one scale is exact at
    // every larger one below 2^53, and the final pass checks each anyway.
    let mut scale = 0u8;
    'values: for &x in v {
        while scale <= MAX_SCALE {
            if decimal_at(x, scale).is_some() {
                continue 'values;
            }
            scale += 1;
        }
        return raw(v.iter().map(|x| x.to_bits()));
    }
    let ints: Option<Vec<i64>> = v.iter().map(|&x| decimal_at(x, scale)).collect();
    match ints {
        Some(ints) => pack_ints(DECIMAL, scale, &ints),
        None => raw(v.iter().map(|x| x.to_bits())),
    }
}

fn raw(words: impl ExactSizeIterator<Item = u64>) -> PackedColumn {
    let mut data = Vec::with_capacity(words.len() * 8);
    for w in words {
        data.extend_from_slice(&w.to_le_bytes());
    }
    PackedColumn { codec: RAW, scale: 0, delta: false, nan: false, unit: 1, base: 0, widths: Vec::new(), data }
}

/// Reads `buf.len()` little-endian words of `w` bytes (0: all zero) from `bytes` into `buf`,
/// through `f`, in order.
#[inline(always)]
fn words(w: u8, bytes: &[u8], buf: &mut [i64], mut f: impl FnMut(u64) -> i64) {
    match w {
        0 => buf.iter_mut().for_each(|x| *x = f(0)),
        1 => buf.iter_mut().zip(bytes).for_each(|(x, &b)| *x = f(u64::from(b))),
        2 => buf
            .iter_mut()
            .zip(bytes.chunks_exact(2))
            .for_each(|(x, b)| *x = f(u64::from(u16::from_le_bytes([b[0], b[1]])))),
        4 => buf
            .iter_mut()
            .zip(bytes.chunks_exact(4))
            .for_each(|(x, b)| *x = f(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))),
        _ => buf
            .iter_mut()
            .zip(bytes.chunks_exact(8))
            .for_each(|(x, b)| *x = f(u64::from_le_bytes(b.try_into().expect("8 bytes")))),
    }
}

impl ArchivedPackedColumn {
    /// Whether the layout is decodable for `rows` rows.
    fn check(&self, rows: usize) -> Result<(), String> {
        let data = self.data.len();
        match self.codec {
            RAW => {
                if data != rows * 8 {
                    return Err(format!("{data} raw bytes for {rows} rows"));
                }
            }
            INT | DECIMAL => {
                if self.codec == DECIMAL && self.scale > MAX_SCALE {
                    return Err(format!("scale {} above {MAX_SCALE}", self.scale));
                }
                if self.nan && self.codec != DECIMAL {
                    return Err("a NaN code in an integer column".into());
                }
                if self.unit.to_native() < 1 {
                    return Err(format!("unit {}", self.unit));
                }
                if self.widths.len() != rows.div_ceil(BLOCK) {
                    return Err(format!("{} blocks for {rows} rows", self.widths.len()));
                }
                let mut need = 0usize;
                for (b, &w) in self.widths.iter().enumerate() {
                    if !matches!(w, 0 | 1 | 2 | 4 | 8) {
                        return Err(format!("block {b} has width {w}"));
                    }
                    need += w as usize * BLOCK.min(rows - b * BLOCK);
                }
                if need != data {
                    return Err(format!("{data} bytes where the block widths need {need}"));
                }
            }
            other => return Err(format!("unknown codec {other}")),
        }
        Ok(())
    }

    /// Appends the column's `rows` integers to `out`, through `value` (and `nan` for the NaN
    /// word of a column that has one).
    ///
    /// Block by block: the words become integers in a buffer (the running sum is the only
    /// loop-carried part), then the buffer becomes values in a loop the compiler runs in SIMD
    /// lanes (for prices: a conversion and a division each).
    #[inline(always)]
    fn ints_into<T: Copy>(&self, rows: usize, out: &mut Vec<T>, value: impl Fn(i64) -> T, nan: T) {
        if self.nan {
            // No decimal reaches NAN_CODE, so it can stand for NaN in the buffer.
            self.ints_with(rows, out, |m| if m == NAN_CODE { nan } else { value(m) });
        } else {
            self.ints_with(rows, out, value);
        }
    }

    #[inline(always)]
    fn ints_with<T>(&self, rows: usize, out: &mut Vec<T>, value: impl Fn(i64) -> T) {
        out.reserve(rows);
        let unit = self.unit.to_native();
        let mut state = self.base.to_native();
        let mut data: &[u8] = &self.data;
        let mut buf = [0i64; BLOCK];
        for (b, &w) in self.widths.iter().enumerate() {
            let n = BLOCK.min(rows - b * BLOCK);
            let (bytes, rest) = data.split_at(n * w as usize);
            data = rest;
            let buf = &mut buf[..n];
            match (self.delta, self.nan) {
                (true, false) => words(w, bytes, buf, |z| {
                    state = state.wrapping_add(unzigzag(z).wrapping_mul(unit));
                    state
                }),
                (true, true) => words(w, bytes, buf, |z| {
                    if z == 0 {
                        return NAN_CODE;
                    }
                    state = state.wrapping_add(unzigzag(z - 1).wrapping_mul(unit));
                    state
                }),
                (false, false) => words(w, bytes, buf, |z| state.wrapping_add((z as i64).wrapping_mul(unit))),
                (false, true) => words(w, bytes, buf, |z| {
                    if z == 0 { NAN_CODE } else { state.wrapping_add(((z - 1) as i64).wrapping_mul(unit)) }
                }),
            }
            out.extend(buf.iter().map(|&m| value(m)));
        }
    }

    fn words_into<T>(&self, out: &mut Vec<T>, map: impl Fn(u64) -> T) {
        out.extend(self.data.chunks_exact(8).map(|b| map(u64::from_le_bytes(b.try_into().expect("8 bytes")))));
    }

    /// Appends the column as `f64`s; the conversion loop compiled for AVX2 where the CPU has it
    /// (the same IEEE operations: the same bits).
    fn f64_into(&self, rows: usize, out: &mut Vec<f64>) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            fn wide(c: &ArchivedPackedColumn, rows: usize, out: &mut Vec<f64>) {
                c.f64_into_body(rows, out);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just above.
                return unsafe { wide(self, rows, out) };
            }
        }
        self.f64_into_body(rows, out);
    }

    #[inline(always)]
    fn f64_into_body(&self, rows: usize, out: &mut Vec<f64>) {
        match self.codec {
            RAW => self.words_into(out, f64::from_bits),
            INT => self.ints_into(rows, out, |m| m as f64, f64::NAN),
            _ => {
                let p = POW10[usize::from(self.scale)];
                self.ints_into(rows, out, |m| m as f64 / p, f64::NAN);
            }
        }
    }

    fn i64_into(&self, rows: usize, out: &mut Vec<i64>) {
        match self.codec {
            RAW => self.words_into(out, |w| w as i64),
            // Only a forged value puts decimals in an integer column; read them as integers.
            _ => self.ints_into(rows, out, |m| m, 0),
        }
    }
}

impl ArchivedPackedBars {
    /// Rows.
    pub fn len(&self) -> usize {
        self.rows.to_native() as usize
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the archive decodes into a consistent batch: eight columns whose block layout
    /// matches the row count, offsets from 0 to the row count, never decreasing, one more than
    /// tickers, every ticker a valid symbol. Byte validation (`rkyv::access`) cannot see these.
    ///
    /// # Errors
    /// What is inconsistent, naming the column.
    pub fn check(&self) -> Result<(), String> {
        let rows = self.len();
        if rows > MAX_ROWS {
            return Err(format!("{rows} rows, more than {MAX_ROWS}"));
        }
        if self.columns.len() != COLUMNS {
            return Err(format!("{} columns, expected {COLUMNS}", self.columns.len()));
        }
        for (c, name) in self.columns.iter().zip(NAMES) {
            c.check(rows).map_err(|e| format!("column {name}: {e}"))?;
        }
        crate::columns::check_series(self.tickers.iter().map(|t| t.as_str()), self.offsets.as_slice(), rows)
    }

    /// Decodes into a new batch, tickers and all.
    ///
    /// # Panics
    /// If the archive fails [`check`](Self::check) (the cache checks every value it reads).
    pub fn unpack(&self) -> BarColumns {
        let mut out = BarColumns::with_capacity(self.tickers.len(), self.len());
        if self.tickers.is_empty() {
            return out;
        }
        out.tickers = self.tickers.iter().map(|t| t.as_str().parse().expect("checked ticker")).collect();
        self.append_rows_to(&mut out, i64::MIN, i64::MAX);
        // The rows went to the last series; put the archive's boundaries back.
        out.offsets = self.offsets.iter().map(|o| o.to_native()).collect();
        out
    }

    /// Appends every row whose `t` lies in `lo..=hi` to the current (last) series of `out`, in
    /// the archive's row order, and returns how many it appended. Tickers and offsets of the
    /// archive are not copied: this is how a ticker's cached chunks become one series.
    ///
    /// # Panics
    /// If `out` has no series begun, or the archive fails [`check`](Self::check).
    pub fn append_rows_to(&self, out: &mut BarColumns, lo: i64, hi: i64) -> usize {
        assert!(!out.tickers.is_empty(), "append_rows_to before begin_series");
        let rows = self.len();
        let start = out.len();
        let c = &self.columns;
        c[0].i64_into(rows, &mut out.t);
        c[1].f64_into(rows, &mut out.o);
        c[2].f64_into(rows, &mut out.h);
        c[3].f64_into(rows, &mut out.l);
        c[4].f64_into(rows, &mut out.c);
        c[5].f64_into(rows, &mut out.v);
        c[6].f64_into(rows, &mut out.vw);
        match c[7].codec {
            RAW => c[7].words_into(&mut out.n, |w| w),
            _ => c[7].ints_into(rows, &mut out.n, |m| m as u64, 0),
        }
        out.keep_rows_in(start, lo, hi)
    }
}

impl BarColumns {
    /// Keeps, of the rows from `start` on, those with `t` in `lo..=hi` (in order), extends the
    /// last series to the end, and returns how many rows from `start` remain.
    fn keep_rows_in(&mut self, start: usize, lo: i64, hi: i64) -> usize {
        let end = self.t.len();
        if !self.t[start..].iter().all(|t| (lo..=hi).contains(t)) {
            let mut w = start;
            for r in start..end {
                if (lo..=hi).contains(&self.t[r]) {
                    self.t[w] = self.t[r];
                    for col in [&mut self.o, &mut self.h, &mut self.l, &mut self.c, &mut self.v, &mut self.vw] {
                        col[w] = col[r];
                    }
                    self.n[w] = self.n[r];
                    w += 1;
                }
            }
            self.truncate(w);
        }
        let len = u32::try_from(self.t.len()).expect("a BarColumns batch holds at most u32::MAX rows");
        *self.offsets.last_mut().expect("offsets start with 0") = len;
        self.t.len() - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::Bar;

    fn minute_bars(tickers: &[&str], rows: usize, seed: u64) -> BarColumns {
        let mut cols = BarColumns::new();
        let mut s = seed;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as f64 / (1u64 << 31) as f64
        };
        for (k, t) in tickers.iter().enumerate() {
            cols.begin_series(t.parse().unwrap());
            let mut cents = 10_000 + 5_000 * k as i64;
            for i in 0..rows {
                cents += (rnd() * 41.0) as i64 - 20;
                let c = cents as f64 / 100.0;
                let gap = if i % 960 == 0 { 1_000 } else { 1 };
                cols.push(&Bar {
                    o: (cents - 3) as f64 / 100.0,
                    h: (cents + 7) as f64 / 100.0,
                    l: (cents - 9) as f64 / 100.0,
                    c,
                    v: (rnd() * 50_000.0).round(),
                    vw: if i % 97 == 5 { None } else { Some(((c + 0.0123) * 1e4).round() / 1e4) },
                    n: if i % 89 == 3 { None } else { Some((rnd() * 400.0) as u64) },
                    t: 1_704_205_800_000 + 60_000 * (i as i64 * gap),
                    otc: None,
                });
            }
        }
        cols
    }

    fn same_bits(a: &BarColumns, b: &BarColumns) {
        assert_eq!(a.tickers, b.tickers);
        assert_eq!(a.offsets(), b.offsets());
        assert_eq!(a.t, b.t);
        assert_eq!(a.n, b.n);
        for (name, x, y) in [
            ("o", &a.o, &b.o),
            ("h", &a.h, &b.h),
            ("l", &a.l, &b.l),
            ("c", &a.c, &b.c),
            ("v", &a.v, &b.v),
            ("vw", &a.vw, &b.vw),
        ] {
            assert_eq!(x.len(), y.len(), "{name}");
            for (i, (p, q)) in x.iter().zip(y.iter()).enumerate() {
                assert_eq!(p.to_bits(), q.to_bits(), "{name}[{i}]: {p} vs {q}");
            }
        }
    }

    fn archived(p: &PackedBars) -> rkyv::util::AlignedVec {
        rkyv::to_bytes::<rkyv::rancor::Error>(p).unwrap()
    }

    #[test]
    fn minute_bars_round_trip_exactly_in_a_quarter_of_the_bytes() {
        let cols = minute_bars(&["AAPL", "MSFT", "BRK.B"], 7_001, 7);
        let p = PackedBars::pack(&cols);
        same_bits(&p.unpack(), &cols);
        let sizes: Vec<usize> = p.columns.iter().map(|c| c.data.len()).collect();
        assert!(p.encoded_len() * 4 < cols.byte_len(), "{} of {}: {sizes:?}", p.encoded_len(), cols.byte_len());
        let c = &p.columns;
        assert_eq!((c[0].codec, c[0].unit, c[0].delta), (INT, 60_000, true), "minute timestamps count minutes");
        assert!(!c[5].delta, "volumes are cheaper as offsets than as deltas");
        assert_eq!((c[1].codec, c[1].scale), (DECIMAL, 2), "prices in cents");
        assert_eq!((c[6].codec, c[6].scale, c[6].nan), (DECIMAL, 4, true), "vwap to 4 decimals, NaN where absent");
        let bytes = archived(&p);
        let a = rkyv::access::<ArchivedPackedBars, rkyv::rancor::Error>(&bytes).unwrap();
        a.check().unwrap();
        same_bits(&a.unpack(), &cols);
    }

    #[test]
    fn values_no_decimal_holds_are_stored_raw_and_still_exact() {
        let mut cols = minute_bars(&["X"], 300, 1);
        cols.o[10] = -0.0;
        cols.h[3] = 1.0 / 3.0;
        cols.l[7] = f64::from_bits(f64::NAN.to_bits() | 1); // a NaN with a payload
        cols.c[0] = f64::INFINITY;
        cols.v[9] = 1e300;
        cols.vw.iter_mut().for_each(|x| *x = f64::NAN);
        cols.t[5] = i64::MIN; // deltas overflow: no common divisor
        cols.n[6] = u64::MAX - 1;
        let p = PackedBars::pack(&cols);
        assert!(p.columns[1..6].iter().all(|c| c.codec == RAW));
        assert_eq!(p.columns[6].widths.iter().copied().max(), Some(0), "all-NaN vwap is one constant");
        same_bits(&p.unpack(), &cols);
    }

    #[test]
    fn empty_one_row_and_block_edges() {
        for rows in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK] {
            let cols = minute_bars(&["A", "B"], rows, rows as u64);
            same_bits(&PackedBars::pack(&cols).unpack(), &cols);
        }
        let empty = BarColumns::new();
        same_bits(&PackedBars::pack(&empty).unpack(), &empty);
    }

    #[test]
    fn appending_keeps_only_the_range_in_the_current_series() {
        let cols = minute_bars(&["A"], 500, 3);
        let p = PackedBars::pack(&cols);
        let bytes = archived(&p);
        let a = rkyv::access::<ArchivedPackedBars, rkyv::rancor::Error>(&bytes).unwrap();
        let mut out = BarColumns::new();
        out.begin_series("A".parse().unwrap());
        let (lo, hi) = (cols.t[100], cols.t[199]);
        assert_eq!(a.append_rows_to(&mut out, lo, hi), 100);
        assert_eq!(a.append_rows_to(&mut out, i64::MIN, i64::MAX), 500);
        assert_eq!(out.offsets(), &[0, 600]);
        assert_eq!(&out.t[..100], &cols.t[100..200]);
        assert_eq!(&out.c[100..], &cols.c[..]);
        assert_eq!(&out.n[..100], &cols.n[100..200]);
    }

    #[test]
    fn a_forged_layout_is_named_by_check() {
        let cols = minute_bars(&["A"], 300, 5);
        let good = PackedBars::pack(&cols);
        let check = |p: &PackedBars| {
            let bytes = archived(p);
            rkyv::access::<ArchivedPackedBars, rkyv::rancor::Error>(&bytes).unwrap().check()
        };
        assert_eq!(check(&good), Ok(()));
        let mut p = good.clone();
        p.columns[2].widths[1] = 3;
        assert_eq!(check(&p).unwrap_err(), "column h: block 1 has width 3");
        let mut p = good.clone();
        p.columns[4].data.pop();
        assert!(check(&p).unwrap_err().starts_with("column c: "), "{:?}", check(&p));
        let mut p = good.clone();
        p.columns[7].widths.push(1);
        assert_eq!(check(&p).unwrap_err(), "column n: 4 blocks for 300 rows");
        let mut p = good.clone();
        p.rows += 1;
        assert!(check(&p).is_err());
        let mut p = good.clone();
        p.columns[6].scale = 12;
        assert_eq!(check(&p).unwrap_err(), "column vw: scale 12 above 9");
        let mut p = good.clone();
        p.columns.pop();
        assert_eq!(check(&p).unwrap_err(), "7 columns, expected 8");
        let mut p = good;
        p.offsets[1] = 7;
        assert_eq!(check(&p).unwrap_err(), "offsets must run from 0 to 300");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Any bits at all, mixed with decimals, come back bit for bit.
        #[test]
        fn any_batch_round_trips(
            rows in proptest::collection::vec(
                (proptest::prelude::any::<i64>(), proptest::prelude::any::<u64>(), 0u8..4, -1_000_000i64..1_000_000, proptest::prelude::any::<u64>()),
                0..400,
            ),
            split in 0usize..400,
        ) {
            let mut cols = BarColumns::new();
            cols.begin_series("A".parse().unwrap());
            for (i, (t, bits, kind, cents, n)) in rows.iter().enumerate() {
                if i == split {
                    cols.begin_series("B".parse().unwrap());
                }
                let x = match kind {
                    0 => f64::from_bits(*bits),
                    1 => *cents as f64 / 100.0,
                    2 => f64::NAN,
                    _ => *cents as f64,
                };
                let t = if kind % 2 == 0 { *t } else { 1_700_000_000_000 + 60_000 * i as i64 };
                cols.push_row(t, x, *cents as f64 / 100.0, x, *cents as f64 / 1e4, x.abs(), x, if *kind == 2 { crate::N_ABSENT } else { *n % 3_000 });
            }
            let back = PackedBars::pack(&cols).unpack();
            same_bits(&back, &cols);
        }
    }
}
