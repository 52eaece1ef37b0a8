//! TTLs by data type: history is immutable, the live session short-lived, reference data its own.

use std::time::Duration;

use polygon_model::{NyseCalendar, ny_date_minute};

/// How long a value may live, by what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlClass {
    /// A range that closed before the current session: it never changes.
    Immutable,
    /// A range that touches the open (or not yet final) session.
    Live,
    /// Reference data (the ticker universe).
    Reference,
    /// Anything else (`REDIS_TTL`).
    Default,
}

/// TTL per class (defaults: 7 days, 60 s, 1 day, `REDIS_TTL` = 1 hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlPolicy {
    /// For [`TtlClass::Immutable`].
    pub immutable: Duration,
    /// For [`TtlClass::Live`].
    pub live: Duration,
    /// For [`TtlClass::Reference`].
    pub reference: Duration,
    /// For [`TtlClass::Default`].
    pub default: Duration,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        TtlPolicy {
            immutable: Duration::from_secs(7 * 86_400),
            live: Duration::from_secs(60),
            reference: Duration::from_secs(86_400),
            default: Duration::from_secs(3_600),
        }
    }
}

impl TtlPolicy {
    /// The TTL of a class.
    pub fn ttl(&self, class: TtlClass) -> Duration {
        match class {
            TtlClass::Immutable => self.immutable,
            TtlClass::Live => self.live,
            TtlClass::Reference => self.reference,
            TtlClass::Default => self.default,
        }
    }

    /// The class of market data whose range ends at `end_ms` (inclusive), seen at `now_ms`:
    /// immutable when it ends before the last session that has fully closed (20:00, or 17:00 on
    /// an early close, New York) had ended; live otherwise.
    pub fn classify_range(end_ms: i64, now_ms: i64) -> TtlClass {
        if end_ms < last_closed_ms(now_ms) { TtlClass::Immutable } else { TtlClass::Live }
    }
}

/// Unix ms at which the most recent fully closed session ended.
pub fn last_closed_ms(now_ms: i64) -> i64 {
    let cal = NyseCalendar;
    let Ok((today, _)) = ny_date_minute(now_ms) else { return i64::MIN };
    let mut day = today;
    for _ in 0..20 {
        if let Some(s) = cal.session(day)
            && s.post_close <= now_ms
        {
            return s.post_close;
        }
        day = day.add_days(-1);
    }
    i64::MIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use polygon_model::Date;

    #[test]
    fn history_is_immutable_and_the_session_is_live() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        // Wednesday 2024-07-03 (early close, post-market to 17:00) at 15:00 New York.
        let now = d("2024-07-03").ny_unix_ms(15 * 60);
        assert_eq!(last_closed_ms(now), d("2024-07-02").ny_unix_ms(20 * 60));
        assert_eq!(TtlPolicy::classify_range(d("2024-07-02").ny_unix_ms(19 * 60), now), TtlClass::Immutable);
        assert_eq!(TtlPolicy::classify_range(d("2024-07-03").ny_unix_ms(10 * 60), now), TtlClass::Live);
        // Saturday: Friday's session is closed and final.
        let sat = d("2024-07-06").ny_unix_ms(12 * 60);
        assert_eq!(last_closed_ms(sat), d("2024-07-05").ny_unix_ms(20 * 60));
        assert_eq!(TtlPolicy::classify_range(d("2024-07-05").ny_unix_ms(20 * 60) - 1, sat), TtlClass::Immutable);
        let p = TtlPolicy::default();
        assert_eq!(p.ttl(TtlClass::Immutable), Duration::from_secs(604_800));
        assert_eq!(p.ttl(TtlClass::Live), Duration::from_secs(60));
    }
}
