//! `Cache`: the handle, and the tiers composed fastest first: `get` (memory, then Redis; a hit
//! below is copied up), `put` (every tier), `delete`, `clear`, stats and Redis's status.
//!
//! A tier of bytes (Redis; an embedded disk tier would sit between it and memory) hands what it
//! read to `envelope::open` and gets a [`Validated`] archive back or a [`Corrupt`](crate::Corrupt)
//! to count and delete; a hit is promoted into the faster tiers. The memory tier holds
//! `Validated<T>` values themselves, told apart by type.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::builder::CacheBuilder;
use crate::entry::{Entry, Tier, Validated};
use crate::envelope;
use crate::error::Error;
use crate::flight::Flights;
use crate::key::CacheKey;
use crate::memory::MemoryTier;
use crate::redis::RedisTier;
use crate::stats::{CacheStats, Counters};
use crate::ttl::{TtlClass, TtlPolicy};
use crate::value::CacheValue;

/// The cache. Cheap to clone (shared tiers and counters).
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) redis: Option<RedisTier>,
    pub(crate) memory: Mutex<MemoryTier>,
    pub(crate) flights: Flights,
    pub(crate) counters: Counters,
    pub(crate) cfg: CacheBuilder,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("config", &self.inner.cfg).field("redis_up", &self.redis_up()).finish()
    }
}

/// Whether Redis is configured and answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisStatus {
    /// No Redis configured: memory only.
    Disabled,
    /// Answering.
    Up,
    /// Not answering: memory only until the health check sees it again.
    Down,
}

async fn health_loop(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Some(r) = &inner.redis
            && !r.is_up()
        {
            r.probe().await;
        }
    }
}

impl Cache {
    /// The cache over `redis` (if any) with settings `cfg`; starts the health check.
    pub(crate) fn start(cfg: CacheBuilder, redis: Option<RedisTier>) -> Cache {
        let inner = Arc::new(Inner {
            redis,
            memory: Mutex::new(MemoryTier::new(cfg.memory_bytes)),
            flights: Flights::new(),
            counters: Counters::default(),
            cfg,
        });
        if inner.redis.is_some() {
            tokio::spawn(health_loop(Arc::downgrade(&inner), inner.cfg.health_interval));
        }
        Cache { inner }
    }

    /// Redis's state now.
    pub fn redis_status(&self) -> RedisStatus {
        match &self.inner.redis {
            None => RedisStatus::Disabled,
            Some(r) if r.is_up() => RedisStatus::Up,
            Some(_) => RedisStatus::Down,
        }
    }

    fn redis_up(&self) -> bool {
        self.redis_status() == RedisStatus::Up
    }

    /// The TTL policy in force.
    pub fn ttl_policy(&self) -> TtlPolicy {
        self.inner.cfg.ttl
    }

    /// The counters now.
    pub fn stats(&self) -> CacheStats {
        let (bytes, entries) = {
            let m = self.inner.memory.lock().expect("memory lock");
            (m.bytes() as u64, m.len() as u64)
        };
        self.inner.counters.snapshot(bytes, entries)
    }

    /// The Redis tier if it is usable now; counts a fallback when it is configured but down.
    pub(crate) fn redis(&self) -> Option<&RedisTier> {
        let r = self.inner.redis.as_ref()?;
        if r.is_up() {
            Some(r)
        } else {
            self.inner.counters.fallbacks.fetch_add(1, Relaxed);
            None
        }
    }

    pub(crate) fn redis_failed(&self, r: &RedisTier, e: &fred::error::Error, what: &str) {
        self.inner.counters.errors.fetch_add(1, Relaxed);
        r.note_error(e);
        tracing::debug!(error = %e, op = what, "redis command failed");
    }

