//! Request types for every endpoint of design.md, each able to render its Polygon path and query.

use std::fmt;
use std::str::FromStr;

use crate::time::{DAY_MS, Date};
use crate::{Error, Ticker};

/// Default `limit` of the aggregates endpoint (base bars).
pub const AGGS_DEFAULT_LIMIT: u32 = 5_000;
/// Largest `limit` of the aggregates endpoint (base bars).
pub const AGGS_MAX_LIMIT: u32 = 50_000;
/// Default `limit` of the trades and quotes endpoints.
pub const TICKS_DEFAULT_LIMIT: u32 = 1_000;
/// Largest `limit` of the trades and quotes endpoints.
pub const TICKS_MAX_LIMIT: u32 = 50_000;
/// Default `limit` of the reference tickers endpoint.
pub const TICKERS_DEFAULT_LIMIT: u32 = 100;
/// Largest `limit` of the reference tickers endpoint.
pub const TICKERS_MAX_LIMIT: u32 = 1_000;

/// The size of the time window of one aggregate bar (times the multiplier).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
#[rkyv(derive(Debug))]
#[allow(missing_docs)] // the names say it
pub enum Timespan {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Timespan {
    /// Every timespan, finest first.
    pub const ALL: [Timespan; 8] = [
        Timespan::Second,
        Timespan::Minute,
        Timespan::Hour,
        Timespan::Day,
        Timespan::Week,
        Timespan::Month,
        Timespan::Quarter,
        Timespan::Year,
    ];

    /// The word Polygon uses in paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Timespan::Second => "second",
            Timespan::Minute => "minute",
            Timespan::Hour => "hour",
            Timespan::Day => "day",
            Timespan::Week => "week",
            Timespan::Month => "month",
            Timespan::Quarter => "quarter",
            Timespan::Year => "year",
        }
    }

    /// The fixed length in ms for second, minute and hour; `None` for calendar units.
    pub fn fixed_ms(self) -> Option<i64> {
        match self {
            Timespan::Second => Some(1_000),
            Timespan::Minute => Some(60_000),
            Timespan::Hour => Some(3_600_000),
            _ => None,
        }
    }
}

impl FromStr for Timespan {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Timespan::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            Error::bad("timespan", s, "expected second, minute, hour, day, week, month, quarter or year")
        })
    }
}

impl fmt::Display for Timespan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many timespans one bar covers: 1 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Multiplier(u32);

impl Multiplier {
    /// One timespan per bar.
    pub const ONE: Multiplier = Multiplier(1);

    /// # Errors
    /// [`Error::BadArgument`] (param `multiplier`) for 0 or more than 100,000.
    pub fn new(n: u32) -> Result<Self, Error> {
        if (1..=100_000).contains(&n) {
            Ok(Multiplier(n))
        } else {
            Err(Error::bad("multiplier", n.to_string(), "must be 1 to 100000"))
        }
    }

    /// The value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for Multiplier {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let n: u32 = s.parse().map_err(|_| Error::bad("multiplier", s, "must be a whole number 1 to 100000"))?;
        Multiplier::new(n)
    }
}

impl fmt::Display for Multiplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub enum Sort {
    #[default]
    Asc,
    Desc,
}

impl Sort {
    /// `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Asc => "asc",
            Sort::Desc => "desc",
        }
    }
}

impl FromStr for Sort {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "asc" => Ok(Sort::Asc),
            "desc" => Ok(Sort::Desc),
            _ => Err(Error::bad("sort", s, "expected asc or desc")),
        }
    }
}

/// One end of an aggregates range: a New York calendar date (whole day) or a Unix-ms instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeBound {
    /// A date: as `from`, its start; as `to`, its end (inclusive).
    Date(Date),
    /// Unix milliseconds (inclusive at both ends).
    UnixMs(i64),
}

impl TimeBound {
    /// The first Unix ms this bound admits when used as `from`. Dates are days in
    /// New York time for the aggregates endpoint (Polygon's convention).
    pub fn start_ms(self) -> i64 {
        match self {
            TimeBound::Date(d) => d.ny_unix_ms(0),
            TimeBound::UnixMs(ms) => ms,
        }
    }

