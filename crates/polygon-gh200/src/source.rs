//! `PolygonDataSource`: transport, cache, fetcher and indicator backend, built from one [`Config`].

use std::sync::{Arc, Mutex, OnceLock};

use polygon_cache::{Cache, RedisStatus};
use polygon_fetch::{BatchChunk, FetchError, Fetcher, Progress, Source, SourcePlan};
use polygon_gpu::{Backend, Capacity, Indicators};
use polygon_model::{BarColumns, Date, Multiplier, Ticker, Timespan};
use polygon_transport::Transport;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::{Config, ConfigError};

/// Why the data source (or one ticker of a batch) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built (a bad base URL or CA certificate).
    #[error("transport: {0}")]
    Transport(#[from] polygon_transport::Error),
    /// The cache could not be built (a Redis address that cannot be parsed).
    #[error("cache: {0}")]
    Cache(#[from] polygon_cache::Error),
    /// Fetching one ticker failed; the error names it and says why.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The indicator backend is unavailable or failed.
    #[error("indicators: {0}")]
    Gpu(#[from] polygon_gpu::Error),
    /// A ticker as given is not a valid symbol.
    #[error("ticker {input:?} is invalid: {reason}")]
    Ticker {
        /// The input.
        input: String,
        /// Why.
        reason: String,
    },
    /// The data source was shut down.
    #[error("the data source is shut down")]
    ShutDown,
}

/// One streamed chunk after processing: the bars of up to `BATCH_SIZE` tickers, their
/// indicators (row-aligned), and every ticker of the chunk that failed, with why. Give it back
/// with [`PolygonDataSource::recycle`] when done, so later chunks reuse its memory.
#[derive(Debug)]
pub struct ProcessedChunk {
    /// The bars, one series per successful ticker, in request order.
    pub bars: BarColumns,
    /// The indicators of `bars`, computed on the configured backend.
    pub indicators: Result<Indicators, polygon_gpu::Error>,
    /// The tickers of this chunk that failed.
    pub failures: Vec<(Ticker, FetchError)>,
    /// Seconds the backend spent on this chunk (its share of the bars, when chunks were
    /// computed together).
    pub compute_secs: f64,
}

/// Chunks handed to the backend at once when several are ready: a backend that overlaps one
/// chunk's transfers with another's computation (CUDA, double-buffered) needs two.
const OVERLAP: usize = 2;

/// The whole pipeline behind one handle; cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), polygon_gh200::Error> {
/// use polygon_gh200::PolygonDataSource;
/// use polygon_gh200::model::{Date, Timespan};
/// let source = PolygonDataSource::from_env().await?;
/// let from: Date = "2024-01-02".parse().unwrap();
/// let to: Date = "2024-01-31".parse().unwrap();
/// for (ticker, result) in source.get_aggregates_batch(&["AAPL", "MSFT", "GOOGL"], Timespan::Minute, from, to).await {
///     match result {
///         Ok(bars) => println!("{ticker}: {} bars", bars.len()),
///         Err(e) => eprintln!("{ticker}: {e}"),
///     }
/// }
/// source.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PolygonDataSource {
    inner: Arc<Inner>,
    /// The shared fetcher, as this handle asks it (split-adjusted or as traded).
    fetcher: Fetcher,
}

struct Inner {
    config: Config,
    /// Built when first needed (a `fetch` never builds one, so `GPU_BACKEND` cannot stand in its way).
    backend: OnceLock<Arc<dyn Backend>>,
    building: Mutex<()>,
    /// Indicator columns given back with streamed chunks, for the next chunks.
    spare: Mutex<Vec<Indicators>>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl std::fmt::Debug for PolygonDataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolygonDataSource")
            .field("config", &self.inner.config)
            .field("backend", &self.inner.backend.get().map(|b| b.name()))
            .finish_non_exhaustive()
    }
}

impl PolygonDataSource {
    /// Built from the environment (and `POLYGON_GH200_CONFIG`'s TOML file, if set).
    ///
    /// # Errors
    /// [`Error::Config`] naming a bad variable, or what [`PolygonDataSource::new`] returns.
    pub async fn from_env() -> Result<Self, Error> {
        Self::new(Config::from_env()?).await
    }

