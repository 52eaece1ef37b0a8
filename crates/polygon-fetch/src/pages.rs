//! The one pagination loop: follows `next_url` from a first path to the end, for aggregates and the
//! cursor-paginated v3 endpoints alike, with repeat and runaway detection. Each page's body is
//! handed to a callback under a worker permit (the CPU bound), which returns the page's `next_url`.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;

use polygon_transport::path_of_next_url;

use crate::{FetchError, Fetcher};

impl Fetcher {
    /// Requests `first`, then every `next_url` that `on_page` returns, until it returns `None`.
    ///
    /// A `next_url` seen before is a server bug (an error, never a loop), and more than
    /// `max_pages` pages is a runaway. `name` is the ticker or endpoint errors are named after.
    ///
    /// # Errors
    /// The transport's error, `on_page`'s, or [`FetchError::Pagination`].
    pub(crate) async fn follow_pages(
        &self,
        first: String,
        name: &str,
        mut on_page: impl FnMut(&[u8]) -> Result<Option<String>, FetchError>,
    ) -> Result<(), FetchError> {
        let inner = &self.inner;
        let mut path = first;
        let mut seen = HashSet::new();
        for _ in 0..inner.cfg.max_pages {
            if !seen.insert(path.clone()) {
                return Err(FetchError::Pagination {
                    ticker: name.into(),
                    reason: format!("next_url repeated ({path})"),
                });
            }
            let resp = inner
                .transport
                .get(&path)
                .await
                .map_err(|source| FetchError::Transport { ticker: name.into(), source })?;
            inner.counters.pages.fetch_add(1, Relaxed);
            inner.counters.bytes.fetch_add(resp.body.len() as u64, Relaxed);
            let next = {
                let _cpu = inner.workers.acquire().await.expect("never closed");
                on_page(&resp.body)?
            };
            match next {
                None => return Ok(()),
                Some(next) => {
                    path = path_of_next_url(&next)
                        .map_err(|source| FetchError::Transport { ticker: name.into(), source })?;
                }
            }
        }
        Err(FetchError::Pagination { ticker: name.into(), reason: format!("more than {} pages", inner.cfg.max_pages) })
    }
}
