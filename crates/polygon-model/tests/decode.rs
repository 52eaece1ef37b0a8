//! The aggregates decoder against serde_json, on well-formed, malformed and random bodies.

use polygon_model::{AggregatesResponse, Bar, BarColumns, DecodeErrorKind, decode_aggregates, decode_aggregates_into};
use proptest::prelude::*;

fn body_of(bars: &[Bar], next: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&AggregatesResponse {
        ticker: "AAPL".into(),
        query_count: bars.len() as u64,
        results_count: bars.len() as u64,
        adjusted: true,
        results: bars.to_vec(),
        status: "OK".into(),
        request_id: "6a7e466379af0a71039d60cc78e72282".into(),
        count: Some(bars.len() as u64),
        next_url: next.map(str::to_owned),
    })
    .unwrap()
}

fn sample_bars(n: usize) -> Vec<Bar> {
    (0..n)
        .map(|i| {
            let base = 150.0 + (i as f64 * 0.37).sin() * 3.0;
            let r = |x: f64| (x * 100.0).round() / 100.0;
            Bar {
                v: (1000 + i * 37) as f64,
                vw: (i % 5 != 0).then(|| (base * 10_000.0).round() / 10_000.0),
                o: r(base),
                c: r(base + 0.05),
                h: r(base + 0.2),
                l: r(base - 0.2),
                t: 1_704_186_000_000 + i as i64 * 60_000,
                n: (i % 7 != 0).then_some(10 + i as u64),
                otc: (i % 11 == 0).then_some(false),
            }
        })
        .collect()
}

fn assert_same(cols: &BarColumns, bars: &[Bar]) {
    assert_eq!(cols.len(), bars.len());
    for (i, b) in bars.iter().enumerate() {
        let got = cols.bar(i).unwrap();
        assert_eq!(got.t, b.t);
        for (x, y) in [(got.o, b.o), (got.h, b.h), (got.l, b.l), (got.c, b.c), (got.v, b.v)] {
            assert_eq!(x.to_bits(), y.to_bits(), "bar {i}");
        }
        assert_eq!(got.vw.map(f64::to_bits), b.vw.map(f64::to_bits));
        assert_eq!(got.n, b.n);
    }
}

#[test]
fn decodes_a_page_exactly_as_serde_json_does() {
    let bars = sample_bars(500);
    let body = body_of(&bars, Some("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/1/2?cursor=abc"));
    let page = decode_aggregates(&body).unwrap();
    assert_eq!(page.bars.tickers[0].as_str(), "AAPL");
    assert_eq!(page.meta.results_count, Some(500));
    assert_eq!(page.meta.status, "OK");
    assert_eq!(
        page.meta.next_url.as_deref(),
        Some("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/1/2?cursor=abc")
    );
    let via_serde: AggregatesResponse = serde_json::from_slice(&body).unwrap();
    assert_same(&page.bars, &via_serde.results);
}

#[test]
fn accepts_polygon_variations() {
    // Field order, whitespace, escapes, exponents, unknown fields, null optionals, no results.
    let body = br#" { "status" : "DELAYED", "results" : [ { "t" : 1704186000000 , "c":1.5e2, "o":150, "h":1.51E+2,
        "l":149.99, "v":7.0790813e+07, "vw":null, "n":null, "extra":{"a":[1,2,{"b":null}]}, "otc":true } ],
        "ticker":"BRK.B", "request_id":"a\"b\u00e9\ud83d\ude00", "unknown":[true,false,-0.5e-3] } "#;
    let page = decode_aggregates(body).unwrap();
    let b = page.bars.bar(0).unwrap();
    assert_eq!((b.o, b.h, b.c, b.v), (150.0, 151.0, 150.0, 70_790_813.0));
    assert_eq!((b.vw, b.n), (None, None));
    assert_eq!(page.meta.request_id.as_deref(), Some("a\"bé😀"));
    assert_eq!(page.bars.tickers[0].as_str(), "BRK.B");

    let empty = br#"{"ticker":"ZZZZ","queryCount":0,"resultsCount":0,"adjusted":true,"status":"OK","request_id":"x"}"#;
    let page = decode_aggregates(empty).unwrap();
    assert!(page.bars.is_empty());
    assert_eq!(page.bars.num_series(), 1);
}

fn err_of(body: &[u8]) -> polygon_model::DecodeError {
    decode_aggregates(body).expect_err(std::str::from_utf8(body).unwrap_or("<bytes>"))
}

