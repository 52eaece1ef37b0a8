//! `CacheStats`, the counters' snapshot, and the atomic counters behind it.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Hits in the memory tier.
    pub memory_hits: u64,
    /// Hits in the disk tier (then copied to memory).
    pub disk_hits: u64,
    /// Hits in Redis (then copied to memory and disk).
    pub redis_hits: u64,
    /// Misses in every tier.
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
    /// Value bytes read from the disk tier.
    pub disk_bytes_read: u64,
    /// Value bytes written to the disk tier.
    pub disk_bytes_written: u64,
    /// Disk tier operations that failed (a full or read-only disk): counted, never raised.
    pub disk_errors: u64,
    /// Bytes held by the memory tier now.
    pub memory_bytes: u64,
    /// Entries in the memory tier now.
    pub memory_entries: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) memory_hits: AtomicU64,
    pub(crate) disk_hits: AtomicU64,
    pub(crate) redis_hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    pub(crate) lock_waits: AtomicU64,
    pub(crate) stale_locks: AtomicU64,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    pub(crate) disk_bytes_read: AtomicU64,
    pub(crate) disk_bytes_written: AtomicU64,
    pub(crate) disk_errors: AtomicU64,
}

impl Counters {
    /// The counters now, with the memory tier's size.
    pub(crate) fn snapshot(&self, memory_bytes: u64, memory_entries: u64) -> CacheStats {
        CacheStats {
            memory_hits: self.memory_hits.load(Relaxed),
            disk_hits: self.disk_hits.load(Relaxed),
            redis_hits: self.redis_hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            loads: self.loads.load(Relaxed),
            errors: self.errors.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
            corrupt: self.corrupt.load(Relaxed),
            lock_waits: self.lock_waits.load(Relaxed),
            stale_locks: self.stale_locks.load(Relaxed),
            bytes_read: self.bytes_read.load(Relaxed),
            bytes_written: self.bytes_written.load(Relaxed),
            disk_bytes_read: self.disk_bytes_read.load(Relaxed),
            disk_bytes_written: self.disk_bytes_written.load(Relaxed),
            disk_errors: self.disk_errors.load(Relaxed),
            memory_bytes,
            memory_entries,
        }
    }
}
