//! [`PermitSource`]: what the transport asks before it sends each request. The default is
//! [`LocalLimiter`], governor's GCRA in this process; a fleet of processes on one API key gives
//! the transport a shared one instead (the facade wires one over Redis), and the transport
//! knows nothing of where the permits come from.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Jitter, Quota};
use polygon_model::RateLimit;

use crate::Error;

/// A boxed future of a [`PermitSource`] (the trait stays object-safe without a macro crate).
pub type PermitFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the transport gets leave to send one request.
///
/// `acquire` is called once per attempt, after the host pause and before a connection slot is
/// taken; `pause` when the host answered 429, so that a shared source can hold back everyone
/// who shares the quota (the transport also pauses itself).
pub trait PermitSource: Send + Sync + 'static {
    /// Waits until one request may be sent and returns `true`, or returns `false` at `deadline`
    /// if that is too late.
    fn acquire(&self, deadline: Instant) -> PermitFuture<'_, bool>;

    /// The host answered 429: no permit for anyone sharing this source for `pause`. The default
    /// does nothing (the transport's own host pause covers this process).
    fn pause(&self, pause: Duration) -> PermitFuture<'_, ()> {
        let _ = pause;
        Box::pin(async {})
    }

    /// What it is, for logs and `Debug`: `local 100/s, burst 100`.
    fn describe(&self) -> String;
}

/// A rate limit in this process: governor's GCRA with `burst` requests of tolerance, waiting
/// with jitter (a quarter of the period, at most 250 ms) so that waiters do not wake together.
pub struct LocalLimiter {
    limiter: DefaultDirectRateLimiter,
    period: Duration,
    rate: RateLimit,
    burst: u32,
}

impl LocalLimiter {
    /// `rate`, with bursts of up to `burst` requests (at least 1).
    ///
    /// # Errors
    /// [`Error::is_config`]: a rate governor cannot express (faster than one request a nanosecond).
    pub fn new(rate: RateLimit, burst: u32) -> Result<LocalLimiter, Error> {
        let period = rate.per / rate.requests;
        let burst = burst.max(1);
        let quota = Quota::with_period(period)
            .ok_or_else(|| Error::config(format!("POLYGON_RATE_LIMIT {rate} is too fast to express")))?
            .allow_burst(NonZeroU32::new(burst).expect("at least 1"));
        Ok(LocalLimiter { limiter: DefaultDirectRateLimiter::direct(quota), period, rate, burst })
    }

    /// The limit.
    pub fn rate(&self) -> RateLimit {
        self.rate
    }

    /// Spends one permit if one is free now, without waiting; whether it did. A limiter kept in
    /// reserve (a fleet member's fair share while Redis answers) is drained this way by the
    /// requests sent on other permits, so that it starts from the recent rate, not a full burst.
    pub fn try_take(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

impl std::fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PermitSource for LocalLimiter {
    fn acquire(&self, deadline: Instant) -> PermitFuture<'_, bool> {
        let jitter = Jitter::up_to((self.period / 4).min(Duration::from_millis(250)));
        Box::pin(async move {
            tokio::time::timeout_at(deadline.into(), self.limiter.until_ready_with_jitter(jitter)).await.is_ok()
        })
    }

    fn describe(&self) -> String {
        format!("local {}, burst {}", self.rate, self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_limiter_lets_the_burst_through_then_paces() {
        let l = LocalLimiter::new("10/s".parse().unwrap(), 3).unwrap();
        // A deadline of now admits only what is ready at once: the burst, then nothing.
        for _ in 0..3 {
            assert!(l.acquire(Instant::now()).await);
        }
        assert!(!l.acquire(Instant::now()).await, "the fourth must wait");
        assert!(l.acquire(Instant::now() + Duration::from_secs(60)).await);
        assert_eq!(l.describe(), "local 10/s, burst 3");
    }
}