#[test]
fn malformed_bodies_name_the_field_and_offset() {
    let ok = |bar: &str| format!(r#"{{"ticker":"AAPL","status":"OK","results":[{bar}]}}"#);
    // wrong type
    let e = err_of(ok(r#"{"o":"1.0","h":1,"l":1,"c":1,"v":1,"t":1}"#).as_bytes());
    assert_eq!(e.field, "results[0].o");
    assert_eq!(e.kind, DecodeErrorKind::Expected("a number"));
    assert_eq!(e.offset, 47); // where "1.0" starts
    // missing required field
    let e = err_of(ok(r#"{"o":1,"h":1,"l":1,"c":1,"v":1}"#).as_bytes());
    assert_eq!((e.field.as_str(), &e.kind), ("results[0].t", &DecodeErrorKind::MissingField));
    // NaN and infinities are not JSON; huge numbers overflow
    for (bar, kind) in [
        (r#"{"o":NaN,"h":1,"l":1,"c":1,"v":1,"t":1}"#, DecodeErrorKind::Expected("a number")),
        (r#"{"o":-Infinity,"h":1,"l":1,"c":1,"v":1,"t":1}"#, DecodeErrorKind::Expected("a number")),
        (r#"{"o":1e400,"h":1,"l":1,"c":1,"v":1,"t":1}"#, DecodeErrorKind::NonFinite),
        (r#"{"o":1,"h":1,"l":1,"c":1,"v":1,"t":99999999999999999999}"#, DecodeErrorKind::OutOfRange),
        (r#"{"o":1,"h":1,"l":1,"c":1,"v":1,"t":1.5}"#, DecodeErrorKind::Expected("an integer")),
        (r#"{"o":1,"h":1,"l":1,"c":1,"v":1,"t":1,"n":-3}"#, DecodeErrorKind::Expected("a non-negative integer")),
        (r#"{"o":1,"o":2,"h":1,"l":1,"c":1,"v":1,"t":1}"#, DecodeErrorKind::DuplicateField),
        (r#"{"o":01,"h":1,"l":1,"c":1,"v":1,"t":1}"#, DecodeErrorKind::Expected("',' or '}' in a bar")),
        (r#"{"o":1.,"h":1,"l":1,"c":1,"v":1,"t":1}"#, DecodeErrorKind::Expected("a number")),
    ] {
        let e = err_of(ok(bar).as_bytes());
        assert_eq!(e.kind, kind, "{bar}: {e}");
        assert!(e.field.starts_with("results[0]"), "{bar}: {e}");
    }
    // a string where the array belongs, a missing status, an error status, a count that disagrees
    assert_eq!(err_of(br#"{"status":"OK","ticker":"A","results":"x"}"#).field, "results");
    assert_eq!(err_of(br#"{"ticker":"A","results":[]}"#).field, "status");
    assert_eq!(err_of(br#"{"ticker":"A","status":"ERROR","error":"bad"}"#).field, "status");
    assert_eq!(err_of(br#"{"ticker":"A","status":"OK","resultsCount":3}"#).field, "results");
    assert_eq!(err_of(br#"{"ticker":"../x","status":"OK"}"#).field, "ticker");
    assert_eq!(err_of(br#"{"status":"OK"}"#).kind, DecodeErrorKind::MissingField);
    assert_eq!(err_of(br#"{"ticker":"A","status":"OK"} x"#).kind, DecodeErrorKind::TrailingCharacters);
    let deep = format!(r#"{{"ticker":"A","status":"OK","x":{}{}}}"#, "[".repeat(100), "]".repeat(100));
    assert_eq!(err_of(deep.as_bytes()).kind, DecodeErrorKind::TooDeep);
    assert!(err_of(b"").to_string().contains("byte 0"));
}

#[test]
fn a_failed_append_leaves_the_columns_as_they_were() {
    let good = body_of(&sample_bars(3), None);
    let mut cols = BarColumns::new();
    decode_aggregates_into(&good, &mut cols).unwrap();
    let before = cols.clone();
    let mut bad = body_of(&sample_bars(10), None);
    bad.truncate(bad.len() - 40);
    decode_aggregates_into(&bad, &mut cols).unwrap_err();
    assert_eq!(cols.offsets(), before.offsets());
    assert_eq!(cols.t, before.t);
    // And a second page appends to the same series.
    decode_aggregates_into(&good, &mut cols).unwrap();
    assert_eq!(cols.offsets(), &[0, 6]);
}

#[test]
fn every_truncation_of_a_valid_body_is_an_error_at_or_before_the_cut() {
    let body = body_of(&sample_bars(4), Some("https://x/y?cursor=z"));
    for cut in 0..body.len() {
        let e = decode_aggregates(&body[..cut]).expect_err("truncated");
        assert!(e.offset <= cut, "cut {cut}: {e}");
    }
    decode_aggregates(&body).unwrap();
}

fn arb_bar() -> impl Strategy<Value = Bar> {
    (
        (0.0001f64..1e6, 0.0..1e12, any::<i64>()),
        (proptest::option::of(0.0001f64..1e6), proptest::option::of(0u64..u64::MAX - 1)),
        (any::<f64>().prop_filter("finite", |x| x.is_finite()), -1e300f64..1e300),
    )
        .prop_map(|((o, v, t), (vw, n), (h, l))| Bar { v, vw, o, c: o, h, l, t, n, otc: None })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// serde_json writes the shortest round-tripping text (ryu), so a correctly rounded parser gets
    /// the original doubles back exactly. (serde_json's own parser, without `float_roundtrip`, is
    /// sometimes one ULP off: this decoder is not.)
    #[test]
    fn random_bars_round_trip_bit_for_bit(bars in proptest::collection::vec(arb_bar(), 0..40)) {
        // Compact bodies take the fast path (Polygon's layout); pretty-printed ones the general parser.
        let body = body_of(&bars, None);
        assert_same(&decode_aggregates(&body).unwrap().bars, &bars);
        // (Spacing inserted as text: a serde_json::Value round trip could itself be one ULP off.)
        let spaced = String::from_utf8(body).unwrap().replace(',', " ,\n ").replace(':', " : ");
        assert_same(&decode_aggregates(spaced.as_bytes()).unwrap().bars, &bars);
    }

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_aggregates(&body);
    }

    #[test]
    fn mutated_bodies_never_panic_and_errors_point_inside(
        bars in proptest::collection::vec(arb_bar(), 1..5),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut body = body_of(&bars, None);
        for (i, b) in edits {
            let i = i.index(body.len());
            body[i] = b;
        }
        if let Err(e) = decode_aggregates(&body) {
            prop_assert!(e.offset <= body.len());
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
