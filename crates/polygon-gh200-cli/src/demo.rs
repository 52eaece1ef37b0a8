//! `demo`: the whole pipeline against the in-process simulator. No API key, no Redis and no GPU
//! needed: it uses Redis when one answers at the configured address (under its own `demo`
//! namespace, so simulated bars can never be mistaken for the real API's), else the memory tier.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use polygon_gh200::model::{BarColumns, Date, Multiplier, Timespan};
use polygon_gh200::transport::ApiKey;
use polygon_gh200::{PolygonDataSource, ProcessedChunk};

use crate::files::{Frame, TableWriter};
use crate::{Failure, load_config, wait_for_redis};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many tickers of the simulator's universe.
    #[arg(long, default_value_t = 100)]
    tickers: usize,
    /// First day.
    #[arg(long, default_value = "2024-10-01")]
    from: String,
    /// Last day (inclusive).
    #[arg(long, default_value = "2024-10-31")]
    to: String,
    /// Simulated network latency per response, ms.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Where the Parquet files go.
    #[arg(long, default_value = "demo-out")]
    out_dir: PathBuf,
}

struct Pass {
    secs: f64,
    bars: usize,
    tickers: usize,
    failed: usize,
    compute_secs: f64,
    requests: u64,
    chunks: Vec<ProcessedChunk>,
}

async fn pass(
    source: &PolygonDataSource,
    sim: &polygon_sim::SimHandle,
    tickers: &[String],
    from: Date,
    to: Date,
    keep: bool,
) -> Result<Pass, Failure> {
    let before = sim.stats().requests;
    let start = Instant::now();
    let mut rx = source
        .stream(tickers, Multiplier::ONE, Timespan::Minute, from, to)
        .map_err(|e| Failure::failed(e.to_string()))?;
    let mut p = Pass { secs: 0.0, bars: 0, tickers: 0, failed: 0, compute_secs: 0.0, requests: 0, chunks: Vec::new() };
    while let Some(chunk) = rx.recv().await {
        if let Err(e) = &chunk.indicators {
            return Err(Failure::failed(format!("indicators: {e}")));
        }
        for (t, e) in &chunk.failures {
            eprintln!("failed: {t}: {e}");
        }
        p.bars += chunk.bars.len();
        p.tickers += chunk.bars.num_series();
        p.failed += chunk.failures.len();
        p.compute_secs += chunk.compute_secs;
        if keep {
            p.chunks.push(chunk);
        } else {
            source.recycle(chunk);
        }
    }
    p.secs = start.elapsed().as_secs_f64();
    p.requests = sim.stats().requests - before;
    Ok(p)
}

fn write(dir: &Path, chunks: &[ProcessedChunk]) -> Result<(PathBuf, PathBuf), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::failed(format!("{}: {e}", dir.display())))?;
    let (bars_path, ind_path) = (dir.join("bars.parquet"), dir.join("indicators.parquet"));
    let mut bars = TableWriter::create(Some(&bars_path)).map_err(Failure::failed)?;
    let mut ind = TableWriter::create(Some(&ind_path)).map_err(Failure::failed)?;
    for c in chunks {
        let i = c.indicators.as_ref().expect("checked in the pass");
        bars.write(&Frame::bars(&c.bars)).map_err(Failure::failed)?;
        ind.write(&crate::indicators::frame(&c.bars, i)).map_err(Failure::failed)?;
    }
    let empty = BarColumns::new();
    bars.finish(&Frame::bars(&empty)).map_err(Failure::failed)?;
    ind.finish(&crate::indicators::frame(&empty, &Default::default())).map_err(Failure::failed)?;
    Ok((bars_path, ind_path))
}

