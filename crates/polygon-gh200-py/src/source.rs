//! `_Source`: the facade's [`PolygonDataSource`] for Python, and `_Stream`, its chunk stream.
//! Arguments are parsed here with errors that name the parameter; results leave as [`Bars`] (no
//! copy) and exception objects.

use std::sync::Arc;

use polygon_gh200::model::{BarColumns, Date, Multiplier, Ticker, Timespan};
use polygon_gh200::{Config, PolygonDataSource, ProcessedChunk};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tokio::sync::{Mutex, mpsc};

use crate::block::{Cancel, Owner, block, detached};
use crate::columns::{Bars, IndicatorColumns};
use crate::errors;

/// One request's shape, parsed.
struct Range {
    multiplier: Multiplier,
    timespan: Timespan,
    from: Date,
    to: Date,
}

fn range(py: Python<'_>, multiplier: u32, timespan: &str, from: &str, to: &str) -> PyResult<Range> {
    let multiplier = Multiplier::new(multiplier).map_err(|e| errors::argument(py, "multiplier", e))?;
    let timespan = timespan.parse::<Timespan>().map_err(|e| errors::argument(py, "timespan", e))?;
    let date = |name: &str, s: &str| {
        s.parse::<Date>().map_err(|e| errors::argument(py, name, format!("{s:?} is not a YYYY-MM-DD date: {e}")))
    };
    // `to_date` first: a default `from_date` is derived from it, so a bad one names `to_date`.
    let to = date("to_date", to)?;
    let from = date("from_date", from)?;
    if from > to {
        return Err(errors::argument(py, "from_date", format!("{from} is after to_date {to}")));
    }
    Ok(Range { multiplier, timespan, from, to })
}

/// The facade, built from the configuration (environment, TOML file, keyword overrides).
#[pyclass(frozen, name = "_Source", module = "polygon_gh200._native")]
#[derive(Debug)]
pub struct Source {
    inner: PolygonDataSource,
    owner: Owner,
}

#[pymethods]
impl Source {
    /// `overrides`: `(VARIABLE, value)` pairs over the environment and `config_file`.
    #[new]
    #[pyo3(signature = (overrides, config_file=None))]
    fn new(
        py: Python<'_>,
        overrides: Vec<(String, String)>,
        config_file: Option<std::path::PathBuf>,
    ) -> PyResult<Self> {
        let known = Config::VARIABLES;
        let mut pairs: Vec<(&str, String)> = Vec::with_capacity(overrides.len());
        for (name, value) in &overrides {
            let Some(v) = known.iter().find(|v| **v == name) else {
                return Err(errors::new(py, "ConfigError", format!("{name} is not a setting")));
            };
            pairs.push((v, value.clone()));
        }
        let file = config_file.or_else(|| std::env::var_os("POLYGON_GH200_CONFIG").map(Into::into));
        let config =
            Config::load_with(file.as_deref(), &pairs).map_err(|e| errors::new(py, "ConfigError", e.to_string()))?;
        let inner = block(py, None, PolygonDataSource::new(config))?.map_err(|e| errors::to_py(py, &e))?;
        Ok(Source { inner, owner: Owner::here() })
    }

    /// One ticker's bars.
    #[pyo3(signature = (ticker, multiplier, timespan, from_date, to_date, cancel=None, *, adjusted=true, source="auto", require_vwap=false))]
    #[allow(clippy::too_many_arguments)]
    fn aggregates(
        &self,
        py: Python<'_>,
        ticker: &str,
        multiplier: u32,
        timespan: &str,
        from_date: &str,
        to_date: &str,
        cancel: Option<&Cancel>,
        adjusted: bool,
        source: &str,
        require_vwap: bool,
    ) -> PyResult<Bars> {
        let r = range(py, multiplier, timespan, from_date, to_date)?;
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.handle(py, adjusted, source, require_vwap)?;
        let ticker = ticker.to_owned();
        let got =
            block(
                py,
                cancel,
                async move { src.get_aggregates(&ticker, r.multiplier, r.timespan, r.from, r.to).await },
            )?;
        Bars::from_columns(py, got.map_err(|e| errors::to_py(py, &e))?)
    }

