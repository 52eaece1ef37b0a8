//! The flat-file CSV decoder on any bytes: it never panics, cutting the stream in two changes
//! nothing, and what it accepts is a consistent batch of ascending series.
#![no_main]
use libfuzzer_sys::fuzz_target;
use polygon_model::{FlatFileDecoder, decode_flat_file};

fuzz_target!(|data: &[u8]| {
    let whole = decode_flat_file(data);
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut d = FlatFileDecoder::new();
    let split = match d.feed(&data[..cut]).and_then(|()| d.feed(&data[cut..])) {
        Ok(()) => d.finish(),
        Err(e) => Err(e),
    };
    match (&whole, &split) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.bars.t, b.bars.t);
            assert_eq!(a.bars.offsets(), b.bars.offsets());
            assert_eq!(a.rows, b.rows);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("chunking changed the outcome"),
    }
    if let Ok(day) = whole {
        day.bars.check().expect("a consistent batch");
        for s in day.bars.iter_series() {
            assert!(s.t.windows(2).all(|w| w[0] < w[1]), "ascending, no duplicates");
        }
    }
});
