//! The flat-file CSV decoder: columns against hand-built expectations, every chunking of the same
//! stream, filters, header variants, each error's line, field and byte offset, and the same `f64`s
//! as the JSON decoder for the same decimal text.

use std::collections::BTreeMap;

use polygon_model::{
    BarColumns, CsvError, CsvErrorKind, FlatFileDay, FlatFileDecoder, MAX_CSV_LINE_LEN, N_ABSENT, Ticker,
    decode_aggregates, decode_flat_file,
};
use proptest::prelude::*;

const HEADER: &str = "ticker,volume,open,close,high,low,window_start,transactions";
/// 2024-07-01 09:30 ET in ns.
const T0: i64 = 1_719_840_600_000_000_000;
const MIN_NS: i64 = 60_000_000_000;

/// One CSV row as text, in the standard column order.
#[derive(Debug, Clone)]
struct Row {
    ticker: String,
    v: String,
    o: String,
    c: String,
    h: String,
    l: String,
    ns: i64,
    n: Option<u64>,
}

impl Row {
    fn line(&self) -> String {
        let n = self.n.map(|n| n.to_string()).unwrap_or_default();
        format!("{},{},{},{},{},{},{},{n}", self.ticker, self.v, self.o, self.c, self.h, self.l, self.ns)
    }
}

fn row(ticker: &str, minute: i64, o: &str, n: Option<u64>) -> Row {
    Row {
        ticker: ticker.into(),
        v: format!("{}", 100 + minute * 7),
        o: o.into(),
        c: "10.5".into(),
        h: "11.25".into(),
        l: "9.75".into(),
        ns: T0 + minute * MIN_NS,
        n,
    }
}

fn file_of(rows: &[Row]) -> String {
    let mut s = format!("{HEADER}\n");
    for r in rows {
        s.push_str(&r.line());
        s.push('\n');
    }
    s
}

/// The columns the decoder should produce: series by ticker, each stably sorted by time.
fn expected(rows: &[Row]) -> BarColumns {
    let mut by: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by.entry(&r.ticker).or_default().push(r);
    }
    let mut cols = BarColumns::new();
    for (ticker, mut rs) in by {
        rs.sort_by_key(|r| r.ns);
        cols.begin_series(Ticker::new(ticker).unwrap());
        for r in rs {
            let f = |s: &str| s.parse::<f64>().unwrap();
            cols.push_row(
                r.ns / 1_000_000,
                f(&r.o),
                f(&r.h),
                f(&r.l),
                f(&r.c),
                f(&r.v),
                f64::NAN,
                r.n.unwrap_or(N_ABSENT),
            );
        }
    }
    cols
}

/// Bit-for-bit equality of two batches (NaN equal to NaN).
fn assert_same(got: &BarColumns, want: &BarColumns) {
    assert_eq!(got.tickers, want.tickers);
    assert_eq!(got.offsets(), want.offsets());
    assert_eq!(got.t, want.t);
    assert_eq!(got.n, want.n);
    for (name, a, b) in [
        ("o", &got.o, &want.o),
        ("h", &got.h, &want.h),
        ("l", &got.l, &want.l),
        ("c", &got.c, &want.c),
        ("v", &got.v, &want.v),
        ("vw", &got.vw, &want.vw),
    ] {
        let bits = |x: &Vec<f64>| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "column {name}");
    }
    assert_eq!(got.check(), Ok(()));
}

/// The same outcome: equal errors, or the same row count and bit-equal columns (`vw` is NaN, so
/// `PartialEq` on the columns never holds).
fn assert_same_result(got: &Result<FlatFileDay, CsvError>, want: &Result<FlatFileDay, CsvError>, what: &str) {
    match (got, want) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.rows, b.rows, "{what}");
            assert_same(&a.bars, &b.bars);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "{what}"),
        _ => panic!("{what}: {got:?} against {want:?}"),
    }
}

fn decode_in(chunks: &[&[u8]]) -> Result<FlatFileDay, CsvError> {
    let mut d = FlatFileDecoder::new();
    for c in chunks {
        d.feed(c)?;
    }
    d.finish()
}

fn err_of(csv: &str) -> CsvError {
    decode_flat_file(csv.as_bytes()).expect_err(csv)
}