    /// The last Unix ms this bound admits when used as `to`.
    pub fn end_ms(self) -> i64 {
        match self {
            TimeBound::Date(d) => d.add_days(1).ny_unix_ms(0) - 1,
            TimeBound::UnixMs(ms) => ms,
        }
    }
}

impl FromStr for TimeBound {
    type Err = Error;
    /// `YYYY-MM-DD` or a Unix-ms integer.
    fn from_str(s: &str) -> Result<Self, Error> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let ms: i64 = s.parse().map_err(|_| Error::bad("time", s, "Unix ms out of range"))?;
            // Polygon data starts in 2003; allow 1970..2200.
            if ms > 230 * 365 * DAY_MS {
                return Err(Error::bad("time", s, "Unix ms beyond 2199 (seconds or ns given?)"));
            }
            return Ok(TimeBound::UnixMs(ms));
        }
        s.parse::<Date>()
            .map(TimeBound::Date)
            .map_err(|_| Error::bad("time", s, "expected YYYY-MM-DD or Unix milliseconds"))
    }
}

impl fmt::Display for TimeBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeBound::Date(d) => d.fmt(f),
            TimeBound::UnixMs(ms) => ms.fmt(f),
        }
    }
}

impl From<Date> for TimeBound {
    fn from(d: Date) -> Self {
        TimeBound::Date(d)
    }
}

/// `GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AggregatesRequest {
    /// The symbol.
    pub ticker: Ticker,
    /// Timespans per bar.
    pub multiplier: Multiplier,
    /// Bar unit.
    pub timespan: Timespan,
    /// Range start (inclusive).
    pub from: TimeBound,
    /// Range end (inclusive).
    pub to: TimeBound,
    /// Split-adjusted prices.
    pub adjusted: bool,
    /// Result order by `t`.
    pub sort: Sort,
    /// Base bars per page, 1..=50,000.
    pub limit: u32,
}

impl AggregatesRequest {
    /// A request with Polygon's defaults (`adjusted=true`, `sort=asc`, `limit=5000`).
    ///
    /// # Errors
    /// [`Error::BadArgument`] (param `to`) when `to` is before `from`.
    pub fn new(
        ticker: Ticker,
        multiplier: Multiplier,
        timespan: Timespan,
        from: TimeBound,
        to: TimeBound,
    ) -> Result<Self, Error> {
        if to.end_ms() < from.start_ms() {
            return Err(Error::bad("to", to.to_string(), format!("is before from ({from})")));
        }
        Ok(AggregatesRequest {
            ticker,
            multiplier,
            timespan,
            from,
            to,
            adjusted: true,
            sort: Sort::Asc,
            limit: AGGS_DEFAULT_LIMIT,
        })
    }

    /// The same request with another `limit`.
    ///
    /// # Errors
    /// [`Error::BadArgument`] (param `limit`) outside 1..=50,000.
    pub fn with_limit(mut self, limit: u32) -> Result<Self, Error> {
        self.limit = check_limit(limit, AGGS_MAX_LIMIT)?;
        Ok(self)
    }

    /// The path and query, as Polygon expects them (no key).
    pub fn path_and_query(&self) -> String {
        format!(
            "/v2/aggs/ticker/{}/range/{}/{}/{}/{}?adjusted={}&sort={}&limit={}",
            self.ticker,
            self.multiplier,
            self.timespan,
            self.from,
            self.to,
            self.adjusted,
            self.sort.as_str(),
            self.limit
        )
    }
}

pub(crate) fn check_limit(limit: u32, max: u32) -> Result<u32, Error> {
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::bad("limit", limit.to_string(), format!("must be 1 to {max}")))
    }
}

/// `GET /v2/aggs/grouped/locale/us/market/stocks/{date}`: every stock's daily bar for one day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupedDailyRequest {
    /// The trading day.
    pub date: Date,
    /// Split-adjusted prices.
    pub adjusted: bool,
    /// Include OTC securities.
    pub include_otc: bool,
}

