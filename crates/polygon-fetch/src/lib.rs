//! Fetching whole batches of tickers from Polygon: planned into cacheable chunks, paginated with
//! loop detection, validated, single-flighted through the cache, parallel up to `MAX_WORKERS`,
//! and streamed in chunks of `BATCH_SIZE` tickers. No ticker is ever dropped silently: every one
//! comes back with its columns or with an error that names it and says why.
//!
//! ```no_run
//! # async fn demo(t: polygon_transport::Transport, c: polygon_cache::Cache) {
//! use polygon_fetch::{Fetcher, FetchConfig};
//! use polygon_model::{Multiplier, Timespan};
//! let f = Fetcher::new(t, c, FetchConfig::default());
//! let tickers = ["AAPL".parse().unwrap(), "MSFT".parse().unwrap()];
//! for (ticker, result) in f
//!     .get_aggregates_batch(&tickers, Multiplier::ONE, Timespan::Minute, "2024-06-03".parse().unwrap(), "2024-06-28".parse().unwrap())
//!     .await
//! {
//!     match result {
//!         Ok(cols) => println!("{ticker}: {} bars", cols.len()),
//!         Err(e) => println!("{ticker}: failed: {e}"),
//!     }
//! }
//! # }
//! ```

mod plan;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use polygon_cache::{Cache, CacheKey, Tier, TtlClass, TtlPolicy};
use polygon_model::{
    BarColumns, Date, DecodeError, GroupedDailyRequest, GroupedDailyResponse, Multiplier, PackedBars, PrevCloseRequest,
    PrevCloseResponse, QuotesResponse, Sort, TickKind, Ticker, TickersRequest, TickersResponse, TicksRequest, Timespan,
    TradesResponse, decode_aggregates_into,
};
use polygon_transport::{Transport, path_of_next_url};
use tokio::sync::{Semaphore, mpsc};

pub use plan::{Chunk, Unit, plan, unit_for};

/// Why one ticker's (or one request's) data could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The HTTP request failed (after the transport's retries).
    #[error("{ticker}: {source}")]
    Transport {
        /// The ticker (or endpoint) concerned.
        ticker: String,
        /// The transport's error.
        #[source]
        source: polygon_transport::Error,
    },
    /// A page's JSON was not an aggregates response.
    #[error("{ticker}: {source}")]
    Decode {
        /// The ticker concerned.
        ticker: String,
        /// Where and what.
        #[source]
        source: DecodeError,
    },
    /// A body that is valid JSON but not of the expected shape (other endpoints).
    #[error("{ticker}: unexpected response: {reason}")]
    Shape {
        /// The ticker or endpoint.
        ticker: String,
        /// What was wrong.
        reason: String,
    },
    /// The data broke an invariant (a bar outside its range, low above open, negative volume, …).
    #[error("{ticker}: invalid data from the server: {reason}")]
    Invalid {
        /// The ticker concerned.
        ticker: String,
        /// Which check failed, with the bar.
        reason: String,
    },
    /// `next_url` repeated, or there were more pages than any real range has.
    #[error("{ticker}: pagination stopped: {reason}")]
    Pagination {
        /// The ticker concerned.
        ticker: String,
        /// What happened.
        reason: String,
    },
    /// The arguments were wrong (`to` before `from`, …).
    #[error(transparent)]
    BadArgument(#[from] polygon_model::Error),
    /// Fetching was cancelled (the stream was dropped or the fetcher shut down).
    #[error("{ticker}: cancelled")]
    Cancelled {
        /// The ticker concerned.
        ticker: String,
    },
}