pub async fn run(a: DemoArgs, config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    let date = |flag: &str, s: &str| s.parse::<Date>().map_err(|e| Failure::usage(format!("--{flag} {s:?}: {e}")));
    let (from, to) = (date("from", &a.from)?, date("to", &a.to)?);
    if from > to {
        return Err(Failure::usage(format!("--from {from} is after --to {to}")));
    }
    let universe = polygon_sim::market::Universe::get();
    if a.tickers == 0 || a.tickers > universe.len() {
        return Err(Failure::usage(format!("--tickers {}: expected 1 to {}", a.tickers, universe.len())));
    }
    let tickers: Vec<String> = universe.profiles().iter().take(a.tickers).map(|p| p.ticker.clone()).collect();

    let mut config = load_config(config_file, &[])?;
    let sim = polygon_sim::Simulator::builder()
        .latency_ms(a.latency_ms)
        .api_key("demo-key")
        .build()
        .spawn()
        .await
        .map_err(|e| Failure::failed(format!("simulator: {e}")))?;
    // The simulator's bars go to their own namespace: they must never answer a real request.
    config.base_url = sim.base_url().to_owned();
    config.api_key = Some(ApiKey::new("demo-key").expect("a valid key"));
    config.ca_cert = None;
    config.cache_namespace = Some("demo".into());
    let redis = config.redis_url.as_deref().map_or_else(|| "REDIS_URL (off)".into(), polygon_gh200::cache::redact_url);
    let source = PolygonDataSource::new(config).await.map_err(|e| Failure::usage(e.to_string()))?;
    let cache = source.cache();
    let redis_up = wait_for_redis(cache).await;
    // A cold run must be cold: forget what an earlier demo stored, in every tier it uses (its own
    // namespace only). A Redis that does not answer is simply not used.
    let cleared = cache.clear().await;
    if redis_up {
        cleared.map_err(|e| Failure::failed(format!("Redis at {redis}: {e}")))?;
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
    let tier = tiers.join(", ");
    eprintln!("demo: {} tickers x {from}..{to} of minute bars from the simulator at {}", tickers.len(), sim.base_url());
    eprintln!("demo: cache: {tier}");
    let backend = source.backend().map_err(|e| Failure::usage(e.to_string()))?.name();

    let cold = pass(&source, &sim, &tickers, from, to, false).await?;
    if redis_up || cache.has_disk() {
        // Serve the warm run from the tiers a second process would find: disk, then Redis.
        source.cache().clear_memory();
    }
    let warm = pass(&source, &sim, &tickers, from, to, true).await?;
    let (bars_path, ind_path) = write(&a.out_dir, &warm.chunks)?;
    let stats = source.cache().stats();

    let rate = |bars: usize, secs: f64| bars as f64 / secs.max(1e-9);
    println!("polygon-gh200 demo");
    println!("{:<28}{}", "tickers", format_args!("{} ({} failed)", cold.tickers, cold.failed));
    println!("{:<28}{}", "bars", cold.bars);
    println!("{:<28}{}", "cache", tier);
    println!("{:<28}{}", "backend", backend);
    println!("{:<28}{:>10} {:>12} {:>14}", "", "cold", "warm", "");
    println!("{:<28}{:>10.3} {:>12.3} {:>14}", "wall time, s", cold.secs, warm.secs, "");
    println!("{:<28}{:>10} {:>12}", "API requests", cold.requests, warm.requests);
    println!(
        "{:<28}{:>10.0} {:>12.0}",
        "bars/s (fetch+indicators)",
        rate(cold.bars, cold.secs),
        rate(warm.bars, warm.secs)
    );
    println!("{:<28}{:>10.1}x", "warm speed-up", cold.secs / warm.secs.max(1e-9));
    println!(
        "{:<28}{} memory, {} disk, {} Redis, {} loads",
        "cache hits (both runs)", stats.memory_hits, stats.disk_hits, stats.redis_hits, stats.loads
    );
    println!(
        "{:<28}{:.0} bars/s ({} bars in {:.3} s, warm run)",
        "indicator throughput",
        rate(warm.bars, warm.compute_secs),
        warm.bars,
        warm.compute_secs
    );
    println!("{:<28}{}", "wrote", bars_path.display());
    println!("{:<28}{}", "wrote", ind_path.display());
    source.shutdown().await;
    sim.shutdown().await;
    Ok(if cold.failed + warm.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
