//! `Entry` (a cached value, read in place) and `Tier` (where it came from), over `Validated`: an
//! archive that passed rkyv's validation as its type, the one fact the crate's `unsafe` relies on.

use std::marker::PhantomData;
use std::sync::Arc;

use rkyv::rancor;
use rkyv::util::AlignedVec;

use crate::envelope;
use crate::value::CacheValue;

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tier {
    /// The in-memory tier.
    Memory,
    /// Redis.
    Redis,
    /// The loader ran (a miss everywhere), or the value was just stored.
    Loaded,
}

/// An archive that passed `rkyv::access` as a `T`. [`Validated::new`] is the only way to make one
/// (the fields are private to this module) and nothing mutates the bytes afterwards, so every
/// `Validated<T>` holds a valid `T::Archived` at rkyv's root position.
pub(crate) struct Validated<T> {
    bytes: AlignedVec,
    _t: PhantomData<fn() -> T>,
}

impl<T: CacheValue> Validated<T> {
    /// Validates `bytes` as a `T` archive (bounds, alignment, pointers, every field's bytes).
    ///
    /// # Errors
    /// rkyv's account of what is invalid.
    pub(crate) fn new(bytes: AlignedVec) -> Result<Self, rancor::Error> {
        rkyv::access::<T::Archived, rancor::Error>(&bytes)?;
        Ok(Validated { bytes, _t: PhantomData })
    }

    /// Serialises `value` and validates what came out: the archive the cache stores.
    ///
    /// # Panics
    /// If `T`'s rkyv impls produce an archive that fails its own validation (a hand-written
    /// `Archive` impl that lies). That is a bug in `T`; reading such an archive in place would be
    /// undefined behaviour.
    pub(crate) fn of(value: &T) -> Self {
        Self::new(envelope::archive(value)).unwrap_or_else(|e| {
            panic!("the archive of a {:?} value fails its own validation ({e}): its rkyv impls are broken", T::KIND)
        })
    }

    /// The archived value, in place.
    pub(crate) fn archived(&self) -> &T::Archived {
        // SAFETY: `self.bytes` passed `rkyv::access::<T::Archived>` in `new`, the only constructor,
        // and has not changed since: no `&mut` to it is ever handed out. The check covered the
        // root at `root_position` (the position `access_unchecked` reads) and alignment at this
        // very address: moving an `AlignedVec` moves its handle, not its heap buffer.
        unsafe { rkyv::access_unchecked::<T::Archived>(&self.bytes) }
    }

    /// The archive's bytes.
    pub(crate) fn bytes(&self) -> &AlignedVec {
        &self.bytes
    }

    pub(crate) fn into_bytes(self) -> AlignedVec {
        self.bytes
    }
}

/// A cached value: its validated archive, readable in place.
pub struct Entry<T: CacheValue> {
    archive: Arc<Validated<T>>,
    tier: Tier,
}

impl<T: CacheValue> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry { archive: self.archive.clone(), tier: self.tier }
    }
}

impl<T: CacheValue> std::fmt::Debug for Entry<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("kind", &T::KIND)
            .field("tier", &self.tier)
            .field("bytes", &self.archive_len())
            .finish()
    }
}

impl<T: CacheValue> Entry<T> {
    pub(crate) fn new(archive: Arc<Validated<T>>, tier: Tier) -> Self {
        Entry { archive, tier }
    }

    /// The archived value, in place: no copy, no deserialisation.
    pub fn archived(&self) -> &T::Archived {
        self.archive.archived()
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
        self.archive.bytes().len()
    }
}
