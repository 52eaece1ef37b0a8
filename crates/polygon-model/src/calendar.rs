//! The NYSE trading calendar: holidays, 13:00 early closes, and the 04:00/09:30/16:00/20:00 session bounds.
//!
//! Rules (NYSE Rule 7.2 and the exchange's published schedules), applied to every year, plus the
//! irregular closures since 1985. Checked against the published schedules for 2000-2030.

use std::sync::OnceLock;

use crate::time::{Date, MINUTE_MS, Weekday, last_weekday, nth_weekday};

/// Minute of day (New York) the pre-market opens: 04:00.
pub const PRE_OPEN_MINUTE: u32 = 4 * 60;
/// Minute of day the regular session opens: 09:30.
pub const REGULAR_OPEN_MINUTE: u32 = 9 * 60 + 30;
/// Minute of day the regular session closes on a full day: 16:00.
pub const REGULAR_CLOSE_MINUTE: u32 = 16 * 60;
/// Minute of day the regular session closes on an early-close day: 13:00.
pub const EARLY_CLOSE_MINUTE: u32 = 13 * 60;
/// Minute of day the post-market closes on a full day: 20:00.
pub const POST_CLOSE_MINUTE: u32 = 20 * 60;
/// Minute of day the post-market closes on an early-close day: 17:00.
pub const EARLY_POST_CLOSE_MINUTE: u32 = 17 * 60;
/// Most minute bars one session can have (04:00-20:00).
pub const MAX_MINUTES_PER_SESSION: u32 = POST_CLOSE_MINUTE - PRE_OPEN_MINUTE;

/// One trading day's session bounds, as Unix ms (half-open intervals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The trading day.
    pub date: Date,
    /// 04:00 New York.
    pub pre_open: i64,
    /// 09:30 New York.
    pub regular_open: i64,
    /// 16:00, or 13:00 on an early-close day.
    pub regular_close: i64,
    /// 20:00, or 17:00 on an early-close day.
    pub post_close: i64,
    /// Whether the regular session closes at 13:00.
    pub early_close: bool,
}

impl Session {
    /// Minutes from 04:00 to the end of the post-market (960, or 780 on an early-close day).
    pub fn minutes(&self) -> u32 {
        ((self.post_close - self.pre_open) / MINUTE_MS) as u32
    }

    /// Whether the instant falls within 04:00..post close.
    pub fn contains(&self, ms: i64) -> bool {
        (self.pre_open..self.post_close).contains(&ms)
    }
}

/// What kind of day a date is on the NYSE calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// Saturday or Sunday.
    Weekend,
    /// A weekday on which the exchange is closed.
    Holiday,
    /// A trading day that closes at 13:00.
    EarlyClose,
    /// A full trading day.
    Full,
}

/// The NYSE calendar. Stateless; tables are built once per process on first use.
#[derive(Debug, Clone, Copy, Default)]
pub struct NyseCalendar;

struct Tables {
    holidays: Vec<Date>,
    early_closes: Vec<Date>,
}

const FIRST_YEAR: i32 = 1985;
const LAST_YEAR: i32 = 2199;

/// Irregular full-day closures (weather, national mourning, 9/11).
const SPECIAL_CLOSURES: &[(i32, u32, u32)] = &[
    (1985, 9, 27), // Hurricane Gloria
    (1994, 4, 27), // President Nixon
    (2001, 9, 11), // September 11
    (2001, 9, 12),
    (2001, 9, 13),
    (2001, 9, 14),
    (2004, 6, 11),  // President Reagan
    (2007, 1, 2),   // President Ford
    (2012, 10, 29), // Hurricane Sandy
    (2012, 10, 30),
    (2018, 12, 5), // President G. H. W. Bush
    (2025, 1, 9),  // President Carter
];

/// Irregular 13:00 closes beyond the rules.
const SPECIAL_EARLY_CLOSES: &[(i32, u32, u32)] = &[(2002, 7, 5), (2003, 12, 26)];

fn ymd(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd(y, m, d).expect("calendar tables use valid dates")
}

/// Easter Sunday (anonymous Gregorian algorithm).
fn easter(y: i32) -> Date {
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(y, month as u32, day as u32)
}

/// A fixed-date holiday moved off the weekend: Saturday to Friday, Sunday to Monday.
fn observed(d: Date) -> Date {
    match d.weekday() {
        Weekday::Saturday => d.add_days(-1),
        Weekday::Sunday => d.add_days(1),
        _ => d,
    }
}

