//! A two-tier cache for Polygon data: a bounded in-memory tier in front of Redis (through fred),
//! values stored as validated rkyv archives, TTLs by data type, single flight within a process and
//! across a fleet, and a Redis that may die, stall or vanish without stalling a fetch.
//!
//! - [`CacheKey`]: `pgh200:v2:{endpoint}:{hash}` over the canonical request (no key, no cursor).
//! - [`Cache::get`] / [`Cache::put`] / [`Cache::get_or_load`]: typed by [`CacheValue`]; reads hand
//!   back an [`Entry`] whose archive is read in place ([`Entry::archived`]) or deserialised.
//! - Values: a 32-byte header (magic, schema, kind, CRC-32, length) then the archive; a value that
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
mod entry;
mod envelope;
mod error;
mod flight;
mod key;
mod memory;
mod redis;
mod stats;
mod ttl;
mod value;

pub use builder::CacheBuilder;
pub use cache::{Cache, RedisStatus};
pub use entry::{Entry, Tier};
pub use envelope::{Corrupt, HEADER_LEN, MAGIC, SCHEMA_VERSION, decode, encode};
pub use error::{Error, redact_url};
pub use key::{CacheKey, fnv1a_128};
pub use stats::CacheStats;
pub use ttl::{TtlClass, TtlPolicy, last_closed_ms};
pub use value::CacheValue;