/// A small day: three tickers (one with a class share), out of ticker order, one row out of time
/// order, an absent trade count, integer and decimal volumes.
fn small_rows() -> Vec<Row> {
    vec![
        row("MSFT", 0, "450.1", Some(12)),
        row("MSFT", 1, "450.2", None),
        row("AAPL", 0, "216.75", Some(3)),
        row("AAPL", 2, "216.8", Some(4)),
        row("AAPL", 1, "216.77", Some(5)),
        Row { v: "1234.0".into(), ..row("BRK.B", 5, "411.0001", Some(1)) },
    ]
}

#[test]
fn decodes_rows_into_ticker_sorted_time_sorted_series() {
    let day = decode_flat_file(file_of(&small_rows()).as_bytes()).unwrap();
    assert_eq!(day.rows, 6);
    let b = &day.bars;
    assert_eq!(b.tickers.iter().map(Ticker::as_str).collect::<Vec<_>>(), ["AAPL", "BRK.B", "MSFT"]);
    assert_eq!(b.offsets(), &[0, 3, 4, 6]);
    let ms = T0 / 1_000_000;
    assert_eq!(b.t, [ms, ms + 60_000, ms + 120_000, ms + 300_000, ms, ms + 60_000]);
    assert_eq!(b.o, [216.75, 216.77, 216.8, 411.0001, 450.1, 450.2]);
    assert_eq!(b.n, [3, 5, 4, 1, 12, N_ABSENT]);
    assert_eq!(b.v, [100.0, 107.0, 114.0, 1234.0, 100.0, 107.0]);
    assert_eq!((b.h[0], b.l[0], b.c[0]), (11.25, 9.75, 10.5));
    assert!(b.vw.iter().all(|x| x.is_nan()));
    assert_eq!(b.vw(0), None);
    assert_eq!(b.n(5), None);
    assert_same(b, &expected(&small_rows()));
}

#[test]
fn a_sorted_file_decodes_to_the_same_columns_as_expected() {
    let mut rows = Vec::new();
    for (k, t) in ["A", "AA", "AAPL", "B", "BRK.A", "ZVZZT"].iter().enumerate() {
        for m in 0..50 {
            rows.push(row(t, m * (k as i64 + 1), &format!("{}.{:02}", 10 + m, m), (m % 3 != 0).then_some(m as u64)));
        }
    }
    let day = decode_flat_file(file_of(&rows).as_bytes()).unwrap();
    assert_eq!(day.rows, 300);
    assert_same(&day.bars, &expected(&rows));
}

#[test]
fn every_split_point_gives_the_same_bars() {
    let mut text = file_of(&small_rows());
    // And a CRLF line and a last line without a line break.
    text.push_str("NVDA,5,1,1,1,1,1719840600000000000,\r\nNVDA,6,2,2,2,2,1719840660000000000,9");
    let b = text.as_bytes();
    let whole = decode_flat_file(b);
    assert_eq!(whole.as_ref().unwrap().bars.num_series(), 4);
    assert_eq!(whole.as_ref().unwrap().bars.t.last(), Some(&(T0 / 1_000_000 + 60_000)));
    for cut in 0..=b.len() {
        let (x, y) = b.split_at(cut);
        assert_same_result(&decode_in(&[x, y]), &whole, &format!("cut at {cut}"));
        // With empty chunks around the cut too.
        assert_same_result(&decode_in(&[x, &[], y, &[]]), &whole, &format!("cut at {cut}"));
    }
    let bytes: Vec<&[u8]> = b.chunks(1).collect();
    assert_same_result(&decode_in(&bytes), &whole, "byte by byte");
    for a in (0..b.len()).step_by(7) {
        for c in (a..=b.len()).step_by(5) {
            assert_same_result(&decode_in(&[&b[..a], &b[a..c], &b[c..]]), &whole, &format!("cuts at {a}, {c}"));
        }
    }
}

#[test]
fn every_split_point_gives_the_same_error() {
    let mut rows = small_rows();
    rows[3].c = "216.8.1".into();
    let text = file_of(&rows);
    let b = text.as_bytes();
    let whole = decode_flat_file(b).unwrap_err();
    assert_eq!((whole.line, whole.field.as_str()), (5, "close"));
    for cut in 0..=b.len() {
        let (x, y) = b.split_at(cut);
        assert_eq!(decode_in(&[x, y]).unwrap_err(), whole, "cut at {cut}");
    }
}

