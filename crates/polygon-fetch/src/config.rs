//! `FetchConfig`: design.md's `MAX_WORKERS`, `BATCH_SIZE` and `QUEUE_SIZE`, with their defaults
//! written once (the facade's `Config` reads them from here).

/// Chunks decoded, checked and packed at once (`MAX_WORKERS`): the bound on the fetcher's CPU work.
pub const DEFAULT_MAX_WORKERS: usize = 10;
/// Tickers per streamed chunk (`BATCH_SIZE`).
pub const DEFAULT_BATCH_SIZE: usize = 256;
/// Streamed chunks buffered ahead of the consumer (`QUEUE_SIZE`).
pub const DEFAULT_QUEUE_SIZE: usize = 100;
/// Most pages followed for one request before giving up as a runaway.
pub const DEFAULT_MAX_PAGES: usize = 1_000;
/// Bytes of packed bars a flat-file pass may hold before it splits its tickers (1 GiB).
pub const DEFAULT_FLAT_FILE_MEMORY: usize = 1 << 30;

/// Settings of a [`crate::Fetcher`].
///
/// What bounds what: requests in flight are the transport's (`MAX_CONNECTIONS`, a semaphore in
/// `polygon-transport`); the fetcher starts every chunk of a batch (or of the groups a stream has in
/// flight) at once and lets the transport queue them. `max_workers` bounds the CPU work: how many
/// pages are being decoded, checked and packed at the same time.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Pages decoded at once (default [`DEFAULT_MAX_WORKERS`]).
    pub max_workers: usize,
    /// Tickers per streamed chunk (default [`DEFAULT_BATCH_SIZE`]).
    pub batch_size: usize,
    /// Streamed chunks buffered ahead of the consumer (default [`DEFAULT_QUEUE_SIZE`]).
    pub queue_size: usize,
    /// Most pages followed for one request before giving up as a runaway (default 1,000).
    pub max_pages: usize,
    /// The clock for TTL classes, Unix ms (default: the system clock).
    pub now_ms: Option<i64>,
    /// REST requests a second the planner may count on (the transport's rate limit; `None`:
    /// unlimited, so REST is estimated to take no time and wins every tie).
    pub rest_rate_per_sec: Option<f64>,
    /// Bytes of packed bars a flat-file pass may hold (default [`DEFAULT_FLAT_FILE_MEMORY`]):
    /// past it, the tickers are split and the files read once more for the second half.
    pub flat_file_memory_bytes: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_workers: DEFAULT_MAX_WORKERS,
            batch_size: DEFAULT_BATCH_SIZE,
            queue_size: DEFAULT_QUEUE_SIZE,
            max_pages: DEFAULT_MAX_PAGES,
            now_ms: None,
            rest_rate_per_sec: Some(100.0),
            flat_file_memory_bytes: DEFAULT_FLAT_FILE_MEMORY,
        }
    }
}
