//! Planning: split a range into chunks on stable calendar units, each small enough that no
//! request can exceed 50,000 base bars, so different user ranges share cached chunks.

use polygon_model::{AggregatesRequest, Date, Multiplier, Sort, Ticker, TimeBound, Timespan};

/// One chunk of a plan: a whole calendar unit (month or year), the cache's unit of storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The request for the whole unit (ascending, 50,000 base bars a page).
    pub request: AggregatesRequest,
    /// First Unix ms of the unit.
    pub start_ms: i64,
    /// Last Unix ms of the unit.
    pub end_ms: i64,
}

/// The calendar unit a plan is cut into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// One New York day (second bars: up to 57,600 a session, paginated).
    Day,
    /// One calendar month (minute and hour bars: at most 23 sessions × 960 minutes = 22,080).
    Month,
    /// One calendar year (daily bars: at most 253).
    Year,
    /// The whole range in one request, paginated (weeks and longer, or multipliers whose
    /// buckets could straddle a unit boundary).
    Whole,
}

/// The unit for a timespan and multiplier.
pub fn unit_for(timespan: Timespan, multiplier: Multiplier) -> Unit {
    let k = multiplier.get() as u64;
    match timespan {
        Timespan::Second if k * 1_000 <= 8 * 3_600_000 => Unit::Day,
        // Sessions leave 8 quiet hours overnight: buckets under 8 hours never straddle two days.
        Timespan::Minute if k * 60_000 <= 8 * 3_600_000 => Unit::Month,
        Timespan::Hour if k <= 8 => Unit::Month,
        Timespan::Day if k == 1 => Unit::Year,
        _ => Unit::Whole,
    }
}

fn first_of_year(d: Date) -> Date {
    Date::from_ymd(d.year(), 1, 1).expect("January 1st exists")
}

fn unit_end(start: Date, unit: Unit) -> Date {
    let (y, m, _) = start.ymd();
    match unit {
        Unit::Day => start,
        Unit::Month => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Date::from_ymd(ny, nm, 1).map(|d| d.add_days(-1)).unwrap_or(start)
        }
        Unit::Year => Date::from_ymd(y, 12, 31).unwrap_or(start),
        Unit::Whole => start,
    }
}

/// The chunks covering `from..=to` (New York dates) for one ticker.
pub fn plan(ticker: &Ticker, multiplier: Multiplier, timespan: Timespan, from: Date, to: Date) -> Vec<Chunk> {
    let unit = unit_for(timespan, multiplier);
    let make = |a: Date, b: Date| {
        let mut request =
            AggregatesRequest::new(ticker.clone(), multiplier, timespan, TimeBound::Date(a), TimeBound::Date(b))
                .expect("a <= b by construction");
        request.sort = Sort::Asc;
        request.limit = polygon_model::AGGS_MAX_LIMIT;
        Chunk { start_ms: request.from.start_ms(), end_ms: request.to.end_ms(), request }
    };
    if unit == Unit::Whole {
        return vec![make(from, to)];
    }
    let mut out = Vec::new();
    let mut start = match unit {
        Unit::Year => first_of_year(from),
        Unit::Month => from.first_of_month(),
        _ => from,
    };
    while start <= to {
        let end = unit_end(start, unit);
        out.push(make(start, end));
        start = end.add_days(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn months_for_minutes_years_for_days_whole_for_weeks() {
        let t: Ticker = "AAPL".parse().unwrap();
        let p = plan(&t, Multiplier::ONE, Timespan::Minute, d("2024-01-15"), d("2024-03-10"));
        let ranges: Vec<String> = p.iter().map(|c| format!("{}..{}", c.request.from, c.request.to)).collect();
        assert_eq!(ranges, ["2024-01-01..2024-01-31", "2024-02-01..2024-02-29", "2024-03-01..2024-03-31"]);
        assert!(p.iter().all(|c| c.request.limit == 50_000));
        // Another range inside the same months plans the same chunks: the cache is shared.
        let q = plan(&t, Multiplier::ONE, Timespan::Minute, d("2024-02-10"), d("2024-03-01"));
        assert_eq!(q, p[1..].to_vec());
        let y = plan(&t, Multiplier::ONE, Timespan::Day, d("2023-06-01"), d("2024-02-01"));
        assert_eq!(y.len(), 2);
        assert_eq!(y[0].request.from.to_string(), "2023-01-01");
        assert_eq!(plan(&t, Multiplier::ONE, Timespan::Week, d("2023-06-01"), d("2024-02-01")).len(), 1);
        assert_eq!(unit_for(Timespan::Minute, Multiplier::new(600).unwrap()), Unit::Whole);
        assert_eq!(plan(&t, Multiplier::ONE, Timespan::Second, d("2024-01-02"), d("2024-01-04")).len(), 3);
    }

    #[test]
    fn no_month_can_exceed_the_page_limit() {
        // 23 sessions × 960 minutes is the most a month can hold.
        let most = 23 * polygon_model::MAX_MINUTES_PER_SESSION;
        assert!(most < polygon_model::AGGS_MAX_LIMIT);
    }
}
