//! The value format in Redis and in the disk tier's files: a 32-byte header (magic, schema, kind,
//! checksum, length, expiry) then an rkyv archive. Reading validates; nothing is trusted.

use rkyv::rancor;
use rkyv::util::AlignedVec;

use crate::entry::Validated;
use crate::value::CacheValue;

/// Magic bytes at the start of every value.
pub const MAGIC: [u8; 4] = *b"PG2C";
/// Version of the value layout and of the archived types; bumped when either changes (3: the
/// header's last 8 bytes are the expiry, covered by the checksum with the archive).
pub const SCHEMA_VERSION: u16 = 3;
/// Header length; the archive that follows starts 16-byte aligned in the value.
pub const HEADER_LEN: usize = 32;

/// Why bytes under a key were not a usable value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corrupt {
    /// Shorter than the header, or the magic is wrong.
    #[error("not a polygon-cache value (bad magic or too short)")]
    NotOurs,
    /// Written by another schema version.
    #[error("schema version {found}, expected {SCHEMA_VERSION}")]
    Schema {
        /// The version found.
        found: u16,
    },
    /// Holds another type.
    #[error("holds another kind of value")]
    WrongKind,
    /// The length field disagrees with the bytes.
    #[error("length field says {declared} bytes, value has {actual}")]
    Length {
        /// Declared payload length.
        declared: u64,
        /// Actual payload length.
        actual: usize,
    },
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// The archive failed rkyv's validation.
    #[error("archive failed validation: {0}")]
    Invalid(String),
}

pub(crate) fn kind_tag(kind: &str) -> u32 {
    kind.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

/// Serialises `value` into a header plus archive (no expiry recorded).
pub fn encode<T: CacheValue>(value: &T) -> Vec<u8> {
    wrap::<T>(&archive(value), 0)
}

/// The rkyv archive of `value`, aligned, without a header (validated into what the memory tier holds).
pub(crate) fn archive<T: CacheValue>(value: &T) -> AlignedVec {
    rkyv::to_bytes::<rancor::Error>(value).expect("serialising into memory cannot fail")
}

/// A header for a `T` archive, then the archive: the value stored in Redis and on disk.
/// `expires_ms` (Unix ms; 0 when unknown) travels with the value, so a tier that copies it from
/// another keeps it no longer than its class allows.
pub(crate) fn wrap<T: CacheValue>(archive: &[u8], expires_ms: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + archive.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&kind_tag(T::KIND).to_le_bytes());
    out.extend_from_slice(&checksum(expires_ms, archive).to_le_bytes());
    out.extend_from_slice(&(archive.len() as u64).to_le_bytes());
    out.extend_from_slice(&expires_ms.to_le_bytes());
    out.extend_from_slice(archive);
    out
}

/// Checks the header and the archive of `bytes` as a `T`, returning the validated archive in an
/// aligned buffer (for tools and fuzzing; the cache itself reads through [`crate::Entry`]).
///
/// # Errors
/// [`Corrupt`] naming what failed: magic, schema, kind, length, checksum or validation.
pub fn decode<T: CacheValue>(bytes: &[u8]) -> Result<AlignedVec, Corrupt> {
    open::<T>(bytes).map(|(v, _)| v.into_bytes())
}

/// [`decode`], keeping the proof that the archive is a valid `T`, and the expiry the header
/// records (Unix ms, 0 when unknown): what a tier of bytes (Redis) hands the cache. The kind hash
/// is only a fast mismatch test; rkyv's validation decides.
pub(crate) fn open<T: CacheValue>(bytes: &[u8]) -> Result<(Validated<T>, i64), Corrupt> {
    let expires = check_header::<T>(bytes)?;
    let payload = &bytes[HEADER_LEN..];
    let mut aligned = AlignedVec::<16>::with_capacity(payload.len());
    aligned.extend_from_slice(payload);
    let valid = Validated::<T>::new(aligned).map_err(|e| Corrupt::Invalid(e.to_string()))?;
    T::check(valid.archived()).map_err(Corrupt::Invalid)?;
    Ok((valid, expires))
}