    /// Builds every layer from `config`. A Redis that does not answer is not an error: the memory
    /// tier serves until it does (see [`PolygonDataSource::redis_status`]). The indicator backend
    /// is built when first needed.
    ///
    /// # Errors
    /// [`Error::Transport`] (bad base URL or CA file), [`Error::Cache`] (unparsable Redis URL).
    pub async fn new(config: Config) -> Result<Self, Error> {
        if config.cache_disk && config.cache_dir.is_none() {
            tracing::warn!(
                "no cache directory is known (no HOME or XDG_CACHE_HOME): set CACHE_DIR to keep the cache across runs"
            );
        }
        let cache = config.cache_builder().build().await?;
        // The rate limit is the fleet's, through the cache's Redis, when RATE_LIMIT_SCOPE says so.
        let mut transport = config.transport_builder();
        if let Some(permits) = crate::fleet::permits(&config, &cache).await {
            transport = transport.permit_source(permits);
        }
        Self::with_parts(config, transport.build()?, cache)
    }

    /// Wires given layers (for callers that build their own transport or cache).
    ///
    /// # Errors
    /// None today; fallible so that wiring may validate in future without a breaking change.
    pub fn with_parts(config: Config, transport: Transport, cache: Cache) -> Result<Self, Error> {
        let mut fetcher = Fetcher::new(transport, cache, config.fetch_config());
        if let Some(host) = config.file_host() {
            fetcher = fetcher.with_flat_files(polygon_fetch::FlatFiles::new(host?));
        }
        let inner = Inner {
            config,
            backend: OnceLock::new(),
            building: Mutex::new(()),
            spare: Mutex::default(),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
        };
        Ok(PolygonDataSource { inner: Arc::new(inner), fetcher })
    }

    /// A handle on the same pipeline (transport, cache, backend, shutdown) whose bars are
    /// split-adjusted (`true`: the API's default, and every new handle's) or as traded (`false`).
    /// The two are fetched and cached apart.
    ///
    /// ```no_run
    /// # async fn demo(source: polygon_gh200::PolygonDataSource) {
    /// use polygon_gh200::model::{Date, Multiplier, Timespan};
    /// let (from, to): (Date, Date) = ("2024-06-03".parse().unwrap(), "2024-06-14".parse().unwrap());
    /// let as_traded = source.with_adjusted(false).get_aggregates("NVDA", Multiplier::ONE, Timespan::Day, from, to).await;
    /// # }
    /// ```
    #[must_use]
    pub fn with_adjusted(&self, adjusted: bool) -> PolygonDataSource {
        PolygonDataSource { inner: self.inner.clone(), fetcher: self.fetcher.with_adjusted(adjusted) }
    }

    /// Whether this handle's bars are split-adjusted.
    pub fn adjusted(&self) -> bool {
        self.fetcher.adjusted()
    }

    /// A handle on the same pipeline whose bars come from `source`: [`Source::Auto`] (every new
    /// handle's) picks, per chunk, the cheapest of REST and flat files (when `POLYGON_S3_*` are
    /// set); [`Source::FlatFiles`] makes a refusal of the files an error instead of a switch.
    #[must_use]
    pub fn with_source(&self, source: Source) -> PolygonDataSource {
        PolygonDataSource { inner: self.inner.clone(), fetcher: self.fetcher.with_source(source) }
    }

    /// A handle on the same pipeline that refuses bars without VWAP (`true`), so flat files,
    /// which carry none, serve nothing.
    #[must_use]
    pub fn with_require_vwap(&self, require: bool) -> PolygonDataSource {
        PolygonDataSource { inner: self.inner.clone(), fetcher: self.fetcher.with_require_vwap(require) }
    }

