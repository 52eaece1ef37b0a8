//! A tiered cache for Polygon data: a bounded in-memory tier, an embedded disk tier (when asked
//! for: [`CacheBuilder::disk`]) and Redis (through fred), values stored as validated rkyv
//! archives, TTLs by data type, single flight within a process, across a machine's processes (the
//! disk tier's file locks) and across a fleet (Redis), and a Redis that may die, stall or vanish
//! without stalling a fetch.
//!
//! - [`CacheKey`]: `pgh200:v3:{endpoint}:{hash}` over the canonical request (no key, no cursor).
//! - [`Cache::get`] / [`Cache::put`] / [`Cache::get_or_load`]: typed by [`CacheValue`]; reads hand
//!   back an [`Entry`] whose archive is read in place ([`Entry::archived`]) or deserialised.
//! - Scopes: a namespace ([`CacheBuilder::namespace`]) and an upstream ([`CacheBuilder::upstream`])
//!   in every key of every tier, so data from a simulator or a proxy never answers another's request.
//! - Values: a 32-byte header (magic, schema, kind, CRC-32, length, expiry) then the archive, in
//!   Redis and in the disk tier's files alike (written whole, then renamed into place); a value that
//!   fails any check is a miss, is deleted and is counted ([`CacheStats::corrupt`]). Every archive
//!   is validated by rkyv as its type before it is read in place, and the memory tier hands a
//!   value back only as the type it was stored as: no `CacheValue` impl lets safe code read one
//!   type's bytes as another's.
//! - Redis down: every call returns within the command timeout (default 300 ms), served by the
//!   memory tier; a health check brings Redis back into use when it answers again.
//! - [`CacheBuilder`] starts from [`defaults`].
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

mod builder;
mod cache;
pub mod defaults;
mod disk;
mod entry;
mod envelope;
mod error;
mod fleet;
mod flight;
mod key;
mod memory;
mod redis;
mod stats;
mod ttl;
mod value;

pub use builder::{CacheBuilder, check_namespace};
pub use cache::{Cache, Clear, RedisStatus, Tiers};
pub use disk::{TierUsage, default_dir as default_cache_dir};
pub use entry::{Entry, Tier};
pub use envelope::{Corrupt, HEADER_LEN, MAGIC, SCHEMA_VERSION, decode, encode};
pub use error::{Error, redact_url};
pub use fleet::{FleetError, FleetQuota, MEMBER_WINDOW};
pub use key::{CacheKey, fnv1a_128};
pub use stats::CacheStats;
pub use ttl::{TtlClass, TtlPolicy, last_closed_ms};
pub use value::CacheValue;
