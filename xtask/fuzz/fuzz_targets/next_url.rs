//! `next_url` handling: any string is refused or becomes a path (and query) to request on the
//! configured host, with no `apiKey` parameter left in it (the key travels in a header).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(path) = polygon_transport::path_of_next_url(s) {
        assert!(path.starts_with('/'), "{path}");
        if let Some((_, query)) = path.split_once('?') {
            assert!(!query.split('&').any(|kv| kv.to_ascii_lowercase().starts_with("apikey=")), "{path}");
        }
    }
});
