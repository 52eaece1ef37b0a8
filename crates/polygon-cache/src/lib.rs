//! A two-tier cache for Polygon data: a bounded in-memory tier in front of Redis (through fred),
//! values stored as validated rkyv archives, TTLs by data type, single flight within a process and
//! across a fleet, and a Redis that may die, stall or vanish without stalling a fetch.
//!
//! - [`CacheKey`]: `pgh200:v2:{endpoint}:{hash}` over the canonical request (no key, no cursor).
//! - [`Cache::get`] / [`Cache::put`] / [`Cache::get_or_load`]: typed by [`CacheValue`]; reads hand
//!   back an [`Entry`] whose archive is read in place ([`Entry::archived`]) or deserialised.
//! - Values: a 32-byte header (magic, schema, kind, CRC-32, length) then the archive; a value that
//!   fails any check is a miss, is deleted and is counted ([`CacheStats::corrupt`]).
//! - Redis down: every call returns within the command timeout (default 300 ms), served by the
//!   memory tier; a health check brings Redis back into use when it answers again.
//!
//! ```no_run
//! # async fn demo() -> Result<(), polygon_cache::Error> {
//! use polygon_cache::{Cache, CacheKey, TtlClass};
//! use polygon_model::BarColumns;
//! let cache = Cache::builder().redis_url("redis://127.0.0.1:6379/0").build().await?;
//! let key = CacheKey::from_canonical("example", "ticker=AAPL|day=2024-01-02");
//! let entry = cache
//!     .get_or_load(&key, TtlClass::Immutable, || async { Ok::<_, std::io::Error>(BarColumns::new()) })
//!     .await
//!     .unwrap();
//! println!("{} rows", entry.archived().t.len());
//! # Ok(()) }
//! ```

mod envelope;
mod key;
mod memory;
mod redis;
mod ttl;

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rkyv::rancor;
use rkyv::util::AlignedVec;

pub use envelope::{CacheValue, Corrupt, HEADER_LEN, MAGIC, SCHEMA_VERSION, decode, encode};
pub use key::{CacheKey, fnv1a_128};
pub use ttl::{TtlClass, TtlPolicy, last_closed_ms};

use envelope::kind_tag;
use memory::MemoryTier;
use redis::RedisTier;

impl CacheValue for polygon_model::BarColumns {
    const KIND: &'static str = "bar_columns";

    fn check(archived: &polygon_model::ArchivedBarColumns) -> Result<(), String> {
        archived.check()
    }
}
impl CacheValue for polygon_model::PackedBars {
    const KIND: &'static str = "packed_bars";

    fn check(archived: &polygon_model::ArchivedPackedBars) -> Result<(), String> {
        archived.check()
    }
}
impl CacheValue for polygon_model::AggregatesResponse {
    const KIND: &'static str = "aggregates_response";
}
impl CacheValue for polygon_model::GroupedDailyResponse {
    const KIND: &'static str = "grouped_daily_response";
}
impl CacheValue for polygon_model::PrevCloseResponse {
    const KIND: &'static str = "prev_close_response";
}
impl CacheValue for polygon_model::TradesResponse {
    const KIND: &'static str = "trades_response";
}
impl CacheValue for polygon_model::QuotesResponse {
    const KIND: &'static str = "quotes_response";
}
impl CacheValue for polygon_model::TickersResponse {
    const KIND: &'static str = "tickers_response";
}

/// Building the cache can fail only on a malformed Redis address.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `REDIS_URL` (or host/port/db) could not be understood. The message never includes a password.
    #[error("invalid Redis address {address}: {reason}")]
    Config {
        /// The address with any password replaced by `<redacted>`.
        address: String,
        /// What was wrong.
        reason: String,
    },
    /// Redis could not complete an administrative command (`clear`).
    #[error("redis: {0}")]
    Redis(String),
}

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The in-memory tier.
    Memory,
    /// Redis.
    Redis,
    /// The loader ran (a miss everywhere).
    Loaded,
}

