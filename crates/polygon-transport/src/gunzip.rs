//! gzip decoding of a whole response body, bounded: nothing larger than the limit is allocated.
//!
//! The body is in hand (HTTP gives its length), so it is decoded in one call by libdeflate into
//! a buffer sized from the gzip trailer, 2.6x faster than flate2's streaming miniz decoder on a
//! minute-bar page. A trailer that claims more than the limit is refused before anything is
//! allocated. Whatever libdeflate declines (several gzip members, a trailer whose size does not
//! fit, corrupt data) goes to flate2's streaming decoder, which decodes concatenated members,
//! names what is wrong with a corrupt body, and stops one byte past the limit: a trailer that
//! lies cannot make it inflate more.

use std::cell::RefCell;
use std::io::Read as _;

use libdeflater::Decompressor;

/// deflate never expands a byte by more than this (its longest match costs about a bit per 258
/// bytes), so a trailer that claims more is not believed.
const MAX_RATIO: usize = 1032;

/// Why a body did not decode.
#[derive(Debug)]
pub(crate) enum GunzipError {
    /// It decodes to more than the limit: `Some(n)` when its trailer says `n` bytes (nothing was
    /// decoded), `None` when decoding stopped at the limit.
    TooLarge(Option<u64>),
    /// Not gzip, corrupt or cut short.
    Invalid(std::io::Error),
}

/// Decodes `wire`, one gzip stream or several concatenated (RFC 1952), into at most `limit` bytes.
pub(crate) fn gunzip(wire: &[u8], limit: u64) -> Result<Vec<u8>, GunzipError> {
    thread_local! {
        static DECOMPRESSOR: RefCell<Decompressor> = RefCell::new(Decompressor::new());
    }
    let limit_len = usize::try_from(limit).unwrap_or(usize::MAX);
    if let Some(trailer) = wire.len().checked_sub(8).filter(|_| wire.len() >= 18).map(|i| &wire[i..]) {
        // CRC-32 and ISIZE (the decoded length modulo 2^32) of the last member.
        let crc = u32::from_le_bytes(trailer[..4].try_into().expect("four bytes"));
        let size = u32::from_le_bytes(trailer[4..].try_into().expect("four bytes")) as usize;
        if size <= wire.len().saturating_mul(MAX_RATIO) {
            if size > limit_len {
                return Err(GunzipError::TooLarge(Some(size as u64)));
            }
            let mut out = vec![0u8; size];
            // libdeflate decodes the first member only and checks it against the trailer that
            // follows it; a CRC equal to the last member's says it was the only one (else a body
            // of members of equal length would lose all but the first).
            if let Ok(n) = DECOMPRESSOR.with_borrow_mut(|d| d.gzip_decompress(wire, &mut out))
                && n == size
                && libdeflater::crc32(&out) == crc
            {
                return Ok(out);
            }
        }
    }
    let mut out = Vec::with_capacity(wire.len().saturating_mul(6).min(limit_len.saturating_add(1)));
    flate2::read::MultiGzDecoder::new(wire)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(GunzipError::Invalid)?;
    if out.len() as u64 > limit {
        return Err(GunzipError::TooLarge(None));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const NO_LIMIT: u64 = u64::MAX;

    fn decode(wire: &[u8]) -> Vec<u8> {
        gunzip(wire, NO_LIMIT).unwrap()
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn page(n: usize) -> Vec<u8> {
        let mut s = String::from(r#"{"results":["#);
        for i in 0..n {
            s += &format!(
                r#"{{"v":{},"o":{}.{:02},"t":{}}},"#,
                i * 7 % 1000,
                100 + i % 50,
                i % 100,
                1_700_000_000_000u64 + i as u64 * 60_000
            );
        }
        s.pop();
        s += "]}";
        s.into_bytes()
    }

    #[test]
    fn decodes_what_gzip_encoded_small_and_large() {
        for n in [0, 1, 10, 5_000] {
            let raw = page(n);
            assert_eq!(decode(&gz(&raw)), raw, "{n} bars");
        }
        assert_eq!(decode(&gz(b"")), b"");
    }

    #[test]
    fn concatenated_members_decode_in_full() {
        let (a, b) = (page(100), page(7));
        let mut wire = gz(&a);
        wire.extend_from_slice(&gz(&b));
        assert_eq!(decode(&wire), [a, b].concat());
        // Members of equal length but different content: the trailer's size fits the first
        // member alone, which libdeflate decodes and checks; the rest must not be dropped.
        let (a, b) = (vec![b'a'; 5_000], vec![b'b'; 5_000]);
        let mut wire = gz(&a);
        wire.extend_from_slice(&gz(&b));
        assert_eq!(decode(&wire), [a, b].concat());
    }

    #[test]
    fn corrupt_truncated_and_lying_bodies_are_errors() {
        let raw = page(500);
        let good = gz(&raw);
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        assert!(gunzip(&flipped, NO_LIMIT).is_err(), "a flipped byte fails the CRC or the stream");
        assert!(gunzip(&good[..good.len() / 2], NO_LIMIT).is_err(), "half a stream");
        assert!(gunzip(b"not gzip at all, just text", NO_LIMIT).is_err());
        // A trailer claiming 4 GiB: not allocated, and the body still decodes to an error
        // (its CRC and size no longer match) rather than to something wrong.
        let mut lying = good.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(gunzip(&lying, NO_LIMIT), Err(GunzipError::Invalid(_))));
    }

    #[test]
    fn the_limit_is_inclusive_and_holds_on_both_paths() {
        let raw = page(2_000);
        let n = raw.len() as u64;
        let one = gz(&raw);
        assert_eq!(gunzip(&one, n).unwrap(), raw, "exactly the limit decodes");
        assert!(matches!(gunzip(&one, n - 1), Err(GunzipError::TooLarge(Some(s))) if s == n), "refused by its trailer");
        // Two members: libdeflate declines, flate2 stops one byte past the limit.
        let mut two = one.clone();
        two.extend_from_slice(&gz(b"x"));
        assert_eq!(gunzip(&two, n + 1).unwrap().len() as u64, n + 1);
        assert!(matches!(gunzip(&two, n), Err(GunzipError::TooLarge(None))));
        // A trailer that understates the size cannot make the streaming decoder go past the limit.
        let mut lying = one.clone();
        let len = lying.len();
        lying[len - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert!(matches!(gunzip(&lying, 100), Err(GunzipError::TooLarge(None))));
    }
}
