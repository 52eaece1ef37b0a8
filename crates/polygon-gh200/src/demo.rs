//! The demo (`polygon-gh200 demo`, `python -m polygon_gh200 demo`): the whole pipeline against
//! the in-process simulator, twice, cold then warm. No API key, no Redis and no GPU needed: it
//! uses Redis when one answers at the configured address (under its own `demo` namespace, so
//! simulated bars can never be mistaken for the real API's), the disk tier when it is on, and
//! always the memory tier. One implementation, so the CLI and Python show the same figures.

use std::fmt;
use std::time::{Duration, Instant};

use polygon_cache::RedisStatus;
use polygon_model::{Date, Multiplier, Timespan};
use polygon_transport::ApiKey;

use crate::{Config, Error, PolygonDataSource, ProcessedChunk};

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How many tickers of the simulator's universe (1 to its size).
    pub tickers: usize,
    /// First day.
    pub from: Date,
    /// Last day (inclusive).
    pub to: Date,
    /// Simulated network latency per response, ms.
    pub latency_ms: u64,
}

/// One pass over the tickers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pass {
    /// Wall time, s.
    pub secs: f64,
    /// Bars received.
    pub bars: usize,
    /// Tickers that succeeded.
    pub tickers: usize,
    /// Tickers that failed.
    pub failed: usize,
    /// Seconds the indicator backend took.
    pub compute_secs: f64,
    /// Requests the simulator served during the pass.
    pub requests: u64,
}

/// The demo's figures; `Display` is the report the CLI and Python print.
#[derive(Debug)]
pub struct DemoReport {
    /// The cold pass (an empty cache).
    pub cold: Pass,
    /// The warm pass (served by the cache: disk, then Redis, after the memory tier is dropped).
    pub warm: Pass,
    /// The cache tiers used, in words.
    pub cache: String,
    /// The indicator backend's name.
    pub backend: &'static str,
    /// Hits per tier and loads over both passes.
    pub hits: polygon_cache::CacheStats,
    /// The warm pass's chunks (bars and indicators), for a caller that writes them out.
    pub chunks: Vec<ProcessedChunk>,
    /// Every failed ticker with why, both passes.
    pub failures: Vec<String>,
}

impl DemoReport {
    /// Whether every ticker succeeded in both passes.
    pub fn all_ok(&self) -> bool {
        self.cold.failed + self.warm.failed == 0
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (cold, warm) = (&self.cold, &self.warm);
        let rate = |bars: usize, secs: f64| bars as f64 / secs.max(1e-9);
        writeln!(f, "polygon-gh200 demo")?;
        writeln!(f, "{:<28}{} ({} failed)", "tickers", cold.tickers, cold.failed)?;
        writeln!(f, "{:<28}{}", "bars", cold.bars)?;
        writeln!(f, "{:<28}{}", "cache", self.cache)?;
        writeln!(f, "{:<28}{}", "backend", self.backend)?;
        writeln!(f, "{:<28}{:>10} {:>12}", "", "cold", "warm")?;
        writeln!(f, "{:<28}{:>10.3} {:>12.3}", "wall time, s", cold.secs, warm.secs)?;
        writeln!(f, "{:<28}{:>10} {:>12}", "API requests", cold.requests, warm.requests)?;
        writeln!(
            f,
            "{:<28}{:>10.0} {:>12.0}",
            "bars/s (fetch+indicators)",
            rate(cold.bars, cold.secs),
            rate(warm.bars, warm.secs)
        )?;
        writeln!(f, "{:<28}{:>10.1}x", "warm speed-up", cold.secs / warm.secs.max(1e-9))?;
        let h = &self.hits;
        writeln!(
            f,
            "{:<28}{} memory, {} disk, {} Redis, {} loads",
            "cache hits (both runs)", h.memory_hits, h.disk_hits, h.redis_hits, h.loads
        )?;
        write!(
            f,
            "{:<28}{:.0} bars/s ({} bars in {:.3} s, warm run)",
            "indicator throughput",
            rate(warm.bars, warm.compute_secs),
            warm.bars,
            warm.compute_secs
        )
    }
}

/// Why the demo could not run: a bad option or setting (a usage error), or a failure on the way.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An option or setting is invalid.
    #[error("{0}")]
    Usage(String),
    /// The simulator, Redis or the pipeline failed.
    #[error("{0}")]
    Failed(String),
    /// The pipeline's own error.
    #[error(transparent)]
    Source(#[from] Error),
}

