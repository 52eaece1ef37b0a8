//! `CacheValue`: what the cache can hold (rkyv-archivable, validatable, `'static`, with a `KIND`),
//! and its impls for polygon-model's types.

use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Portable, Serialize};

/// A value the cache can hold: rkyv-archivable, validated, with a kind name that tells apart
/// archives of different types stored under one key.
///
/// A safe trait: no impl, however wrong, lets safe code read one type's bytes as another's. The
/// memory tier tells values apart by [`TypeId`](std::any::TypeId) (hence `'static`), and every
/// archive passes `rkyv::access` as `Self` before it is read in place: once when it is stored
/// (an impl whose archive fails its own validation panics there) and again whenever it is read
/// from Redis. [`KIND`](Self::KIND) only makes another type's value in Redis a cheap miss; two
/// types sharing one cost misses, or at worst a value read from Redis as whatever of the other's
/// bytes pass validation as this type, never undefined behaviour. Keep kinds unique.
pub trait CacheValue:
    'static
    + Archive<
        Archived: Portable
                      + for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
                      + Deserialize<Self, HighDeserializer<rancor::Error>>,
    >
    + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>
    + Sized
{
    /// A stable name of the type (`"bar_columns"`), unique among cached types; its hash goes in
    /// the header of the value in Redis.
    const KIND: &'static str;

    /// Invariants byte validation cannot see (for `BarColumns`: offsets and column lengths agree),
    /// checked on every value read back from Redis; a value that fails them is corrupt.
    ///
    /// # Errors
    /// What is inconsistent.
    fn check(_archived: &Self::Archived) -> Result<(), String> {
        Ok(())
    }
}

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
impl CacheValue for polygon_model::SplitsResponse {
    const KIND: &'static str = "splits_response";
}