/// A cached value: its validated archive, readable in place.
pub struct Entry<T: CacheValue> {
    archive: Arc<AlignedVec>,
    tier: Tier,
    _t: PhantomData<fn() -> T>,
}

impl<T: CacheValue> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry { archive: self.archive.clone(), tier: self.tier, _t: PhantomData }
    }
}

impl<T: CacheValue> std::fmt::Debug for Entry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("kind", &T::KIND)
            .field("tier", &self.tier)
            .field("bytes", &self.archive.len())
            .finish()
    }
}

impl<T: CacheValue> Entry<T> {
    /// The archived value, in place: no copy, no deserialisation.
    pub fn archived(&self) -> &T::Archived {
        // SAFETY: an Entry is only made from bytes that passed `rkyv::access` as a `T` (read from
        // Redis through `envelope::decode`) or that `rkyv::to_bytes` produced from a `T` here; the
        // buffer is immutable behind the Arc, so it is still a valid `T::Archived`.
        unsafe { rkyv::access_unchecked::<T::Archived>(&self.archive) }
    }

    /// The value, deserialised (the slow path: it allocates).
    pub fn to_value(&self) -> T {
        rkyv::deserialize::<T, rancor::Error>(self.archived()).expect("a validated archive deserialises")
    }

    /// Where it came from.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// Size of the archive, bytes.
    pub fn archive_len(&self) -> usize {
        self.archive.len()
    }
}

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Hits in the memory tier.
    pub memory_hits: u64,
    /// Hits in Redis (then copied to memory).
    pub redis_hits: u64,
    /// Misses in both tiers.
    pub misses: u64,
    /// Loader runs (by `get_or_load`).
    pub loads: u64,
    /// Redis commands that failed.
    pub errors: u64,
    /// Calls that skipped Redis because it was down.
    pub fallbacks: u64,
    /// Values that failed their checks, deleted.
    pub corrupt: u64,
    /// Times a loader waited on another process's lock instead of loading.
    pub lock_waits: u64,
    /// Leftover locks of this cache's own (a release that failed, a lock that landed after its
    /// command timed out) removed instead of waited out.
    pub stale_locks: u64,
    /// Value bytes read from Redis.
    pub bytes_read: u64,
    /// Value bytes written to Redis.
    pub bytes_written: u64,
    /// Bytes held by the memory tier now.
    pub memory_bytes: u64,
    /// Entries in the memory tier now.
    pub memory_entries: u64,
}

#[derive(Default)]
struct Counters {
    memory_hits: AtomicU64,
    redis_hits: AtomicU64,
    misses: AtomicU64,
    loads: AtomicU64,
    errors: AtomicU64,
    fallbacks: AtomicU64,
    corrupt: AtomicU64,
    lock_waits: AtomicU64,
    stale_locks: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

/// Settings of a [`Cache`]. Defaults are design.md's.
#[derive(Clone)]
pub struct CacheBuilder {
    redis_url: Option<String>,
    cluster: bool,
    pool_size: usize,
    command_timeout: Duration,
    memory_bytes: usize,
    ttl: TtlPolicy,
    lock_ttl: Duration,
    health_interval: Duration,
    namespace: Option<String>,
}

impl std::fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("cluster", &self.cluster)
            .field("pool_size", &self.pool_size)
            .field("command_timeout", &self.command_timeout)
            .field("memory_bytes", &self.memory_bytes)
            .field("ttl", &self.ttl)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// A Redis URL with its password replaced by `<redacted>`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.split_once('@') {
        Some((auth, host)) => {
            let user = auth.split_once(':').map_or(auth, |(u, _)| u);
            if auth.contains(':') {
                format!("{scheme}://{user}:<redacted>@{host}")
            } else {
                format!("{scheme}://<redacted>@{host}")
            }
        }
        None => url.to_owned(),
    }
}

