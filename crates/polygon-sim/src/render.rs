//! Routing and rendering: a request's path and query to Polygon's status and JSON body.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use polygon_model::{
    AGGS_DEFAULT_LIMIT, AGGS_MAX_LIMIT, AggregatesResponse, Bar, Date, GroupedDailyResponse, Multiplier, NyseCalendar,
    PrevCloseResponse, Quote, QuotesResponse, TICKERS_DEFAULT_LIMIT, TICKERS_MAX_LIMIT, TICKS_DEFAULT_LIMIT,
    TICKS_MAX_LIMIT, Ticker, TickerBar, TickerInfo, TickersResponse, TimeBound, Timespan, Trade, TradesResponse,
};
use serde::Serialize;

use crate::market::{self, AggBar, Listing, Profile, dollars, mix};

/// Which endpoint a request asked, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Aggs,
    Grouped,
    Prev,
    Trades,
    Quotes,
    Tickers,
    Splits,
    Unknown,
}

/// A rendered answer.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub endpoint: Endpoint,
    /// The ticker the request named, for per-ticker faults.
    pub ticker: Option<String>,
    /// The body can never change (its window closed before "now"), so it may be cached.
    pub cacheable: bool,
}

/// The parsed query string, percent-decoded, in order.
pub(crate) struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (pct_decode(k), pct_decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().rev().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str())
    }
}

pub(crate) fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(x) => {
                        out.push(x);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A deterministic Polygon-style request id (32 hex digits) for a canonical request.
pub(crate) fn request_id(canonical: &str) -> String {
    let h = market::hash_str(canonical);
    format!("{:016x}{:016x}", mix(h), mix(h ^ 0x5151))
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("response types serialise")
}

pub(crate) fn error_body(status: &str, request_id: &str, error: &str) -> Vec<u8> {
    json(&polygon_model::ErrorResponse {
        status: status.into(),
        request_id: Some(request_id.into()),
        error: Some(error.into()),
        message: None,
    })
}

fn bad_request(rid: &str, endpoint: Endpoint, msg: &str) -> Answer {
    Answer { status: 400, body: error_body("ERROR", rid, msg), endpoint, ticker: None, cacheable: false }
}

/// Routes one request. `base` is the simulator's base URL (for `next_url`), `now_ms` its clock.
pub(crate) fn route(path: &str, query: &Query, base: &str, now_ms: i64, rid: &str, listing: &Listing) -> Answer {
    let segs: Vec<String> = path.trim_start_matches('/').split('/').map(pct_decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    // Options data needs an options plan: the simulated key has a stocks plan, as Polygon answers.
    if let ["v2", "aggs", "ticker", t, ..] | ["v3", "trades" | "quotes", t] = segs.as_slice()
        && t.starts_with("O:")
    {
        let body = json(&polygon_model::ErrorResponse {
            status: "NOT_AUTHORIZED".into(),
            request_id: Some(rid.into()),
            error: None,
            message: Some(
                "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing".into(),
            ),
        });
        return Answer {
            status: 403,
            body,
            endpoint: endpoint_of_segs(&segs),
            ticker: Some((*t).to_owned()),
            cacheable: false,
        };
    }
    match segs.as_slice() {
        ["v2", "aggs", "ticker", t, "range", mult, span, from, to] => {
            aggs(t, mult, span, from, to, query, base, now_ms, rid, listing)
        }
        ["v2", "aggs", "ticker", t, "prev"] => prev(t, query, now_ms, rid, listing),
        ["v2", "aggs", "grouped", "locale", "us", "market", "stocks", date] => {
            grouped(date, query, now_ms, rid, listing)
        }
        ["v3", "trades", t] => ticks(t, query, base, now_ms, rid, false, listing),
        ["v3", "quotes", t] => ticks(t, query, base, now_ms, rid, true, listing),
        ["v3", "reference", "tickers"] => tickers(query, base, rid, listing),
        ["stocks", "v1", "splits"] => splits(query, base, now_ms, rid, listing, false),
        ["v3", "reference", "splits"] => splits(query, base, now_ms, rid, listing, true),
        _ => Answer {
            status: 404,
            body: error_body("NOT_FOUND", rid, "route not found"),
            endpoint: Endpoint::Unknown,
            ticker: None,
            cacheable: false,
        },
    }
}

fn endpoint_of_segs(segs: &[&str]) -> Endpoint {
    match segs {
        ["v3", "trades", ..] => Endpoint::Trades,
        ["v3", "quotes", ..] => Endpoint::Quotes,
        [.., "prev"] => Endpoint::Prev,
        _ => Endpoint::Aggs,
    }
}

fn parse_bool(q: &Query, k: &str, default: bool) -> Result<bool, String> {
    match q.get(k) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(format!("{k} must be true or false, not {v:?}")),
    }
}

fn parse_limit(q: &Query, default: u32, max: u32) -> Result<u32, String> {
    match q.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(0) | Err(_) => Err(format!("limit must be a whole number from 1 to {max}, not {v:?}")),
            Ok(n) => Ok(n.min(max)),
        },
    }
}