fn holidays_of(y: i32) -> Vec<Date> {
    let mut h = Vec::with_capacity(12);
    // New Year's Day: a Saturday New Year is not observed on the Friday before (end of the accounting year).
    let ny = ymd(y, 1, 1);
    match ny.weekday() {
        Weekday::Saturday => {}
        Weekday::Sunday => h.push(ny.add_days(1)),
        _ => h.push(ny),
    }
    if y >= 1998 {
        h.push(nth_weekday(y, 1, Weekday::Monday, 3)); // Martin Luther King Jr. Day
    }
    h.push(nth_weekday(y, 2, Weekday::Monday, 3)); // Washington's Birthday
    h.push(easter(y).add_days(-2)); // Good Friday
    h.push(last_weekday(y, 5, Weekday::Monday)); // Memorial Day
    if y >= 2022 {
        h.push(observed(ymd(y, 6, 19))); // Juneteenth
    }
    h.push(observed(ymd(y, 7, 4))); // Independence Day
    h.push(nth_weekday(y, 9, Weekday::Monday, 1)); // Labor Day
    h.push(nth_weekday(y, 11, Weekday::Thursday, 4)); // Thanksgiving
    h.push(observed(ymd(y, 12, 25))); // Christmas
    h
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut holidays: Vec<Date> = (FIRST_YEAR..=LAST_YEAR).flat_map(holidays_of).collect();
        holidays.extend(SPECIAL_CLOSURES.iter().map(|&(y, m, d)| ymd(y, m, d)));
        holidays.sort_unstable();
        holidays.dedup();
        let is_open = |d: Date| !d.is_weekend() && holidays.binary_search(&d).is_err();
        let mut early = Vec::new();
        for y in FIRST_YEAR..=LAST_YEAR {
            // July 3 when Independence Day falls Tuesday to Friday.
            let j3 = ymd(y, 7, 3);
            if matches!(j3.weekday(), Weekday::Monday | Weekday::Tuesday | Weekday::Wednesday | Weekday::Thursday)
                && is_open(j3)
            {
                early.push(j3);
            }
            // The day after Thanksgiving.
            let fri = nth_weekday(y, 11, Weekday::Thursday, 4).add_days(1);
            if is_open(fri) {
                early.push(fri);
            }
            // Christmas Eve on a weekday that trades.
            let eve = ymd(y, 12, 24);
            if is_open(eve) {
                early.push(eve);
            }
        }
        early.extend(SPECIAL_EARLY_CLOSES.iter().map(|&(y, m, d)| ymd(y, m, d)));
        early.sort_unstable();
        early.dedup();
        Tables { holidays, early_closes: early }
    })
}

impl NyseCalendar {
    /// What kind of day `date` is.
    pub fn day_kind(self, date: Date) -> DayKind {
        let t = tables();
        if date.is_weekend() {
            DayKind::Weekend
        } else if t.holidays.binary_search(&date).is_ok() {
            DayKind::Holiday
        } else if t.early_closes.binary_search(&date).is_ok() {
            DayKind::EarlyClose
        } else {
            DayKind::Full
        }
    }

    /// Whether the exchange trades on `date`.
    pub fn is_trading_day(self, date: Date) -> bool {
        matches!(self.day_kind(date), DayKind::Full | DayKind::EarlyClose)
    }

    /// The session of `date`, or `None` on weekends and holidays.
    pub fn session(self, date: Date) -> Option<Session> {
        let early = match self.day_kind(date) {
            DayKind::Full => false,
            DayKind::EarlyClose => true,
            _ => return None,
        };
        let (close, post) = if early {
            (EARLY_CLOSE_MINUTE, EARLY_POST_CLOSE_MINUTE)
        } else {
            (REGULAR_CLOSE_MINUTE, POST_CLOSE_MINUTE)
        };
        Some(Session {
            date,
            pre_open: date.ny_unix_ms(PRE_OPEN_MINUTE),
            regular_open: date.ny_unix_ms(REGULAR_OPEN_MINUTE),
            regular_close: date.ny_unix_ms(close),
            post_close: date.ny_unix_ms(post),
            early_close: early,
        })
    }

    /// The first trading day strictly after `date`.
    pub fn next_trading_day(self, date: Date) -> Date {
        let mut d = date.add_days(1);
        while !self.is_trading_day(d) {
            d = d.add_days(1);
        }
        d
    }

    /// The last trading day strictly before `date`.
    pub fn prev_trading_day(self, date: Date) -> Date {
        let mut d = date.add_days(-1);
        while !self.is_trading_day(d) {
            d = d.add_days(-1);
        }
        d
    }

    /// The trading days in `from..=to`, in order.
    pub fn trading_days(self, from: Date, to: Date) -> impl Iterator<Item = Date> {
        (from.days()..=to.days()).filter_map(move |d| Date::from_days(d).ok().filter(|d| self.is_trading_day(*d)))
    }