impl GroupedDailyRequest {
    /// Polygon's defaults: adjusted, no OTC.
    pub fn new(date: Date) -> Self {
        GroupedDailyRequest { date, adjusted: true, include_otc: false }
    }

    /// The path and query.
    pub fn path_and_query(&self) -> String {
        format!(
            "/v2/aggs/grouped/locale/us/market/stocks/{}?adjusted={}&include_otc={}",
            self.date, self.adjusted, self.include_otc
        )
    }
}

/// `GET /v2/aggs/ticker/{ticker}/prev`: the previous trading day's bar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrevCloseRequest {
    /// The symbol.
    pub ticker: Ticker,
    /// Split-adjusted prices.
    pub adjusted: bool,
}

impl PrevCloseRequest {
    /// Adjusted, as Polygon defaults.
    pub fn new(ticker: Ticker) -> Self {
        PrevCloseRequest { ticker, adjusted: true }
    }

    /// The path and query.
    pub fn path_and_query(&self) -> String {
        format!("/v2/aggs/ticker/{}/prev?adjusted={}", self.ticker, self.adjusted)
    }
}

/// Which tick endpoint a [`TicksRequest`] asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum TickKind {
    Trades,
    Quotes,
}

/// `GET /v3/trades/{ticker}` or `GET /v3/quotes/{ticker}`, timestamps in Unix ns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TicksRequest {
    /// Trades or quotes.
    pub kind: TickKind,
    /// The symbol.
    pub ticker: Ticker,
    /// `timestamp.gte`, Unix ns.
    pub gte_ns: Option<i64>,
    /// `timestamp.lt`, Unix ns.
    pub lt_ns: Option<i64>,
    /// Order by timestamp.
    pub order: Sort,
    /// Results per page, 1..=50,000.
    pub limit: u32,
}

impl TicksRequest {
    /// All ticks of one New York day, ascending, 50,000 a page.
    pub fn day(kind: TickKind, ticker: Ticker, date: Date) -> Self {
        TicksRequest {
            kind,
            ticker,
            gte_ns: Some(date.ny_unix_ms(0) * 1_000_000),
            lt_ns: Some(date.add_days(1).ny_unix_ms(0) * 1_000_000),
            order: Sort::Asc,
            limit: TICKS_MAX_LIMIT,
        }
    }

    /// The same request with another `limit`.
    ///
    /// # Errors
    /// [`Error::BadArgument`] (param `limit`) outside 1..=50,000.
    pub fn with_limit(mut self, limit: u32) -> Result<Self, Error> {
        self.limit = check_limit(limit, TICKS_MAX_LIMIT)?;
        Ok(self)
    }

    /// The path and query.
    pub fn path_and_query(&self) -> String {
        let kind = match self.kind {
            TickKind::Trades => "trades",
            TickKind::Quotes => "quotes",
        };
        let mut s =
            format!("/v3/{kind}/{}?order={}&sort=timestamp&limit={}", self.ticker, self.order.as_str(), self.limit);
        if let Some(g) = self.gte_ns {
            s.push_str(&format!("&timestamp.gte={g}"));
        }
        if let Some(l) = self.lt_ns {
            s.push_str(&format!("&timestamp.lt={l}"));
        }
        s
    }
}

/// `GET /v3/reference/tickers`: the universe, sorted by ticker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TickersRequest {
    /// `stocks` (the only market the simulator lists).
    pub market: String,
    /// Only active (listed) symbols.
    pub active: bool,
    /// Results per page, 1..=1,000.
    pub limit: u32,
}

impl Default for TickersRequest {
    fn default() -> Self {
        TickersRequest { market: "stocks".into(), active: true, limit: TICKERS_MAX_LIMIT }
    }
}

impl TickersRequest {
    /// The path and query.
    pub fn path_and_query(&self) -> String {
        format!(
            "/v3/reference/tickers?market={}&active={}&order=asc&sort=ticker&limit={}",
            self.market, self.active, self.limit
        )
    }
}

