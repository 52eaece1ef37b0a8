//! Cache keys: `pgh200:v{schema}:{endpoint}:{hash}`, the hash over the canonical request.
//!
//! The canonical request is a `|`-separated `name=value` list in a fixed order (documented per
//! constructor), hashed with FNV-1a 128 (offset basis 0x6c62272e07bb014262b821756295c58d, prime
//! 2^88 + 0x13b) and written as 32 lower-case hex digits. Neither the API key nor any cursor
//! string is part of it, so every build and every machine derives the same key for the same data.

use std::fmt;

use polygon_model::{AggregatesRequest, GroupedDailyRequest, PrevCloseRequest, TickKind, TickersRequest, TicksRequest};

use crate::envelope::SCHEMA_VERSION;

/// A cache key (never holds secrets or cursors).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

/// FNV-1a, 128-bit.
pub fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |h, b| (h ^ *b as u128).wrapping_mul(PRIME))
}

impl CacheKey {
    /// A key for `endpoint` (a short lower-case word) from a canonical request string.
    pub fn from_canonical(endpoint: &str, canonical: &str) -> Self {
        CacheKey(format!("pgh200:v{SCHEMA_VERSION}:{endpoint}:{:032x}", fnv1a_128(canonical.as_bytes())))
    }

    /// Aggregates: `ticker|multiplier|timespan|from|to|adjusted|sort|limit`, bounds as written
    /// (`2024-01-02` or Unix ms).
    pub fn aggregates(r: &AggregatesRequest) -> Self {
        CacheKey::from_canonical("aggs", &aggregates_canonical(r))
    }

    /// Aggregates built from a source that lacks VWAP (flat files): the aggregates key's
    /// canonical request with `|fields=novw` appended. A chunk stored here is never taken for a
    /// full one: a request that needs VWAP reads only [`CacheKey::aggregates`].
    pub fn aggregates_without_vwap(r: &AggregatesRequest) -> Self {
        CacheKey::from_canonical("aggs", &format!("{}|fields=novw", aggregates_canonical(r)))
    }

    /// Grouped daily: `date|adjusted|include_otc`.
    pub fn grouped(r: &GroupedDailyRequest) -> Self {
        CacheKey::from_canonical(
            "grouped",
            &format!("date={}|adjusted={}|include_otc={}", r.date, r.adjusted, r.include_otc),
        )
    }

    /// Previous close: `ticker|adjusted|day`, the day being the session it answers for.
    pub fn prev(r: &PrevCloseRequest, as_of: polygon_model::Date) -> Self {
        CacheKey::from_canonical("prev", &format!("ticker={}|adjusted={}|as_of={as_of}", r.ticker, r.adjusted))
    }

    /// Trades or quotes: `ticker|gte|lt|order|limit` (ns bounds, `-` when open).
    pub fn ticks(r: &TicksRequest) -> Self {
        let b = |x: Option<i64>| x.map_or("-".to_owned(), |v| v.to_string());
        let c = format!(
            "ticker={}|gte={}|lt={}|order={}|limit={}",
            r.ticker,
            b(r.gte_ns),
            b(r.lt_ns),
            r.order.as_str(),
            r.limit
        );
        CacheKey::from_canonical(if r.kind == TickKind::Trades { "trades" } else { "quotes" }, &c)
    }

    /// Reference tickers: `market|active|limit`.
    pub fn tickers(r: &TickersRequest) -> Self {
        CacheKey::from_canonical("tickers", &format!("market={}|active={}|limit={}", r.market, r.active, r.limit))
    }

    /// Splits of a set of tickers: the sorted, distinct list.
    pub fn splits(r: &polygon_model::SplitsRequest) -> Self {
        let list: Vec<&str> = r.tickers.iter().map(polygon_model::Ticker::as_str).collect();
        CacheKey::from_canonical("splits", &format!("tickers={}", list.join(",")))
    }

    /// The key as stored in Redis.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn aggregates_canonical(r: &AggregatesRequest) -> String {
    format!(
        "ticker={}|multiplier={}|timespan={}|from={}|to={}|adjusted={}|sort={}|limit={}",
        r.ticker,
        r.multiplier,
        r.timespan,
        r.from,
        r.to,
        r.adjusted,
        r.sort.as_str(),
        r.limit
    )
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polygon_model::{Multiplier, Timespan};

    /// Two builds share a cache only if they derive the same keys: these values are pinned.
    #[test]
    fn golden_keys() {
        assert_eq!(format!("{:032x}", fnv1a_128(b"")), "6c62272e07bb014262b821756295c58d");
        assert_eq!(format!("{:032x}", fnv1a_128(b"a")), "d228cb696f1a8caf78912b704e4a8964");
        let r = AggregatesRequest::new(
            "AAPL".parse().unwrap(),
            Multiplier::ONE,
            Timespan::Minute,
            "2024-01-02".parse().unwrap(),
            "2024-01-31".parse().unwrap(),
        )
        .unwrap()
        .with_limit(50_000)
        .unwrap();
        assert_eq!(CacheKey::aggregates(&r).as_str(), GOLDEN_AAPL);
        let k = CacheKey::aggregates(&r);
        assert!(k.as_str().starts_with("pgh200:v3:aggs:"));
        let mut other = r.clone();
        other.sort = polygon_model::Sort::Desc;
        assert_ne!(CacheKey::aggregates(&other), k, "every canonical field counts");
        // Chunks lacking VWAP live under their own key, never the full one's.
        assert_eq!(CacheKey::aggregates_without_vwap(&r).as_str(), format!("pgh200:v3:aggs:{GOLDEN_AAPL_NOVW}"));
    }

    /// The same request with `|fields=novw` appended, computed independently (Python).
    const GOLDEN_AAPL_NOVW: &str = "0449627da4304ce5e9b7c2e720d035f2";

    /// FNV-1a 128 of `ticker=AAPL|multiplier=1|timespan=minute|from=2024-01-02|to=2024-01-31|adjusted=true|sort=asc|limit=50000`,
    /// computed independently (Python) when pinned.
    const GOLDEN_AAPL: &str = "pgh200:v3:aggs:57d5592fa3025f789947e854dc6e0622";
}