/// Waits up to a second for Redis to answer (it connects in the background); `false` when it is
/// off or does not answer.
pub async fn wait_for_redis(cache: &polygon_cache::Cache) -> bool {
    for _ in 0..20 {
        match cache.redis_status() {
            RedisStatus::Up => return true,
            RedisStatus::Disabled => return false,
            RedisStatus::Down => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    false
}

async fn pass(
    source: &PolygonDataSource,
    sim: &polygon_sim::SimHandle,
    tickers: &[String],
    o: &DemoOptions,
    keep: Option<&mut Vec<ProcessedChunk>>,
    failures: &mut Vec<String>,
) -> Result<Pass, DemoError> {
    let before = sim.stats().requests;
    let start = Instant::now();
    let mut rx = source.stream(tickers, Multiplier::ONE, Timespan::Minute, o.from, o.to)?;
    let mut p = Pass::default();
    let mut kept = Vec::new();
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = &chunk.indicators {
            return Err(DemoError::Failed(format!("indicators: {e}")));
        }
        failures.extend(chunk.failures.iter().map(|(t, e)| format!("{t}: {e}")));
        p.bars += chunk.bars.len();
        p.tickers += chunk.bars.num_series();
        p.failed += chunk.failures.len();
        p.compute_secs += chunk.compute_secs;
        if keep.is_some() {
            kept.push(chunk);
        } else {
            source.recycle(chunk);
        }
    }
    p.secs = start.elapsed().as_secs_f64();
    p.requests = sim.stats().requests - before;
    if let Some(k) = keep {
        *k = kept;
    }
    Ok(p)
}

/// Runs the demo: a simulator on a free port, `config` pointed at it (its key, no CA, the `demo`
/// namespace), the namespace cleared in every tier, then a cold and a warm pass of minute bars.
///
/// # Errors
/// [`DemoError::Usage`] for options out of range or a backend that is unavailable,
/// [`DemoError::Failed`] when the simulator cannot start, Redis answers but fails, or indicators fail.
pub async fn run(mut config: Config, o: DemoOptions) -> Result<DemoReport, DemoError> {
    if o.from > o.to {
        return Err(DemoError::Usage(format!("--from {} is after --to {}", o.from, o.to)));
    }
    let universe = polygon_sim::market::Universe::get();
    if o.tickers == 0 || o.tickers > universe.len() {
        return Err(DemoError::Usage(format!("--tickers {}: expected 1 to {}", o.tickers, universe.len())));
    }
    let tickers: Vec<String> = universe.profiles().iter().take(o.tickers).map(|p| p.ticker.clone()).collect();
    let sim = polygon_sim::Simulator::builder()
        .latency_ms(o.latency_ms)
        .api_key("demo-key")
        .build()
        .spawn()
        .await
        .map_err(|e| DemoError::Failed(format!("simulator: {e}")))?;
    // The simulator's bars go to their own namespace: they must never answer a real request.
    config.base_url = sim.base_url().to_owned();
    config.api_key = Some(ApiKey::new("demo-key").expect("a valid key"));
    config.ca_cert = None;
    config.cache_namespace = Some("demo".into());
    let redis = config.redis_url.as_deref().map_or_else(|| "REDIS_URL (off)".into(), polygon_cache::redact_url);
    let source = PolygonDataSource::new(config).await.map_err(|e| DemoError::Usage(e.to_string()))?;
    let result = run_passes(&source, &sim, &tickers, &o, &redis).await;
    source.shutdown().await;
    sim.shutdown().await;
    result
}

async fn run_passes(
    source: &PolygonDataSource,
    sim: &polygon_sim::SimHandle,
    tickers: &[String],
    o: &DemoOptions,
    redis: &str,
) -> Result<DemoReport, DemoError> {
    let cache = source.cache();
    let redis_up = wait_for_redis(cache).await;
    // A cold run must be cold: forget what an earlier demo stored, in every tier it uses (its own
    // namespace only). A Redis that does not answer is simply not used.
    let cleared = cache.clear().await;
    if redis_up {
        cleared.map_err(|e| DemoError::Failed(format!("Redis at {redis}: {e}")))?;
    }
    let mut tiers = vec!["memory".to_owned()];
    if let Some((root, _)) = cache.disk_usage() {
        tiers.push(format!("disk at {}", root.display()));
    }
    tiers.push(if redis_up {
        format!("Redis at {redis} (namespace pgh200:demo:)")
    } else {
        format!("no Redis answered at {redis}")
    });
    let backend = source.backend().map_err(|e| DemoError::Usage(e.to_string()))?.name();
    tracing::info!(tickers = tickers.len(), from = %o.from, to = %o.to, url = sim.base_url(), "demo");
    let mut failures = Vec::new();
    let cold = pass(source, sim, tickers, o, None, &mut failures).await?;
    if redis_up || cache.has_disk() {
        // Serve the warm run from the tiers a second process would find: disk, then Redis.
        cache.clear_memory();
    }
    let mut chunks = Vec::new();
    let warm = pass(source, sim, tickers, o, Some(&mut chunks), &mut failures).await?;
    Ok(DemoReport { cold, warm, cache: tiers.join(", "), backend, hits: cache.stats(), chunks, failures })
}
