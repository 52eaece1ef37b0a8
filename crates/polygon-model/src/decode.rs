//! A fast decoder from an aggregates JSON body straight into [`BarColumns`], with errors that name
//! the field and byte offset.
//!
//! One pass over the bytes, no intermediate DOM and no per-bar heap object: each bar's numbers go
//! straight into the columns. Numbers take a Clinger fast path (mantissa below 2^53 and a power of
//! ten up to 22 is one correctly rounded IEEE operation), falling back to the standard library's
//! correctly rounded parser otherwise, so results equal `serde_json`'s bit for bit.

use std::borrow::Cow;
use std::fmt;

use crate::Ticker;
use crate::columns::{BarColumns, N_ABSENT};

/// Deepest nesting accepted inside skipped (unknown) fields.
const MAX_DEPTH: u32 = 64;

/// Why a body failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The body ended in the middle of a value.
    UnexpectedEnd,
    /// Another token was expected here.
    Expected(&'static str),
    /// A number overflowed to infinity (or was not a number JSON allows).
    NonFinite,
    /// An integer did not fit its field's type.
    OutOfRange,
    /// A required field was missing.
    MissingField,
    /// A field appeared twice in one object.
    DuplicateField,
    /// The field's value is well-formed JSON but not acceptable (with the reason).
    Invalid(String),
    /// Non-whitespace after the top-level object.
    TrailingCharacters,
    /// Nesting deeper than 64 levels.
    TooDeep,
}

/// A decode failure: what, in which field, at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The JSON path of the field (`results[12].o`), or `""` for the document itself.
    pub field: String,
    /// Byte offset into the body where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what: Cow<'_, str> = match &self.kind {
            DecodeErrorKind::UnexpectedEnd => "body ends early".into(),
            DecodeErrorKind::Expected(e) => format!("expected {e}").into(),
            DecodeErrorKind::NonFinite => "number is not finite".into(),
            DecodeErrorKind::OutOfRange => "integer out of range".into(),
            DecodeErrorKind::MissingField => "missing required field".into(),
            DecodeErrorKind::DuplicateField => "field appears twice".into(),
            DecodeErrorKind::Invalid(r) => r.as_str().into(),
            DecodeErrorKind::TrailingCharacters => "trailing characters after the JSON object".into(),
            DecodeErrorKind::TooDeep => "nesting deeper than 64 levels".into(),
        };
        if self.field.is_empty() {
            write!(f, "aggregates body at byte {}: {what}", self.offset)
        } else {
            write!(f, "aggregates field `{}` at byte {}: {what}", self.field, self.offset)
        }
    }
}

impl std::error::Error for DecodeError {}

/// The fields of an aggregates page other than its bars.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AggregatesMeta {
    /// `ticker`.
    pub ticker: Option<String>,
    /// `queryCount`.
    pub query_count: Option<u64>,
    /// `resultsCount`.
    pub results_count: Option<u64>,
    /// `adjusted`.
    pub adjusted: Option<bool>,
    /// `status` (`OK` or `DELAYED`).
    pub status: String,
    /// `request_id`.
    pub request_id: Option<String>,
    /// `count`.
    pub count: Option<u64>,
    /// `next_url`, when there is another page.
    pub next_url: Option<String>,
    /// Bars decoded from `results`.
    pub bars: usize,
}

/// A decoded aggregates page: its metadata and its bars as a one-ticker [`BarColumns`].
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatesPage {
    /// Everything but the bars.
    pub meta: AggregatesMeta,
    /// The bars, in the order of the body.
    pub bars: BarColumns,
}

