//! Civil dates, Unix-millisecond instants and the America/New_York clock (DST rules of 1987-2006 and 2007 on).

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Milliseconds in one minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

/// A calendar date (proleptic Gregorian), stored as days since 1970-01-01.
///
/// Valid from 1900-01-01 to 2199-12-31, which covers every date Polygon has data for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
#[rkyv(derive(Debug, PartialEq, Eq))]
pub struct Date(i32);

/// Day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the names say it
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

const MIN_DAYS: i32 = -25_567; // 1900-01-01
const MAX_DAYS: i32 = 84_005; // 2199-12-31

impl Date {
    /// The date `year-month-day`.
    ///
    /// # Errors
    /// [`Error::BadArgument`] (param `date`) when the day does not exist or is outside 1900-2199.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Result<Self, Error> {
        let text = || format!("{year:04}-{month:02}-{day:02}");
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(Error::bad("date", text(), "no such day"));
        }
        let d = days_from_civil(year, month, day);
        if !(MIN_DAYS..=MAX_DAYS).contains(&d) {
            return Err(Error::bad("date", text(), "outside 1900-01-01..=2199-12-31"));
        }
        Ok(Date(d))
    }

    /// The date `days` days after 1970-01-01 (negative before).
    ///
    /// # Errors
    /// [`Error::BadArgument`] outside 1900-2199.
    pub fn from_days(days: i32) -> Result<Self, Error> {
        if (MIN_DAYS..=MAX_DAYS).contains(&days) {
            Ok(Date(days))
        } else {
            Err(Error::bad("date", days.to_string(), "outside 1900-01-01..=2199-12-31"))
        }
    }

    /// The UTC calendar date of a Unix-millisecond instant.
    ///
    /// # Errors
    /// [`Error::BadArgument`] outside 1900-2199.
    pub fn from_unix_ms_utc(ms: i64) -> Result<Self, Error> {
        Date::from_days(ms.div_euclid(DAY_MS).clamp(i32::MIN as i64, i32::MAX as i64) as i32)
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.ymd().0
    }

    /// Day of the week.
    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday.
        match (self.0 + 3).rem_euclid(7) {
            0 => Weekday::Monday,
            1 => Weekday::Tuesday,
            2 => Weekday::Wednesday,
            3 => Weekday::Thursday,
            4 => Weekday::Friday,
            5 => Weekday::Saturday,
            _ => Weekday::Sunday,
        }
    }

    /// Saturday or Sunday.
    pub fn is_weekend(self) -> bool {
        matches!(self.weekday(), Weekday::Saturday | Weekday::Sunday)
    }

    /// The date `n` days later (earlier for negative `n`), saturating at the supported range.
    pub fn add_days(self, n: i32) -> Date {
        Date(self.0.saturating_add(n).clamp(MIN_DAYS, MAX_DAYS))
    }

    /// Unix ms of this date's midnight in UTC.
    pub fn unix_ms_utc(self) -> i64 {
        self.0 as i64 * DAY_MS
    }

    /// Unix ms of `minute_of_day` minutes after midnight of this date in New York.
    pub fn ny_unix_ms(self, minute_of_day: u32) -> i64 {
        let offset_min = if ny_is_dst_local(self, minute_of_day) { 240 } else { 300 };
        self.unix_ms_utc() + (minute_of_day as i64 + offset_min) * MINUTE_MS
    }

    /// The first day of this date's month.
    pub fn first_of_month(self) -> Date {
        let (y, m, _) = self.ymd();
        Date(days_from_civil(y, m, 1))
    }
}

/// The New York date and minute of day (0..1440) of a Unix-millisecond instant.
///
/// # Errors
/// [`Error::BadArgument`] outside 1900-2199.
pub fn ny_date_minute(ms: i64) -> Result<(Date, u32), Error> {
    // Try EST first; if the result says DST applies, shift by an hour.
    let est = ms - 300 * MINUTE_MS;
    let d = Date::from_unix_ms_utc(est)?;
    let minute = (est.rem_euclid(DAY_MS) / MINUTE_MS) as u32;
    if ny_is_dst_utc(ms) {
        let edt = ms - 240 * MINUTE_MS;
        let d = Date::from_unix_ms_utc(edt)?;
        Ok((d, (edt.rem_euclid(DAY_MS) / MINUTE_MS) as u32))
    } else {
        Ok((d, minute))
    }
}

/// The New York UTC offset in minutes (-240 in EDT, -300 in EST) at a Unix-millisecond instant.
pub fn ny_utc_offset_minutes(ms: i64) -> i32 {
    if ny_is_dst_utc(ms) { -240 } else { -300 }
}

fn dst_bounds(year: i32) -> (Date, Date) {
    if year >= 2007 {
        (nth_weekday(year, 3, Weekday::Sunday, 2), nth_weekday(year, 11, Weekday::Sunday, 1))
    } else {
        (nth_weekday(year, 4, Weekday::Sunday, 1), last_weekday(year, 10, Weekday::Sunday))
    }
}