#[test]
fn a_filter_keeps_only_its_tickers_without_parsing_other_rows() {
    let mut rows = small_rows();
    // Garbage in rows of tickers outside the filter is never looked at.
    rows.push(Row { o: "not a number".into(), ..row("ZZZZ", 0, "", None) });
    rows.push(Row { ticker: "lower/case".into(), ..row("ZZZZ", 1, "1", None) });
    let text = file_of(&rows);
    let only = [Ticker::new("MSFT").unwrap(), Ticker::new("BRK.B").unwrap(), Ticker::new("NOPE").unwrap()];
    let mut d = FlatFileDecoder::with_filter(&only);
    d.feed(text.as_bytes()).unwrap();
    let day = d.finish().unwrap();
    assert_eq!(day.rows, 8);
    // NOPE has no rows, so no series.
    assert_eq!(day.bars.tickers.iter().map(Ticker::as_str).collect::<Vec<_>>(), ["BRK.B", "MSFT"]);
    let kept: Vec<Row> = small_rows().into_iter().filter(|r| r.ticker != "AAPL").collect();
    assert_same(&day.bars, &expected(&kept));
    // Unfiltered, the same file fails on the garbage.
    let e = decode_flat_file(text.as_bytes()).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (8, "open"));
    // An empty filter keeps nothing but still reads the header.
    let mut d = FlatFileDecoder::with_filter(&[] as &[Ticker]);
    d.feed(text.as_bytes()).unwrap();
    let day = d.finish().unwrap();
    assert_eq!((day.rows, day.bars.num_series(), day.bars.len()), (8, 0, 0));
}

#[test]
fn header_variants() {
    let ms = T0 / 1_000_000;
    // Reordered, with unknown columns (one of them last), spaces and quotes around names.
    let text = format!(
        "\u{feff}window_start, \"open\",extra,ticker,close,high,low,volume,transactions,otc\r\n\
         {T0},1.5,x,AAPL,1.75,2,1,100,3,false\r\n\
         {},1.25,,AAPL,1.5,2,1,200.0,,\r\n",
        T0 + MIN_NS
    );
    let day = decode_flat_file(text.as_bytes()).unwrap();
    let b = &day.bars;
    assert_eq!(b.t, [ms, ms + 60_000]);
    assert_eq!(
        (b.o.as_slice(), b.c.as_slice(), b.v.as_slice()),
        (&[1.5, 1.25][..], &[1.75, 1.5][..], &[100.0, 200.0][..])
    );
    assert_eq!(b.n, [3, N_ABSENT]);
    // Lines still count right through CRLF rows of that layout.
    let e = err_of(&format!("{text}x,1,,AAPL,1,1,1,1,,\r\n"));
    assert_eq!((e.line, e.field.as_str(), e.offset), (4, "window_start", text.len() as u64));
    // No transactions column at all: every count absent.
    let text = format!("ticker,volume,open,close,high,low,window_start\nAAPL,1,2,3,4,1,{T0}");
    let b = decode_flat_file(text.as_bytes()).unwrap().bars;
    assert_eq!((b.n.as_slice(), b.h.as_slice()), (&[N_ABSENT][..], &[4.0][..]));
    // That layout (a number last) with CRLF: lines still count right.
    let text = format!("ticker,volume,open,close,high,low,window_start\r\nAAPL,1,2,3,4,1,{T0}\r\nAAPL,1,2,3,4,1,x\r\n");
    let e = err_of(&text);
    assert_eq!((e.line, e.field.as_str(), e.offset), (3, "window_start", text.len() as u64 - 3));
    // The ticker in the middle of the row, with a filter.
    let text = format!("volume,open,ticker,close,high,low,window_start\n1,2,AAPL,3,4,1,{T0}\n1,2,MSFT,3,4,1,{T0}\n");
    let msft = [Ticker::new("MSFT").unwrap()];
    let mut d = FlatFileDecoder::with_filter(&msft);
    d.feed(text.as_bytes()).unwrap();
    assert_eq!(d.finish().unwrap().bars.tickers, msft);
    // Header only, with or without line break, BOM or CRLF, blank lines after: no series.
    for text in [HEADER.to_owned(), format!("{HEADER}\n"), format!("\u{feff}{HEADER}\r\n"), format!("{HEADER}\n\n\r\n")]
    {
        let day = decode_flat_file(text.as_bytes()).unwrap();
        assert_eq!((day.rows, day.bars.num_series()), (0, 0), "{text:?}");
        assert_eq!(day.bars.offsets(), &[0]);
    }
    // Blank lines between rows are skipped, but still counted as lines.
    let text = format!("{HEADER}\n\n{}\n\r\n{}\nAAPL,x", row("A", 0, "1", None).line(), row("A", 1, "1", None).line());
    let e = err_of(&text);
    assert_eq!((e.line, e.field.as_str()), (6, "volume"));
}