    /// A dry run of a request: what each source would cost, what is cached, and what this
    /// handle would choose (`polygon-gh200 plan`). No REST request is made and no file is
    /// downloaded; the flat files are listed.
    ///
    /// # Errors
    /// [`Error::Ticker`] for a malformed symbol; [`Error::Fetch`] for `to` before `from`, or,
    /// under [`Source::FlatFiles`], the listing's error (credentials, access).
    pub async fn plan<S: AsRef<str>>(
        &self,
        tickers: &[S],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<SourcePlan, Error> {
        self.check_open()?;
        let valid = parse_all(tickers)?;
        Ok(self.fetcher.plan_sources(&valid, multiplier, timespan, from, to).await?)
    }

    /// The settings it was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The fetch layer (plans, pages, batches, the other endpoints, progress counters).
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The cache (stats, `clear`).
    pub fn cache(&self) -> &Cache {
        self.fetcher.cache()
    }

    /// The transport (stats).
    pub fn transport(&self) -> &Transport {
        self.fetcher.transport()
    }

    /// The indicator backend `GPU_BACKEND` asks for, built on first use (`auto` logs which it
    /// chose and why).
    ///
    /// # Errors
    /// [`Error::Gpu`] when the configured backend is unavailable (`cuda` without a device or
    /// without the `cuda` feature); asking again tries again.
    pub fn backend(&self) -> Result<Arc<dyn Backend>, Error> {
        if let Some(b) = self.inner.backend.get() {
            return Ok(b.clone());
        }
        // One builder at a time: two first uses at once must not make two CUDA contexts.
        let _one = self.inner.building.lock().expect("backend lock");
        if let Some(b) = self.inner.backend.get() {
            return Ok(b.clone());
        }
        let c = &self.inner.config;
        let capacity = Capacity { series: c.batch_size, ..Capacity::default() };
        let built = polygon_gpu::select(c.gpu_backend, c.gpu_memory, capacity)?;
        Ok(self.inner.backend.get_or_init(|| built).clone())
    }

    /// The fetch layer's counters (tickers done and failed, bars, cache hits, pages, bytes).
    pub fn progress(&self) -> Progress {
        self.fetcher.progress()
    }

    /// Whether Redis answers now.
    pub fn redis_status(&self) -> RedisStatus {
        self.cache().redis_status()
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.inner.cancel.is_cancelled() { Err(Error::ShutDown) } else { Ok(()) }
    }

    /// One ticker's bars over `from..=to` (New York dates), ascending.
    ///
    /// # Errors
    /// [`Error::Ticker`] for a malformed symbol, [`Error::Fetch`] naming the ticker and the reason.
    pub async fn get_aggregates(
        &self,
        ticker: &str,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<BarColumns, Error> {
        self.check_open()?;
        let t = parse_ticker(ticker)?;
        let fetch = self.fetcher.get_aggregates(&t, multiplier, timespan, from, to);
        tokio::select! {
            r = fetch => Ok(r?),
            () = self.inner.cancel.cancelled() => Err(Error::ShutDown),
        }
    }

    /// The seed's call: every symbol with its bars or its error, one entry per distinct input in
    /// the order given. A malformed symbol is an error in its own entry; it never aborts the rest.
    pub async fn get_aggregates_batch<S: AsRef<str>>(
        &self,
        tickers: &[S],
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Vec<(String, Result<BarColumns, Error>)> {
        self.get_aggregates_batch_with(tickers, Multiplier::ONE, timespan, from, to).await
    }

    /// [`PolygonDataSource::get_aggregates_batch`] with a multiplier (5-minute bars, …).
    pub async fn get_aggregates_batch_with<S: AsRef<str>>(
        &self,
        tickers: &[S],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Vec<(String, Result<BarColumns, Error>)> {
        let inputs = polygon_model::distinct(tickers.iter().map(AsRef::as_ref));
        let parsed: Vec<Result<Ticker, Error>> = inputs.iter().map(|s| parse_ticker(s)).collect();
        let valid: Vec<Ticker> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
        let fetched = if self.check_open().is_err() {
            Vec::new()
        } else {
            let batch = self.fetcher.get_aggregates_batch(&valid, multiplier, timespan, from, to);
            tokio::select! {
                r = batch => r,
                () = self.inner.cancel.cancelled() => Vec::new(),
            }
        };
        let mut fetched: std::collections::HashMap<Ticker, Result<BarColumns, FetchError>> =
            fetched.into_iter().collect();
        inputs
            .into_iter()
            .zip(parsed)
            .map(|(input, p)| {
                let r = p.and_then(|t| fetched.remove(&t).map_or(Err(Error::ShutDown), |r| r.map_err(Error::from)));
                (input.to_owned(), r)
            })
            .collect()
    }

    /// Streams the batch in chunks of `BATCH_SIZE` tickers, each processed on the backend while
    /// the next ones are fetched; at most `QUEUE_SIZE` chunks wait between the stages. A ticker
    /// listed twice is fetched once. Chunks given back with [`PolygonDataSource::recycle`] lend
    /// their memory (bars and indicator columns) to the next ones, so a long stream allocates
    /// and faults in its buffers once; when several chunks are ready they go to the backend
    /// together ([`Backend::compute_all_into`]), which lets CUDA overlap their copies.
    ///
    /// # Cancel safety
    /// Dropping the receiver (or [`PolygonDataSource::shutdown`]) stops fetching before the next
    /// chunk; in-flight requests are abandoned and nothing partial is stored in the cache.
    ///
    /// # Errors
    /// [`Error::Ticker`] for the first malformed symbol, [`Error::Gpu`] when the configured
    /// backend is unavailable (before anything is fetched), [`Error::ShutDown`] after shutdown.
    pub fn stream<S: AsRef<str>>(
        &self,
        tickers: &[S],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<mpsc::Receiver<ProcessedChunk>, Error> {
        self.check_open()?;
        let valid = parse_all(tickers)?;
        let backend = self.backend()?;
        // `QUEUE_SIZE` chunks wait between fetching and processing (the fetcher's queue); the
        // processed ones wait for the caller in a short queue of their own.
        let (tx, rx) = mpsc::channel(OVERLAP);
        let mut fetched = self.fetcher.stream_aggregates(valid, multiplier, timespan, from, to);
        let me = self.clone();
        self.inner.tasks.spawn(async move {
            loop {
                let first = tokio::select! {
                    c = fetched.recv() => match c { Some(c) => c, None => return },
                    () = me.inner.cancel.cancelled() => return,
                    () = tx.closed() => return,
                };
                let mut ready = vec![first];
                while ready.len() < OVERLAP {
                    match fetched.try_recv() {
                        Ok(c) => ready.push(c),
                        Err(_) => break,
                    }
                }
                let outs: Vec<Indicators> = ready.iter().map(|_| me.spare_indicators()).collect();
                let b = backend.clone();
                let computed = tokio::task::spawn_blocking(move || {
                    let mut outs = outs;
                    let start = std::time::Instant::now();
                    let bars: Vec<&BarColumns> = ready.iter().map(|c| &c.columns).collect();
                    let results = compute_each(&*b, &bars, &mut outs);
                    (ready, outs, results, start.elapsed().as_secs_f64())
                })
                .await;
                let Ok((ready, outs, results, secs)) = computed else { return };
                let total = ready.iter().map(|c| c.columns.len()).sum::<usize>().max(1) as f64;
                for ((chunk, out), result) in ready.into_iter().zip(outs).zip(results) {
                    let share = secs * chunk.columns.len() as f64 / total;
                    let indicators = result.map(|()| out);
                    let processed = ProcessedChunk {
                        bars: chunk.columns,
                        indicators,
                        failures: chunk.failures,
                        compute_secs: share,
                    };
                    if tx.send(processed).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Streams the batch's bars in chunks of `BATCH_SIZE` tickers, computing nothing (what
    /// `polygon-gh200 fetch` writes). Give chunks back with [`PolygonDataSource::recycle_bars`].
    ///
    /// # Cancel safety
    /// As [`PolygonDataSource::stream`].
    ///
    /// # Errors
    /// [`Error::Ticker`] for the first malformed symbol, [`Error::ShutDown`] after shutdown.
    pub fn stream_bars<S: AsRef<str>>(
        &self,
        tickers: &[S],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<mpsc::Receiver<BatchChunk>, Error> {
        self.check_open()?;
        let valid = parse_all(tickers)?;
        let (tx, rx) = mpsc::channel(1);
        let mut fetched = self.fetcher.stream_aggregates(valid, multiplier, timespan, from, to);
        let cancel = self.inner.cancel.clone();
        self.inner.tasks.spawn(async move {
            loop {
                let chunk = tokio::select! {
                    c = fetched.recv() => match c { Some(c) => c, None => return },
                    () = cancel.cancelled() => return,
                    () = tx.closed() => return,
                };
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// Gives a streamed chunk back: its bars and indicator columns are reused by the chunks that
    /// follow (optional; a dropped chunk is simply freed). At most `QUEUE_SIZE + 1` are kept.
    pub fn recycle(&self, chunk: ProcessedChunk) {
        self.fetcher.recycle(chunk.bars);
        if let Ok(ind) = chunk.indicators {
            let mut spare = self.inner.spare.lock().expect("spare lock");
            if spare.len() <= self.inner.config.queue_size {
                spare.push(ind);
            }
        }
    }

    /// Gives a bars-only chunk's columns back (see [`PolygonDataSource::recycle`]).
    pub fn recycle_bars(&self, bars: BarColumns) {
        self.fetcher.recycle(bars);
    }

    fn spare_indicators(&self) -> Indicators {
        self.inner.spare.lock().expect("spare lock").pop().unwrap_or_default()
    }

    /// Indicators of `bars` on the configured backend.
    ///
    /// # Errors
    /// [`Error::Gpu`] if the backend is unavailable or fails.
    pub fn compute(&self, bars: &BarColumns) -> Result<Indicators, Error> {
        Ok(self.backend()?.compute(bars)?)
    }

    /// Indicators of `bars` into `out`, reusing its columns' memory (for a loop over chunks).
    ///
    /// # Errors
    /// [`Error::Gpu`] if the backend is unavailable or fails.
    pub fn compute_into(&self, bars: &BarColumns, out: &mut Indicators) -> Result<(), Error> {
        Ok(self.backend()?.compute_into(bars, out)?)
    }

    /// Stops new work, cancels streams and batches in flight (their callers get what completed),
    /// waits for the pipeline's tasks to end, and closes the cache's Redis connections.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        self.cache().shutdown().await;
    }
}

/// Indicators of `bars` into `outs`, together (so a backend may overlap them), and one result per
/// chunk: when the joint call fails, each chunk is computed alone, so one bad chunk fails only its
/// own indicators. A backend that panics fails the chunks it was given; they (and their tickers)
/// still reach the caller.
fn compute_each(b: &dyn Backend, bars: &[&BarColumns], outs: &mut [Indicators]) -> Vec<Result<(), polygon_gpu::Error>> {
    let guarded = |f: &mut dyn FnMut() -> Result<(), polygon_gpu::Error>| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
            Err(polygon_gpu::Error::Failed { backend: b.name(), reason: "the backend panicked".into() })
        })
    };
    let joint = guarded(&mut || b.compute_all_into(bars, outs));
    match joint {
        Ok(()) => bars.iter().map(|_| Ok(())).collect(),
        Err(e) if bars.len() == 1 => vec![Err(e)],
        Err(_) => bars.iter().zip(outs.iter_mut()).map(|(c, o)| guarded(&mut || b.compute_into(c, o))).collect(),
    }
}

/// Every symbol parsed (the first malformed one is the error); repeats are left to the fetcher.
fn parse_all<S: AsRef<str>>(tickers: &[S]) -> Result<Vec<Ticker>, Error> {
    tickers.iter().map(|s| parse_ticker(s.as_ref())).collect()
}

fn parse_ticker(s: &str) -> Result<Ticker, Error> {
    s.parse::<Ticker>().map_err(|e| Error::Ticker { input: s.to_owned(), reason: e.to_string() })
}