    /// Every distinct ticker, in the order given, with its `Bars` or its exception object.
    #[pyo3(signature = (tickers, multiplier, timespan, from_date, to_date, cancel=None, *, adjusted=true, source="auto", require_vwap=false))]
    #[allow(clippy::too_many_arguments)]
    fn batch<'py>(
        &self,
        py: Python<'py>,
        tickers: Vec<String>,
        multiplier: u32,
        timespan: &str,
        from_date: &str,
        to_date: &str,
        cancel: Option<&Cancel>,
        adjusted: bool,
        source: &str,
        require_vwap: bool,
    ) -> PyResult<Vec<(String, bool, Bound<'py, PyAny>)>> {
        let r = range(py, multiplier, timespan, from_date, to_date)?;
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.handle(py, adjusted, source, require_vwap)?;
        let got = block(py, cancel, async move {
            src.get_aggregates_batch_with(&tickers, r.multiplier, r.timespan, r.from, r.to).await
        })?;
        let mut out = Vec::with_capacity(got.len());
        for (t, res) in got {
            match res {
                Ok(bars) => out.push((t, true, Bound::new(py, Bars::from_columns(py, bars)?)?.into_any())),
                Err(e) => out.push((t, false, errors::to_object(py, &e)?)),
            }
        }
        Ok(out)
    }

    /// The batch as one long `Bars` (one series per successful ticker, in the order given) and
    /// the failed tickers' exceptions. The chunks are joined in Rust, each freed once copied, so
    /// the peak is the bars twice over at most.
    #[pyo3(signature = (tickers, multiplier, timespan, from_date, to_date, cancel=None, *, adjusted=true, source="auto", require_vwap=false))]
    #[allow(clippy::too_many_arguments)]
    fn frame<'py>(
        &self,
        py: Python<'py>,
        tickers: Vec<String>,
        multiplier: u32,
        timespan: &str,
        from_date: &str,
        to_date: &str,
        cancel: Option<&Cancel>,
        adjusted: bool,
        source: &str,
        require_vwap: bool,
    ) -> PyResult<(Bars, Errors<'py>)> {
        let r = range(py, multiplier, timespan, from_date, to_date)?;
        let (tickers, mut failed) = self.valid_tickers(&tickers);
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.handle(py, adjusted, source, require_vwap)?;
        let got = block(py, cancel, async move {
            let mut rx = src.stream_bars(&tickers, r.multiplier, r.timespan, r.from, r.to)?;
            let mut chunks = Vec::new();
            while let Some(c) = rx.recv().await {
                chunks.push(c);
            }
            Ok::<_, polygon_gh200::Error>(chunks)
        })?;
        let chunks = got.map_err(|e| errors::to_py(py, &e))?;
        for c in &chunks {
            failed.extend(c.failures.iter().map(|(t, e)| (t.to_string(), errors::kind_of_fetch(e), e.to_string())));
        }
        let columns = detached(py, move || join(chunks.into_iter().map(|c| c.columns).collect()))?;
        let errors = failed
            .into_iter()
            .map(|(t, kind, msg)| Ok((t, errors::instance(py, kind, msg)?)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((Bars::from_columns(py, columns)?, errors))
    }

    /// Chunks of up to `BATCH_SIZE` tickers, fetched (and computed, with `indicators`) while
    /// the caller works on the previous ones; at most `QUEUE_SIZE` wait.
    #[pyo3(signature = (tickers, multiplier, timespan, from_date, to_date, indicators, *, adjusted=true, source="auto", require_vwap=false))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        py: Python<'_>,
        tickers: Vec<String>,
        multiplier: u32,
        timespan: &str,
        from_date: &str,
        to_date: &str,
        indicators: bool,
        adjusted: bool,
        source: &str,
        require_vwap: bool,
    ) -> PyResult<Stream> {
        let r = range(py, multiplier, timespan, from_date, to_date)?;
        let (tickers, failed) = self.valid_tickers(&tickers);
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.handle(py, adjusted, source, require_vwap)?;
        let rx = block(py, None, async move {
            if indicators {
                src.stream(&tickers, r.multiplier, r.timespan, r.from, r.to).map(Receiver::Computed)
            } else {
                src.stream_bars(&tickers, r.multiplier, r.timespan, r.from, r.to).map(Receiver::Bars)
            }
        })?
        .map_err(|e| errors::to_py(py, &e))?;
        Ok(Stream { owner: Owner::here(), rx: Arc::new(Mutex::new(Some(rx))), invalid: std::sync::Mutex::new(failed) })
    }

    /// Indicators of columns given as little-endian bytes (`timestamp` as int64 Unix ms, the
    /// prices and volumes as float64), series split at `offsets`, on the configured backend.
    #[pyo3(signature = (offsets, timestamp, open, high, low, close, volume, vwap))]
    #[allow(clippy::too_many_arguments)]
    fn compute(
        &self,
        py: Python<'_>,
        offsets: Vec<usize>,
        timestamp: &Bound<'_, PyBytes>,
        open: &Bound<'_, PyBytes>,
        high: &Bound<'_, PyBytes>,
        low: &Bound<'_, PyBytes>,
        close: &Bound<'_, PyBytes>,
        volume: &Bound<'_, PyBytes>,
        vwap: &Bound<'_, PyBytes>,
    ) -> PyResult<IndicatorColumns> {
        let n = timestamp.as_bytes().len() / 8;
        let t: Vec<i64> = words(timestamp.as_bytes()).map(i64::from_le_bytes).collect();
        let floats = [open, high, low, close, volume, vwap]
            .map(|b| words(b.as_bytes()).map(f64::from_le_bytes).collect::<Vec<f64>>());
        if floats.iter().any(|c| c.len() != n) || timestamp.as_bytes().len() % 8 != 0 {
            return Err(errors::argument(py, "columns", "every column must have one 8-byte value per row"));
        }
        if offsets.first() != Some(&0) || offsets.last() != Some(&n) || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(errors::argument(py, "offsets", format!("must rise from 0 to the row count {n}")));
        }
        let [o, h, l, c, v, vw] = floats;
        let mut bars = BarColumns::with_capacity(offsets.len().saturating_sub(1), n);
        let series: Ticker = "X".parse().expect("a valid symbol");
        for w in offsets.windows(2) {
            bars.begin_series(series.clone());
            for i in w[0]..w[1] {
                bars.push_row(t[i], o[i], h[i], l[i], c[i], v[i], vw[i], polygon_gh200::model::N_ABSENT);
            }
        }
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.inner.clone();
        let out = detached(py, move || src.compute(&bars))?.map_err(|e| errors::to_py(py, &e))?;
        IndicatorColumns::from_indicators(py, out)
    }

    /// The name of the indicator backend (building it if needed).
    fn backend(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.inner.clone();
        let b = detached(py, move || src.backend())?.map_err(|e| errors::to_py(py, &e))?;
        Ok(b.name())
    }

    /// The pipeline's counters and the cache's, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.owner.check(py, "PolygonDataSource")?;
        let p = self.inner.progress();
        let c = self.inner.cache().stats();
        let d = PyDict::new(py);
        d.set_item("tickers_done", p.tickers_done)?;
        d.set_item("tickers_failed", p.tickers_failed)?;
        d.set_item("bars", p.bars)?;
        d.set_item("pages", p.pages)?;
        d.set_item("memory_hits", c.memory_hits)?;
        d.set_item("disk_hits", c.disk_hits)?;
        d.set_item("redis_hits", c.redis_hits)?;
        d.set_item("loads", c.loads)?;
        d.set_item("redis", format!("{:?}", self.inner.redis_status()))?;
        Ok(d)
    }

    /// A dry run: the planner's `SourcePlan` as JSON (parsed into a dict by the package).
    #[pyo3(signature = (tickers, multiplier, timespan, from_date, to_date, *, adjusted=true, source="auto", require_vwap=false))]
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        py: Python<'_>,
        tickers: Vec<String>,
        multiplier: u32,
        timespan: &str,
        from_date: &str,
        to_date: &str,
        adjusted: bool,
        source: &str,
        require_vwap: bool,
    ) -> PyResult<String> {
        let r = range(py, multiplier, timespan, from_date, to_date)?;
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.handle(py, adjusted, source, require_vwap)?;
        let got = block(py, None, async move { src.plan(&tickers, r.multiplier, r.timespan, r.from, r.to).await })?;
        let plan = got.map_err(|e| errors::to_py(py, &e))?;
        Ok(serde_json::to_string(&plan).expect("a plan serializes"))
    }

    /// Removes this configuration's namespace from every cache tier (memory, disk, Redis), as
    /// `polygon-gh200 cache clear` does; other namespaces and other keys are left alone. Returns
    /// how many entries were removed.
    fn clear_cache(&self, py: Python<'_>) -> PyResult<u64> {
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.inner.clone();
        block(py, None, async move { src.cache().clear().await })?
            .map_err(|e| errors::new(py, "CacheError", format!("cache clear: {e}")))
    }

    /// The configuration, secrets redacted.
    fn __repr__(&self) -> String {
        format!("{:?}", self.inner.config())
    }

    /// Cancels what is in flight, waits for the pipeline's tasks and closes Redis.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.owner.check(py, "PolygonDataSource")?;
        let src = self.inner.clone();
        block(py, None, async move { src.shutdown().await })
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        if !self.owner.is_here() {
            // A forked child's copy: its tasks, connections and threads are the parent's. Never
            // drop it here (that would reach into a runtime whose threads this process lacks).
            std::mem::forget(self.inner.clone());
        }
    }
}

