//! Polygon's JSON response types for every endpoint of design.md (serde), archivable with rkyv.
//!
//! Field names are Polygon's. Fields the real API may omit are `Option`s; timestamps of trades and
//! quotes are `i64` Unix nanoseconds (never floats: a double cannot hold them exactly).

use serde::{Deserialize, Serialize};

macro_rules! archived {
    ($($item:item)*) => {$(
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
        #[rkyv(derive(Debug))]
        $item
    )*};
}

archived! {
    /// One aggregate bar of `/v2/aggs/ticker/…/range/…` (fields in Polygon's order).
    pub struct Bar {
        /// Volume (shares; fractional for crypto). Whole values are written as JSON integers.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub v: f64,
        /// Volume-weighted average price; absent on some bars.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vw: Option<f64>,
        /// Open price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub o: f64,
        /// Close price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub c: f64,
        /// High price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub h: f64,
        /// Low price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub l: f64,
        /// Bar start, Unix ms.
        pub t: i64,
        /// Number of trades; absent on some bars.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub n: Option<u64>,
        /// Whether the bar is of an OTC ticker; absent when false.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub otc: Option<bool>,
    }

    /// A page of `/v2/aggs/ticker/{ticker}/range/…`.
    pub struct AggregatesResponse {
        /// The symbol asked for.
        pub ticker: String,
        /// Base bars examined.
        #[serde(rename = "queryCount")]
        pub query_count: u64,
        /// Bars in `results`.
        #[serde(rename = "resultsCount")]
        pub results_count: u64,
        /// Whether prices are split-adjusted.
        pub adjusted: bool,
        /// The bars; absent when there are none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub results: Vec<Bar>,
        /// `OK` or `DELAYED`.
        pub status: String,
        /// Polygon's request id.
        pub request_id: String,
        /// Bars in this page (some responses only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub count: Option<u64>,
        /// The next page, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next_url: Option<String>,
    }

    /// A daily bar with its symbol, as in grouped daily and previous close.
    pub struct TickerBar {
        /// The symbol.
        #[serde(rename = "T")]
        pub ticker: String,
        /// Volume. Whole values are written as JSON integers.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub v: f64,
        /// Volume-weighted average price.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vw: Option<f64>,
        /// Open price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub o: f64,
        /// Close price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub c: f64,
        /// High price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub h: f64,
        /// Low price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub l: f64,
        /// Unix ms of the day's regular close (16:00 New York), as Polygon stamps daily summaries.
        pub t: i64,
        /// Number of trades.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub n: Option<u64>,
        /// OTC flag.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub otc: Option<bool>,
    }

    /// `/v2/aggs/grouped/locale/us/market/stocks/{date}`.
    pub struct GroupedDailyResponse {
        /// Tickers examined.
        #[serde(rename = "queryCount")]
        pub query_count: u64,
        /// Bars in `results`.
        #[serde(rename = "resultsCount")]
        pub results_count: u64,
        /// Split-adjusted.
        pub adjusted: bool,
        /// One bar per traded ticker.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub results: Vec<TickerBar>,
        /// `OK`.
        pub status: String,
        /// Polygon's request id.
        pub request_id: String,
        /// Bars in this response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub count: Option<u64>,
    }

    /// `/v2/aggs/ticker/{ticker}/prev`.
    pub struct PrevCloseResponse {
        /// The symbol.
        pub ticker: String,
        /// Bars examined.
        #[serde(rename = "queryCount")]
        pub query_count: u64,
        /// Bars in `results` (0 or 1).
        #[serde(rename = "resultsCount")]
        pub results_count: u64,
        /// Split-adjusted.
        pub adjusted: bool,
        /// The previous trading day's bar.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub results: Vec<TickerBar>,
        /// `OK`.
        pub status: String,
        /// Polygon's request id.
        pub request_id: String,
    }

    /// One trade of `/v3/trades/{ticker}`.
    pub struct Trade {
        /// Condition codes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub conditions: Option<Vec<i32>>,
        /// Exchange id.
        pub exchange: i32,
        /// Trade id, unique per exchange and day.
        pub id: String,
        /// Exchange timestamp, Unix ns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub participant_timestamp: Option<i64>,
        /// Price.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub price: f64,
        /// SIP sequence number.
        pub sequence_number: i64,
        /// SIP timestamp, Unix ns.
        pub sip_timestamp: i64,
        /// Shares. Whole values are written as JSON integers.
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub size: f64,
        /// Tape (1 NYSE, 2 Arca/Amex, 3 Nasdaq).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tape: Option<i32>,
    }

    /// One NBBO quote of `/v3/quotes/{ticker}`.
    pub struct Quote {
        /// Ask exchange id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub ask_exchange: Option<i32>,
        /// Ask price.
        pub ask_price: f64,
        /// Ask size (round lots).
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub ask_size: f64,
        /// Bid exchange id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bid_exchange: Option<i32>,
        /// Bid price.
        pub bid_price: f64,
        /// Bid size (round lots).
        #[serde(serialize_with = "crate::response::whole_as_int")]
        pub bid_size: f64,
        /// Exchange timestamp, Unix ns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub participant_timestamp: Option<i64>,
        /// SIP sequence number.
        pub sequence_number: i64,
        /// SIP timestamp, Unix ns.
        pub sip_timestamp: i64,
        /// Tape.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub tape: Option<i32>,
    }

    /// A page of `/v3/trades/{ticker}`.
    pub struct TradesResponse {
        /// The trades.
        #[serde(default)]
        pub results: Vec<Trade>,
        /// `OK`.
        pub status: String,
        /// Polygon's request id.
        pub request_id: String,
        /// The next page, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next_url: Option<String>,
    }

    /// A page of `/v3/quotes/{ticker}`.
    pub struct QuotesResponse {
        /// The quotes.
        #[serde(default)]
        pub results: Vec<Quote>,
        /// `OK`.
        pub status: String,
        /// Polygon's request id.
        pub request_id: String,
        /// The next page, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next_url: Option<String>,
    }

    /// One symbol of `/v3/reference/tickers`.
    pub struct TickerInfo {
        /// The symbol.
        pub ticker: String,
        /// Company or fund name.
        pub name: String,
        /// `stocks`.
        pub market: String,
        /// `us`.
        pub locale: String,
        /// MIC of the listing exchange (`XNAS`, `XNYS`, `ARCX`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub primary_exchange: Option<String>,
        /// Security type (`CS`, `ETF`, …).
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        pub kind: Option<String>,
        /// Listed now.
        pub active: bool,
        /// `usd`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub currency_name: Option<String>,
        /// SEC CIK.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cik: Option<String>,
        /// Composite FIGI.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub composite_figi: Option<String>,
        /// Last change, RFC 3339.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub last_updated_utc: Option<String>,
    }

    /// A page of `/v3/reference/tickers`.
    pub struct TickersResponse {
        /// The symbols, sorted by ticker.
        #[serde(default)]
        pub results: Vec<TickerInfo>,
        /// `OK`.
        pub status: String,
        /// Polygon's request id.
        pub request_id: String,
        /// Symbols in this page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub count: Option<u64>,
        /// The next page, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next_url: Option<String>,
    }
}