    /// The key as stored in Redis (with the namespace, if any).
    pub(crate) fn redis_key<'k>(&self, key: &'k CacheKey) -> std::borrow::Cow<'k, str> {
        match &self.inner.cfg.namespace {
            None => key.as_str().into(),
            Some(ns) => format!("pgh200:{ns}:{}", &key.as_str()["pgh200:".len()..]).into(),
        }
    }

    pub(crate) fn memory_get<T: CacheValue>(&self, key: &CacheKey) -> Option<Entry<T>> {
        let hit = self.inner.memory.lock().expect("memory lock").get::<Validated<T>>(key.as_str(), Instant::now())?;
        self.inner.counters.memory_hits.fetch_add(1, Relaxed);
        Some(Entry::new(hit, Tier::Memory))
    }

    fn memory_put<T: CacheValue>(&self, key: &CacheKey, archive: Arc<Validated<T>>, ttl: Duration) {
        let bytes = archive.bytes().len();
        self.inner.memory.lock().expect("memory lock").put(key.as_str(), archive, bytes, Instant::now() + ttl);
    }

    /// A value read from a slower tier, copied into the faster ones. The memory tier keeps it for
    /// the live TTL (the class is unknown here): entries never outlive their class.
    fn promote<T: CacheValue>(&self, key: &CacheKey, archive: &Arc<Validated<T>>) {
        self.memory_put(key, archive.clone(), self.inner.cfg.ttl.live);
    }

    pub(crate) async fn redis_get<T: CacheValue>(&self, key: &CacheKey) -> Option<Entry<T>> {
        let r = self.redis()?;
        let bytes = match r.get(&self.redis_key(key)).await {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            Err(e) => {
                self.redis_failed(r, &e, "get");
                return None;
            }
        };
        self.inner.counters.bytes_read.fetch_add(bytes.len() as u64, Relaxed);
        match envelope::open::<T>(&bytes) {
            Ok(archive) => {
                self.inner.counters.redis_hits.fetch_add(1, Relaxed);
                let archive = Arc::new(archive);
                self.promote(key, &archive);
                Some(Entry::new(archive, Tier::Redis))
            }
            Err(why) => {
                self.inner.counters.corrupt.fetch_add(1, Relaxed);
                tracing::warn!(key = %key, reason = %why, "corrupt cache value: deleted, refetching");
                if let Err(e) = r.del(&self.redis_key(key)).await {
                    self.redis_failed(r, &e, "del");
                }
                None
            }
        }
    }

    /// Looks `key` up in memory, then Redis. A corrupt value is deleted and reported as a miss; a
    /// value of another type under the key is a miss.
    pub async fn get<T: CacheValue>(&self, key: &CacheKey) -> Option<Entry<T>> {
        if let Some(e) = self.memory_get::<T>(key) {
            return Some(e);
        }
        let found = self.redis_get::<T>(key).await;
        if found.is_none() {
            self.inner.counters.misses.fetch_add(1, Relaxed);
        }
        found
    }

    /// Stores `value` in every tier with the TTL of `class`. Redis failures are counted, never raised.
    ///
    /// # Panics
    /// If `T`'s rkyv impls make an archive that fails its own validation (a bug in a hand-written
    /// `Archive` impl; derived impls never do).
    pub async fn put<T: CacheValue>(&self, key: &CacheKey, value: &T, class: TtlClass) -> Entry<T> {
        let ttl = self.inner.cfg.ttl.ttl(class);
        // Serialise and validate once; the header and checksum are only built when Redis will
        // take the value.
        let archive = Arc::new(Validated::of(value));
        self.memory_put(key, archive.clone(), ttl);
        if let Some(r) = self.redis() {
            let encoded = envelope::wrap::<T>(archive.bytes());
            let n = encoded.len() as u64;
            match r.set(&self.redis_key(key), Bytes::from(encoded), ttl).await {
                Ok(()) => {
                    self.inner.counters.bytes_written.fetch_add(n, Relaxed);
                }
                Err(e) => self.redis_failed(r, &e, "set"),
            }
        }
        Entry::new(archive, Tier::Loaded)
    }

    /// Removes `key` from every tier.
    pub async fn delete(&self, key: &CacheKey) {
        self.inner.memory.lock().expect("memory lock").remove(key.as_str());
        if let Some(r) = self.redis()
            && let Err(e) = r.del(&self.redis_key(key)).await
        {
            self.redis_failed(r, &e, "del");
        }
    }

    /// Removes every entry of this cache (keys under `pgh200:`, or only `pgh200:{namespace}:` for a
    /// namespaced cache) from memory and Redis, leaving other keys in the same Redis alone; returns
    /// how many Redis keys were deleted.
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis is configured but down or refuses (the memory tier is cleared anyway).
    pub async fn clear(&self) -> Result<u64, Error> {
        self.clear_memory();
        let Some(r) = &self.inner.redis else { return Ok(0) };
        if !r.is_up() {
            return Err(Error::Redis("redis is not answering; only the memory tier was cleared".into()));
        }
        r.delete_matching(&self.key_pattern(), self.inner.cfg.cluster)
            .await
            .map_err(|e| Error::Redis(e.details().to_string()))
    }

    /// This cache's keys in Redis (under `pgh200:`, or its namespace) and the bytes of their values.
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis is not configured, down, or refuses.
    pub async fn redis_usage(&self) -> Result<(u64, u64), Error> {
        let Some(r) = &self.inner.redis else { return Err(Error::Redis("no Redis is configured".into())) };
        if !r.is_up() {
            return Err(Error::Redis("redis is not answering".into()));
        }
        r.usage_matching(&self.key_pattern(), self.inner.cfg.cluster)
            .await
            .map_err(|e| Error::Redis(e.details().to_string()))
    }

    fn key_pattern(&self) -> String {
        self.inner.cfg.namespace.as_ref().map_or("pgh200:*".to_owned(), |ns| format!("pgh200:{ns}:*"))
    }

    /// Empties the memory tier (Redis keeps its entries).
    pub fn clear_memory(&self) {
        self.inner.memory.lock().expect("memory lock").clear();
    }

    /// Closes the Redis connections.
    pub async fn shutdown(&self) {
        if let Some(r) = &self.inner.redis {
            r.quit().await;
        }
    }
}
