//! [`FleetQuota`]: one rate limit shared by every process that uses the same Redis, as GCRA in
//! one atomic script per permit (the scheme governor runs locally and redis-cell in Redis), a
//! shared pause after a 429, and a heartbeat that counts the members, on the cache's Redis pool.
//!
//! Keys, all under one hash tag so that a Redis Cluster keeps them in one slot:
//! `{pgh200:quota:<id>}:tat` (the theoretical arrival time, µs of the server's clock),
//! `{…}:pause` (no permit before this, µs) and `{…}:members` (a sorted set of members by their
//! last heartbeat, ms). `<id>` is what the caller gives: a hash of the API key and the upstream,
//! never the key. Every time is Redis's own (`TIME`), so machines with skewed clocks agree.

use std::time::Duration;

use polygon_model::RateLimit;

use crate::Cache;

/// Reserves the next slot of the shared schedule and answers how long to wait for it (µs).
/// A pause in force holds the schedule back to its end and spends the burst: after a 429 the
/// fleet resumes at the steady rate, not all at once. ARGV[3] = 1 says the caller has been on
/// its own limiter (Redis did not answer; a restarted Redis has lost the schedule): a schedule
/// that is idle then starts with its burst spent too, since the fleet was just sending.
const PERMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or 0
if tat < now then
  tat = now
  if ARGV[3] == '1' then tat = now + (burst - 1) * interval end
end
local pause = tonumber(redis.call('GET', KEYS[2])) or 0
if pause > now and tat < pause + (burst - 1) * interval then tat = pause + (burst - 1) * interval end
local new_tat = tat + interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return wait
";

/// Moves the shared pause to now + ARGV[1] µs unless it already ends later.
const PAUSE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local till = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1])) or 0
if till > cur then
  redis.call('SET', KEYS[1], string.format('%.0f', till), 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 1000)
end
return 0
";

/// Records ARGV[1] as alive now, forgets members silent for ARGV[2] ms, answers how many remain.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window * 2)
return redis.call('ZCARD', KEYS[1])
";

/// A member that has not sent a heartbeat for this long is no longer counted.
pub const MEMBER_WINDOW: Duration = Duration::from_secs(10);

/// The fleet's quota in Redis: `rate` with bursts of `burst`, shared by whoever uses the same
/// `id` on the same Redis.
#[derive(Clone)]
pub struct FleetQuota {
    cache: Cache,
    tat: String,
    pause: String,
    members: String,
    member: String,
    interval_us: u64,
    burst: u32,
    rate: RateLimit,
}

impl std::fmt::Debug for FleetQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetQuota")
            .field("rate", &self.rate.to_string())
            .field("burst", &self.burst)
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// Redis did not answer a quota command (down, slow or refusing): the caller falls back.
#[derive(Debug, thiserror::Error)]
#[error("the fleet's quota in Redis: {0}")]
pub struct FleetError(String);

impl Cache {
    /// The quota `rate` (bursts of `burst`) shared through this cache's Redis under `id` (a hash
    /// of what the quota belongs to: API key and upstream; never a secret itself), or `None`
    /// when the cache has no Redis configured. `member` names this process in the heartbeat.
    pub fn fleet_quota(&self, id: &str, rate: RateLimit, burst: u32, member: &str) -> Option<FleetQuota> {
        self.inner.redis.as_ref()?;
        let tag = format!("{{pgh200:quota:{id}}}");
        Some(FleetQuota {
            cache: self.clone(),
            tat: format!("{tag}:tat"),
            pause: format!("{tag}:pause"),
            members: format!("{tag}:members"),
            member: member.to_owned(),
            interval_us: (rate.per.as_micros() / u128::from(rate.requests)).max(1) as u64,
            burst: burst.max(1),
            rate,
        })
    }
}

impl FleetQuota {
    /// The limit.
    pub fn rate(&self) -> RateLimit {
        self.rate
    }

    /// The burst.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Whether Redis counts as up now (a quick local check, no command).
    pub fn redis_up(&self) -> bool {
        self.cache.inner.redis.as_ref().is_some_and(|r| r.is_up())
    }

    async fn eval(&self, script: &str, keys: Vec<String>, args: Vec<String>) -> Result<i64, FleetError> {
        let Some(r) = self.cache.inner.redis.as_ref().filter(|r| r.is_up()) else {
            return Err(FleetError("redis is unreachable".into()));
        };
        r.eval_i64(script, keys, args).await.map_err(|e| {
            r.note_error(&e);
            FleetError(e.to_string())
        })
    }

    /// Reserves one permit: the time to wait before sending (zero: now). One round trip; the
    /// slot is spent whether or not the caller then waits for it. `returning`: the caller has
    /// been sending on a local limiter since Redis last answered (an idle schedule then starts
    /// without its burst).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer in the cache's command timeout.
    pub async fn permit(&self, returning: bool) -> Result<Duration, FleetError> {
        let args = vec![self.interval_us.to_string(), self.burst.to_string(), u8::from(returning).to_string()];
        let wait = self.eval(PERMIT, vec![self.tat.clone(), self.pause.clone()], args).await?;
        Ok(Duration::from_micros(wait.max(0) as u64))
    }

    /// Pauses the fleet for `pause` (a 429 seen by this process).
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer.
    pub async fn pause(&self, pause: Duration) -> Result<(), FleetError> {
        self.eval(PAUSE, vec![self.pause.clone()], vec![pause.as_micros().max(1).to_string()]).await.map(|_| ())
    }

    /// Records this member as alive and returns the members seen in the last [`MEMBER_WINDOW`].
    ///
    /// # Errors
    /// [`FleetError`] when Redis does not answer.
    pub async fn heartbeat(&self) -> Result<u32, FleetError> {
        let args = vec![self.member.clone(), MEMBER_WINDOW.as_millis().to_string()];
        self.eval(HEARTBEAT, vec![self.members.clone()], args).await.map(|n| n.clamp(1, i64::from(u32::MAX)) as u32)
    }
}