/// Decodes a cursor (base64url of a query string) into its query, merged over `q`.
fn with_cursor(q: &Query) -> Result<Query, String> {
    let Some(c) = q.get("cursor") else { return Ok(Query(q.0.clone())) };
    let raw = URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).map_err(|_| "invalid cursor".to_string())?;
    let inner = String::from_utf8(raw).map_err(|_| "invalid cursor".to_string())?;
    Ok(Query::parse(&inner))
}

fn cursor(q: &str) -> String {
    URL_SAFE_NO_PAD.encode(q)
}

pub(crate) fn bar_of(b: &AggBar) -> Bar {
    Bar {
        v: b.v as f64,
        vw: Some(b.vw()),
        o: dollars(b.o),
        c: dollars(b.c),
        h: dollars(b.h),
        l: dollars(b.l),
        t: b.t,
        n: Some(b.n),
        otc: None,
    }
}

#[allow(clippy::too_many_arguments)] // the path's parts, as Polygon orders them
fn aggs(
    t: &str,
    mult: &str,
    span: &str,
    from: &str,
    to: &str,
    q: &Query,
    base: &str,
    now_ms: i64,
    rid: &str,
    listing: &Listing,
) -> Answer {
    let ep = Endpoint::Aggs;
    let ticker = match Ticker::new(t) {
        Ok(t) => t,
        Err(e) => return bad_request(rid, ep, &e.to_string()),
    };
    let k = match mult.parse::<Multiplier>() {
        Ok(m) => m.get(),
        Err(e) => return bad_request(rid, ep, &e.to_string()),
    };
    let span: Timespan = match span.parse() {
        Ok(s) => s,
        Err(e) => return bad_request(rid, ep, &e.to_string()),
    };
    let (from_b, to_b) = match (from.parse::<TimeBound>(), to.parse::<TimeBound>()) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return bad_request(rid, ep, &e.to_string()),
    };
    let q = match with_cursor(q) {
        Ok(q) => q,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let (adjusted, limit) =
        match (parse_bool(&q, "adjusted", true), parse_limit(&q, AGGS_DEFAULT_LIMIT, AGGS_MAX_LIMIT)) {
            (Ok(a), Ok(l)) => (a, l),
            (Err(e), _) | (_, Err(e)) => return bad_request(rid, ep, &e),
        };
    let desc = match q.get("sort") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(s) => return bad_request(rid, ep, &format!("sort must be asc or desc, not {s:?}")),
    };
    let mut resp = AggregatesResponse {
        ticker: ticker.to_string(),
        query_count: 0,
        results_count: 0,
        adjusted,
        results: Vec::new(),
        status: "OK".into(),
        request_id: rid.into(),
        count: None,
        next_url: None,
    };
    let Some(p) = listing.profile(ticker.as_str()) else {
        // Polygon answers an unknown ticker with an empty, successful page.
        return Answer {
            status: 200,
            body: json(&resp),
            endpoint: ep,
            ticker: Some(ticker.to_string()),
            cacheable: true,
        };
    };
    let mut bars = market::aggregates_as(p, span, k, from_b.start_ms(), to_b.end_ms(), now_ms, adjusted);
    if desc {
        bars.reverse();
    }
    let mut base_count: u64 = 0;
    let mut taken = 0;
    for b in &bars {
        if taken > 0 && base_count + b.base as u64 > limit as u64 {
            break;
        }
        base_count += b.base as u64;
        taken += 1;
    }
    if taken < bars.len() {
        let (nf, nt) = if desc {
            (from.to_string(), (bars[taken - 1].t - 1).to_string())
        } else {
            (bars[taken].t.to_string(), to.to_string())
        };
        let c = cursor(&format!("adjusted={adjusted}&limit={limit}&sort={}", if desc { "desc" } else { "asc" }));
        resp.next_url = Some(format!("{base}/v2/aggs/ticker/{ticker}/range/{k}/{span}/{nf}/{nt}?cursor={c}"));
    }
    resp.results = bars[..taken].iter().map(bar_of).collect();
    resp.query_count = base_count;
    resp.results_count = taken as u64;
    resp.count = Some(taken as u64);
    Answer {
        status: 200,
        body: json(&resp),
        endpoint: ep,
        ticker: Some(ticker.to_string()),
        cacheable: to_b.end_ms() < now_ms,
    }
}

