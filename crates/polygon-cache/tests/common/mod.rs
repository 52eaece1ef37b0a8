//! Polling for the cache's tests: `eventually`, for what the cache's background tasks bring about
//! (a health probe seeing Redis back). The redis-server harness is `polygon-test-support`'s.

#![allow(dead_code)] // each test binary uses a subset

use std::time::{Duration, Instant};

/// Polls `f` until it holds or `secs` pass, yielding to the runtime in between.
pub async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    f()
}
