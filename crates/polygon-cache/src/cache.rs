//! `Cache`: the handle, and the tiers composed fastest first: `get` (memory, then disk, then
//! Redis; a hit below is copied up), `put` (every tier), `delete`, `clear`, stats and Redis's status.
//!
//! A tier of bytes (disk, Redis) hands what it read to `envelope::open` and gets a [`Validated`]
//! archive back or a [`Corrupt`](crate::Corrupt) to count and delete; a hit is promoted into the
//! faster tiers with the expiry its header records. The memory tier holds `Validated<T>` values
//! themselves, told apart by type. Every key carries the cache's scope (namespace and upstream).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::builder::CacheBuilder;
use crate::disk::{DiskTier, Found, TierUsage};
use crate::entry::{Entry, Tier, Validated};
use crate::envelope::{self, SCHEMA_VERSION};
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
    pub(crate) disk: Option<Arc<DiskTier>>,
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
    pub(crate) fn start(cfg: CacheBuilder, redis: Option<RedisTier>, disk: Option<Arc<DiskTier>>) -> Cache {
        let inner = Arc::new(Inner {
            redis,
            disk,
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

    /// This cache's prefix of every key: `pgh200:`, then the namespace and the upstream when set.
    fn prefix(&self) -> String {
        let c = &self.inner.cfg;
        let mut p = String::from("pgh200:");
        for part in [&c.namespace, &c.upstream].into_iter().flatten() {
            p.push_str(part);
            p.push(':');
        }
        p
    }

    /// The key as stored in Redis and on disk (with the namespace and upstream, if any).
    pub(crate) fn redis_key<'k>(&self, key: &'k CacheKey) -> std::borrow::Cow<'k, str> {
        let c = &self.inner.cfg;
        if c.namespace.is_none() && c.upstream.is_none() {
            return key.as_str().into();
        }
        format!("{}{}", self.prefix(), &key.as_str()["pgh200:".len()..]).into()
    }

    /// The disk tier's directory of this cache's scope: the namespace (`default` without one),
    /// then `.` and the upstream when it is not the official API.
    pub(crate) fn disk_scope(&self) -> String {
        let c = &self.inner.cfg;
        let ns = c.namespace.as_deref().unwrap_or("default");
        match &c.upstream {
            None => ns.to_owned(),
            Some(up) => format!("{ns}.{up}"),
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

    /// A value read from a slower tier, copied into memory until the expiry its header records
    /// (the live TTL when it records none): entries never outlive their class.
    fn promote<T: CacheValue>(&self, key: &CacheKey, archive: &Arc<Validated<T>>, expires_ms: i64) {
        let ttl = match expires_ms {
            0 => self.inner.cfg.ttl.live,
            e => Duration::from_millis(e.saturating_sub(now_ms()).max(0) as u64).min(self.longest_ttl()),
        };
        self.memory_put(key, archive.clone(), ttl);
    }

    /// The longest TTL of any class: no tier keeps a value longer.
    fn longest_ttl(&self) -> Duration {
        let p = self.inner.cfg.ttl;
        [p.immutable, p.live, p.reference, p.default].into_iter().max().unwrap_or_default()
    }

    pub(crate) fn disk_get<T: CacheValue>(&self, key: &CacheKey) -> Option<Entry<T>> {
        let d = self.inner.disk.as_ref()?;
        // An expiry beyond the longest class from now is not one this cache wrote: not trusted.
        let latest = now_ms().saturating_add(self.longest_ttl().as_millis().min(i64::MAX as u128) as i64 + 60_000);
        match d.get::<T>(&self.disk_scope(), &self.redis_key(key), latest) {
            Found::Hit(archive, expires, size) => {
                let c = &self.inner.counters;
                c.disk_hits.fetch_add(1, Relaxed);
                c.disk_bytes_read.fetch_add(size, Relaxed);
                let archive = Arc::new(archive);
                self.promote(key, &archive, expires);
                Some(Entry::new(archive, Tier::Disk))
            }
            Found::Miss => None,
            Found::Corrupt(why) => {
                self.inner.counters.corrupt.fetch_add(1, Relaxed);
                tracing::warn!(key = %key, reason = %why, dir = %d.root().display(), "corrupt disk cache file: deleted, refetching");
                None
            }
        }
    }

    /// Writes a whole value (envelope) to the disk tier; a failure (full or read-only disk) is
    /// counted and logged once in a while, never raised.
    fn disk_put(&self, key: &CacheKey, value: &[u8]) {
        let Some(d) = &self.inner.disk else { return };
        match d.put(&self.disk_scope(), &self.redis_key(key), value) {
            Ok(n) => {
                self.inner.counters.disk_bytes_written.fetch_add(n, Relaxed);
            }
            Err(e) => {
                if self.inner.counters.disk_errors.fetch_add(1, Relaxed).is_multiple_of(1000) {
                    tracing::warn!(dir = %d.root().display(), error = %e, "disk cache write failed; going on without it");
                }
            }
        }
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
            Ok((archive, expires)) => {
                self.inner.counters.redis_hits.fetch_add(1, Relaxed);
                let archive = Arc::new(archive);
                self.promote(key, &archive, expires);
                // The bytes are the envelope as the disk keeps it: stored as they came.
                self.disk_put(key, &bytes);
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

    /// Looks `key` up in memory, then on disk, then in Redis. A corrupt value is deleted and
    /// reported as a miss; a value of another type under the key is a miss.
    pub async fn get<T: CacheValue>(&self, key: &CacheKey) -> Option<Entry<T>> {
        if let Some(e) = self.memory_get::<T>(key) {
            return Some(e);
        }
        if let Some(e) = self.disk_get::<T>(key) {
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
        if self.inner.disk.is_none() && self.redis().is_none() {
            return Entry::new(archive, Tier::Loaded);
        }
        let expires = now_ms().saturating_add(ttl.as_millis().min(i64::MAX as u128) as i64);
        let encoded = envelope::wrap::<T>(archive.bytes(), expires);
        self.disk_put(key, &encoded);
        if let Some(r) = self.redis() {
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
        if let Some(d) = &self.inner.disk {
            d.delete(&self.disk_scope(), &self.redis_key(key));
        }
        if let Some(r) = self.redis()
            && let Err(e) = r.del(&self.redis_key(key)).await
        {
            self.redis_failed(r, &e, "del");
        }
    }

    /// Removes every entry of this cache's namespace (under every upstream) from every tier,
    /// leaving other namespaces and other keys in the same Redis alone; returns how many disk
    /// files and Redis keys were deleted.
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis is configured but down or refuses (the other tiers are cleared
    /// anyway).
    pub async fn clear(&self) -> Result<u64, Error> {
        self.clear_tiers(Tiers::ALL, Clear::Namespace).await
    }

    /// Removes `what` from the tiers named; returns how many disk files and Redis keys were deleted.
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis is among the tiers and is configured but down or refuses (the
    /// other tiers are cleared anyway).
    pub async fn clear_tiers(&self, tiers: Tiers, what: Clear) -> Result<u64, Error> {
        let mut n = 0;
        if tiers.memory {
            self.clear_memory();
        }
        let ns = self.inner.cfg.namespace.as_deref().unwrap_or("default");
        if tiers.disk
            && let Some(d) = &self.inner.disk
        {
            let own = self.disk_scope();
            n += d.clear(|scope| match what {
                Clear::Scope => scope == own,
                Clear::Namespace => scope.split('.').next() == Some(ns),
                Clear::Everything => true,
            });
        }
        if !tiers.redis {
            return Ok(n);
        }
        let Some(r) = &self.inner.redis else { return Ok(n) };
        if !r.is_up() {
            return Err(Error::Redis("redis is not answering; only the other tiers were cleared".into()));
        }
        let patterns = match (what, &self.inner.cfg.namespace) {
            (Clear::Scope, _) => vec![self.key_pattern()],
            (Clear::Namespace, Some(ns)) => vec![format!("pgh200:{ns}:*")],
            (Clear::Namespace, None) => {
                vec![format!("pgh200:v{SCHEMA_VERSION}:*"), format!("pgh200:up-*:v{SCHEMA_VERSION}:*")]
            }
            (Clear::Everything, _) => vec!["pgh200:*".to_owned()],
        };
        for p in patterns {
            n += r
                .delete_matching(&p, self.inner.cfg.cluster)
                .await
                .map_err(|e| Error::Redis(e.details().to_string()))?;
        }
        Ok(n)
    }

    /// This cache's keys in Redis (its scope; every scope with `everything`) and the bytes of
    /// their values.
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis is not configured, down, or refuses.
    pub async fn redis_usage(&self, everything: bool) -> Result<(u64, u64), Error> {
        let Some(r) = &self.inner.redis else { return Err(Error::Redis("no Redis is configured".into())) };
        if !r.is_up() {
            return Err(Error::Redis("redis is not answering".into()));
        }
        let pattern = if everything { "pgh200:*".to_owned() } else { self.key_pattern() };
        r.usage_matching(&pattern, self.inner.cfg.cluster).await.map_err(|e| Error::Redis(e.details().to_string()))
    }

    /// Redis's entries and bytes per scope (every scope under `pgh200:`).
    ///
    /// # Errors
    /// [`Error::Redis`] when Redis is not configured, down, or refuses.
    pub async fn redis_usage_by_scope(&self) -> Result<Vec<TierUsage>, Error> {
        let Some(r) = &self.inner.redis else { return Err(Error::Redis("no Redis is configured".into())) };
        if !r.is_up() {
            return Err(Error::Redis("redis is not answering".into()));
        }
        let v = r.usage_by_scope(self.inner.cfg.cluster).await.map_err(|e| Error::Redis(e.details().to_string()))?;
        Ok(v.into_iter().map(|(scope, entries, bytes)| TierUsage { scope, entries, bytes }).collect())
    }

    /// The disk tier's entries and bytes per scope (every scope in its directory), and where it
    /// lives; `None` when the cache has no disk tier.
    pub fn disk_usage(&self) -> Option<(std::path::PathBuf, Vec<TierUsage>)> {
        self.inner.disk.as_ref().map(|d| (d.root().to_owned(), d.usage()))
    }

    /// This cache's disk scope (its directory's name under the disk tier's root).
    pub fn scope(&self) -> String {
        self.disk_scope()
    }

    /// This cache's Redis keys: its prefix and the schema (so a default-scope pattern,
    /// `pgh200:v3:*`, matches none of a namespace's or another upstream's keys).
    fn key_pattern(&self) -> String {
        format!("{}v{SCHEMA_VERSION}:*", self.prefix())
    }

    /// Empties the memory tier (Redis keeps its entries).
    pub fn clear_memory(&self) {
        self.inner.memory.lock().expect("memory lock").clear();
    }

    /// Whether the disk tier has no eviction running (tests wait for the bound with it; feature
    /// `test-support`, tests only).
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn disk_settled(&self) -> bool {
        self.inner.disk.as_ref().is_none_or(|d| d.idle())
    }

    /// Whether the cache has a disk tier.
    pub fn has_disk(&self) -> bool {
        self.inner.disk.is_some()
    }

    /// Closes the Redis connections.
    pub async fn shutdown(&self) {
        if let Some(r) = &self.inner.redis {
            r.quit().await;
        }
    }
}

/// What [`Cache::clear_tiers`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clear {
    /// This cache's scope: its namespace and its upstream.
    Scope,
    /// This cache's namespace, under every upstream (`default` without a namespace).
    Namespace,
    /// Everything this library stored: every namespace and upstream (keys under `pgh200:`).
    Everything,
}

/// Which tiers [`Cache::clear_tiers`] clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // one flag per tier
pub struct Tiers {
    /// The memory tier.
    pub memory: bool,
    /// The disk tier.
    pub disk: bool,
    /// Redis.
    pub redis: bool,
}

impl Tiers {
    /// Every tier.
    pub const ALL: Tiers = Tiers { memory: true, disk: true, redis: true };
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