archived! {
    /// One split, as `/stocks/v1/splits` lists it (the deprecated `/v3/reference/splits` gives
    /// the first five fields only).
    pub struct SplitRecord {
        /// The symbol.
        pub ticker: String,
        /// The first session at the new share count (`YYYY-MM-DD`): on the prior trading day,
        /// the post-market session is the last one at pre-split prices.
        pub execution_date: String,
        /// Shares before (a reverse split has `split_from > split_to`).
        pub split_from: f64,
        /// Shares after.
        pub split_to: f64,
        /// Massive's id of the event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub id: Option<String>,
        /// `forward_split`, `reverse_split` or `stock_dividend` (current endpoint only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub adjustment_type: Option<String>,
        /// Unadjusted prices before the execution date times this give today's basis (current
        /// endpoint only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub historical_adjustment_factor: Option<f64>,
    }

    /// A page of `/stocks/v1/splits` or `/v3/reference/splits`.
    pub struct SplitsResponse {
        /// The splits.
        #[serde(default)]
        pub results: Vec<SplitRecord>,
        /// `OK`.
        pub status: String,
        /// Polygon's request id.
        #[serde(default)]
        pub request_id: String,
        /// The next page, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next_url: Option<String>,
    }
}

/// Polygon's error body: `{"status":"ERROR","request_id":…,"error":…}` (some endpoints say `message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// `ERROR`, `NOT_AUTHORIZED`, `NOT_FOUND`, …
    pub status: String,
    /// Polygon's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What went wrong (entitlement errors use this key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Writes a whole `f64` (below 2^53) as a JSON integer, as Polygon (Go's encoder) writes numbers:
/// `190`, not `190.0`.
pub(crate) fn whole_as_int<S: serde::Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 && !(*x == 0.0 && x.is_sign_negative()) {
        s.serialize_i64(*x as i64)
    } else {
        s.serialize_f64(*x)
    }
}
