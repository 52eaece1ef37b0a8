//! `fetch`: aggregates for many tickers, streamed chunk by chunk into a CSV or Parquet file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use polygon_gh200::PolygonDataSource;
use polygon_gh200::model::{BarColumns, Date, Multiplier, Shard, Timespan};

use crate::files::{Frame, TableWriter};
use crate::progress::ProgressBar;
use crate::{Failure, Flag, load_config};

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Tickers, comma-separated (AAPL,MSFT,BRK.B).
    #[arg(long, value_delimiter = ',', required_unless_present = "tickers_file", conflicts_with = "tickers_file")]
    tickers: Vec<String>,
    /// A file of tickers: one per line (or comma-separated); `#` starts a comment.
    #[arg(long)]
    tickers_file: Option<PathBuf>,
    /// First day, YYYY-MM-DD (New York).
    #[arg(long)]
    from: String,
    /// Last day, YYYY-MM-DD (New York), inclusive.
    #[arg(long)]
    to: String,
    /// minute, hour, day, week, month, quarter or year.
    #[arg(long, default_value = "minute")]
    timespan: String,
    /// Timespans per bar.
    #[arg(long, default_value = "1")]
    multiplier: String,
    /// Output file, .csv or .parquet (default: CSV on stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// API root (overrides POLYGON_BASE_URL), e.g. a simulator's URL.
    #[arg(long)]
    base_url: Option<String>,
    /// Pages decoded at once (overrides MAX_WORKERS).
    #[arg(long)]
    max_workers: Option<String>,
    /// Only this worker's share of the tickers: K/N, K from 0 (N workers given the same list
    /// split it without talking: rendezvous hashing, `polygon_gh200::model::shard`).
    #[arg(long)]
    shard: Option<String>,
    /// Split-adjusted bars (true, the API's default) or as traded (false).
    #[arg(
        long,
        default_value = "true",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    adjusted: bool,
}

/// The validated request (tickers are checked, and repeats dropped, by the data source).
struct Request {
    tickers: Vec<String>,
    from: Date,
    to: Date,
    timespan: Timespan,
    multiplier: Multiplier,
}

fn read_tickers_file(path: &Path) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("--tickers-file {}: cannot read: {e}", path.display())))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

fn validate(a: &FetchArgs) -> Result<Request, Failure> {
    let raw = match &a.tickers_file {
        Some(f) => read_tickers_file(f)?,
        None => a.tickers.iter().map(|s| s.trim().to_owned()).collect(),
    };
    if raw.is_empty() {
        return Err(Failure::usage("no tickers given: use --tickers A,B,… or --tickers-file F"));
    }
    let tickers = match &a.shard {
        None => raw,
        Some(s) => {
            let shard = s.parse::<Shard>().map_err(|e| Failure::usage(format!("--shard {s:?}: {e}")))?;
            shard.select(&raw).into_iter().map(str::to_owned).collect()
        }
    };
    let date = |flag: &str, s: &str| -> Result<Date, Failure> {
        s.parse::<Date>().map_err(|e| Failure::usage(format!("--{flag} {s:?}: {e}")))
    };
    let (from, to) = (date("from", &a.from)?, date("to", &a.to)?);
    if from > to {
        return Err(Failure::usage(format!("--from {from} is after --to {to}")));
    }
    let timespan: Timespan =
        a.timespan.parse().map_err(|e| Failure::usage(format!("--timespan {:?}: {e}", a.timespan)))?;
    let multiplier: Multiplier =
        a.multiplier.parse().map_err(|e| Failure::usage(format!("--multiplier {:?}: {e}", a.multiplier)))?;
    Ok(Request { tickers, from, to, timespan, multiplier })
}

pub async fn run(a: FetchArgs, config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    let req = validate(&a)?;
    let flags = [
        Flag { flag: "--base-url", variable: "POLYGON_BASE_URL", value: a.base_url.clone() },
        Flag { flag: "--max-workers", variable: "MAX_WORKERS", value: a.max_workers.clone() },
    ];
    let config = load_config(config_file, &flags)?;
    if config.api_key.is_none() && a.base_url.is_none() {
        return Err(Failure::usage(
            "no API key: set POLYGON_API_KEY (or MASSIVE_API_KEY), or try `polygon-gh200 demo`, which needs none",
        ));
    }
    // The output is checked before anything is asked of the API (a failed run removes it).
    let mut writer = TableWriter::create(a.out.as_deref()).map_err(Failure::usage)?;
    let source =
        PolygonDataSource::new(config).await.map_err(|e| Failure::usage(e.to_string()))?.with_adjusted(a.adjusted);
    let mut rx = match source.stream_bars(&req.tickers, req.multiplier, req.timespan, req.from, req.to) {
        Ok(rx) => rx,
        Err(e) => {
            source.shutdown().await;
            return Err(Failure::usage(e.to_string()));
        }
    };

    let start = Instant::now();
    let total = polygon_gh200::model::distinct(req.tickers.iter()).len();
    let bar = ProgressBar::start(&source, total as u64);
    let (mut done, mut failed, mut interrupted) = (0usize, Vec::new(), false);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            chunk = rx.recv() => {
                let Some(chunk) = chunk else { break };
                done += chunk.columns.num_series();
                failed.extend(chunk.failures);
                writer.write(&Frame::bars(&chunk.columns)).map_err(Failure::failed)?;
                source.recycle_bars(chunk.columns);
            }
            _ = &mut ctrl_c => {
                interrupted = true;
                break;
            }
        }
    }
    drop(rx);
    drop(bar);
    let empty = BarColumns::new();
    let rows = writer.rows();
    writer.finish(&Frame::bars(&empty)).map_err(Failure::failed)?;
    for (t, e) in &failed {
        eprintln!("failed: {t}: {e}");
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = source.transport().stats();
    eprintln!(
        "{} of {total} tickers fetched, {} failed{}; {rows} bars in {secs:.2} s ({:.0} bars/s); {} requests, {} retries, {} chunks from cache",
        done,
        failed.len(),
        if interrupted {
            format!(", {} not fetched (interrupted)", total - done - failed.len())
        } else {
            String::new()
        },
        rows as f64 / secs.max(1e-9),
        stats.requests,
        stats.retries,
        source.progress().cache_hits,
    );
    source.shutdown().await;
    Ok(if failed.is_empty() && !interrupted { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