/// Whether New York wall time `minute_of_day` on `date` is daylight time. Changes happen at 02:00 local;
/// the repeated 01:00-01:59 in November is taken as its first (EDT) occurrence.
fn ny_is_dst_local(date: Date, minute_of_day: u32) -> bool {
    let (start, end) = dst_bounds(date.year());
    (date > start && date < end) || (date == start && minute_of_day >= 120) || (date == end && minute_of_day < 120)
}

fn ny_is_dst_utc(ms: i64) -> bool {
    let Ok(d) = Date::from_unix_ms_utc(ms) else { return false };
    let (start, end) = dst_bounds(d.year());
    // Transitions: 02:00 EST = 07:00 UTC on the start day, 02:00 EDT = 06:00 UTC on the end day.
    let start_ms = start.unix_ms_utc() + 7 * 3_600_000;
    let end_ms = end.unix_ms_utc() + 6 * 3_600_000;
    ms >= start_ms && ms < end_ms
}

/// The `n`-th (1-based) given weekday of a month.
pub(crate) fn nth_weekday(year: i32, month: u32, wd: Weekday, n: u32) -> Date {
    let first = Date(days_from_civil(year, month, 1));
    let delta = (wd as i32 - first.weekday() as i32).rem_euclid(7);
    first.add_days(delta + 7 * (n as i32 - 1))
}

/// The last given weekday of a month.
pub(crate) fn last_weekday(year: i32, month: u32, wd: Weekday) -> Date {
    let last = Date(days_from_civil(year, month, days_in_month(year, month)));
    let delta = (last.weekday() as i32 - wd as i32).rem_euclid(7);
    last.add_days(-delta)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's algorithms (http://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl FromStr for Date {
    type Err = Error;
    /// Parses `YYYY-MM-DD`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            b.get(r.clone())?.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32))
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(Error::bad("date", s, "expected YYYY-MM-DD"));
        }
        match (digits(0..4), digits(5..7), digits(8..10)) {
            (Some(y), Some(m), Some(d)) => Date::from_ymd(y as i32, m, d),
            _ => Err(Error::bad("date", s, "expected YYYY-MM-DD")),
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_the_whole_range() {
        for d in MIN_DAYS..=MAX_DAYS {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(Date::from_ymd(1970, 1, 1).unwrap().days(), 0);
        assert_eq!(Date::from_ymd(2024, 2, 29).unwrap().to_string(), "2024-02-29");
        assert!(Date::from_ymd(2023, 2, 29).is_err());
        assert_eq!(Date::from_ymd(2026, 11, 28).unwrap().weekday(), Weekday::Saturday);
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!("2025-01-09".parse::<Date>().unwrap(), Date::from_ymd(2025, 1, 9).unwrap());
        for bad in ["2025-1-09", "2025-13-01", "2025-02-30", "20250109", "2025-01-0x", "", "1899-12-31"] {
            let e = bad.parse::<Date>().expect_err(bad);
            assert_eq!(e.param(), "date");
        }
    }

    #[test]
    fn new_york_offsets_across_dst() {
        // 2024: DST from 2024-03-10 to 2024-11-03. 2006: from 2006-04-02 to 2006-10-29.
        let d = |s: &str| s.parse::<Date>().unwrap();
        // 09:30 New York on a winter and a summer day.
        assert_eq!(d("2024-01-02").ny_unix_ms(570), 1_704_205_800_000); // 14:30 UTC
        assert_eq!(d("2024-07-01").ny_unix_ms(570), 1_719_840_600_000); // 13:30 UTC
        assert_eq!(d("2024-03-08").ny_unix_ms(240), d("2024-03-08").unix_ms_utc() + 9 * 3_600_000);
        assert_eq!(d("2024-03-11").ny_unix_ms(240), d("2024-03-11").unix_ms_utc() + 8 * 3_600_000);
        assert_eq!(d("2024-11-01").ny_unix_ms(240), d("2024-11-01").unix_ms_utc() + 8 * 3_600_000);
        assert_eq!(d("2024-11-04").ny_unix_ms(240), d("2024-11-04").unix_ms_utc() + 9 * 3_600_000);
        assert_eq!(d("2006-03-31").ny_unix_ms(600), d("2006-03-31").unix_ms_utc() + 15 * 3_600_000);
        assert_eq!(d("2006-04-03").ny_unix_ms(600), d("2006-04-03").unix_ms_utc() + 14 * 3_600_000);
        // And back again, for every minute of a few days around the changes.
        for day in ["2024-03-10", "2024-11-03", "2006-04-02", "2006-10-29", "2025-06-30"] {
            let date = d(day);
            for minute in (0..1440).filter(|m| !(60..180).contains(m)) {
                let ms = date.ny_unix_ms(minute);
                assert_eq!(ny_date_minute(ms).unwrap(), (date, minute), "{day} minute {minute}");
            }
        }
        assert_eq!(ny_utc_offset_minutes(1_719_840_600_000), -240);
        assert_eq!(ny_utc_offset_minutes(1_704_205_800_000), -300);
    }
}
