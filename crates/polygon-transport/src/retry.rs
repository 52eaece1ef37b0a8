//! Retrying: a policy that decides what is retryable, full-jitter exponential backoff, `Retry-After`,
//! and a retry budget so an outage never becomes a retry storm.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, Method, StatusCode};

/// What an attempt came to, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A response with this status.
    Status(StatusCode),
    /// Could not connect, or the connection dropped before a response.
    Connect,
    /// The attempt timed out.
    Timeout,
    /// The body was cut short or stalled.
    Body,
}

/// Decides which failed attempts are worth another try.
///
/// Only idempotent reads (GET, HEAD) are retried; of those: connect errors, timeouts, resets and
/// cut bodies, and the statuses 413, 429, 499, 500, 502, 503, 504 (the official client's list).
/// 400, 401, 403, 404 and every other status are final.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryPolicy;

impl RetryPolicy {
    /// Whether `attempt`, for a request of `method`, may be retried.
    pub fn is_retryable(&self, method: &Method, attempt: Attempt) -> bool {
        if method != Method::GET && method != Method::HEAD {
            return false;
        }
        match attempt {
            Attempt::Connect | Attempt::Timeout | Attempt::Body => true,
            Attempt::Status(s) => matches!(s.as_u16(), 413 | 429 | 499 | 500 | 502 | 503 | 504),
        }
    }
}

/// Full-jitter exponential backoff: uniform in `0..=min(cap, base × 2^(retry-1))`.
pub(crate) fn backoff(base: Duration, cap: Duration, retry: u32, rng: &Rng) -> Duration {
    let ceiling = base.saturating_mul(1u32 << (retry.saturating_sub(1)).min(20)).min(cap);
    ceiling.mul_f64(rng.unit())
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// A small, lock-free generator for jitter (splitmix64); no cryptographic needs here.
#[derive(Debug)]
pub(crate) struct Rng(AtomicU64);

impl Rng {
    pub(crate) fn new() -> Self {
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Rng(AtomicU64::new(seed))
    }

    pub(crate) fn unit(&self) -> f64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A retry budget, as tower's and Finagle's: each request deposits `ratio` of a retry, a floor
/// of `floor_per_sec` retries a second accrues regardless, and each retry withdraws one. When it
/// is empty, failures come back at once instead of multiplying the load on a struggling server.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    floor_per_sec: f64,
    max: f64,
    state: Mutex<(f64, Instant)>,
}

impl RetryBudget {
    /// `ratio` extra requests per request (0.2 = 20 %), plus `floor_per_sec` retries a second;
    /// at most `max` retries banked.
    pub fn new(ratio: f64, floor_per_sec: f64, max: f64) -> Self {
        RetryBudget { ratio, floor_per_sec, max, state: Mutex::new((floor_per_sec.min(max), Instant::now())) }
    }

    fn refill(&self, s: &mut (f64, Instant)) {
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.floor_per_sec).min(self.max);
        s.1 = now;
    }

    /// Records a new (first-attempt) request.
    pub fn deposit(&self) {
        let mut s = self.state.lock().expect("budget lock");
        self.refill(&mut s);
        s.0 = (s.0 + self.ratio).min(self.max);
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_withdraw(&self) -> bool {
        let mut s = self.state.lock().expect("budget lock");
        self.refill(&mut s);
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_matches_the_documented_list() {
        let p = RetryPolicy;
        for s in [413, 429, 499, 500, 502, 503, 504] {
            assert!(p.is_retryable(&Method::GET, Attempt::Status(StatusCode::from_u16(s).unwrap())), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 418, 501] {
            assert!(!p.is_retryable(&Method::GET, Attempt::Status(StatusCode::from_u16(s).unwrap())), "{s}");
        }
        assert!(p.is_retryable(&Method::GET, Attempt::Connect));
        assert!(!p.is_retryable(&Method::POST, Attempt::Timeout), "never a non-idempotent request");
    }

    #[test]
    fn backoff_is_full_jitter_under_the_cap() {
        let rng = Rng::new();
        for retry in 1..30 {
            let d = backoff(Duration::from_millis(500), Duration::from_secs(8), retry, &rng);
            assert!(d <= Duration::from_millis(500) * 2u32.pow(retry.min(5) - 1) && d <= Duration::from_secs(8));
        }
        let samples: Vec<Duration> =
            (0..200).map(|_| backoff(Duration::from_secs(1), Duration::from_secs(60), 1, &rng)).collect();
        assert!(
            samples.iter().any(|d| *d < Duration::from_millis(250))
                && samples.iter().any(|d| *d > Duration::from_millis(750))
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        h.insert(http::header::RETRY_AFTER, later.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn budget_allows_the_ratio_of_extra_requests_then_refuses() {
        let b = RetryBudget::new(0.25, 0.0, 100.0); // 0.25: exact in binary, so the count is exact
        for _ in 0..100 {
            b.deposit();
        }
        let granted = (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 25);
    }
}
