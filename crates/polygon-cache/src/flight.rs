//! `Cache::get_or_load`: single flight within the process (one loader per key, the others wait
//! for it), across the fleet (a short Redis lock with a token, released by compare-and-delete),
//! or, without a Redis that answers, across the processes of the machine (an advisory file lock
//! in the disk tier); lock tokens with a per-cache owner prefix, and the take-over of this cache's
//! own stale locks.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cache::Cache;
use crate::entry::Entry;
use crate::key::CacheKey;
use crate::ttl::TtlClass;
use crate::value::CacheValue;

/// How long a loader waiting on another process's lock first sleeps between looks at Redis; the
/// sleep doubles up to [`LOCK_POLL_MAX`], so that hundreds of waiters (a fleet asking for the same
/// batch at once) do not flood Redis with lock attempts and time each other out.
const LOCK_POLL: Duration = Duration::from_millis(20);
const LOCK_POLL_MAX: Duration = Duration::from_millis(160);

/// The flights of one cache: a local mutex per key being loaded, and what its lock tokens say.
pub(crate) struct Flights {
    local: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Prefix of this cache's lock tokens (process and creation time): a lock carrying it that no
    /// task of ours is loading is a leftover of ours.
    owner: String,
    seq: AtomicU64,
}

impl Flights {
    pub(crate) fn new() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Flights {
            local: Mutex::new(HashMap::new()),
            owner: format!("{:x}.{nanos:x}", std::process::id()),
            seq: AtomicU64::new(0),
        }
    }

    /// A token unique per holder: the owner prefix and a per-cache sequence.
    fn token(&self) -> String {
        format!("{}-{}", self.owner, self.seq.fetch_add(1, Relaxed))
    }

    /// Whether `token` is one of this cache's.
    fn is_ours(&self, token: &str) -> bool {
        token.strip_prefix(self.owner.as_str()).is_some_and(|t| t.starts_with('-'))
    }

    /// The local flight of `key`, made if there is none.
    fn of(&self, key: &CacheKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut f = self.local.lock().expect("flights lock");
        f.entry(key.as_str().to_owned()).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
    }

    fn land(&self, key: &CacheKey) {
        self.local.lock().expect("flights lock").remove(key.as_str());
    }
}

