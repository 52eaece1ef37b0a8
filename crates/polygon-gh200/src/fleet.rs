//! The fleet's rate limit: `POLYGON_RATE_LIMIT` shared by every process on one Redis
//! ([`polygon_cache::FleetQuota`], GCRA in Redis), given to the transport as its
//! [`PermitSource`]. While Redis does not answer, each process keeps to its fair share (the
//! limit over the members its heartbeat last counted) on a local limiter, says so once, and goes
//! back to the shared one when Redis answers again.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use polygon_cache::{Cache, FleetQuota, RedisStatus};
use polygon_model::RateLimit;
use polygon_transport::{LocalLimiter, PermitFuture, PermitSource};

use crate::config::{Config, RateLimitScope};

/// How often a member records itself (well inside [`polygon_cache::MEMBER_WINDOW`]).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// The most permits one process holds reserved on the shared schedule and not yet used. A
/// reservation is a slot in the fleet's future; without this bound every waiting request would
/// reserve at once (a thousand tickers: a schedule minutes long, handed out in the first
/// milliseconds), so a Redis lost mid-run would leave the process on slots it already holds,
/// unfair to members that ask later, and past a request's deadline. With it the process reaches
/// the whole limit as long as a Redis round trip is shorter than this many intervals.
const RESERVED_AHEAD: usize = 4;

/// What the quota is keyed by: the API key and the upstream, hashed (`ApiKey::fingerprint`).
const QUOTA_SCHEME: &str = "pgh200-quota-v1";

pub(crate) struct FleetPermits {
    quota: FleetQuota,
    /// The fair-share limiter for while Redis does not answer, rebuilt when the members change.
    local: Mutex<Arc<LocalLimiter>>,
    members: AtomicU32,
    falling_back: AtomicBool,
    /// [`RESERVED_AHEAD`] turns to hold a reservation, handed out first come first served.
    turns: tokio::sync::Semaphore,
}

impl FleetPermits {
    fn fair_share(rate: RateLimit, burst: u32, members: u32) -> LocalLimiter {
        let members = members.max(1);
        let share = RateLimit { requests: rate.requests, per: rate.per * members };
        LocalLimiter::new(share, (burst / members).max(1)).expect("a share of an expressible rate is expressible")
    }

    fn set_members(&self, n: u32) {
        if self.members.swap(n, Relaxed) != n {
            let l = Self::fair_share(self.quota.rate(), self.quota.burst(), n);
            // Members change while Redis answers (a heartbeat counted them): the new share
            // starts drained, as the old one was kept.
            while l.try_take() {}
            *self.local.lock().expect("fair share lock") = Arc::new(l);
        }
    }

    fn fall_back(&self, why: &dyn std::fmt::Display) -> Arc<LocalLimiter> {
        let local = self.local.lock().expect("fair share lock").clone();
        if !self.falling_back.swap(true, Relaxed) {
            tracing::warn!(
                reason = %why,
                members = self.members.load(Relaxed),
                limit = %local.rate(),
                "fleet rate limit: Redis does not answer; this process keeps to its fair share until it does"
            );
        }
        local
    }

    /// Records this member every [`HEARTBEAT_EVERY`] and follows the fleet's size, for as long
    /// as the permits are in use.
    async fn heartbeat(me: Weak<FleetPermits>) {
        loop {
            let Some(p) = me.upgrade() else { return };
            if let Ok(n) = p.quota.heartbeat().await {
                p.set_members(n);
            }
            drop(p);
            tokio::time::sleep(HEARTBEAT_EVERY).await;
        }
    }
}

impl PermitSource for FleetPermits {
    fn acquire(&self, deadline: Instant) -> PermitFuture<'_, bool> {
        Box::pin(async move {
            let Ok(Ok(_turn)) = tokio::time::timeout_at(deadline.into(), self.turns.acquire()).await else {
                return false;
            };
            let local = match self.quota.permit(self.falling_back.load(Relaxed)).await {
                Ok(wait) => {
                    if self.falling_back.swap(false, Relaxed) {
                        tracing::info!("fleet rate limit: Redis answers again; back on the shared limit");
                    }
                    // Keep the fair share drained by what this process sends, so that a fall
                    // back starts at the recent rate rather than with a burst on top of it.
                    self.local.lock().expect("fair share lock").try_take();
                    if Instant::now() + wait > deadline {
                        return false;
                    }
                    tokio::time::sleep(wait).await;
                    return true;
                }
                Err(e) => self.fall_back(&e),
            };
            local.acquire(deadline).await
        })
    }

    fn pause(&self, pause: Duration) -> PermitFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.quota.pause(pause).await {
                tracing::debug!(error = %e, "fleet rate limit: could not share a 429's pause");
            }
        })
    }

    fn describe(&self) -> String {
        format!(
            "fleet {}, burst {} (shared through Redis; {} members seen)",
            self.quota.rate(),
            self.quota.burst(),
            self.members.load(Relaxed)
        )
    }
}

/// The permits `config` asks for over `cache`: a fleet's, when the scope says so and there is a
/// limit, a key and a Redis; `None` for the transport's own local limiter.
pub(crate) async fn permits(config: &Config, cache: &Cache) -> Option<Arc<dyn PermitSource>> {
    let rate = config.rate_limit?;
    let key = config.api_key.as_ref()?;
    let fleet = match config.rate_limit_scope {
        RateLimitScope::Process => false,
        RateLimitScope::Fleet => true,
        RateLimitScope::Auto => cache.redis_status() == RedisStatus::Up,
    };
    if !fleet {
        return None;
    }
    let id = key.fingerprint(&format!("{QUOTA_SCHEME}\0{}", config.base_url));
    let burst = config.rate_burst.unwrap_or(rate.requests);
    let member = format!("{}-{:x}", std::process::id(), nanos_now());
    let quota = cache.fleet_quota(&id, rate, burst, &member)?;
    let p = Arc::new(FleetPermits {
        local: Mutex::new(Arc::new(FleetPermits::fair_share(rate, burst, 1))),
        members: AtomicU32::new(1),
        falling_back: AtomicBool::new(false),
        turns: tokio::sync::Semaphore::new(RESERVED_AHEAD),
        quota,
    });
    match p.quota.heartbeat().await {
        Ok(n) => p.set_members(n),
        Err(e) => {
            p.fall_back(&e);
        }
    }
    tokio::spawn(FleetPermits::heartbeat(Arc::downgrade(&p)));
    tracing::debug!(permits = %p.describe(), "rate limit shared by the fleet");
    Some(p)
}

fn nanos_now() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}