impl CacheBuilder {
    /// Use Redis at `url` (`redis://[user:password@]host:port/db`, `rediss://` for TLS,
    /// `redis-cluster://host:port?node=host:port` for a cluster).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }

    /// Use Redis at `host:port`, database `db` (`REDIS_HOST`, `REDIS_PORT`, `REDIS_DB`).
    pub fn redis_host(self, host: &str, port: u16, db: u8) -> Self {
        self.redis_url(format!("redis://{host}:{port}/{db}"))
    }

    /// Treat the Redis address as a Redis Cluster node (fred's clustered mode).
    pub fn cluster(mut self, on: bool) -> Self {
        self.cluster = on;
        self
    }

    /// Connections in fred's pool (default 4).
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// Longest any Redis command may take (default 300 ms).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = d;
        self
    }

    /// Bound of the memory tier in bytes (`CACHE_MEMORY_MB`, default 512 MiB).
    pub fn memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// TTLs by class.
    pub fn ttl(mut self, policy: TtlPolicy) -> Self {
        self.ttl = policy;
        self
    }

    /// How long a loader holds the fleet-wide lock at most (default 30 s).
    pub fn lock_ttl(mut self, d: Duration) -> Self {
        self.lock_ttl = d;
        self
    }

    /// How often a down Redis is probed (default 500 ms).
    pub fn health_interval(mut self, d: Duration) -> Self {
        self.health_interval = d;
        self
    }

    /// Keeps this cache's Redis entries apart from the default ones: keys become
    /// `pgh200:{namespace}:v…` instead of `pgh200:v…`. For data that must never be mistaken for
    /// the real API's (the simulator behind `demo`, benchmarks). Lower-case letters, digits and `-`.
    ///
    /// # Panics
    /// On any other character or an empty name (a programming error, not input).
    pub fn namespace(mut self, ns: &str) -> Self {
        assert!(
            !ns.is_empty() && ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "cache namespace {ns:?}: use lower-case letters, digits and -"
        );
        self.namespace = Some(ns.to_owned());
        self
    }

    /// Connects (in the background: a Redis that is down now is used once it answers) and starts
    /// the health check. Without a Redis address the cache is memory-only.
    ///
    /// # Errors
    /// [`Error::Config`] for an address fred cannot parse (the password is never shown).
    pub async fn build(self) -> Result<Cache, Error> {
        let redis = match &self.redis_url {
            None => None,
            Some(url) => {
                let bad =
                    |e: fred::error::Error| Error::Config { address: redact_url(url), reason: e.details().to_string() };
                let config = if self.cluster {
                    fred::prelude::Config::from_url_clustered(url)
                } else {
                    fred::prelude::Config::from_url(url)
                }
                .map_err(bad)?;
                Some(RedisTier::connect(config, self.pool_size, self.command_timeout).await.map_err(bad)?)
            }
        };
        let inner = Arc::new(Inner {
            redis,
            memory: Mutex::new(MemoryTier::new(self.memory_bytes)),
            flights: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            token_seq: AtomicU64::new(0),
            owner: {
                let nanos =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
                format!("{:x}.{nanos:x}", std::process::id())
            },
            cfg: self,
        });
        if inner.redis.is_some() {
            tokio::spawn(health_loop(Arc::downgrade(&inner), inner.cfg.health_interval));
        }
        Ok(Cache { inner })
    }
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

/// The cache. Cheap to clone (shared tiers and counters).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Option<RedisTier>,
    memory: Mutex<MemoryTier>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    counters: Counters,
    token_seq: AtomicU64,
    /// Prefix of this cache's lock tokens (process and creation time): a lock carrying it that no
    /// task of ours is loading is a leftover of ours.
    owner: String,
    cfg: CacheBuilder,
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