/// Most results a page of `/stocks/v1/splits` holds (its `limit` defaults to 100).
pub const SPLITS_MAX_LIMIT: u32 = 5_000;
/// Most results a page of the deprecated `/v3/reference/splits` holds (default 10).
pub const LEGACY_SPLITS_MAX_LIMIT: u32 = 1_000;

/// The splits of some tickers: `GET /stocks/v1/splits?ticker.any_of=…` (oldest first, full
/// pages), or, where that endpoint answers 404, the deprecated `/v3/reference/splits` one ticker
/// at a time ([`SplitsRequest::legacy_paths`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SplitsRequest {
    /// The tickers, distinct and sorted (so that one set of tickers is one request).
    pub tickers: Vec<Ticker>,
}

impl SplitsRequest {
    /// The splits of `tickers` (duplicates dropped, order ignored).
    pub fn new(tickers: impl IntoIterator<Item = Ticker>) -> Self {
        let mut tickers: Vec<Ticker> = tickers.into_iter().collect();
        tickers.sort();
        tickers.dedup();
        SplitsRequest { tickers }
    }

    /// The path and query of the current endpoint. Tickers go in `ticker.any_of`, which is a
    /// comma-separated list (tickers never hold commas; `.` and `:` need no escaping).
    pub fn path_and_query(&self) -> String {
        let list: Vec<&str> = self.tickers.iter().map(Ticker::as_str).collect();
        format!("/stocks/v1/splits?ticker.any_of={}&sort=execution_date.asc&limit={SPLITS_MAX_LIMIT}", list.join(","))
    }

    /// The deprecated endpoint's paths, one per ticker (it has no `any_of`).
    pub fn legacy_paths(&self) -> Vec<(Ticker, String)> {
        self.tickers
            .iter()
            .map(|t| {
                let path = format!(
                    "/v3/reference/splits?ticker={t}&order=asc&sort=execution_date&limit={LEGACY_SPLITS_MAX_LIMIT}"
                );
                (t.clone(), path)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths_are_canonical() {
        let r = SplitsRequest::new(["TSLA", "AAPL", "TSLA"].map(|t| t.parse::<Ticker>().unwrap()));
        assert_eq!(r.path_and_query(), "/stocks/v1/splits?ticker.any_of=AAPL,TSLA&sort=execution_date.asc&limit=5000");
        assert_eq!(r.legacy_paths()[1].1, "/v3/reference/splits?ticker=TSLA&order=asc&sort=execution_date&limit=1000");
    }

    #[test]
    fn aggregates_path_and_validation() {
        let r = AggregatesRequest::new(
            "AAPL".parse().unwrap(),
            Multiplier::new(5).unwrap(),
            "minute".parse().unwrap(),
            "2024-01-02".parse().unwrap(),
            "1704301199999".parse().unwrap(),
        )
        .unwrap()
        .with_limit(50_000)
        .unwrap();
        assert_eq!(
            r.path_and_query(),
            "/v2/aggs/ticker/AAPL/range/5/minute/2024-01-02/1704301199999?adjusted=true&sort=asc&limit=50000"
        );
        assert_eq!(r.clone().with_limit(50_001).unwrap_err().param(), "limit");
        assert_eq!(r.with_limit(0).unwrap_err().param(), "limit");
        assert_eq!(Multiplier::new(0).unwrap_err().param(), "multiplier");
        assert_eq!("fortnight".parse::<Timespan>().unwrap_err().param(), "timespan");
        let to_before = AggregatesRequest::new(
            "AAPL".parse().unwrap(),
            Multiplier::ONE,
            Timespan::Day,
            "2024-02-01".parse().unwrap(),
            "2024-01-31".parse().unwrap(),
        );
        assert_eq!(to_before.unwrap_err().param(), "to");
        assert!("1700000000000000".parse::<TimeBound>().is_err(), "microseconds are not ms");
    }

    #[test]
    fn date_bounds_are_new_york_days() {
        let b: TimeBound = "2024-07-01".parse().unwrap();
        assert_eq!(b.start_ms(), 1_719_806_400_000); // 04:00 UTC = midnight EDT
        assert_eq!(b.end_ms(), 1_719_806_400_000 + DAY_MS - 1);
    }
}