/// Decodes one aggregates page.
///
/// ```
/// let body = br#"{"ticker":"AAPL","queryCount":1,"resultsCount":1,"adjusted":true,
///   "results":[{"v":100,"vw":1.5,"o":1.25,"c":1.75,"h":2,"l":1,"t":1704205800000,"n":3}],
///   "status":"OK","request_id":"x"}"#;
/// let page = polygon_model::decode_aggregates(body).unwrap();
/// assert_eq!(page.bars.c, [1.75]);
/// let cut = &body[..110]; // ends inside the first bar
/// let err = polygon_model::decode_aggregates(cut).unwrap_err();
/// assert!(err.field.starts_with("results[0]"), "{err}");
/// assert_eq!(err.offset, cut.len());
/// ```
///
/// # Errors
/// A [`DecodeError`] naming the field and byte offset: truncated or malformed JSON, a wrong type,
/// a missing `o`/`h`/`l`/`c`/`v`/`t`, a non-finite or out-of-range number, a missing or
/// invalid `ticker`, a `status` other than `OK`/`DELAYED`, or `resultsCount` disagreeing with `results`.
pub fn decode_aggregates(body: &[u8]) -> Result<AggregatesPage, DecodeError> {
    let mut bars = BarColumns::new();
    let meta = decode_aggregates_into(body, &mut bars)?;
    Ok(AggregatesPage { meta, bars })
}

/// Decodes one aggregates page, appending its bars to the last series of `out`
/// (or to a new series named by the body's `ticker` when `out` has none).
///
/// On error `out` is left exactly as it was: nothing half-appended.
///
/// # Errors
/// As [`decode_aggregates`].
pub fn decode_aggregates_into(body: &[u8], out: &mut BarColumns) -> Result<AggregatesMeta, DecodeError> {
    let rows = out.len();
    let series = out.num_series();
    let new_series = series == 0;
    if new_series {
        out.begin_series(Ticker::new("A").expect("placeholder is valid"));
    }
    let mut p = Parser { b: body, i: 0, ctx: Ctx { top: "", idx: None, sub: "" } };
    let result = p.document(out).and_then(|meta| {
        if new_series {
            let name = meta.ticker.as_deref().ok_or_else(|| p.err_at("ticker", 0, DecodeErrorKind::MissingField))?;
            let t = Ticker::new(name).map_err(|e| p.err_at("ticker", 0, DecodeErrorKind::Invalid(e.to_string())))?;
            *out.tickers.last_mut().expect("series begun above") = t;
        }
        Ok(meta)
    });
    if result.is_err() {
        out.rollback(rows, series);
    }
    result
}

/// Where the parser is, for error messages: `results[idx].sub` or a top-level field.
#[derive(Clone, Copy)]
struct Ctx {
    top: &'static str,
    idx: Option<usize>,
    sub: &'static str,
}