impl Cache {
    /// The value under `key`, loading it with `load` on a miss, at most once at a time per key in
    /// this process and, through a short Redis lock (`SET NX PX` with a token, released by a
    /// compare-and-delete script), across processes sharing the Redis.
    ///
    /// A loader error is returned and nothing is stored; the next caller tries again.
    ///
    /// # Errors
    /// The loader's error.
    ///
    /// # Cancel safety
    /// Dropping the future while loading stores nothing and releases the local flight; a Redis lock
    /// it held expires after `lock_ttl`.
    pub async fn get_or_load<T, E, F, Fut>(&self, key: &CacheKey, class: TtlClass, load: F) -> Result<Entry<T>, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(e) = self.get::<T>(key).await {
            return Ok(e);
        }
        let flight = self.inner.flights.of(key);
        let _leader = flight.lock().await;
        // Someone who held the flight before us may have filled it.
        if let Some(e) = self.memory_get::<T>(key) {
            return Ok(e);
        }
        let redis_up = self.inner.redis.as_ref().is_some_and(|r| r.is_up());
        if !redis_up && self.inner.disk.is_some() {
            let result = self.load_once_on_disk(key, class, load).await;
            self.inner.flights.land(key);
            return result;
        }
        let result = self.load_once(key, class, load).await;
        self.inner.flights.land(key);
        result
    }

    async fn load_once<T, E, F, Fut>(&self, key: &CacheKey, class: TtlClass, load: F) -> Result<Entry<T>, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let flights = &self.inner.flights;
        let lock_key = format!("{}:lock", self.redis_key(key));
        let token = flights.token();
        let give_up_at = Instant::now() + self.inner.cfg.lock_ttl;
        let mut held = false;
        // A lock command that timed out may still have run on the server: then we hold the lock
        // without knowing it, and release it at the end (compare-and-delete: harmless if not).
        let mut maybe_held = false;
        let mut takeovers = 0;
        let mut poll = LOCK_POLL;
        // Take the fleet-wide lock, or wait for whoever holds it to store the value.
        while let Some(r) = self.redis() {
            match r.lock(&lock_key, &token, self.inner.cfg.lock_ttl).await {
                Ok(true) => {
                    held = true;
                    break;
                }
                Ok(false) => {
                    // We lead this key's flight in this cache, so a lock with our owner prefix is
                    // no live holder's: a lock whose release failed or that landed after its
                    // command timed out. Remove it and try again instead of waiting out its TTL.
                    // A few times per load (each lock command that timed out may have landed):
                    // should the removal keep failing, waiting is the fallback.
                    if takeovers < 3
                        && let Ok(Some(holder)) = r.lock_holder(&lock_key).await
                        && flights.is_ours(&holder)
                    {
                        takeovers += 1;
                        self.inner.counters.stale_locks.fetch_add(1, Relaxed);
                        self.release(&lock_key, &holder).await;
                        continue;
                    }
                    self.inner.counters.lock_waits.fetch_add(1, Relaxed);
                    tokio::time::sleep(poll).await;
                    poll = (poll * 2).min(LOCK_POLL_MAX);
                    if let Some(e) = self.redis_get::<T>(key).await {
                        return Ok(e);
                    }
                    if Instant::now() >= give_up_at {
                        break; // the holder is stuck: load ourselves rather than fail
                    }
                }
                Err(e) => {
                    let timed_out = e.kind() == &fred::error::ErrorKind::Timeout;
                    maybe_held |= timed_out;
                    self.redis_failed(r, &e, "lock");
                    // A timeout on a busy machine is not Redis gone: try again (a lock our timed-out
                    // command did take is found above as ours and taken over) for as long as Redis
                    // counts as up and the holder's time lasts; anything else, load without it.
                    if !timed_out || Instant::now() >= give_up_at {
                        break;
                    }
                    tokio::time::sleep(poll).await;
                    poll = (poll * 2).min(LOCK_POLL_MAX);
                }
            }
        }
        // With the lock, a value stored just before we took it is still a hit.
        if held && let Some(e) = self.redis_get::<T>(key).await {
            self.release(&lock_key, &token).await;
            return Ok(e);
        }
        self.inner.counters.loads.fetch_add(1, Relaxed);
        let loaded = load().await;
        let out = match loaded {
            Ok(v) => Ok(self.put(key, &v, class).await),
            Err(e) => Err(e),
        };
        if held || maybe_held {
            self.release(&lock_key, &token).await;
        }
        out
    }

    /// The flight across the processes of one machine when no Redis leads it: an advisory lock
    /// on the key in the disk tier's directory. Whoever holds it loads and stores; the others
    /// look at the disk until the value is there (or the holder is past `lock_ttl`: then they
    /// load themselves rather than fail). The lock is released when its file is closed, so a
    /// process that dies holding it releases it.
    async fn load_once_on_disk<T, E, F, Fut>(&self, key: &CacheKey, class: TtlClass, load: F) -> Result<Entry<T>, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let disk = self.inner.disk.as_ref().expect("called with a disk tier");
        let lock_key = self.redis_key(key).into_owned();
        let give_up_at = Instant::now() + self.inner.cfg.lock_ttl;
        let held = loop {
            match disk.try_lock(&lock_key) {
                Ok(Some(f)) => break Some(f),
                Ok(None) => {
                    self.inner.counters.lock_waits.fetch_add(1, Relaxed);
                    tokio::time::sleep(LOCK_POLL).await;
                    if let Some(e) = self.disk_get::<T>(key) {
                        return Ok(e);
                    }
                    if Instant::now() >= give_up_at {
                        break None;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "disk cache lock failed; loading without it");
                    break None;
                }
            }
        };
        // With the lock, a value stored just before we took it is still a hit.
        if held.is_some()
            && let Some(e) = self.disk_get::<T>(key)
        {
            return Ok(e);
        }
        self.inner.counters.loads.fetch_add(1, Relaxed);
        let out = match load().await {
            Ok(v) => Ok(self.put(key, &v, class).await),
            Err(e) => Err(e),
        };
        drop(held);
        out
    }

    async fn release(&self, lock_key: &str, token: &str) {
        if let Some(r) = self.redis()
            && let Err(e) = r.unlock(lock_key, token).await
        {
            self.redis_failed(r, &e, "unlock");
        }
    }

    /// The prefix of this cache's lock tokens, for tests that plant a leftover lock (feature
    /// `test-support`, tests only).
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn lock_owner(&self) -> &str {
        &self.inner.flights.owner
    }
}