impl Source {
    /// The symbols that parse, and the others as `ArgumentError`s (a malformed symbol fails alone).
    /// The facade handle for one call: its adjustment, source and VWAP requirement.
    fn handle(&self, py: Python<'_>, adjusted: bool, source: &str, require_vwap: bool) -> PyResult<PolygonDataSource> {
        let source = source.parse::<polygon_gh200::Source>().map_err(|e| errors::argument(py, "source", e))?;
        Ok(self.inner.with_adjusted(adjusted).with_source(source).with_require_vwap(require_vwap))
    }

    fn valid_tickers(&self, inputs: &[String]) -> (Vec<String>, Vec<(String, &'static str, String)>) {
        let mut ok = Vec::with_capacity(inputs.len());
        let mut bad = Vec::new();
        for s in polygon_gh200::model::distinct(inputs.iter().map(String::as_str)) {
            match s.parse::<Ticker>() {
                Ok(_) => ok.push(s.to_owned()),
                Err(e) => {
                    // The facade's own error for a malformed symbol: the same class and message.
                    let e = polygon_gh200::Error::Ticker { input: s.to_owned(), reason: e.to_string() };
                    bad.push((s.to_owned(), errors::kind(&e), e.to_string()));
                }
            }
        }
        (ok, bad)
    }
}

fn words(b: &[u8]) -> impl Iterator<Item = [u8; 8]> + '_ {
    b.chunks_exact(8).map(|w| w.try_into().expect("8 bytes"))
}

