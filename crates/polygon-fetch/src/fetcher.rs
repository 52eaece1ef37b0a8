//! `Fetcher`: the transport, the cache, the settings and the counters behind one cheap handle;
//! its progress counters and the pool of streamed batches given back for reuse.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use polygon_cache::Cache;
use polygon_model::{BarColumns, Ticker};
use polygon_transport::Transport;
use tokio::sync::Semaphore;

use crate::{FetchConfig, FetchError, FlatFiles, Source};

/// Counters for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Tickers finished with data.
    pub tickers_done: u64,
    /// Tickers finished with an error.
    pub tickers_failed: u64,
    /// Bars delivered.
    pub bars: u64,
    /// Chunks served from the cache (memory or Redis).
    pub cache_hits: u64,
    /// Chunks loaded from the API.
    pub chunks_loaded: u64,
    /// Pages requested from the API.
    pub pages: u64,
    /// Body bytes received (decoded).
    pub bytes: u64,
    /// Flat files downloaded and decoded (a file read in two passes counts twice).
    pub files: u64,
    /// Passes over a unit's flat files (one per group of tickers that fit the memory budget).
    pub file_passes: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) tickers_done: AtomicU64,
    pub(crate) tickers_failed: AtomicU64,
    pub(crate) bars: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) chunks_loaded: AtomicU64,
    pub(crate) pages: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) files: AtomicU64,
    pub(crate) file_passes: AtomicU64,
}

/// Plans, fetches, validates and caches aggregates; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    pub(crate) inner: Arc<Inner>,
    /// Whether aggregates are asked for split-adjusted (the API's default) or as traded.
    pub(crate) adjusted: bool,
    /// Which source may serve aggregates.
    pub(crate) source: Source,
    /// Whether chunks without VWAP (from flat files) are refused.
    pub(crate) require_vwap: bool,
    /// Massive's flat files, when configured.
    pub(crate) files: Option<Arc<FlatFiles>>,
}

pub(crate) struct Inner {
    pub(crate) transport: Transport,
    pub(crate) cache: Cache,
    pub(crate) cfg: FetchConfig,
    /// `max_workers` permits: pages decoded at once.
    pub(crate) workers: Semaphore,
    pub(crate) counters: Counters,
    /// Streamed batches given back by [`Fetcher::recycle`], emptied, for the next chunks.
    spare: std::sync::Mutex<Vec<BarColumns>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.inner.cfg)
            .field("adjusted", &self.adjusted)
            .field("source", &self.source)
            .field("require_vwap", &self.require_vwap)
            .field("flat_files", &self.files.is_some())
            .field("progress", &self.progress())
            .finish()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Fetcher {
    /// A fetcher over one transport and one cache.
    pub fn new(transport: Transport, cache: Cache, cfg: FetchConfig) -> Self {
        let workers = Semaphore::new(cfg.max_workers.max(1));
        Fetcher {
            inner: Arc::new(Inner {
                transport,
                cache,
                cfg,
                workers,
                counters: Counters::default(),
                spare: std::sync::Mutex::default(),
            }),
            adjusted: true,
            source: Source::Auto,
            require_vwap: false,
            files: None,
        }
    }

    /// This fetcher with Massive's flat files as a source of minute and day bars (see
    /// [`Source`]); every handle made from it afterwards shares them.
    #[must_use]
    pub fn with_flat_files(mut self, files: FlatFiles) -> Fetcher {
        self.files = Some(Arc::new(files));
        self
    }

    /// The flat files, when configured.
    pub fn flat_files(&self) -> Option<&FlatFiles> {
        self.files.as_deref()
    }

    /// A handle on the same fetcher whose aggregates come from `source` ([`Source::Auto`] by
    /// default: flat files where configured, published and cheaper, REST otherwise).
    #[must_use]
    pub fn with_source(&self, source: Source) -> Fetcher {
        Fetcher { source, ..self.clone() }
    }

    /// The source this handle asks.
    pub fn source(&self) -> Source {
        self.source
    }

    /// A handle on the same fetcher that refuses bars without VWAP (`true`): flat files, which
    /// carry none, then serve nothing, and chunks cached from them are not used.
    #[must_use]
    pub fn with_require_vwap(&self, require: bool) -> Fetcher {
        Fetcher { require_vwap: require, ..self.clone() }
    }

    /// Whether this handle refuses bars without VWAP.
    pub fn require_vwap(&self) -> bool {
        self.require_vwap
    }

    /// A handle on the same fetcher (transport, cache, workers, counters) whose aggregates are
    /// split-adjusted (`true`, the API's default) or as traded (`false`). The two are cached
    /// apart: the cache key holds `adjusted`.
    #[must_use]
    pub fn with_adjusted(&self, adjusted: bool) -> Fetcher {
        Fetcher { adjusted, ..self.clone() }
    }

    /// Whether this handle's aggregates are split-adjusted.
    pub fn adjusted(&self) -> bool {
        self.adjusted
    }

    /// The counters now.
    pub fn progress(&self) -> Progress {
        let c = &self.inner.counters;
        Progress {
            tickers_done: c.tickers_done.load(Relaxed),
            tickers_failed: c.tickers_failed.load(Relaxed),
            bars: c.bars.load(Relaxed),
            cache_hits: c.cache_hits.load(Relaxed),
            chunks_loaded: c.chunks_loaded.load(Relaxed),
            pages: c.pages.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            files: c.files.load(Relaxed),
            file_passes: c.file_passes.load(Relaxed),
        }
    }

    /// The settings.
    pub fn config(&self) -> &FetchConfig {
        &self.inner.cfg
    }

    /// The transport (for its stats).
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The cache (for its stats).
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.cfg.now_ms.unwrap_or_else(now_ms)
    }

    /// Counts a ticker done (with its bars) or failed, and logs a failure.
    pub(crate) fn count_ticker(&self, t: &Ticker, r: Result<usize, &FetchError>) {
        match r {
            Ok(bars) => {
                self.inner.counters.tickers_done.fetch_add(1, Relaxed);
                self.inner.counters.bars.fetch_add(bars as u64, Relaxed);
            }
            Err(e) => {
                self.inner.counters.tickers_failed.fetch_add(1, Relaxed);
                tracing::warn!(ticker = %t, error = %e, "ticker failed");
            }
        }
    }

    /// Gives a streamed chunk's columns back, so that a later chunk of this fetcher's streams
    /// is decoded into memory that is already mapped: a fresh 100 MB batch costs the kernel more
    /// in zeroed pages than decoding it from the cache costs us. Optional; a batch dropped
    /// instead is simply freed. At most `queue_size + 1` batches are kept.
    pub fn recycle(&self, mut columns: BarColumns) {
        columns.clear();
        let mut spare = self.inner.spare.lock().expect("spare lock");
        if spare.len() <= self.inner.cfg.queue_size {
            spare.push(columns);
        }
    }

    pub(crate) fn spare_columns(&self) -> BarColumns {
        self.inner.spare.lock().expect("spare lock").pop().unwrap_or_default()
    }
}