impl FetchError {
    /// The transport error inside, when that is what failed.
    pub fn transport(&self) -> Option<&polygon_transport::Error> {
        match self {
            FetchError::Transport { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Settings (design.md's `MAX_WORKERS`, `BATCH_SIZE`, `QUEUE_SIZE`).
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Chunks fetched at once (default 10).
    pub max_workers: usize,
    /// Tickers per streamed chunk (default 256).
    pub batch_size: usize,
    /// Streamed chunks buffered ahead of the consumer (default 100).
    pub queue_size: usize,
    /// Most pages followed for one chunk before giving up as a runaway (default 1,000).
    pub max_pages: usize,
    /// The clock for TTL classes, Unix ms (default: the system clock).
    pub now_ms: Option<i64>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig { max_workers: 10, batch_size: 256, queue_size: 100, max_pages: 1_000, now_ms: None }
    }
}

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
}

#[derive(Default)]
struct Counters {
    tickers_done: AtomicU64,
    tickers_failed: AtomicU64,
    bars: AtomicU64,
    cache_hits: AtomicU64,
    chunks_loaded: AtomicU64,
    pages: AtomicU64,
    bytes: AtomicU64,
}

/// One streamed chunk: the columns of the tickers that succeeded, and every one that did not.
#[derive(Debug)]
pub struct BatchChunk {
    /// Columns, one series per successful ticker, in request order.
    pub columns: BarColumns,
    /// The tickers of this chunk that failed, with why.
    pub failures: Vec<(Ticker, FetchError)>,
}

/// Plans, fetches, validates and caches aggregates; cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    cache: Cache,
    cfg: FetchConfig,
    workers: Semaphore,
    counters: Counters,
    /// Streamed batches given back by [`Fetcher::recycle`], emptied, for the next chunks.
    spare: std::sync::Mutex<Vec<BarColumns>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("config", &self.inner.cfg).field("progress", &self.progress()).finish()
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
        }
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
        }
    }

    /// The transport (for its stats).
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The cache (for its stats).
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    fn now(&self) -> i64 {
        self.inner.cfg.now_ms.unwrap_or_else(now_ms)
    }

    /// One chunk: from the cache, or fetched (every page, validated) and stored whole, packed
    /// (exact decimal deltas: about a sixth of the bytes in Redis and in the memory tier).
    async fn chunk(&self, chunk: &Chunk) -> Result<polygon_cache::Entry<PackedBars>, FetchError> {
        let key = CacheKey::aggregates(&chunk.request);
        let class = TtlPolicy::classify_range(chunk.end_ms, self.now());
        let entry = self
            .inner
            .cache
            .get_or_load(&key, class, || async {
                let _permit = self.inner.workers.acquire().await.expect("never closed");
                self.inner.counters.chunks_loaded.fetch_add(1, Relaxed);
                self.fetch_pages(chunk).await.map(|cols| PackedBars::pack(&cols))
            })
            .await?;
        if entry.tier() != Tier::Loaded {
            self.inner.counters.cache_hits.fetch_add(1, Relaxed);
        }
        Ok(entry)
    }

    /// Follows `next_url` to the end, decoding each page into one series; checks every page.
    async fn fetch_pages(&self, chunk: &Chunk) -> Result<BarColumns, FetchError> {
        let r = &chunk.request;
        let ticker = r.ticker.to_string();
        let mut cols = BarColumns::new();
        cols.begin_series(r.ticker.clone());
        let mut path = r.path_and_query();
        let mut seen = HashSet::new();
        for _ in 0..self.inner.cfg.max_pages {
            if !seen.insert(path.clone()) {
                return Err(FetchError::Pagination { ticker, reason: format!("next_url repeated ({path})") });
            }
            let resp = self
                .inner
                .transport
                .get(&path)
                .await
                .map_err(|source| FetchError::Transport { ticker: ticker.clone(), source })?;
            self.inner.counters.pages.fetch_add(1, Relaxed);
            self.inner.counters.bytes.fetch_add(resp.body.len() as u64, Relaxed);
            let before = cols.len();
            let meta = decode_aggregates_into(&resp.body, &mut cols)
                .map_err(|source| FetchError::Decode { ticker: ticker.clone(), source })?;
            if let Some(t) = meta.ticker.as_deref()
                && t != r.ticker.as_str()
            {
                return Err(FetchError::Invalid { ticker, reason: format!("page is for {t}") });
            }
            check_page(&cols, before, chunk, r.timespan)
                .map_err(|reason| FetchError::Invalid { ticker: ticker.clone(), reason })?;
            match meta.next_url {
                None => return sort_dedup(cols).map_err(|reason| FetchError::Invalid { ticker, reason }),
                Some(next) => {
                    path = path_of_next_url(&next)
                        .map_err(|source| FetchError::Transport { ticker: ticker.clone(), source })?;
                }
            }
        }
        Err(FetchError::Pagination { ticker, reason: format!("more than {} pages", self.inner.cfg.max_pages) })
    }

    /// A ticker's cached chunks over `from..=to`, fetched concurrently (the worker semaphore bounds
    /// the load), in time order. A JoinSet aborts what is still running if this future is dropped.
    async fn ticker_entries(
        &self,
        ticker: &Ticker,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<Vec<polygon_cache::Entry<PackedBars>>, FetchError> {
        if to < from {
            return Err(polygon_model::AggregatesRequest::new(
                ticker.clone(),
                multiplier,
                timespan,
                from.into(),
                to.into(),
            )
            .expect_err("to < from")
            .into());
        }
        let chunks = plan(ticker, multiplier, timespan, from, to);
        let n = chunks.len();
        let mut set = tokio::task::JoinSet::new();
        for (i, c) in chunks.into_iter().enumerate() {
            let me = self.clone();
            set.spawn(async move { (i, me.chunk(&c).await) });
        }
        let mut entries: Vec<Option<polygon_cache::Entry<PackedBars>>> = vec![None; n];
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|_| FetchError::Cancelled { ticker: ticker.to_string() })?;
            entries[i] = Some(r?);
        }
        Ok(entries.into_iter().flatten().collect())
    }

    /// One ticker's bars over `from..=to` (New York dates), ascending or as `sort` asks.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn get_aggregates_sorted(
        &self,
        ticker: &Ticker,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
        sort: Sort,
    ) -> Result<BarColumns, FetchError> {
        let entries = self.ticker_entries(ticker, multiplier, timespan, from, to).await?;
        let mut out = BarColumns::new();
        out.begin_series(ticker.clone());
        append_entries(&mut out, &entries, multiplier, timespan, from, to);
        if sort == Sort::Desc {
            out = reversed(&out);
        }
        Ok(out)
    }

    /// One ticker's bars over `from..=to` (New York dates), ascending.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn get_aggregates(
        &self,
        ticker: &Ticker,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<BarColumns, FetchError> {
        self.get_aggregates_sorted(ticker, multiplier, timespan, from, to, Sort::Asc).await
    }

    /// Every ticker's bars, or its error: one entry per distinct ticker, in first-seen order
    /// (a ticker listed twice is fetched once). Parallel up to `max_workers` chunks at a time.
    pub async fn get_aggregates_batch(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Vec<(Ticker, Result<BarColumns, FetchError>)> {
        let mut out = Vec::new();
        for (t, r) in self.batch_entries(tickers, multiplier, timespan, from, to).await {
            let r = r.map(|entries| {
                let mut cols = BarColumns::new();
                cols.begin_series(t.clone());
                append_entries(&mut cols, &entries, multiplier, timespan, from, to);
                cols
            });
            self.count_ticker(&t, r.as_ref().map(BarColumns::len));
            out.push((t, r));
        }
        out
    }

    /// Each distinct ticker's cached chunks, or its error, in first-seen order (a ticker listed
    /// twice is fetched once).
    async fn batch_entries(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Vec<(Ticker, Result<Vec<polygon_cache::Entry<PackedBars>>, FetchError>)> {
        let unique = distinct(tickers);
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in unique.iter().enumerate() {
            let me = self.clone();
            let t = t.clone();
            set.spawn(async move { (i, me.ticker_entries(&t, multiplier, timespan, from, to).await) });
        }
        let mut results: Vec<Option<Result<_, FetchError>>> = (0..unique.len()).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        unique
            .into_iter()
            .zip(results)
            .map(|(t, r)| {
                let r = r.unwrap_or_else(|| Err(FetchError::Cancelled { ticker: t.to_string() }));
                (t, r)
            })
            .collect()
    }

    /// Counts a ticker done (with its bars) or failed, and logs a failure.
    fn count_ticker(&self, t: &Ticker, r: Result<usize, &FetchError>) {
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

    /// Streams the batch in chunks of `batch_size` tickers through a channel holding at most
    /// `queue_size` chunks, so processing overlaps fetching and memory stays bounded. The next
    /// two groups of tickers are fetched while a group is decoded and waits for room in the
    /// queue, so the workers do not idle at each group's end.
    ///
    /// # Cancel safety
    /// Dropping the receiver stops the producer before its next chunk; fetches in flight,
    /// the groups fetched ahead included, are aborted, and since a chunk is stored in the cache
    /// only once all of its pages arrived and passed their checks, nothing partial is ever stored.
    pub fn stream_aggregates(
        &self,
        tickers: Vec<Ticker>,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> mpsc::Receiver<BatchChunk> {
        let (tx, rx) = mpsc::channel(self.inner.cfg.queue_size.max(1));
        let me = self.clone();
        tokio::spawn(async move {
            let size = me.inner.cfg.batch_size.max(1);
            let start = |group: Vec<Ticker>| {
                let me = me.clone();
                let g = group.clone();
                let task = tokio::spawn(async move { me.batch_entries(&g, multiplier, timespan, from, to).await });
                (group, AbortOnDrop(task))
            };
            let mut groups = tickers.chunks(size).map(<[Ticker]>::to_vec);
            // Besides the group being delivered, the next AHEAD groups are in flight, so the
            // workers always have tickers queued when a group's last requests finish.
            const AHEAD: usize = 2;
            let mut inflight: std::collections::VecDeque<_> = groups.by_ref().take(AHEAD).map(start).collect();
            while let Some((group, mut current)) = inflight.pop_front() {
                // Stop as soon as nobody listens, even mid-group.
                let results = tokio::select! {
                    r = &mut current.0 => r.unwrap_or_else(|_| {
                        // The group's task died (a panic): every one of its tickers is reported.
                        distinct(&group)
                            .into_iter()
                            .map(|t| {
                                let e = FetchError::Cancelled { ticker: t.to_string() };
                                (t, Err(e))
                            })
                            .collect()
                    }),
                    _ = tx.closed() => return,
                };
                // Keep AHEAD groups in flight while this one is decoded and waits for room in the
                // queue (a bound, so memory stays bounded). Returning drops (aborts) them.
                inflight.extend(groups.next().map(start));
                // Every ticker's chunks decoded straight into the one batch: no per-ticker copy.
                let rows = results.iter().filter_map(|(_, r)| r.as_ref().ok()).flatten().map(|e| e.archived().len());
                let mut columns = me.spare_columns();
                columns.reserve(rows.sum());
                let mut failures = Vec::new();
                for (t, r) in results {
                    match r {
                        Ok(entries) => {
                            columns.begin_series(t.clone());
                            let n = append_entries(&mut columns, &entries, multiplier, timespan, from, to);
                            me.count_ticker(&t, Ok(n));
                        }
                        Err(e) => {
                            me.count_ticker(&t, Err(&e));
                            failures.push((t, e));
                        }
                    }
                }
                if tx.send(BatchChunk { columns, failures }).await.is_err() {
                    return;
                }
            }
        });
        rx
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

    fn spare_columns(&self) -> BarColumns {
        self.inner.spare.lock().expect("spare lock").pop().unwrap_or_default()
    }

    async fn cached_json<T>(&self, key: CacheKey, class: TtlClass, path: String, what: &str) -> Result<T, FetchError>
    where
        T: polygon_cache::CacheValue + serde::de::DeserializeOwned,
    {
        let e = self.inner.cache.get_or_load(&key, class, || self.get_json::<T>(&path, what)).await?;
        Ok(e.to_value())
    }

    /// The whole market's daily bars for one day.
    ///
    /// # Errors
    /// A [`FetchError`] (named `grouped <date>`).
    pub async fn grouped_daily(&self, date: Date) -> Result<GroupedDailyResponse, FetchError> {
        let r = GroupedDailyRequest::new(date);
        let class = TtlPolicy::classify_range(date.add_days(1).ny_unix_ms(0) - 1, self.now());
        self.cached_json(CacheKey::grouped(&r), class, r.path_and_query(), &format!("grouped {date}")).await
    }

    /// The previous trading day's bar of a ticker.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn previous_close(&self, ticker: &Ticker) -> Result<PrevCloseResponse, FetchError> {
        let r = PrevCloseRequest::new(ticker.clone());
        let today = polygon_model::ny_date_minute(self.now()).map(|(d, _)| d)?;
        self.cached_json(CacheKey::prev(&r, today), TtlClass::Live, r.path_and_query(), ticker.as_str()).await
    }

    /// All trades (or quotes) of a ticker on one New York day, every cursor followed.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn ticks(&self, kind: TickKind, ticker: &Ticker, date: Date) -> Result<TicksPage, FetchError> {
        let r = TicksRequest::day(kind, ticker.clone(), date);
        let class = TtlPolicy::classify_range(date.add_days(1).ny_unix_ms(0) - 1, self.now());
        let (key, path, name) = (CacheKey::ticks(&r), r.path_and_query(), ticker.to_string());
        Ok(match kind {
            TickKind::Trades => TicksPage::Trades(self.all_pages(&key, class, path, &name).await?),
            TickKind::Quotes => TicksPage::Quotes(self.all_pages(&key, class, path, &name).await?),
        })
    }

    /// The ticker universe (reference tickers, every page).
    ///
    /// # Errors
    /// A [`FetchError`] (named `tickers`).
    pub async fn tickers(&self) -> Result<TickersResponse, FetchError> {
        let r = TickersRequest::default();
        self.all_pages(&CacheKey::tickers(&r), TtlClass::Reference, r.path_and_query(), "tickers").await
    }

    /// Every page of a cursor-paginated endpoint merged into one response, through the cache.
    async fn all_pages<T>(&self, key: &CacheKey, class: TtlClass, path: String, name: &str) -> Result<T, FetchError>
    where
        T: Paged + polygon_cache::CacheValue + serde::de::DeserializeOwned,
    {
        let e = self
            .inner
            .cache
            .get_or_load(key, class, || async {
                let mut pages = self.follow::<T>(path, name, T::take_next).await?.into_iter();
                let mut first = pages.next().expect("follow returns at least one page");
                pages.for_each(|p| first.absorb(p));
                Ok::<_, FetchError>(first)
            })
            .await?;
        Ok(e.to_value())
    }

    /// One page of JSON, as `T`, under a worker permit.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, name: &str) -> Result<T, FetchError> {
        let _permit = self.inner.workers.acquire().await.expect("never closed");
        let resp = self
            .inner
            .transport
            .get(path)
            .await
            .map_err(|source| FetchError::Transport { ticker: name.into(), source })?;
        self.inner.counters.pages.fetch_add(1, Relaxed);
        serde_json::from_slice(&resp.body).map_err(|e| FetchError::Shape { ticker: name.into(), reason: e.to_string() })
    }

    /// Every page of a cursor-paginated endpoint, with loop and runaway detection.
    async fn follow<T: serde::de::DeserializeOwned>(
        &self,
        first: String,
        name: &str,
        mut next: impl FnMut(&mut T) -> Option<String>,
    ) -> Result<Vec<T>, FetchError> {
        let mut pages = Vec::new();
        let mut path = first;
        let mut seen = HashSet::new();
        for _ in 0..self.inner.cfg.max_pages {
            if !seen.insert(path.clone()) {
                return Err(FetchError::Pagination {
                    ticker: name.into(),
                    reason: format!("next_url repeated ({path})"),
                });
            }
            let mut page: T = self.get_json(&path, name).await?;
            let n = next(&mut page);
            pages.push(page);
            match n {
                None => return Ok(pages),
                Some(url) => {
                    path = path_of_next_url(&url)
                        .map_err(|source| FetchError::Transport { ticker: name.into(), source })?
                }
            }
        }
        Err(FetchError::Pagination {
            ticker: name.into(),
            reason: format!("more than {} pages", self.inner.cfg.max_pages),
        })
    }
}

/// A page of a cursor-paginated endpoint: its cursor can be taken, and later pages appended.
trait Paged {
    /// Removes and returns `next_url`.
    fn take_next(&mut self) -> Option<String>;
    /// Appends a later page's results.
    fn absorb(&mut self, later: Self);
}

macro_rules! paged {
    ($($t:ty),*) => {$(
        impl Paged for $t {
            fn take_next(&mut self) -> Option<String> {
                self.next_url.take()
            }
            fn absorb(&mut self, later: Self) {
                self.results.extend(later.results);
            }
        }
    )*};
}
paged!(TradesResponse, QuotesResponse);

impl Paged for TickersResponse {
    fn take_next(&mut self) -> Option<String> {
        self.next_url.take()
    }
    fn absorb(&mut self, later: Self) {
        self.results.extend(later.results);
        self.count = Some(self.results.len() as u64);
    }
}

/// Trades or quotes of one day.
#[derive(Debug, Clone, PartialEq)]
pub enum TicksPage {
    /// `/v3/trades`.
    Trades(TradesResponse),
    /// `/v3/quotes`.
    Quotes(QuotesResponse),
}

/// Checks the rows `from..` of the last series: inside the chunk's range (for bars that start in
/// it), finite, `low <= open, close <= high`, `volume >= 0`.
fn check_page(cols: &BarColumns, from: usize, chunk: &Chunk, timespan: Timespan) -> Result<(), String> {
    let starts_in_range = matches!(timespan, Timespan::Second | Timespan::Minute | Timespan::Hour | Timespan::Day);
    for i in from..cols.len() {
        let b = cols.bar(i).expect("row exists");
        let bad = |what: &str| format!("bar at t={} {what} (o={} h={} l={} c={} v={})", b.t, b.o, b.h, b.l, b.c, b.v);
        if starts_in_range && !(chunk.start_ms..=chunk.end_ms).contains(&b.t) {
            return Err(bad("is outside the requested range"));
        }
        if ![b.o, b.h, b.l, b.c, b.v].iter().all(|x| x.is_finite()) {
            return Err(bad("has a non-finite value"));
        }
        if !(b.l <= b.o.min(b.c) && b.o.max(b.c) <= b.h) {
            return Err(bad("breaks low <= open, close <= high"));
        }
        if b.v < 0.0 {
            return Err(bad("has negative volume"));
        }
    }
    Ok(())
}

/// Sorts the single series by `t` and drops exact duplicates; a conflicting duplicate is an error.
fn sort_dedup(cols: BarColumns) -> Result<BarColumns, String> {
    if cols.t.windows(2).all(|w| w[0] < w[1]) {
        return Ok(cols);
    }
    let mut idx: Vec<usize> = (0..cols.len()).collect();
    idx.sort_by_key(|&i| cols.t[i]);
    let mut out = BarColumns::with_capacity(1, cols.len());
    out.begin_series(cols.tickers[0].clone());
    let mut last: Option<usize> = None;
    for i in idx {
        if let Some(j) = last
            && cols.t[j] == cols.t[i]
        {
            if cols.bar(j) != cols.bar(i) {
                return Err(format!("two different bars at t={}", cols.t[i]));
            }
            continue;
        }
        out.push_row(cols.t[i], cols.o[i], cols.h[i], cols.l[i], cols.c[i], cols.v[i], cols.vw[i], cols.n[i]);
        last = Some(i);
    }
    Ok(out)
}

/// `tickers` without repeats, in first-seen order.
fn distinct(tickers: &[Ticker]) -> Vec<Ticker> {
    let mut seen = HashSet::new();
    tickers.iter().filter(|t| seen.insert((*t).clone())).cloned().collect()
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Appends a ticker's chunks, in order, to the current series of `out`: whole-range requests are
/// exactly the user's range, unit chunks are cut to it. Returns the rows appended.
fn append_entries(
    out: &mut BarColumns,
    entries: &[polygon_cache::Entry<PackedBars>],
    multiplier: Multiplier,
    timespan: Timespan,
    from: Date,
    to: Date,
) -> usize {
    let (lo, hi) = if unit_for(timespan, multiplier) == Unit::Whole {
        (i64::MIN, i64::MAX)
    } else {
        (from.ny_unix_ms(0), to.add_days(1).ny_unix_ms(0) - 1)
    };
    entries.iter().map(|e| e.archived().append_rows_to(out, lo, hi)).sum()
}

fn reversed(cols: &BarColumns) -> BarColumns {
    let mut out = BarColumns::with_capacity(1, cols.len());
    out.begin_series(cols.tickers[0].clone());
    for i in (0..cols.len()).rev() {
        out.push_row(cols.t[i], cols.o[i], cols.h[i], cols.l[i], cols.c[i], cols.v[i], cols.vw[i], cols.n[i]);
    }
    out
}