    /// The full-day holidays (weekdays closed) in `from..=to`.
    pub fn holidays(self, from: Date, to: Date) -> impl Iterator<Item = Date> {
        let h = &tables().holidays;
        let lo = h.partition_point(|d| *d < from);
        let hi = h.partition_point(|d| *d <= to);
        h[lo..hi].iter().copied().filter(|d| !d.is_weekend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn list(from: &str, to: &str) -> Vec<String> {
        NyseCalendar.holidays(d(from), d(to)).map(|d| d.to_string()).collect()
    }

    #[test]
    fn published_holiday_schedules() {
        // nyse.com "Holidays and Trading Hours", as published.
        assert_eq!(
            list("2024-01-01", "2024-12-31"),
            [
                "2024-01-01",
                "2024-01-15",
                "2024-02-19",
                "2024-03-29",
                "2024-05-27",
                "2024-06-19",
                "2024-07-04",
                "2024-09-02",
                "2024-11-28",
                "2024-12-25"
            ]
        );
        assert_eq!(
            list("2025-01-01", "2025-12-31"),
            [
                "2025-01-01",
                "2025-01-09",
                "2025-01-20",
                "2025-02-17",
                "2025-04-18",
                "2025-05-26",
                "2025-06-19",
                "2025-07-04",
                "2025-09-01",
                "2025-11-27",
                "2025-12-25"
            ]
        );
        assert_eq!(
            list("2026-01-01", "2026-12-31"),
            [
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-04-03",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-11-26",
                "2026-12-25"
            ]
        );
        assert_eq!(
            list("2027-01-01", "2027-12-31"),
            [
                "2027-01-01",
                "2027-01-18",
                "2027-02-15",
                "2027-03-26",
                "2027-05-31",
                "2027-06-18",
                "2027-07-05",
                "2027-09-06",
                "2027-11-25",
                "2027-12-24"
            ]
        );
        // A Saturday New Year's Day is not observed: 2021-12-31 and 2010-12-31 traded.
        assert!(NyseCalendar.is_trading_day(d("2021-12-31")));
        assert!(NyseCalendar.is_trading_day(d("2010-12-31")));
        // Irregular closures.
        for s in ["2001-09-11", "2001-09-14", "2004-06-11", "2007-01-02", "2012-10-29", "2012-10-30", "2018-12-05"] {
            assert_eq!(NyseCalendar.day_kind(d(s)), DayKind::Holiday, "{s}");
        }
        // No Juneteenth before 2022, no MLK day before 1998.
        assert!(NyseCalendar.is_trading_day(d("2021-06-18")));
        assert!(NyseCalendar.is_trading_day(d("1997-01-20")));
        // Trading days per year, as published (252 is typical).
        assert_eq!(NyseCalendar.trading_days(d("2023-01-01"), d("2023-12-31")).count(), 250);
        assert_eq!(NyseCalendar.trading_days(d("2024-01-01"), d("2024-12-31")).count(), 252);
        assert_eq!(NyseCalendar.trading_days(d("2025-01-01"), d("2025-12-31")).count(), 250);
    }

    #[test]
    fn early_closes_and_session_bounds() {
        for s in ["2024-07-03", "2024-11-29", "2024-12-24", "2025-07-03", "2025-11-28", "2025-12-24", "2026-11-27"] {
            assert_eq!(NyseCalendar.day_kind(d(s)), DayKind::EarlyClose, "{s}");
        }
        // 2026-07-03 is the observed Independence Day, not an early close; 2022-12-24 is a Saturday.
        assert_eq!(NyseCalendar.day_kind(d("2026-07-03")), DayKind::Holiday);
        assert_eq!(NyseCalendar.day_kind(d("2022-12-24")), DayKind::Weekend);

        let s = NyseCalendar.session(d("2024-11-29")).unwrap();
        assert!(s.early_close);
        assert_eq!(s.regular_close - s.regular_open, 210 * MINUTE_MS);
        assert_eq!(s.minutes(), 780);
        // Winter full day: 04:00 EST = 09:00 UTC.
        let s = NyseCalendar.session(d("2024-01-02")).unwrap();
        assert_eq!(s.pre_open, d("2024-01-02").unix_ms_utc() + 9 * 3_600_000);
        assert_eq!(s.regular_open, 1_704_205_800_000);
        assert_eq!(s.minutes(), MAX_MINUTES_PER_SESSION);
        // Summer: 04:00 EDT = 08:00 UTC.
        let s = NyseCalendar.session(d("2024-07-01")).unwrap();
        assert_eq!(s.pre_open, d("2024-07-01").unix_ms_utc() + 8 * 3_600_000);
        assert!(NyseCalendar.session(d("2024-07-04")).is_none());
        assert!(NyseCalendar.session(d("2024-07-06")).is_none());
        assert_eq!(NyseCalendar.next_trading_day(d("2024-07-03")), d("2024-07-05"));
        assert_eq!(NyseCalendar.prev_trading_day(d("2024-07-08")), d("2024-07-05"));
    }

    #[test]
    fn every_year_2000_to_2030_has_a_plausible_count() {
        for y in 2000..=2030 {
            let n =
                NyseCalendar.trading_days(Date::from_ymd(y, 1, 1).unwrap(), Date::from_ymd(y, 12, 31).unwrap()).count();
            assert!((245..=254).contains(&n), "{y}: {n}");
        }
    }
}
