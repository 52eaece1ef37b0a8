//! The JSON decoder on any bytes: never panics; what it accepts is a consistent batch.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = polygon_model::decode_aggregates(data) {
        let b = &page.bars;
        assert_eq!(b.o.len(), b.t.len());
        assert_eq!(b.vw.len(), b.t.len());
        assert_eq!(b.n.len(), b.t.len());
        for i in 0..b.len() {
            let _ = b.bar(i).expect("every row readable");
        }
    }
});
