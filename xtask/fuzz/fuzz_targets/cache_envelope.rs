//! The cache envelope: any bytes as a whole value (header checks), and a real archive with the
//! fuzzer's bytes XORed into it behind a correct header, so that rkyv's validated access and the
//! batch checks are reached, both for plain columns and for the packed (decimal delta) columns
//! the fetcher stores. Never panics; what is accepted reads back whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polygon_cache::{HEADER_LEN, decode, encode};
use polygon_model::{ArchivedPackedBars, Bar, BarColumns, PackedBars};

fn sample() -> BarColumns {
    let mut c = BarColumns::new();
    for (k, name) in ["AAPL", "BRK.B"].iter().enumerate() {
        c.begin_series(name.parse().expect("ticker"));
        for i in 0..(3 + k) {
            let p = 100.0 + i as f64;
            c.push(&Bar { o: p, h: p + 1.0, l: p - 1.0, c: p, v: 10.0, vw: (i % 2 == 0).then_some(p), n: Some(i as u64), t: i as i64 * 60_000, otc: None });
        }
    }
    c
}

/// A valid value of `good` with the fuzzer's bytes XORed into its archive, under a right header.
fn forged(good: &[u8], data: &[u8]) -> Vec<u8> {
    let mut payload = good[HEADER_LEN..].to_vec();
    for (i, b) in data.iter().enumerate() {
        let j = i % payload.len();
        payload[j] ^= b;
    }
    let mut v = good[..HEADER_LEN].to_vec();
    // The checksum covers the expiry (bytes 24..32) and the archive.
    let covered: Vec<u8> = v[24..32].iter().chain(&payload).copied().collect();
    v[12..16].copy_from_slice(&crc32(&covered).to_le_bytes());
    v[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    v.extend_from_slice(&payload);
    v
}

fuzz_target!(|data: &[u8]| {
    let _ = decode::<BarColumns>(data);
    let _ = decode::<PackedBars>(data);
    let v = forged(&encode(&sample()), data);
    if let Ok(archive) = decode::<BarColumns>(&v) {
        let archived = rkyv::access::<polygon_model::ArchivedBarColumns, rkyv::rancor::Error>(&archive).expect("decode validated it");
        let cols: BarColumns = rkyv::deserialize::<BarColumns, rkyv::rancor::Error>(archived).expect("deserialises");
        for s in cols.iter_series() {
            assert_eq!(s.t.len(), s.close.len());
            assert_eq!(s.t.len(), s.n.len());
        }
    }
    let v = forged(&encode(&PackedBars::pack(&sample())), data);
    if let Ok(archive) = decode::<PackedBars>(&v) {
        let archived = rkyv::access::<ArchivedPackedBars, rkyv::rancor::Error>(&archive).expect("decode validated it");
        let cols = archived.unpack();
        assert_eq!(cols.len(), archived.len());
        assert_eq!(cols.len(), cols.n.len());
        assert_eq!(cols.len(), cols.vw.len());
    }
});

/// CRC-32 (IEEE), as the envelope's header uses.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}