impl Ctx {
    fn path(&self) -> String {
        match (self.idx, self.sub) {
            (None, _) => self.top.to_owned(),
            (Some(i), "") => format!("{}[{i}]", self.top),
            (Some(i), s) => format!("{}[{i}].{s}", self.top),
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    ctx: Ctx,
}

// Bit flags of a bar's fields, to detect missing and duplicate ones.
const F_O: u16 = 1;
const F_H: u16 = 2;
const F_L: u16 = 4;
const F_C: u16 = 8;
const F_V: u16 = 16;
const F_T: u16 = 32;
const F_VW: u16 = 64;
const F_N: u16 = 128;
const F_OTC: u16 = 256;
const REQUIRED: [(u16, &str); 6] = [(F_O, "o"), (F_H, "h"), (F_L, "l"), (F_C, "c"), (F_V, "v"), (F_T, "t")];

pub(crate) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

type Res<T> = Result<T, (usize, DecodeErrorKind)>;

impl<'a> Parser<'a> {
    fn error(&self, (offset, kind): (usize, DecodeErrorKind)) -> DecodeError {
        DecodeError { field: self.ctx.path(), offset, kind }
    }

    fn err_at(&self, field: &str, offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { field: field.to_owned(), offset, kind }
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.i += 1;
        }
    }

    #[inline(always)]
    fn peek(&self) -> Res<u8> {
        self.b.get(self.i).copied().ok_or((self.i, DecodeErrorKind::UnexpectedEnd))
    }

    #[inline(always)]
    fn eat(&mut self, c: u8, what: &'static str) -> Res<()> {
        self.ws();
        if self.peek()? == c {
            self.i += 1;
            Ok(())
        } else {
            Err((self.i, DecodeErrorKind::Expected(what)))
        }
    }

    /// After a member: `true` for `,` (another follows), `false` for the closing `close`.
    #[inline(always)]
    fn next_member(&mut self, close: u8, what: &'static str) -> Res<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.i += 1;
                Ok(true)
            }
            c if c == close => {
                self.i += 1;
                Ok(false)
            }
            _ => Err((self.i, DecodeErrorKind::Expected(what))),
        }
    }

    fn document(&mut self, out: &mut BarColumns) -> Result<AggregatesMeta, DecodeError> {
        let mut meta = AggregatesMeta::default();
        let mut status: Option<String> = None;
        let mut results_at = 0usize;
        self.ctx = Ctx { top: "", idx: None, sub: "" };
        let r = self.members(out, &mut meta, &mut status, &mut results_at);
        r.map_err(|e| self.error(e))?;
        let status = status.ok_or_else(|| self.err_at("status", self.b.len(), DecodeErrorKind::MissingField))?;
        if status != "OK" && status != "DELAYED" {
            return Err(self.err_at(
                "status",
                0,
                DecodeErrorKind::Invalid(format!("status is {status:?}, not OK or DELAYED")),
            ));
        }
        meta.status = status;
        if let Some(rc) = meta.results_count
            && rc != meta.bars as u64
        {
            let kind = DecodeErrorKind::Invalid(format!("resultsCount is {rc} but results holds {} bars", meta.bars));
            return Err(self.err_at(if meta.bars == 0 { "results" } else { "resultsCount" }, results_at, kind));
        }
        Ok(meta)
    }

    fn members(
        &mut self,
        out: &mut BarColumns,
        meta: &mut AggregatesMeta,
        status: &mut Option<String>,
        results_at: &mut usize,
    ) -> Res<()> {
        self.eat(b'{', "'{' opening the response object")?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                self.ctx = Ctx { top: "", idx: None, sub: "" };
                self.ws();
                let key = self.string_bytes()?;
                self.eat(b':', "':' after a key")?;
                self.ws();
                let name = TOP_FIELDS.iter().copied().find(|f| f.as_bytes() == &*key);
                self.ctx.top = name.unwrap_or("");
                match name {
                    Some("results") => {
                        *results_at = self.i;
                        if !self.null()? {
                            let start = out.len();
                            self.results(out)?;
                            meta.bars = out.len() - start;
                        }
                    }
                    Some("ticker") => meta.ticker = self.opt_string()?,
                    Some("status") => *status = self.opt_string()?,
                    Some("request_id") => meta.request_id = self.opt_string()?,
                    Some("next_url") => meta.next_url = self.opt_string()?,
                    Some("queryCount") => meta.query_count = self.opt_u64()?,
                    Some("resultsCount") => meta.results_count = self.opt_u64()?,
                    Some("count") => meta.count = self.opt_u64()?,
                    Some("adjusted") => meta.adjusted = self.opt_bool()?,
                    _ => self.skip(0)?,
                }
                self.ctx = Ctx { top: "", idx: None, sub: "" };
                if !self.next_member(b'}', "',' or '}' in the response object")? {
                    break;
                }
            }
        }
        self.ws();
        if self.i != self.b.len() {
            return Err((self.i, DecodeErrorKind::TrailingCharacters));
        }
        Ok(())
    }

    /// `[ bar, bar, … ]`, appended to `out`.
    fn results(&mut self, out: &mut BarColumns) -> Res<()> {
        if self.peek()? != b'[' {
            return Err((self.i, DecodeErrorKind::Expected("an array of bars")));
        }
        self.i += 1;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Ok(());
        }
        // A bar is at least ~40 bytes of JSON: reserve once for the whole page.
        out.reserve((self.b.len() - self.i) / 64);
        let mut idx = 0usize;
        loop {
            self.ctx.idx = Some(idx);
            self.ctx.sub = "";
            self.ws();
            if !self.bar_polygon_layout(out) {
                self.bar(out)?;
            }
            idx += 1;
            self.ctx.sub = "";
            if !self.next_member(b']', "',' or ']' after a bar")? {
                return Ok(());
            }
        }
    }

    /// Consumes `lit` if the input continues with it.
    #[inline(always)]
    fn lit(&mut self, lit: &[u8]) -> bool {
        if self.b.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    /// The fast path: a bar exactly as Polygon writes it, `{"v":…,"vw":…,"o":…,"c":…,"h":…,"l":…,"t":…,"n":…}`
    /// (`vw`, `n` and a trailing `otc` optional, no whitespace). Literal keys are matched as byte
    /// strings, with no key parsing or dispatch. On any difference it rewinds and returns `false`,
    /// and the general parser (which names the field of any error) takes the bar.
    #[inline(always)]
    fn bar_polygon_layout(&mut self, out: &mut BarColumns) -> bool {
        let start = self.i;
        let r = (|| -> Option<()> {
            let num = |p: &mut Self, key: &[u8]| -> Option<f64> { if p.lit(key) { p.f64().ok() } else { None } };
            let v = num(self, b"{\"v\":")?;
            let vw = if self.lit(b",\"vw\":") { self.f64().ok()? } else { f64::NAN };
            let o = num(self, b",\"o\":")?;
            let c = num(self, b",\"c\":")?;
            let h = num(self, b",\"h\":")?;
            let l = num(self, b",\"l\":")?;
            if !self.lit(b",\"t\":") {
                return None;
            }
            let t = self.i64().ok()?;
            let n = if self.lit(b",\"n\":") { self.u64_below(N_ABSENT).ok()? } else { N_ABSENT };
            if self.lit(b",\"otc\":") && !(self.lit(b"true") || self.lit(b"false")) {
                return None;
            }
            if !self.lit(b"}") {
                return None;
            }
            out.push_row(t, o, h, l, c, v, vw, n);
            Some(())
        })();
        if r.is_none() {
            self.i = start;
        }
        r.is_some()
    }

    #[inline]
    fn bar(&mut self, out: &mut BarColumns) -> Res<()> {
        let start = self.i;
        if self.peek()? != b'{' {
            return Err((self.i, DecodeErrorKind::Expected("'{' opening a bar")));
        }
        self.i += 1;
        let (mut o, mut h, mut l, mut c, mut v, mut vw) = (0.0, 0.0, 0.0, 0.0, 0.0, f64::NAN);
        let (mut t, mut n) = (0i64, N_ABSENT);
        let mut seen = 0u16;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
        } else {
            loop {
                self.ws();
                let key_at = self.i;
                // Fast path for the one- and two-letter keys of a bar (no escapes possible).
                let plain = |c: u8| c >= 0x20 && c != b'"' && c != b'\\';
                let (flag, name) = match self.b.get(self.i..self.i + 4) {
                    Some(&[b'"', k, b'"', _]) if plain(k) => {
                        self.i += 3;
                        bar_key(&[k])
                    }
                    Some(&[b'"', k1, k2, b'"']) if plain(k1) && plain(k2) => {
                        self.i += 4;
                        bar_key(&[k1, k2])
                    }
                    _ => bar_key(&self.string_bytes()?),
                };
                self.eat(b':', "':' after a key")?;
                self.ws();
                self.ctx.sub = name;
                if seen & flag != 0 {
                    return Err((key_at, DecodeErrorKind::DuplicateField));
                }
                seen |= flag;
                match flag {
                    F_O => o = self.f64()?,
                    F_H => h = self.f64()?,
                    F_L => l = self.f64()?,
                    F_C => c = self.f64()?,
                    F_V => v = self.f64()?,
                    F_T => t = self.i64()?,
                    F_VW => vw = if self.null()? { f64::NAN } else { self.f64()? },
                    F_N => n = if self.null()? { N_ABSENT } else { self.u64_below(N_ABSENT)? },
                    F_OTC => {
                        let _ = self.opt_bool()?;
                    }
                    _ => self.skip(1)?,
                }
                self.ctx.sub = "";
                if !self.next_member(b'}', "',' or '}' in a bar")? {
                    break;
                }
            }
        }
        for (flag, name) in REQUIRED {
            if seen & flag == 0 {
                self.ctx.sub = name;
                return Err((start, DecodeErrorKind::MissingField));
            }
        }
        out.push_row(t, o, h, l, c, v, vw, n);
        Ok(())
    }

    /// `null` (consumed, `true`) or anything else (untouched, `false`).
    #[inline(always)]
    fn null(&mut self) -> Res<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn literal(&mut self, lit: &'static [u8]) -> Res<()> {
        let end = self.i + lit.len();
        match self.b.get(self.i..end) {
            Some(s) if s == lit => {
                self.i = end;
                Ok(())
            }
            Some(_) => Err((self.i, DecodeErrorKind::Expected("a JSON value"))),
            None if lit.starts_with(&self.b[self.i..]) => Err((self.b.len(), DecodeErrorKind::UnexpectedEnd)),
            None => Err((self.i, DecodeErrorKind::Expected("a JSON value"))),
        }
    }

    fn opt_bool(&mut self) -> Res<Option<bool>> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|_| Some(true)),
            b'f' => self.literal(b"false").map(|_| Some(false)),
            b'n' => self.literal(b"null").map(|_| None),
            _ => Err((self.i, DecodeErrorKind::Expected("true or false"))),
        }
    }

    fn opt_string(&mut self) -> Res<Option<String>> {
        if self.null()? {
            return Ok(None);
        }
        if self.peek()? != b'"' {
            return Err((self.i, DecodeErrorKind::Expected("a string")));
        }
        let at = self.i;
        let bytes = self.string_bytes()?;
        match bytes {
            Cow::Borrowed(b) => std::str::from_utf8(b).map(|s| Some(s.to_owned())),
            Cow::Owned(b) => String::from_utf8(b).map(Some).map_err(|e| e.utf8_error()),
        }
        .map_err(|_| (at, DecodeErrorKind::Invalid("string is not valid UTF-8".into())))
    }

    fn opt_u64(&mut self) -> Res<Option<u64>> {
        if self.null()? { Ok(None) } else { self.u64_below(u64::MAX).map(Some) }
    }

    /// A JSON string's contents, unescaped, starting at `"`.
    #[inline]
    fn string_bytes(&mut self) -> Res<Cow<'a, [u8]>> {
        if self.peek()? != b'"' {
            return Err((self.i, DecodeErrorKind::Expected("a string")));
        }
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes.
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(Cow::Borrowed(&self.b[start..self.i - 1]));
                }
                b'\\' => break,
                0..=0x1f => return Err((self.i, DecodeErrorKind::Expected("no control characters inside a string"))),
                _ => self.i += 1,
            }
        }
        let mut buf = self.b[start..self.i].to_vec();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Ok(Cow::Owned(buf)),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => buf.push(e),
                        b'b' => buf.push(8),
                        b'f' => buf.push(12),
                        b'n' => buf.push(b'\n'),
                        b'r' => buf.push(b'\r'),
                        b't' => buf.push(b'\t'),
                        b'u' => {
                            let at = self.i - 2;
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err((
                                        at,
                                        DecodeErrorKind::Invalid("unpaired surrogate in \\u escape".into()),
                                    ));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err((
                                        at,
                                        DecodeErrorKind::Invalid("unpaired surrogate in \\u escape".into()),
                                    ));
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                            } else {
                                char::from_u32(hi)
                            };
                            let ch =
                                ch.ok_or((at, DecodeErrorKind::Invalid("unpaired surrogate in \\u escape".into())))?;
                            let mut tmp = [0u8; 4];
                            buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        _ => return Err((self.i - 1, DecodeErrorKind::Expected("a valid escape"))),
                    }
                }
                0..=0x1f => {
                    return Err((self.i - 1, DecodeErrorKind::Expected("no control characters inside a string")));
                }
                _ => buf.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Res<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.peek()?;
            let d = (c as char).to_digit(16).ok_or((self.i, DecodeErrorKind::Expected("four hex digits after \\u")))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// A JSON number as f64, correctly rounded; non-finite results are errors.
    #[inline]
    fn f64(&mut self) -> Res<f64> {
        let start = self.i;
        let b = self.b;
        let mut i = self.i;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        // Integer part: `0` or a run of digits not starting with 0.
        let (int_val, int_digits) = match b.get(i) {
            None => return Err((b.len(), DecodeErrorKind::UnexpectedEnd)),
            Some(b'0') => {
                i += 1;
                (0, 0)
            }
            Some(b'1'..=b'9') => {
                let (v, n) = scan_digits(b, i);
                i += n;
                (v, n)
            }
            Some(_) => return Err((start, DecodeErrorKind::Expected("a number"))),
        };
        let mut mant = int_val;
        let mut exp10: i32 = 0;
        let mut exact = int_digits <= 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let (frac, n) = scan_digits(b, i);
            if n == 0 {
                return Err(self.number_end(i, start));
            }
            i += n;
            if int_digits + n <= 19 {
                mant = mant * POW10_U64[n] + frac;
                exp10 = -(n as i32);
            } else {
                exact = false;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            let eneg = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let digits_at = i;
            let mut e: i32 = 0;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                e = (e * 10 + (c - b'0') as i32).min(100_000);
                i += 1;
            }
            if i == digits_at {
                return Err(self.number_end(i, start));
            }
            exp10 += if eneg { -e } else { e };
        }
        self.i = i;
        let x = if exact && mant <= (1u64 << 53) && (-22..=22).contains(&exp10) {
            let m = mant as f64;
            if exp10 < 0 { m / POW10[(-exp10) as usize] } else { m * POW10[exp10 as usize] }
        } else {
            // The bytes are ASCII digits, sign, '.', 'e': valid UTF-8 and a valid Rust float literal.
            let s = std::str::from_utf8(&b[start..i]).map_err(|_| (start, DecodeErrorKind::Expected("a number")))?;
            let x: f64 = s.parse().map_err(|_| (start, DecodeErrorKind::Expected("a number")))?;
            x.abs()
        };
        if !x.is_finite() {
            return Err((start, DecodeErrorKind::NonFinite));
        }
        Ok(if neg { -x } else { x })
    }

    fn number_end(&self, i: usize, start: usize) -> (usize, DecodeErrorKind) {
        if i >= self.b.len() {
            (self.b.len(), DecodeErrorKind::UnexpectedEnd)
        } else {
            (start, DecodeErrorKind::Expected("a number"))
        }
    }

    /// An integer (no fraction or exponent) as i64.
    #[inline]
    fn i64(&mut self) -> Res<i64> {
        let start = self.i;
        let neg = self.b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let mag = self.digits(start)?;
        if neg {
            if mag > i64::MAX as u64 + 1 {
                return Err((start, DecodeErrorKind::OutOfRange));
            }
            Ok((mag as i64).wrapping_neg())
        } else {
            i64::try_from(mag).map_err(|_| (start, DecodeErrorKind::OutOfRange))
        }
    }

    /// A non-negative integer strictly below `limit`.
    #[inline]
    fn u64_below(&mut self, limit: u64) -> Res<u64> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            return Err((start, DecodeErrorKind::Expected("a non-negative integer")));
        }
        let v = self.digits(start)?;
        if v >= limit {
            return Err((start, DecodeErrorKind::OutOfRange));
        }
        Ok(v)
    }

    /// Decimal digits of an integer, with overflow and fraction checks.
    #[inline(always)]
    fn digits(&mut self, start: usize) -> Res<u64> {
        let b = self.b;
        let first = self.i;
        let (v, n) = scan_digits(b, first);
        self.i += n;
        if n == 0 {
            return Err(if self.i >= b.len() {
                (b.len(), DecodeErrorKind::UnexpectedEnd)
            } else {
                (start, DecodeErrorKind::Expected("an integer"))
            });
        }
        if n > 1 && b[first] == b'0' {
            return Err((start, DecodeErrorKind::Expected("an integer without leading zeros")));
        }
        if matches!(b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return Err((start, DecodeErrorKind::Expected("an integer")));
        }
        // 19 digits always fit a u64; 20 may; more never do.
        if n > 20 || (n == 20 && (v < 10_000_000_000_000_000_000 || b[first] > b'1')) {
            return Err((start, DecodeErrorKind::OutOfRange));
        }
        Ok(v)
    }

    /// Skips any JSON value (of a field we do not read).
    fn skip(&mut self, depth: u32) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err((self.i, DecodeErrorKind::TooDeep));
        }
        self.ws();
        match self.peek()? {
            b'"' => self.string_bytes().map(|_| ()),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    self.string_bytes()?;
                    self.eat(b':', "':' after a key")?;
                    self.skip(depth + 1)?;
                    if !self.next_member(b'}', "',' or '}' in an object")? {
                        return Ok(());
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if !self.next_member(b']', "',' or ']' in an array")? {
                        return Ok(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.f64().map(|_| ()),
            _ => Err((self.i, DecodeErrorKind::Expected("a JSON value"))),
        }
    }
}

/// A bar's field: its flag and name (0 and "" for fields we skip).
#[inline(always)]
fn bar_key(key: &[u8]) -> (u16, &'static str) {
    match key {
        b"o" => (F_O, "o"),
        b"h" => (F_H, "h"),
        b"l" => (F_L, "l"),
        b"c" => (F_C, "c"),
        b"v" => (F_V, "v"),
        b"vw" => (F_VW, "vw"),
        b"t" => (F_T, "t"),
        b"n" => (F_N, "n"),
        b"otc" => (F_OTC, "otc"),
        _ => (0, ""),
    }
}

const TOP_FIELDS: [&str; 9] =
    ["results", "ticker", "status", "request_id", "next_url", "queryCount", "resultsCount", "count", "adjusted"];

pub(crate) const POW10_U64: [u64; 20] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
    10_000_000_000_000_000_000,
];

