//! Split adjustment of bars as traded: what turns flat-file bars (always as traded) and REST bars
//! fetched with `adjusted=false` into the API's `adjusted=true` basis, so that one cached form
//! (as traded, plus the splits) serves both.
//!
//! The rule, for a bar of a ticker that starts before a split's execution date (New York
//! midnight; Massive: "on the execution date, all trading is already adjusted", pre-market
//! included) and whose split executed by `as_of`: with `F` the product of `split_to / split_from`
//! over every such split, prices (`o h l c vw`) are divided by `F` and rounded to 6 decimals, and
//! volume is multiplied by `F` (kept fractional if a reverse split makes it so). Trades (`n`) and
//! times do not change.
//!
//! Massive does not document how it rounds adjusted bars, so the 6 decimals are this crate's
//! choice, not a claim about the API: they are finer than any price the API quotes (4 decimals,
//! sub-penny included), so an adjusted price is the exact quotient wherever that quotient has at
//! most 6 decimals, which every forward split of a cent- or 4-decimal-grid price by 2, 4, 5, 8, 10,
//! 20, … gives. The simulator adjusts exactly (its generator's prices are the adjusted ones), and
//! the check against it (`polygon-sim`'s `adjusting_as_traded_bars_gives_the_api_adjusted_bars`)
//! agrees bit for bit on prices and volumes; its VWAPs are rounded to 4 decimals on both sides,
//! so they agree to within 0.0001.
//!
//! Bars that span an execution date (weeks, months, or a multi-day multiplier) cannot be adjusted
//! after the fact: [`adjust_for_splits`] only takes bars that lie within one New York day.

use crate::{BarColumns, Date, SplitRecord};

/// A split ready to apply: the first Unix ms at the new share count and its ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Step {
    from_ms: i64,
    to: f64,
    from: f64,
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The splits of `ticker` executed by `as_of`, ready to apply, by execution date.
fn steps_of(ticker: &str, splits: &[SplitRecord], as_of: Date) -> Result<Vec<Step>, String> {
    let mut steps: Vec<Step> = Vec::new();
    for s in splits.iter().filter(|s| s.ticker == ticker) {
        let date: Date = s
            .execution_date
            .parse()
            .map_err(|_| format!("split of {ticker}: execution_date {:?} is not YYYY-MM-DD", s.execution_date))?;
        if !(s.split_from.is_finite() && s.split_to.is_finite() && s.split_from > 0.0 && s.split_to > 0.0) {
            return Err(format!(
                "split of {ticker} on {date}: split_from {} and split_to {} must be positive numbers",
                s.split_from, s.split_to
            ));
        }
        if date <= as_of && s.split_from != s.split_to {
            steps.push(Step { from_ms: date.ny_unix_ms(0), to: s.split_to, from: s.split_from });
        }
    }
    steps.sort_by_key(|s| s.from_ms);
    steps.dedup_by_key(|s| s.from_ms);
    Ok(steps)
}

/// Adjusts every series of `cols` for the `splits` of its ticker executed by `as_of` (a New York
/// date, normally today), in place. Returns how many bars changed.
///
/// # Errors
/// A split whose `execution_date` is not `YYYY-MM-DD`, or whose `split_from` / `split_to` is not
/// a positive number; nothing is changed then.
pub fn adjust_for_splits(cols: &mut BarColumns, splits: &[SplitRecord], as_of: Date) -> Result<usize, String> {
    let per_series = (0..cols.num_series())
        .map(|k| steps_of(cols.tickers[k].as_str(), splits, as_of))
        .collect::<Result<Vec<_>, _>>()?;
    let offsets: Vec<u32> = cols.offsets().to_vec();
    let mut changed = 0;
    for (k, steps) in per_series.iter().enumerate() {
        changed += apply(cols, offsets[k] as usize..offsets[k + 1] as usize, steps);
    }
    Ok(changed)
}