impl Cache {
    /// Settings: memory-only, 512 MiB, 300 ms command timeout, design.md's TTLs.
    pub fn builder() -> CacheBuilder {
        CacheBuilder {
            redis_url: None,
            cluster: false,
            pool_size: 4,
            command_timeout: Duration::from_millis(300),
            memory_bytes: 512 << 20,
            ttl: TtlPolicy::default(),
            lock_ttl: Duration::from_secs(30),
            health_interval: Duration::from_millis(500),
            namespace: None,
        }
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
        let c = &self.inner.counters;
        let (bytes, entries) = {
            let m = self.inner.memory.lock().expect("memory lock");
            (m.bytes() as u64, m.len() as u64)
        };
        CacheStats {
            memory_hits: c.memory_hits.load(Relaxed),
            redis_hits: c.redis_hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            loads: c.loads.load(Relaxed),
            errors: c.errors.load(Relaxed),
            fallbacks: c.fallbacks.load(Relaxed),
            corrupt: c.corrupt.load(Relaxed),
            lock_waits: c.lock_waits.load(Relaxed),
            stale_locks: c.stale_locks.load(Relaxed),
            bytes_read: c.bytes_read.load(Relaxed),
            bytes_written: c.bytes_written.load(Relaxed),
            memory_bytes: bytes,
            memory_entries: entries,
        }
    }

    /// The Redis tier if it is usable now; counts a fallback when it is configured but down.
    fn redis(&self) -> Option<&RedisTier> {
        let r = self.inner.redis.as_ref()?;
        if r.is_up() {
            Some(r)
        } else {
            self.inner.counters.fallbacks.fetch_add(1, Relaxed);
            None
        }
    }

    fn redis_failed(&self, r: &RedisTier, e: &fred::error::Error, what: &str) {
        self.inner.counters.errors.fetch_add(1, Relaxed);
        r.note_error(e);
        tracing::debug!(error = %e, op = what, "redis command failed");
    }

