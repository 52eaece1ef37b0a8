//! `PolygonDataSource`: transport, cache, fetcher and indicator backend, built from one [`Config`].

use std::collections::HashSet;
use std::sync::Arc;

use polygon_cache::{Cache, RedisStatus};
use polygon_fetch::{FetchError, Fetcher};
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
/// indicators (row-aligned), and every ticker of the chunk that failed, with why.
#[derive(Debug)]
pub struct ProcessedChunk {
    /// The bars, one series per successful ticker, in request order.
    pub bars: BarColumns,
    /// The indicators of `bars`, computed on the configured backend.
    pub indicators: Result<Indicators, polygon_gpu::Error>,
    /// The tickers of this chunk that failed.
    pub failures: Vec<(Ticker, FetchError)>,
    /// Seconds the backend spent on this chunk.
    pub compute_secs: f64,
}

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
}

struct Inner {
    config: Config,
    fetcher: Fetcher,
    backend: Arc<dyn Backend>,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

impl std::fmt::Debug for PolygonDataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolygonDataSource")
            .field("config", &self.inner.config)
            .field("backend", &self.inner.backend.name())
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
    /// tier serves until it does (see [`PolygonDataSource::redis_status`]).
    ///
    /// # Errors
    /// [`Error::Transport`] (bad base URL or CA file), [`Error::Cache`] (unparsable Redis URL),
    /// [`Error::Gpu`] (`GPU_BACKEND=cuda` where CUDA cannot run).
    pub async fn new(config: Config) -> Result<Self, Error> {
        let transport = config.transport_builder().build()?;
        let cache = config.cache_builder().build().await?;
        Self::with_parts(config, transport, cache)
    }

    /// Wires given layers (for callers that build their own transport or cache).
    ///
    /// # Errors
    /// [`Error::Gpu`] when the configured backend is unavailable.
    pub fn with_parts(config: Config, transport: Transport, cache: Cache) -> Result<Self, Error> {
        let capacity = Capacity { series: config.batch_size, ..Capacity::default() };
        let backend = polygon_gpu::select(config.gpu_backend, config.gpu_memory, capacity)?;
        let fetcher = Fetcher::new(transport, cache, config.fetch_config());
        let inner = Inner { config, fetcher, backend, tasks: TaskTracker::new(), cancel: CancellationToken::new() };
        Ok(PolygonDataSource { inner: Arc::new(inner) })
    }

    /// The settings it was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The fetch layer (plans, pages, batches, the other endpoints, progress counters).
    pub fn fetcher(&self) -> &Fetcher {
        &self.inner.fetcher
    }

    /// The cache (stats, `clear`).
    pub fn cache(&self) -> &Cache {
        self.inner.fetcher.cache()
    }

    /// The transport (stats).
    pub fn transport(&self) -> &Transport {
        self.inner.fetcher.transport()
    }

    /// The indicator backend in use.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
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
        let fetch = self.inner.fetcher.get_aggregates(&t, multiplier, timespan, from, to);
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
        let mut seen = HashSet::new();
        let inputs: Vec<&str> = tickers.iter().map(AsRef::as_ref).filter(|s| seen.insert(*s)).collect();
        let parsed: Vec<Result<Ticker, Error>> = inputs.iter().map(|s| parse_ticker(s)).collect();
        let valid: Vec<Ticker> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
        let fetched = if self.check_open().is_err() {
            Vec::new()
        } else {
            let batch = self.inner.fetcher.get_aggregates_batch(&valid, multiplier, timespan, from, to);
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
    /// the next ones are fetched; at most `QUEUE_SIZE` chunks wait between the stages.
    ///
    /// # Cancel safety
    /// Dropping the receiver (or [`PolygonDataSource::shutdown`]) stops fetching before the next
    /// chunk; in-flight requests are abandoned and nothing partial is stored in the cache.
    ///
    /// # Errors
    /// [`Error::ShutDown`] after shutdown.
    pub fn stream<S: AsRef<str>>(
        &self,
        tickers: &[S],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<mpsc::Receiver<ProcessedChunk>, Error> {
        self.check_open()?;
        let mut seen = HashSet::new();
        let mut valid = Vec::new();
        for s in tickers.iter().map(AsRef::as_ref).filter(|s| seen.insert(*s)) {
            valid.push(parse_ticker(s)?);
        }
        let queue = self.inner.config.queue_size.max(1);
        let (tx, rx) = mpsc::channel(queue);
        let mut fetched = self.inner.fetcher.stream_aggregates(valid, multiplier, timespan, from, to);
        let backend = self.inner.backend.clone();
        let cancel = self.inner.cancel.clone();
        self.inner.tasks.spawn(async move {
            loop {
                let chunk = tokio::select! {
                    c = fetched.recv() => match c { Some(c) => c, None => return },
                    () = cancel.cancelled() => return,
                    () = tx.closed() => return,
                };
                let b = backend.clone();
                let processed = tokio::task::spawn_blocking(move || {
                    let start = std::time::Instant::now();
                    let indicators = b.compute(&chunk.columns);
                    ProcessedChunk {
                        bars: chunk.columns,
                        indicators,
                        failures: chunk.failures,
                        compute_secs: start.elapsed().as_secs_f64(),
                    }
                })
                .await;
                let Ok(processed) = processed else { return };
                if tx.send(processed).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// Indicators of `bars` on the configured backend.
    ///
    /// # Errors
    /// [`Error::Gpu`] if the backend fails.
    pub fn compute(&self, bars: &BarColumns) -> Result<Indicators, Error> {
        Ok(self.inner.backend.compute(bars)?)
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

fn parse_ticker(s: &str) -> Result<Ticker, Error> {
    s.parse::<Ticker>().map_err(|e| Error::Ticker { input: s.to_owned(), reason: e.to_string() })
}
