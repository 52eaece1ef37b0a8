//! The builder's defaults (design.md's), stated once: [`Cache::builder`](crate::Cache::builder)
//! starts from them and the facade's `Config` reads them.

use std::time::Duration;

/// Bound of the memory tier, MiB (`CACHE_MEMORY_MB`).
pub const MEMORY_MIB: usize = 512;
/// Bound of the memory tier, bytes.
pub const MEMORY_BYTES: usize = MEMORY_MIB << 20;
/// Longest any Redis command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(300);
/// Connections in fred's pool.
pub const POOL_SIZE: usize = 4;
/// Longest a loader holds the fleet-wide lock.
pub const LOCK_TTL: Duration = Duration::from_secs(30);
/// How often a down Redis is probed.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
/// Bound of the disk tier, MiB (`CACHE_DISK_MB`).
pub const DISK_MIB: u64 = 10_240;