/// [`open`] of a whole value already in an aligned buffer (a disk tier's file), validated where it
/// lies: the archive starts at [`HEADER_LEN`], 16-byte aligned, and is not copied again.
pub(crate) fn open_in_place<T: CacheValue>(buf: AlignedVec) -> Result<(Validated<T>, i64), Corrupt> {
    let expires = check_header::<T>(&buf)?;
    let valid = Validated::<T>::at(buf, HEADER_LEN).map_err(|e| Corrupt::Invalid(e.to_string()))?;
    T::check(valid.archived()).map_err(Corrupt::Invalid)?;
    Ok((valid, expires))
}

/// Checks a value's header (magic, schema, kind, length, checksum) as a `T`; its expiry.
fn check_header<T: CacheValue>(bytes: &[u8]) -> Result<i64, Corrupt> {
    if bytes.len() < HEADER_LEN || bytes[..4] != MAGIC {
        return Err(Corrupt::NotOurs);
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let version = u16_at(4);
    if version != SCHEMA_VERSION {
        return Err(Corrupt::Schema { found: version });
    }
    if u32_at(8) != kind_tag(T::KIND) {
        return Err(Corrupt::WrongKind);
    }
    let declared = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if declared != payload.len() as u64 {
        return Err(Corrupt::Length { declared, actual: payload.len() });
    }
    let expires = i64::from_le_bytes(bytes[24..32].try_into().expect("8 bytes"));
    if checksum(expires, payload) != u32_at(12) {
        return Err(Corrupt::Checksum);
    }
    Ok(expires)
}

/// CRC-32 of the expiry and the archive: a flipped bit in either is caught.
fn checksum(expires_ms: i64, archive: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&expires_ms.to_le_bytes());
    h.update(archive);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polygon_model::{Bar, BarColumns};

    fn cols() -> BarColumns {
        let mut c = BarColumns::new();
        c.begin_series("AAPL".parse().unwrap());
        for t in 0..100 {
            c.push(&Bar { v: 10.0, vw: Some(1.5), o: 1.0, c: 2.0, h: 2.5, l: 0.5, t, n: Some(3), otc: None });
        }
        c
    }

    #[test]
    fn an_archive_whose_columns_disagree_is_corrupt() {
        let mut c = cols();
        c.t.push(0); // one more timestamp than every other column: valid bytes, inconsistent batch
        let err = decode::<BarColumns>(&encode(&c)).unwrap_err();
        assert!(matches!(&err, Corrupt::Invalid(why) if why.contains("column o")), "{err}");
        assert!(decode::<BarColumns>(&encode(&cols())).is_ok());
    }

    #[test]
    fn round_trip_and_every_corruption_is_named() {
        let bytes = encode(&cols());
        let aligned = decode::<BarColumns>(&bytes).unwrap();
        let back: BarColumns = rkyv::from_bytes::<BarColumns, rancor::Error>(&aligned).unwrap();
        assert_eq!(back.t, cols().t);

        assert_eq!(decode::<BarColumns>(&bytes[..10]).unwrap_err(), Corrupt::NotOurs);
        let mut b = bytes.clone();
        b[4] = 9;
        assert_eq!(decode::<BarColumns>(&b).unwrap_err(), Corrupt::Schema { found: 9 });
        assert_eq!(decode::<polygon_model::TradesResponse>(&bytes).unwrap_err(), Corrupt::WrongKind);
        let mut b = bytes.clone();
        b.truncate(b.len() - 7);
        assert!(matches!(decode::<BarColumns>(&b).unwrap_err(), Corrupt::Length { .. }));
        let mut b = bytes.clone();
        let last = b.len() - 1;
        b[last] ^= 0x40;
        assert_eq!(decode::<BarColumns>(&b).unwrap_err(), Corrupt::Checksum);
    }

    #[test]
    fn a_right_checksum_over_a_bad_archive_fails_validation() {
        // Forge a header around garbage, checksum and all: validation must still refuse it.
        let garbage = vec![0xFFu8; 64];
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&kind_tag(BarColumns::KIND).to_le_bytes());
        b.extend_from_slice(&checksum(0, &garbage).to_le_bytes());
        b.extend_from_slice(&(garbage.len() as u64).to_le_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b.extend_from_slice(&garbage);
        assert!(matches!(decode::<BarColumns>(&b).unwrap_err(), Corrupt::Invalid(_)));
    }
}