/// Adjusts the rows `rows` of `cols` (bars of `ticker`, ascending by time) for the `splits` of
/// `ticker` executed by `as_of`, in place: what [`adjust_for_splits`] does to one series, for a
/// part of a series (the rows one cached chunk appended). Returns how many bars changed.
///
/// # Errors
/// As [`adjust_for_splits`]; nothing is changed then.
///
/// # Panics
/// If `rows` is not within `cols`.
pub fn adjust_rows_for_splits(
    cols: &mut BarColumns,
    rows: std::ops::Range<usize>,
    ticker: &str,
    splits: &[SplitRecord],
    as_of: Date,
) -> Result<usize, String> {
    assert!(rows.end <= cols.len(), "rows {rows:?} beyond {} bars", cols.len());
    let steps = steps_of(ticker, splits, as_of)?;
    Ok(apply(cols, rows, &steps))
}

fn apply(cols: &mut BarColumns, rows: std::ops::Range<usize>, steps: &[Step]) -> usize {
    if steps.is_empty() {
        return 0;
    }
    // Walk the bars with the splits still ahead of them: the factor of a bar is the product of
    // the ratios of the splits that executed after it.
    let mut changed = 0;
    let mut next = 0;
    for i in rows {
        let t = cols.t[i];
        while next < steps.len() && steps[next].from_ms <= t {
            next += 1;
        }
        if next == steps.len() {
            continue;
        }
        // F = Π to / Π from, kept as the two products so that whole ratios stay exact.
        let (num, den): (f64, f64) = steps[next..].iter().fold((1.0, 1.0), |(n, d), s| (n * s.to, d * s.from));
        let price = |p: f64| round6(p * den / num);
        cols.o[i] = price(cols.o[i]);
        cols.h[i] = price(cols.h[i]);
        cols.l[i] = price(cols.l[i]);
        cols.c[i] = price(cols.c[i]);
        if !cols.vw[i].is_nan() {
            cols.vw[i] = price(cols.vw[i]);
        }
        cols.v[i] = cols.v[i] * num / den;
        changed += 1;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{N_ABSENT, Ticker};

    fn split(t: &str, d: &str, from: f64, to: f64) -> SplitRecord {
        SplitRecord {
            ticker: t.into(),
            execution_date: d.into(),
            split_from: from,
            split_to: to,
            id: None,
            adjustment_type: None,
            historical_adjustment_factor: None,
        }
    }

    #[test]
    fn bars_before_each_split_take_the_product_of_the_later_ratios() {
        let mut c = BarColumns::new();
        c.begin_series(Ticker::new("TSLA").unwrap());
        let day = |s: &str| s.parse::<Date>().unwrap().ny_unix_ms(9 * 60 + 30);
        // 15:1 in all before 2020-08-31, 3:1 between, none after 2022-08-25.
        c.push_row(day("2020-08-28"), 2213.4, 2318.49, 2186.52, 2213.4, 1000.0, f64::NAN, 7);
        c.push_row(day("2021-01-04"), 719.46, 744.4899, 717.1895, 729.77, 300.0, 731.1, N_ABSENT);
        c.push_row(day("2022-08-25"), 302.36, 302.96, 291.6, 296.07, 50.0, 296.5, 3);
        c.begin_series(Ticker::new("MSFT").unwrap());
        c.push_row(day("2021-01-04"), 222.53, 223.0, 214.81, 217.69, 100.0, 218.0, 1);
        let splits = [split("TSLA", "2022-08-25", 1.0, 3.0), split("TSLA", "2020-08-31", 1.0, 5.0)];
        let n = adjust_for_splits(&mut c, &splits, "2024-01-02".parse().unwrap()).unwrap();
        assert_eq!(n, 2);
        assert_eq!(c.o[0], 147.56);
        assert_eq!(c.h[0], 154.566);
        assert_eq!(c.v[0], 15_000.0);
        assert!(c.vw[0].is_nan(), "an absent VWAP stays absent");
        assert_eq!(c.o[1], 239.82);
        assert_eq!(c.h[1], 248.163_3);
        assert_eq!(c.v[1], 900.0);
        assert_eq!((c.o[2], c.v[2]), (302.36, 50.0), "on the execution date, already adjusted");
        assert_eq!((c.o[3], c.v[3]), (222.53, 100.0), "another ticker's splits do not apply");
        // As of a date before the second split, only the first applies.
        let mut d = BarColumns::new();
        d.begin_series(Ticker::new("TSLA").unwrap());
        d.push_row(day("2020-08-28"), 2213.4, 2213.4, 2213.4, 2213.4, 1000.0, f64::NAN, 7);
        adjust_for_splits(&mut d, &splits, "2021-06-01".parse().unwrap()).unwrap();
        assert_eq!((d.o[0], d.v[0]), (442.68, 5000.0));
    }

    #[test]
    fn reverse_splits_raise_prices_and_bad_splits_change_nothing() {
        let mut c = BarColumns::new();
        c.begin_series(Ticker::new("XYZ").unwrap());
        let t = "2024-03-01".parse::<Date>().unwrap().ny_unix_ms(600);
        c.push_row(t, 0.1234, 0.13, 0.12, 0.125, 1050.0, 0.1251, 2);
        let before = c.clone();
        let bad = [split("XYZ", "2024-03-04", 0.0, 1.0)];
        assert!(adjust_for_splits(&mut c, &bad, "2025-01-01".parse().unwrap()).unwrap_err().contains("XYZ"));
        let bad = [split("XYZ", "March 4th", 10.0, 1.0)];
        assert!(adjust_for_splits(&mut c, &bad, "2025-01-01".parse().unwrap()).unwrap_err().contains("March 4th"));
        assert_eq!(c.o, before.o);
        adjust_for_splits(&mut c, &[split("XYZ", "2024-03-04", 10.0, 1.0)], "2025-01-01".parse().unwrap()).unwrap();
        assert_eq!((c.o[0], c.c[0], c.vw[0]), (1.234, 1.25, 1.251));
        assert_eq!(c.v[0], 105.0);
    }

    #[test]
    fn a_row_range_is_adjusted_as_its_whole_series_would_be_and_nothing_outside_it() {
        let mut c = BarColumns::new();
        c.begin_series(Ticker::new("NVDA").unwrap());
        let day = |s: &str| s.parse::<Date>().unwrap().ny_unix_ms(600);
        for d in ["2024-06-06", "2024-06-07", "2024-06-10", "2024-06-11"] {
            c.push_row(day(d), 1200.0, 1210.0, 1190.0, 1205.0, 10.0, 1201.5, 4);
        }
        let splits = [split("NVDA", "2024-06-10", 1.0, 10.0)];
        let mut whole = c.clone();
        adjust_for_splits(&mut whole, &splits, "2025-01-01".parse().unwrap()).unwrap();
        // Only the second row is in the range: it changes as in the whole series; the first,
        // also before the split, is left alone.
        let n = adjust_rows_for_splits(&mut c, 1..3, "NVDA", &splits, "2025-01-01".parse().unwrap()).unwrap();
        assert_eq!(n, 1);
        assert_eq!((c.o[1], c.vw[1], c.v[1]), (whole.o[1], whole.vw[1], whole.v[1]));
        assert_eq!((c.o[1], c.v[1]), (120.0, 100.0));
        assert_eq!((c.o[0], c.v[0]), (1200.0, 10.0), "outside the range");
        assert_eq!((c.o[2], c.v[2]), (1200.0, 10.0), "on the execution date");
        assert!(adjust_rows_for_splits(&mut c, 0..1, "NVDA", &[split("NVDA", "x", 1.0, 2.0)], whole_date()).is_err());
    }

    fn whole_date() -> Date {
        "2025-01-01".parse().unwrap()
    }
}
