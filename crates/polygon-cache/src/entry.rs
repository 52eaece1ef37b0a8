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
    /// The embedded disk tier.
    Disk,
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
    /// Where the archive starts in `bytes` (a multiple of 16: 0, or a value's header length when
    /// a whole file was read into the buffer).
    start: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: CacheValue> Validated<T> {
    /// Validates `bytes` as a `T` archive (bounds, alignment, pointers, every field's bytes).
    ///
    /// # Errors
    /// rkyv's account of what is invalid.
    pub(crate) fn new(bytes: AlignedVec) -> Result<Self, rancor::Error> {
        Self::at(bytes, 0)
    }

    /// Validates `bytes[start..]` as a `T` archive, keeping the whole buffer (no copy).
    ///
    /// # Errors
    /// rkyv's account of what is invalid.
    ///
    /// # Panics
    /// If `start` is past the end or not a multiple of 16 (the archive's alignment).
    pub(crate) fn at(bytes: AlignedVec, start: usize) -> Result<Self, rancor::Error> {
        assert!(start <= bytes.len() && start.is_multiple_of(16), "an archive starts 16-byte aligned");
        rkyv::access::<T::Archived, rancor::Error>(&bytes[start..])?;
        Ok(Validated { bytes, start, _t: PhantomData })
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
        // SAFETY: `self.bytes[self.start..]` passed `rkyv::access::<T::Archived>` in `at`, the only
        // constructor, and has not changed since: no `&mut` to it is ever handed out, and `start`
        // is fixed. The check covered the root at `root_position` of this very slice (the
        // position `access_unchecked` reads) and alignment at this very address: moving an
        // `AlignedVec` moves its handle, not its heap buffer.
        unsafe { rkyv::access_unchecked::<T::Archived>(&self.bytes[self.start..]) }
    }

    /// The archive's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// The archive in a buffer of its own (a copy only when it was read in place after a header).
    pub(crate) fn into_bytes(self) -> AlignedVec {
        if self.start == 0 {
            return self.bytes;
        }
        let mut v = AlignedVec::<16>::with_capacity(self.bytes.len() - self.start);
        v.extend_from_slice(&self.bytes[self.start..]);
        v
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