/// `chunks` as one batch, each chunk freed once copied.
fn join(mut chunks: Vec<BarColumns>) -> BarColumns {
    if chunks.len() == 1 {
        return chunks.pop().expect("one chunk");
    }
    let rows = chunks.iter().map(BarColumns::len).sum();
    let series = chunks.iter().map(BarColumns::num_series).sum();
    let mut all = BarColumns::with_capacity(series, rows);
    for c in chunks {
        all.extend_from(&c);
    }
    all
}

enum Receiver {
    Computed(mpsc::Receiver<ProcessedChunk>),
    Bars(mpsc::Receiver<polygon_gh200::BatchChunk>),
}

enum Next {
    Computed(ProcessedChunk),
    Bars(polygon_gh200::BatchChunk),
}

/// A stream of chunks: `next(cancel)` gives `(bars, indicators or None, errors)`, or `None` at
/// the end. Dropping it (or `close`) stops fetching.
#[pyclass(frozen, name = "_Stream", module = "polygon_gh200._native")]
#[derive(Debug)]
pub struct Stream {
    owner: Owner,
    rx: Arc<Mutex<Option<Receiver>>>,
    /// Malformed symbols, reported with the first chunk.
    invalid: std::sync::Mutex<Vec<(String, &'static str, String)>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Receiver::Computed(_) => "Receiver::Computed",
            Receiver::Bars(_) => "Receiver::Bars",
        })
    }
}