#[test]
fn header_errors_name_the_column() {
    for (missing, header) in [
        ("ticker", "volume,open,close,high,low,window_start,transactions"),
        ("volume", "ticker,open,close,high,low,window_start,transactions"),
        ("open", "ticker,volume,close,high,low,window_start,transactions"),
        ("close", "ticker,volume,open,high,low,window_start"),
        ("high", "ticker,volume,open,close,low,window_start"),
        ("low", "ticker,volume,open,close,high,window_start"),
        ("window_start", "ticker,volume,open,close,high,low,timestamp,transactions"),
    ] {
        let e = err_of(&format!("{header}\nAAPL,1,1,1,1,1,1\n"));
        assert_eq!((e.line, e.field.as_str(), e.offset, &e.kind), (1, missing, 0, &CsvErrorKind::MissingColumn));
        assert_eq!(
            e.to_string(),
            format!("line 1, field {missing:?}: required column missing from the header (byte 0)")
        );
    }
    let e = err_of("ticker,volume,open,close,high,low,open,window_start\n");
    assert_eq!((e.line, e.field.as_str(), e.offset, &e.kind), (1, "open", 34, &CsvErrorKind::DuplicateColumn));
    // An unknown column may repeat.
    decode_flat_file(b"x,ticker,volume,open,close,high,low,x,window_start\n").unwrap();
    // No bytes at all: no header.
    let e = decode_flat_file(b"").unwrap_err();
    assert_eq!((e.line, e.offset, &e.kind), (1, 0, &CsvErrorKind::Empty));
    assert_eq!(e.to_string(), "line 1: the stream is empty: expected a header line (byte 0)");
    // A header with no columns we know.
    assert_eq!(err_of("\n").field, "ticker");
}

/// The decoder's error for `line` as the only row, which starts at byte 60 on line 2.
fn row_err(line: &str) -> CsvError {
    err_of(&format!("{HEADER}\n{line}\n"))
}