/// The run of ASCII digits at `b[i..]`: its value (wrapping past 20 digits: callers check the
/// count) and its length. Eight bytes at a time (SWAR), so a number costs a few multiplies and one
/// branch instead of a branch per digit.
#[inline(always)]
pub(crate) fn scan_digits(b: &[u8], mut i: usize) -> (u64, usize) {
    let start = i;
    let mut v: u64 = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let raw = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let x = raw ^ 0x3030_3030_3030_3030;
        // High bit of each byte set where the byte is not '0'..='9'.
        let non_digit = (((x & 0x7F7F_7F7F_7F7F_7F7F).wrapping_add(0x7676_7676_7676_7676)) | x) & 0x8080_8080_8080_8080;
        let n = if non_digit == 0 { 8 } else { (non_digit.trailing_zeros() / 8) as usize };
        if n > 0 {
            // Keep the n digits, as the most significant bytes of an 8-digit group with leading zeros.
            v = v.wrapping_mul(POW10_U64[n]).wrapping_add(parse_8_digits(raw << (8 * (8 - n))));
        }
        i += n;
        if n < 8 {
            return (v, i - start);
        }
    }
    while let Some(&c) = b.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add((c - b'0') as u64);
        i += 1;
    }
    (v, i - start)
}

/// Eight ASCII digits (little-endian load, first digit in the lowest byte; zero bytes read as 0)
/// to their value (the fast_float method).
#[inline(always)]
fn parse_8_digits(raw: u64) -> u64 {
    let v = raw & 0x0F0F_0F0F_0F0F_0F0F;
    let v = v.wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_digit_runs_match_a_plain_loop() {
        for s in
            ["", "0", "7", "12", "123", "1234567", "12345678", "123456789", "1704186000000", "18446744073709551615"]
        {
            for tail in ["", ",", ".5", "}", "e3", "9999999999"] {
                let text = format!("{s}{tail}");
                let want_n = text.bytes().take_while(u8::is_ascii_digit).count();
                let want: u64 = text[..want_n].parse().unwrap_or(0);
                let (v, n) = scan_digits(text.as_bytes(), 0);
                assert_eq!(n, want_n, "{text}");
                if n <= 19 {
                    assert_eq!(v, want, "{text}");
                }
            }
        }
        // Bytes with the high bit set and other ASCII are not digits.
        assert_eq!(scan_digits(b"12\xff345678", 0).1, 2);
        assert_eq!(scan_digits("12é45678".as_bytes(), 0).1, 2);
        assert_eq!(scan_digits(b"12:45678", 0).1, 2);
        assert_eq!(scan_digits(b"12/45678", 0).1, 2);
    }
}