fn ticker_bar(p: &Profile, b: &AggBar, t: i64) -> TickerBar {
    let bar = bar_of(b);
    TickerBar {
        ticker: p.ticker.clone(),
        v: bar.v,
        vw: bar.vw,
        o: bar.o,
        c: bar.c,
        h: bar.h,
        l: bar.l,
        t,
        n: bar.n,
        otc: None,
    }
}

fn grouped(date: &str, q: &Query, now_ms: i64, rid: &str, listing: &Listing) -> Answer {
    let ep = Endpoint::Grouped;
    let date: Date = match date.parse() {
        Ok(d) => d,
        Err(e) => return bad_request(rid, ep, &e.to_string()),
    };
    let adjusted = match parse_bool(q, "adjusted", true) {
        Ok(a) => a,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let mut resp = GroupedDailyResponse {
        query_count: 0,
        results_count: 0,
        adjusted,
        results: Vec::new(),
        status: "OK".into(),
        request_id: rid.into(),
        count: None,
    };
    if let Some(s) = NyseCalendar.session(date).filter(|s| s.post_close <= now_ms) {
        let close = date.ny_unix_ms(polygon_model::REGULAR_CLOSE_MINUTE);
        resp.results = listing
            .profiles()
            .filter_map(|p| {
                market::day_bar(p, &s).map(|b| ticker_bar(p, &market::served(p, b, date, now_ms, adjusted), close))
            })
            .collect();
    }
    resp.query_count = resp.results.len() as u64;
    resp.results_count = resp.results.len() as u64;
    resp.count = Some(resp.results.len() as u64);
    Answer {
        status: 200,
        body: json(&resp),
        endpoint: ep,
        ticker: None,
        cacheable: NyseCalendar.session(date).is_none_or(|s| s.post_close <= now_ms) && date.ny_unix_ms(0) < now_ms,
    }
}

fn prev(t: &str, q: &Query, now_ms: i64, rid: &str, listing: &Listing) -> Answer {
    let ep = Endpoint::Prev;
    let ticker = match Ticker::new(t) {
        Ok(t) => t,
        Err(e) => return bad_request(rid, ep, &e.to_string()),
    };
    let adjusted = match parse_bool(q, "adjusted", true) {
        Ok(a) => a,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let mut resp = PrevCloseResponse {
        ticker: ticker.to_string(),
        query_count: 0,
        results_count: 0,
        adjusted,
        results: Vec::new(),
        status: "OK".into(),
        request_id: rid.into(),
    };
    if let Some(p) = listing.profile(ticker.as_str()) {
        let today = polygon_model::ny_date_minute(now_ms).map(|(d, _)| d);
        if let Ok(today) = today {
            let day = NyseCalendar.prev_trading_day(today);
            let s = NyseCalendar.session(day).expect("trading day");
            if let Some(b) = market::day_bar(p, &s) {
                let b = market::served(p, b, day, now_ms, adjusted);
                resp.results.push(ticker_bar(p, &b, day.ny_unix_ms(polygon_model::REGULAR_CLOSE_MINUTE)));
            }
        }
    }
    resp.query_count = resp.results.len() as u64;
    resp.results_count = resp.results.len() as u64;
    Answer { status: 200, body: json(&resp), endpoint: ep, ticker: Some(ticker.to_string()), cacheable: false }
}

/// A `timestamp` bound: Unix ns, or a `YYYY-MM-DD` New York day (its start; `end` for its end).
fn ns_bound(v: &str, end: bool) -> Result<i64, String> {
    if let Ok(ns) = v.parse::<i64>() {
        return Ok(ns);
    }
    let d: Date = v.parse().map_err(|_| format!("timestamp must be Unix ns or YYYY-MM-DD, not {v:?}"))?;
    Ok(if end { d.add_days(1) } else { d }.ny_unix_ms(0) * 1_000_000)
}

#[allow(clippy::too_many_arguments)]
fn ticks(t: &str, q: &Query, base: &str, now_ms: i64, rid: &str, quotes: bool, listing: &Listing) -> Answer {
    let ep = if quotes { Endpoint::Quotes } else { Endpoint::Trades };
    let ticker = match Ticker::new(t) {
        Ok(t) => t,
        Err(e) => return bad_request(rid, ep, &e.to_string()),
    };
    let q = match with_cursor(q) {
        Ok(q) => q,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let limit = match parse_limit(&q, TICKS_DEFAULT_LIMIT, TICKS_MAX_LIMIT) {
        Ok(l) => l,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let any_bound = ["timestamp", "timestamp.gte", "timestamp.gt", "timestamp.lte", "timestamp.lt"]
        .iter()
        .any(|k| q.get(k).is_some());
    let desc = match q.get("order") {
        Some("asc") => false,
        Some("desc") => true,
        None => !any_bound, // newest first when no range is given, as Polygon does
        Some(o) => return bad_request(rid, ep, &format!("order must be asc or desc, not {o:?}")),
    };
    let mut gte = i64::MIN / 4;
    let mut lt = now_ms.saturating_mul(1_000_000);
    let bounds = (|| -> Result<(), String> {
        if let Some(v) = q.get("timestamp") {
            if v.parse::<i64>().is_ok() {
                gte = ns_bound(v, false)?;
                lt = gte + 1;
            } else {
                gte = ns_bound(v, false)?;
                lt = ns_bound(v, true)?;
            }
        }
        if let Some(v) = q.get("timestamp.gte") {
            gte = gte.max(ns_bound(v, false)?);
        }
        if let Some(v) = q.get("timestamp.gt") {
            gte = gte.max(ns_bound(v, true)?.max(ns_bound(v, false)? + 1));
        }
        if let Some(v) = q.get("timestamp.lt") {
            lt = lt.min(ns_bound(v, false)?);
        }
        if let Some(v) = q.get("timestamp.lte") {
            lt = lt.min(if v.parse::<i64>().is_ok() { ns_bound(v, false)? + 1 } else { ns_bound(v, true)? });
        }
        Ok(())
    })();
    if let Err(e) = bounds {
        return bad_request(rid, ep, &e);
    }
    if !any_bound {
        // The most recent session that has begun.
        if let Ok((today, _)) = polygon_model::ny_date_minute(now_ms) {
            let mut d = today;
            while NyseCalendar.session(d).is_none_or(|s| s.pre_open > now_ms) {
                d = d.add_days(-1);
            }
            gte = d.ny_unix_ms(0) * 1_000_000;
        }
    }
    let found = match listing.profile(ticker.as_str()) {
        Some(p) => market::ticks(p, gte, lt, now_ms, limit as usize + 1, desc, quotes),
        None => Vec::new(),
    };
    let more = found.len() > limit as usize;
    let page = &found[..found.len().min(limit as usize)];
    let next_url = more.then(|| {
        let next = &found[limit as usize];
        let key = |tr: &market::SimTrade| if quotes { tr.quote_ts } else { tr.ts };
        let (g, l) = if desc { (gte, key(next) + 1) } else { (key(next), lt) };
        let c = cursor(&format!(
            "timestamp.gte={g}&timestamp.lt={l}&order={}&limit={limit}&sort=timestamp",
            if desc { "desc" } else { "asc" }
        ));
        format!("{base}/v3/{}/{ticker}?cursor={c}", if quotes { "quotes" } else { "trades" })
    });
    let tape = |p: Option<&Profile>| match p.map(|p| p.exchange) {
        Some("XNYS") => 1,
        Some("XNAS") => 3,
        _ => 2,
    };
    let tp = tape(listing.profile(ticker.as_str()));
    let body = if quotes {
        json(&QuotesResponse {
            results: page
                .iter()
                .map(|tr| Quote {
                    ask_exchange: Some(tr.exchange),
                    ask_price: dollars(tr.ask),
                    ask_size: tr.ask_size as f64,
                    bid_exchange: Some(tr.exchange),
                    bid_price: dollars(tr.bid),
                    bid_size: tr.bid_size as f64,
                    participant_timestamp: Some(tr.quote_ts - 150_000),
                    sequence_number: tr.seq * 2 - 1,
                    sip_timestamp: tr.quote_ts,
                    tape: Some(tp),
                })
                .collect(),
            status: "OK".into(),
            request_id: rid.into(),
            next_url,
        })
    } else {
        json(&TradesResponse {
            results: page
                .iter()
                .map(|tr| {
                    let mut cond = Vec::new();
                    if tr.extended {
                        cond.push(12);
                    }
                    if tr.size < 100 {
                        cond.push(37);
                    }
                    Trade {
                        conditions: (!cond.is_empty()).then_some(cond),
                        exchange: tr.exchange,
                        id: format!("{}", tr.seq * 7 + 52_983_525_000_000),
                        participant_timestamp: Some(tr.ts - 220_000),
                        price: dollars(tr.price),
                        sequence_number: tr.seq * 2,
                        sip_timestamp: tr.ts,
                        size: tr.size as f64,
                        tape: Some(tp),
                    }
                })
                .collect(),
            status: "OK".into(),
            request_id: rid.into(),
            next_url,
        })
    };
    Answer {
        status: 200,
        body,
        endpoint: ep,
        ticker: Some(ticker.to_string()),
        cacheable: lt < now_ms.saturating_mul(1_000_000) && any_bound,
    }
}

fn tickers(q: &Query, base: &str, rid: &str, listing: &Listing) -> Answer {
    let ep = Endpoint::Tickers;
    let q = match with_cursor(q) {
        Ok(q) => q,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let limit = match parse_limit(&q, TICKERS_DEFAULT_LIMIT, TICKERS_MAX_LIMIT) {
        Ok(l) => l,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let active = match parse_bool(&q, "active", true) {
        Ok(a) => a,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let desc = q.get("order") == Some("desc");
    let market_ok = q.get("market").is_none_or(|m| m == "stocks");
    let search = q.get("search").map(str::to_ascii_lowercase);
    let keep = |p: &&Profile| {
        active
            && market_ok
            && q.get("ticker").is_none_or(|t| p.ticker == t)
            && q.get("ticker.gt").is_none_or(|t| p.ticker.as_str() > t)
            && q.get("ticker.gte").is_none_or(|t| p.ticker.as_str() >= t)
            && q.get("ticker.lt").is_none_or(|t| p.ticker.as_str() < t)
            && q.get("ticker.lte").is_none_or(|t| p.ticker.as_str() <= t)
            && search.as_ref().is_none_or(|s| {
                p.ticker.to_ascii_lowercase().contains(s.as_str()) || p.name.to_ascii_lowercase().contains(s.as_str())
            })
    };
    let all: Vec<&Profile> =
        if desc { listing.profiles().rev().filter(keep).collect() } else { listing.profiles().filter(keep).collect() };
    let page = &all[..all.len().min(limit as usize)];
    let next_url = (all.len() > page.len()).then(|| {
        let last = &page[page.len() - 1].ticker;
        let bound = if desc { "ticker.lt" } else { "ticker.gt" };
        let mut inner = format!(
            "active={active}&limit={limit}&market=stocks&order={}&sort=ticker&{bound}={last}",
            if desc { "desc" } else { "asc" }
        );
        if let Some(s) = &search {
            inner.push_str(&format!("&search={s}"));
        }
        format!("{base}/v3/reference/tickers?cursor={}", cursor(&inner))
    });
    let body = json(&TickersResponse {
        results: page
            .iter()
            .map(|p| TickerInfo {
                ticker: p.ticker.clone(),
                name: p.name.clone(),
                market: "stocks".into(),
                locale: "us".into(),
                primary_exchange: Some(p.exchange.into()),
                kind: Some(p.kind.into()),
                active: true,
                currency_name: Some("usd".into()),
                cik: Some(format!("{:010}", p.seed % 2_000_000)),
                composite_figi: Some(format!("BBG{:09X}", p.seed % 0xF_FFFF_FFFF)),
                last_updated_utc: Some("2026-11-27T00:00:00Z".into()),
            })
            .collect(),
        status: "OK".into(),
        request_id: rid.into(),
        count: Some(page.len() as u64),
        next_url,
    });
    Answer { status: 200, body, endpoint: ep, ticker: None, cacheable: true }
}

/// One split as both splits endpoints list it.
struct ListedSplit<'a> {
    ticker: &'a str,
    split: market::Split,
    /// Unadjusted prices before the execution date x this = today's basis (this split and every
    /// later one executed by "now").
    factor: f64,
}

fn split_id(ticker: &str, s: &market::Split) -> String {
    format!("E{:016x}", mix(market::hash_str(ticker) ^ s.execution_date.days() as u64))
}

/// `/stocks/v1/splits` (`legacy` false) and the deprecated `/v3/reference/splits` (`legacy`):
/// the splits executed by "now" of the listed tickers, with each endpoint's filters, sort,
/// limits and `next_url` paging (a cursor that carries the query and an offset).
fn splits(q: &Query, base: &str, now_ms: i64, rid: &str, listing: &Listing, legacy: bool) -> Answer {
    let ep = Endpoint::Splits;
    let q = match with_cursor(q) {
        Ok(q) => q,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let (default_limit, max_limit) = if legacy { (10, 1000) } else { (100, 5000) };
    let limit = match parse_limit(&q, default_limit, max_limit) {
        Ok(l) => l as usize,
        Err(e) => return bad_request(rid, ep, &e),
    };
    let offset: usize = match q.get("offset").map(str::parse) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => return bad_request(rid, ep, "invalid cursor"),
    };
    let today = polygon_model::ny_date_minute(now_ms).map_or(Date::from_days(0).expect("epoch"), |(d, _)| d);
    // Filters: ticker and execution_date with comparisons; the new endpoint also takes
    // ticker.any_of and adjustment_type(.any_of), the old one reverse_split.
    let date_filters: Vec<(&str, Date)> = {
        let mut v = Vec::new();
        for op in ["", ".gt", ".gte", ".lt", ".lte"] {
            let k = format!("execution_date{op}");
            if let Some(x) = q.get(&k) {
                match x.parse::<Date>() {
                    Ok(d) => v.push((op, d)),
                    Err(_) => {
                        return bad_request(rid, ep, &format!("{k} must be a date formatted YYYY-MM-DD, not {x:?}"));
                    }
                }
            }
        }
        v
    };
    let any_of: Option<Vec<String>> = (!legacy)
        .then(|| q.get("ticker.any_of").map(|s| s.split(',').map(|t| t.trim().to_owned()).collect()))
        .flatten();
    let types: Option<Vec<String>> = if legacy {
        None
    } else {
        match q.get("adjustment_type").or(q.get("adjustment_type.any_of")) {
            None => None,
            Some(s) => {
                let v: Vec<String> = s.split(',').map(|t| t.trim().to_owned()).collect();
                if let Some(bad) =
                    v.iter().find(|t| !["forward_split", "reverse_split", "stock_dividend"].contains(&t.as_str()))
                {
                    return bad_request(
                        rid,
                        ep,
                        &format!("adjustment_type must be forward_split, reverse_split or stock_dividend, not {bad:?}"),
                    );
                }
                Some(v)
            }
        }
    };
    let reverse_only = if legacy {
        match q.get("reverse_split") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(v) => return bad_request(rid, ep, &format!("reverse_split must be true or false, not {v:?}")),
        }
    } else {
        None
    };
    // Sort: the new endpoint's `sort=field.dir[,…]` (default execution_date.desc); the old
    // one's `sort=field` and `order=asc|desc` (default execution_date, desc).
    let (sort_field, desc) = if legacy {
        let f = q.get("sort").unwrap_or("execution_date");
        let d = match q.get("order") {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(o) => return bad_request(rid, ep, &format!("order must be asc or desc, not {o:?}")),
        };
        (f.to_owned(), d)
    } else {
        let s = q.get("sort").unwrap_or("execution_date.desc");
        let first = s.split(',').next().unwrap_or("");
        let (f, d) = first.split_once('.').unwrap_or((first, "asc"));
        let d = match d {
            "asc" => false,
            "desc" => true,
            _ => return bad_request(rid, ep, &format!("sort must be field.asc or field.desc, not {s:?}")),
        };
        (f.to_owned(), d)
    };
    if sort_field != "execution_date" && sort_field != "ticker" {
        return bad_request(rid, ep, &format!("cannot sort by {sort_field:?}: use execution_date or ticker"));
    }
    let ticker_ok = |t: &str| {
        q.get("ticker").is_none_or(|x| t == x)
            && q.get("ticker.gt").is_none_or(|x| t > x)
            && q.get("ticker.gte").is_none_or(|x| t >= x)
            && q.get("ticker.lt").is_none_or(|x| t < x)
            && q.get("ticker.lte").is_none_or(|x| t <= x)
            && any_of.as_ref().is_none_or(|v| v.iter().any(|x| x == t))
    };
    let mut all: Vec<ListedSplit<'_>> = Vec::new();
    for p in listing.profiles().filter(|p| ticker_ok(&p.ticker)) {
        let done: Vec<market::Split> = p.splits().iter().copied().filter(|s| s.execution_date <= today).collect();
        for (i, s) in done.iter().enumerate() {
            let kind = if s.split_from > s.split_to { "reverse_split" } else { "forward_split" };
            let date_ok = date_filters.iter().all(|(op, d)| match *op {
                "" => s.execution_date == *d,
                ".gt" => s.execution_date > *d,
                ".gte" => s.execution_date >= *d,
                ".lt" => s.execution_date < *d,
                _ => s.execution_date <= *d,
            });
            if !date_ok
                || types.as_ref().is_some_and(|v| !v.iter().any(|t| t == kind))
                || reverse_only.is_some_and(|r| r != (kind == "reverse_split"))
            {
                continue;
            }
            let factor = done[i..].iter().map(|x| f64::from(x.split_from) / f64::from(x.split_to)).product();
            all.push(ListedSplit { ticker: &p.ticker, split: *s, factor });
        }
    }
    all.sort_by(|a, b| {
        let o = if sort_field == "ticker" {
            a.ticker.cmp(b.ticker).then(a.split.execution_date.cmp(&b.split.execution_date))
        } else {
            a.split.execution_date.cmp(&b.split.execution_date).then(a.ticker.cmp(b.ticker))
        };
        if desc { o.reverse() } else { o }
    });
    let page: &[ListedSplit<'_>] = all.get(offset..).map_or(&[], |rest| &rest[..rest.len().min(limit)]);
    let results: Vec<serde_json::Value> = page
        .iter()
        .map(|s| {
            let mut v = serde_json::json!({
                "ticker": s.ticker,
                "execution_date": s.split.execution_date.to_string(),
                "split_from": s.split.split_from,
                "split_to": s.split.split_to,
                "id": split_id(s.ticker, &s.split),
            });
            if !legacy {
                v["adjustment_type"] =
                    (if s.split.split_from > s.split.split_to { "reverse_split" } else { "forward_split" }).into();
                v["historical_adjustment_factor"] = s.factor.into();
            }
            v
        })
        .collect();
    let mut body = serde_json::json!({ "results": results, "status": "OK", "request_id": rid });
    if offset + page.len() < all.len() {
        let inner: Vec<String> =
            q.0.iter()
                .filter(|(k, _)| k != "cursor" && k != "offset" && k != "apiKey")
                .map(|(k, v)| format!("{k}={v}"))
                .chain([format!("limit={limit}"), format!("offset={}", offset + page.len())])
                .collect();
        let path = if legacy { "/v3/reference/splits" } else { "/stocks/v1/splits" };
        body["next_url"] = format!("{base}{path}?cursor={}", cursor(&inner.join("&"))).into();
    }
    Answer { status: 200, body: json(&body), endpoint: ep, ticker: None, cacheable: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(pct_decode("X%3ABTCUSD"), "X:BTCUSD");
        assert_eq!(pct_decode("a+b%2"), "a b%2");
        assert_eq!(pct_decode("%"), "%");
        assert_eq!(pct_decode("%zz"), "%zz");
    }
}