#[test]
fn row_errors_name_line_field_and_byte() {
    const AT: u64 = HEADER.len() as u64 + 1; // where line 2 starts
    // (row, field, offset within the row, message)
    let cases: &[(&str, &str, u64, &str)] = &[
        ("AAPL,100,1.2x,1,1,1,1719840600000000000,3", "open", 9, r#"expected a number, found "1.2x""#),
        ("AAPL,100,,1,1,1,1719840600000000000,3", "open", 9, r#"expected a number, found """#),
        ("AAPL,1e999,1,1,1,1,1719840600000000000,3", "volume", 5, r#"number "1e999" is not finite"#),
        ("AAPL,100,1,1,1,NaN,1719840600000000000,3", "low", 15, r#"expected a number, found "NaN""#),
        (
            "AAPL,100,1,1,1,1,1719840600000000001,3",
            "window_start",
            17,
            "1719840600000000001 ns is not a whole millisecond",
        ),
        (
            "AAPL,100,1,1,1,1,1719840600000000000.0,3",
            "window_start",
            17,
            r#"expected an integer, found "1719840600000000000.0""#,
        ),
        (
            "AAPL,100,1,1,1,1,99999999999999999999,3",
            "window_start",
            17,
            r#"integer "99999999999999999999" is out of range"#,
        ),
        (
            "AAPL,100,1,1,1,1,1719840600000000000,-3",
            "transactions",
            37,
            r#"expected a non-negative integer or nothing, found "-3""#,
        ),
        (
            "AAPL,100,1,1,1,1,1719840600000000000,3.5",
            "transactions",
            37,
            r#"expected a non-negative integer or nothing, found "3.5""#,
        ),
        (
            "AAPL,100,1,1,1,1,1719840600000000000,18446744073709551615",
            "transactions",
            37,
            r#"integer "18446744073709551615" is out of range"#,
        ),
        (
            "aapl,100,1,1,1,1,1719840600000000000,3",
            "ticker",
            0,
            r#"invalid ticker "aapl": must start with an upper-case letter (or a prefix such as X:)"#,
        ),
        (",100,1,1,1,1,1719840600000000000,3", "ticker", 0, r#"invalid ticker "": must not be empty"#),
        ("AAPL,100,1,1,1,1", "window_start", 16, "the row ends after 6 fields, the header has 8"),
        ("AAPL", "volume", 4, "the row ends after 1 field, the header has 8"),
        ("AAPL,100,1,1,1,1,1719840600000000000,3,x", "", 38, "the row has more fields than the header's 8"),
        (
            "AAPL,100,1,1,1,1,1719840600000000000\r,3",
            "window_start",
            17,
            r#"expected an integer, found "1719840600000000000\r""#,
        ),
    ];
    for &(line, field, off, what) in cases {
        let e = row_err(line);
        assert_eq!((e.line, e.field.as_str(), e.offset), (2, field, AT + off), "{line}: {e}");
        let place = if field.is_empty() { String::new() } else { format!(", field {field:?}") };
        assert_eq!(e.to_string(), format!("line 2{place}: {what} (byte {})", AT + off), "{line}");
    }
    // The file name, when the caller adds it.
    let e = row_err("AAPL,100,1.2x,1,1,1,1719840600000000000,3").with_file("2024-07-01.csv.gz");
    assert_eq!(e.to_string(), r#"2024-07-01.csv.gz: line 2, field "open": expected a number, found "1.2x" (byte 69)"#);
    // Long fields are cut in the message.
    let e = row_err(&format!("AAPL,100,{},1,1,1,1719840600000000000,3", "9x".repeat(100)));
    let CsvErrorKind::Expected { found, .. } = &e.kind else { panic!("{e}") };
    assert_eq!(found.chars().count(), 65);
}

#[test]
fn errors_deeper_in_the_file_count_lines_and_bytes() {
    let rows: Vec<Row> = (0..40).map(|m| row("AAPL", m, "1.5", Some(1))).collect();
    let mut text = file_of(&rows);
    let at = text.len();
    text.push_str("AAPL,1,1,1,1,1,1719840600000000000x,1\n");
    let e = err_of(&text);
    assert_eq!((e.line, e.field.as_str(), e.offset), (42, "window_start", at as u64 + 15));
}

/// Where `window_start` starts in the row's line.
fn ns_at(r: &Row) -> usize {
    r.line().find(&r.ns.to_string()).unwrap()
}

#[test]
fn out_of_order_rows_are_sorted_stably_and_duplicates_are_errors() {
    // Rows sorted by time, then ticker (not the file's usual order), rising or falling in time.
    for falling in [false, true] {
        let mut rows = Vec::new();
        for m in 0..20 {
            for t in ["MSFT", "AAPL", "NVDA"] {
                rows.push(row(t, if falling { 19 - m } else { m }, &format!("{m}.5"), Some(m as u64)));
            }
        }
        let day = decode_flat_file(file_of(&rows).as_bytes()).unwrap();
        assert_same(&day.bars, &expected(&rows));
        assert_eq!(day.bars.offsets(), &[0, 20, 40, 60]);
        assert!(day.bars.series(0).unwrap().t.windows(2).all(|w| w[0] < w[1]));
    }

    // A duplicate right after its twin: found at once, naming the second row.
    let dup = [row("AAPL", 0, "1", None), row("AAPL", 1, "1", None), row("AAPL", 1, "2", None)];
    let text = file_of(&dup);
    let e = err_of(&text);
    let third = text.len() - dup[2].line().len() - 1;
    assert_eq!((e.line, e.field.as_str(), e.offset), (4, "window_start", (third + ns_at(&dup[2])) as u64));
    let ns = T0 + MIN_NS;
    assert_eq!(e.kind, CsvErrorKind::DuplicateRow { ticker: "AAPL".into(), window_start: ns });
    assert!(e.to_string().contains(&format!(r#"a second row for ticker "AAPL" at window_start {ns}"#)), "{e}");

    // Duplicates among out-of-order rows are found when the series is sorted; the first
    // repeat in file order is named.
    let dup = [
        row("AAPL", 5, "1", None), // line 2
        row("MSFT", 3, "1", None),
        row("AAPL", 2, "1", None), // line 4: AAPL now out of order
        row("MSFT", 1, "1", None),
        row("AAPL", 9, "1", None),
        row("MSFT", 3, "1", None), // line 7: repeats line 3
        row("AAPL", 2, "1", None), // line 8: repeats line 4
    ];
    let text = file_of(&dup);
    let e = err_of(&text);
    assert_eq!((e.line, e.field.as_str()), (7, "window_start"));
    let line7 = text.match_indices('\n').nth(5).unwrap().0 + 1;
    assert_eq!(e.offset, (line7 + ns_at(&dup[5])) as u64);
    assert_eq!(e.kind, CsvErrorKind::DuplicateRow { ticker: "MSFT".into(), window_start: T0 + 3 * MIN_NS });
    // The same rows without the repeats decode.
    let ok = &dup[..5];
    assert_same(&decode_flat_file(file_of(ok).as_bytes()).unwrap().bars, &expected(ok));
}

#[test]
fn a_ticker_that_comes_back_later_joins_its_series() {
    let rows = [row("MSFT", 0, "1", None), row("AAPL", 0, "2", None), row("MSFT", 1, "3", None)];
    let day = decode_flat_file(file_of(&rows).as_bytes()).unwrap();
    assert_eq!(day.bars.offsets(), &[0, 1, 3]);
    assert_eq!(day.bars.o, [2.0, 1.0, 3.0]);
}

#[test]
fn nothing_is_returned_after_a_failure() {
    let text = file_of(&small_rows()).replace("216.8,", "x,");
    let bad = text.find("x,").unwrap();
    let (bad_at, good_tail) = text.split_at(bad + text[bad..].find('\n').unwrap() + 1);
    let mut d = FlatFileDecoder::new();
    let e = d.feed(bad_at.as_bytes()).unwrap_err();
    // Feeding on, even good rows, returns the same error; so does finish.
    assert_eq!(d.feed(good_tail.as_bytes()).unwrap_err(), e);
    assert_eq!(d.feed(b"").unwrap_err(), e);
    assert_eq!(d.finish().unwrap_err(), e);
    // A failure only at finish (the last line, unterminated) returns no bars either.
    let mut d = FlatFileDecoder::new();
    d.feed(format!("{HEADER}\n{}\nAAPL,1", row("AAPL", 0, "1", None).line()).as_bytes()).unwrap();
    let e = d.finish().unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (3, "open"));
}

#[test]
fn overlong_lines_are_errors_however_the_stream_is_cut() {
    let long = format!("{HEADER},note\nAAPL,1,1,1,1,1,{T0},1,{}\n", "x".repeat(MAX_CSV_LINE_LEN));
    let b = long.as_bytes();
    for chunks in [vec![b], b.chunks(4096).collect::<Vec<_>>()] {
        let e = decode_in(&chunks).unwrap_err();
        assert_eq!((e.line, &e.kind), (2, &CsvErrorKind::LineTooLong), "{e}");
        assert_eq!(e.offset, HEADER.len() as u64 + 6);
    }
    // Also for a row the filter skips, and for a stream with no line break at all.
    let none: [Ticker; 0] = [];
    let mut d = FlatFileDecoder::with_filter(&none);
    assert_eq!(d.feed(b).unwrap_err().kind, CsvErrorKind::LineTooLong);
    let e = decode_in(&vec![&b"ticker"[..]; MAX_CSV_LINE_LEN]).unwrap_err();
    assert_eq!((e.line, e.offset, &e.kind), (1, 0, &CsvErrorKind::LineTooLong));
}

/// A decimal as JSON and CSV both write it: an integer part without leading zeros, an optional
/// fraction, an optional exponent.
fn arb_decimal() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(0u64), 1u64..1000, 1u64..10_000_000, 1u64..u64::MAX],
        proptest::option::of("[0-9]{1,20}"),
        proptest::option::of(-30i32..30),
    )
        .prop_map(|(int, frac, exp)| {
            let mut s = int.to_string();
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            if let Some(e) = exp {
                s.push_str(&format!("e{e}"));
            }
            s
        })
}

fn arb_rows() -> impl Strategy<Value = Vec<Row>> {
    let tickers = prop::sample::select(vec!["A", "AAPL", "BRK.B", "MSFT", "X:BTCUSD", "O:SPY251219C00650000"]);
    let one = (tickers, 0i64..40, arb_decimal(), arb_decimal(), proptest::option::of(0u64..1_000_000));
    proptest::collection::vec(one, 0..60).prop_map(|rs| {
        let mut seen = std::collections::HashSet::new();
        rs.into_iter()
            .filter(|(t, m, ..)| seen.insert((*t, *m)))
            .map(|(t, m, o, v, n)| Row { v, o: o.clone(), c: o, ..row(t, m, "0", n) })
            .collect()
    })
}

/// Bytes that matter to the grammar, for the mutation test.
const EDITS: &[u8] = b",\n\r.-e0x ";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random days (any ticker and time order) in random chunks decode to the expected columns.
    #[test]
    fn random_files_in_random_chunks(
        rows in arb_rows(),
        sizes in proptest::collection::vec(1usize..200, 1..20),
        crlf: bool,
        final_newline: bool,
    ) {
        let mut text = file_of(&rows);
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        if !final_newline {
            text.truncate(text.trim_end().len());
        }
        let b = text.as_bytes();
        let mut chunks = Vec::new();
        let mut at = 0;
        for s in sizes.iter().cycle() {
            if at >= b.len() {
                break;
            }
            let end = (at + s).min(b.len());
            chunks.push(&b[at..end]);
            at = end;
        }
        let day = decode_in(&chunks).unwrap();
        prop_assert_eq!(day.rows, rows.len() as u64);
        assert_same(&day.bars, &expected(&rows));
    }

    /// The same decimal text gives the same f64 as the JSON decoder, bit for bit.
    #[test]
    fn same_f64s_as_the_json_decoder(prices in proptest::collection::vec(arb_decimal(), 5..=5)) {
        let [o, h, l, c, v] = [0, 1, 2, 3, 4].map(|k| prices[k].clone());
        let bar = format!(r#"{{"v":{v},"o":{o},"c":{c},"h":{h},"l":{l},"t":1719840600000,"n":3}}"#);
        let json = format!(r#"{{"ticker":"AAPL","status":"OK","results":[{bar}]}}"#);
        let page = decode_aggregates(json.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let csv = format!("{HEADER}\nAAPL,{v},{o},{c},{h},{l},{T0},3\n");
        match decode_flat_file(csv.as_bytes()) {
            Ok(day) => {
                let (a, b) = (&day.bars, &page.bars);
                for (x, y) in [(&a.o, &b.o), (&a.h, &b.h), (&a.l, &b.l), (&a.c, &b.c), (&a.v, &b.v)] {
                    prop_assert_eq!(x[0].to_bits(), y[0].to_bits());
                }
                prop_assert_eq!(a.t[0], b.t[0]);
            }
            // Both refuse an overflow to infinity.
            Err(e) => prop_assert!(matches!(e.kind, CsvErrorKind::NonFinite { .. }), "{}", e),
        }
    }

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
        let cut = cut.min(body.len());
        let _ = decode_in(&[&body[..cut], &body[cut..]]);
        let mut with_header = format!("{HEADER}\n").into_bytes();
        with_header.extend_from_slice(&body);
        if let Err(e) = decode_flat_file(&with_header) {
            prop_assert!(e.offset <= with_header.len() as u64);
        }
    }

    /// Edited files never panic; an error points inside the stream, and any chunking gives the
    /// same outcome.
    #[test]
    fn mutated_files_never_panic_and_chunking_does_not_matter(
        rows in arb_rows(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(EDITS.to_vec())), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = file_of(&rows).into_bytes();
        for (i, c) in edits {
            let i = i.index(b.len());
            b[i] = c;
        }
        let whole = decode_flat_file(&b);
        if let Err(e) = &whole {
            prop_assert!(e.offset <= b.len() as u64, "{}", e);
        }
        let (x, y) = b.split_at(cut.index(b.len() + 1));
        assert_same_result(&decode_in(&[x, y]), &whole, "split");
    }
}