    /// The key as stored in Redis (with the namespace, if any).
    fn redis_key<'k>(&self, key: &'k CacheKey) -> std::borrow::Cow<'k, str> {
        match &self.inner.cfg.namespace {
            None => key.as_str().into(),
            Some(ns) => format!("pgh200:{ns}:{}", &key.as_str()["pgh200:".len()..]).into(),
        }
    }

    fn memory_get<T: CacheValue>(&self, key: &CacheKey) -> Option<Entry<T>> {
        let hit =
            self.inner.memory.lock().expect("memory lock").get(key.as_str(), kind_tag(T::KIND), Instant::now())?;
        self.inner.counters.memory_hits.fetch_add(1, Relaxed);
        Some(Entry { archive: hit, tier: Tier::Memory, _t: PhantomData })
    }

    fn memory_put(&self, key: &CacheKey, kind: u32, archive: Arc<AlignedVec>, ttl: Duration) {
        self.inner.memory.lock().expect("memory lock").put(key.as_str(), kind, archive, Instant::now() + ttl);
    }

    async fn redis_get<T: CacheValue>(&self, key: &CacheKey) -> Option<Entry<T>> {
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
        match decode::<T>(&bytes) {
            Ok(archive) => {
                self.inner.counters.redis_hits.fetch_add(1, Relaxed);
                let archive = Arc::new(archive);
                // The memory tier keeps it for as long as Redis would (bounded by the live TTL
                // if unknown): entries never outlive their class.
                self.memory_put(key, kind_tag(T::KIND), archive.clone(), self.inner.cfg.ttl.live);
                Some(Entry { archive, tier: Tier::Redis, _t: PhantomData })
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

    /// Looks `key` up in memory, then Redis. A corrupt value is deleted and reported as a miss.
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

    /// Stores `value` in both tiers with the TTL of `class`. Redis failures are counted, never raised.
    pub async fn put<T: CacheValue>(&self, key: &CacheKey, value: &T, class: TtlClass) -> Entry<T> {
        let ttl = self.inner.cfg.ttl.ttl(class);
        // Serialise once; the header and checksum are only built when Redis will take the value.
        let archive = Arc::new(envelope::archive(value));
        self.memory_put(key, kind_tag(T::KIND), archive.clone(), ttl);
        if let Some(r) = self.redis() {
            let encoded = envelope::wrap::<T>(&archive);
            let n = encoded.len() as u64;
            match r.set(&self.redis_key(key), Bytes::from(encoded), ttl).await {
                Ok(()) => {
                    self.inner.counters.bytes_written.fetch_add(n, Relaxed);
                }
                Err(e) => self.redis_failed(r, &e, "set"),
            }
        }
        Entry { archive, tier: Tier::Loaded, _t: PhantomData }
    }

    /// Removes `key` from both tiers.
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
        let flight = {
            let mut f = self.inner.flights.lock().expect("flights lock");
            f.entry(key.as_str().to_owned()).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
        };
        let _leader = flight.lock().await;
        // Someone who held the flight before us may have filled it.
        if let Some(e) = self.memory_get::<T>(key) {
            return Ok(e);
        }
        let result = self.load_once(key, class, load).await;
        self.inner.flights.lock().expect("flights lock").remove(key.as_str());
        result
    }

    async fn load_once<T, E, F, Fut>(&self, key: &CacheKey, class: TtlClass, load: F) -> Result<Entry<T>, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let lock_key = format!("{}:lock", self.redis_key(key));
        // Unique per holder: this cache's owner prefix and a per-cache sequence.
        let token = format!("{}-{}", self.inner.owner, self.inner.token_seq.fetch_add(1, Relaxed));
        let give_up_at = Instant::now() + self.inner.cfg.lock_ttl;
        let mut held = false;
        // A lock command that timed out may still have run on the server: then we hold the lock
        // without knowing it, and release it at the end (compare-and-delete: harmless if not).
        let mut maybe_held = false;
        let mut took_over = false;
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
                    // Once per load: should the removal fail, waiting is the fallback.
                    if !took_over
                        && let Ok(Some(holder)) = r.lock_holder(&lock_key).await
                        && holder.strip_prefix(self.inner.owner.as_str()).is_some_and(|t| t.starts_with('-'))
                    {
                        took_over = true;
                        self.inner.counters.stale_locks.fetch_add(1, Relaxed);
                        self.release(&lock_key, &holder).await;
                        continue;
                    }
                    self.inner.counters.lock_waits.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if let Some(e) = self.redis_get::<T>(key).await {
                        return Ok(e);
                    }
                    if Instant::now() >= give_up_at {
                        break; // the holder is stuck: load ourselves rather than fail
                    }
                }
                Err(e) => {
                    maybe_held = e.kind() == &fred::error::ErrorKind::Timeout;
                    self.redis_failed(r, &e, "lock");
                    break;
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

    /// The prefix of this cache's lock tokens (for tests that plant a leftover lock).
    #[doc(hidden)]
    pub fn lock_owner(&self) -> &str {
        &self.inner.owner
    }

    async fn release(&self, lock_key: &str, token: &str) {
        if let Some(r) = self.redis()
            && let Err(e) = r.unlock(lock_key, token).await
        {
            self.redis_failed(r, &e, "unlock");
        }
    }

    /// Whether Redis holds `key` now (for tests and tools; `false` when Redis is down).
    pub async fn redis_contains(&self, key: &CacheKey) -> bool {
        match self.redis() {
            Some(r) => r.exists(&self.redis_key(key)).await.unwrap_or(false),
            None => false,
        }
    }

    /// Closes the Redis connections.
    pub async fn shutdown(&self) {
        if let Some(r) = &self.inner.redis {
            r.quit().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact_url("redis://user:pa55@host:6379/0"), "redis://user:<redacted>@host:6379/0");
        assert_eq!(redact_url("rediss://:pa55@host:6380"), "rediss://:<redacted>@host:6380");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
    }
}