/// Failed tickers with their exception objects.
type Errors<'py> = Vec<(String, Bound<'py, PyAny>)>;

type ChunkOut<'py> = (Bars, Option<IndicatorColumns>, Errors<'py>);

#[pymethods]
impl Stream {
    /// The next chunk, or `None` when the stream has ended.
    #[pyo3(signature = (cancel=None))]
    fn next<'py>(&self, py: Python<'py>, cancel: Option<&Cancel>) -> PyResult<Option<ChunkOut<'py>>> {
        self.owner.check(py, "stream")?;
        let rx = self.rx.clone();
        let got = block(py, cancel, async move {
            let mut guard = rx.lock().await;
            let next = match guard.as_mut() {
                None => None,
                Some(Receiver::Computed(r)) => r.recv().await.map(Next::Computed),
                Some(Receiver::Bars(r)) => r.recv().await.map(Next::Bars),
            };
            if next.is_none() {
                *guard = None;
            }
            next
        })?;
        let mut failed: Vec<(String, &'static str, String)> =
            std::mem::take(&mut *self.invalid.lock().expect("invalid lock"));
        let Some(next) = got else {
            if failed.is_empty() {
                return Ok(None);
            }
            // Only malformed symbols were given: one empty chunk carries their errors.
            return chunk_out(py, BarColumns::new(), None, failed).map(Some);
        };
        let (bars, indicators, failures) = match next {
            Next::Computed(c) => {
                let ind = c.indicators.map_err(|e| errors::new(py, "IndicatorError", format!("indicators: {e}")))?;
                (c.bars, Some(ind), c.failures)
            }
            Next::Bars(c) => (c.columns, None, c.failures),
        };
        failed.extend(failures.iter().map(|(t, e)| (t.to_string(), errors::kind_of_fetch(e), e.to_string())));
        let ind = indicators.map(|i| IndicatorColumns::from_indicators(py, i)).transpose()?;
        chunk_out(py, bars, ind, failed).map(Some)
    }

    /// Stops fetching; later `next` calls return `None`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.owner.check(py, "stream")?;
        let rx = self.rx.clone();
        block(py, None, async move {
            rx.lock().await.take();
        })
    }
}

fn chunk_out<'py>(
    py: Python<'py>,
    bars: BarColumns,
    ind: Option<IndicatorColumns>,
    failed: Vec<(String, &'static str, String)>,
) -> PyResult<ChunkOut<'py>> {
    let errors = failed
        .into_iter()
        .map(|(t, kind, msg)| Ok((t, errors::instance(py, kind, msg)?)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((Bars::from_columns(py, bars)?, ind, errors))
}

/// `python -m polygon_gh200 demo`: the CLI's demo (the facade's): its report, whether every
/// ticker succeeded, and each failure.
#[pyfunction]
#[pyo3(signature = (tickers=100, from_date="2024-10-01", to_date="2024-10-31", latency_ms=20))]
pub fn demo(
    py: Python<'_>,
    tickers: usize,
    from_date: &str,
    to_date: &str,
    latency_ms: u64,
) -> PyResult<(String, bool, Vec<String>)> {
    use polygon_gh200::demo::{self, DemoError, DemoOptions};
    let r = range(py, 1, "minute", from_date, to_date)?;
    let options = DemoOptions { tickers, from: r.from, to: r.to, latency_ms };
    let config = Config::from_env().map_err(|e| errors::new(py, "ConfigError", e.to_string()))?;
    let report = block(py, None, demo::run(config, options))?.map_err(|e| match e {
        DemoError::Usage(m) => errors::new(py, "ArgumentError", m),
        DemoError::Failed(m) => errors::new(py, "PolygonError", m),
        DemoError::Source(e) => errors::to_py(py, &e),
    })?;
    Ok((report.to_string(), report.all_ok(), report.failures.clone()))
}
