//! `fetch`: aggregates for many tickers, streamed chunk by chunk into a CSV or Parquet file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use polygon_gh200::fetch::Cost;
use polygon_gh200::model::{BarColumns, Date, Multiplier, Shard, Timespan};
use polygon_gh200::{PolygonDataSource, Source, SourcePlan};

use crate::files::{Frame, TableWriter};
use crate::progress::ProgressBar;
use crate::{Failure, Flag, load_config};

/// What to fetch and from where: the arguments `fetch` and `plan` share.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
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
    /// auto (the cheapest of REST and flat files, per month), rest, or flatfiles (an error when
    /// the files refuse, never a silent switch). Flat files need POLYGON_S3_ACCESS_KEY_ID and
    /// POLYGON_S3_SECRET_ACCESS_KEY.
    #[arg(long, default_value = "auto")]
    source: String,
    /// Only bars with VWAP: keeps the request off flat files, which carry none.
    #[arg(long)]
    require_vwap: bool,
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Output file, .csv or .parquet (default: CSV on stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// text (a table) or json (the plan as an object).
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
}

/// The validated request (tickers are checked, and repeats dropped, by the data source).
struct Request {
    tickers: Vec<String>,
    from: Date,
    to: Date,
    timespan: Timespan,
    multiplier: Multiplier,
    source: Source,
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

fn validate(a: &RequestArgs) -> Result<Request, Failure> {
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
    let source: Source = a.source.parse().map_err(|e| Failure::usage(format!("--source: {e}")))?;
    Ok(Request { tickers, from, to, timespan, multiplier, source })
}

/// The data source for a request: the configuration with the request's flags over it, and the
/// handle set to its adjustment, source and VWAP requirement.
async fn open(a: &RequestArgs, req: &Request, config_file: Option<&Path>) -> Result<PolygonDataSource, Failure> {
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
    let source = PolygonDataSource::new(config).await.map_err(|e| Failure::usage(e.to_string()))?;
    Ok(source.with_adjusted(a.adjusted).with_source(req.source).with_require_vwap(a.require_vwap))
}

/// `plan`: what `fetch` with the same arguments would cost per source, and what it would choose.
pub async fn plan(a: PlanArgs, config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    let req = validate(&a.request)?;
    let source = open(&a.request, &req, config_file).await?;
    let planned = source.plan(&req.tickers, req.multiplier, req.timespan, req.from, req.to).await;
    source.shutdown().await;
    let p = match planned {
        Ok(p) => p,
        Err(e @ polygon_gh200::Error::Ticker { .. }) => return Err(Failure::usage(e.to_string())),
        Err(e) => return Err(Failure::failed(e.to_string())),
    };
    match a.format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&p).expect("a plan serializes")),
        PlanFormat::Text => print!("{}", plan_text(&p)),
    }
    Ok(ExitCode::SUCCESS)
}

fn cost_cells(c: &Cost) -> String {
    format!("{}\t{}\t{}\t{:.2}\t{}", c.requests, c.files, c.bytes, c.seconds, c.bars_without_vwap)
}

/// The plan as a header of `key: value` lines and a tab-separated table, one row per unit and
/// source that could serve it, and the totals.
fn plan_text(p: &SourcePlan) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "request: {} tickers, {} x {}, {} to {}, adjusted {}, source {}{}",
        p.tickers,
        p.multiplier,
        p.timespan,
        p.from,
        p.to,
        p.adjusted,
        p.asked,
        if p.require_vwap { ", VWAP required" } else { "" }
    );
    let _ = writeln!(
        s,
        "chunks: {} (a {} per ticker), {} cached, {} cached without VWAP, {} to fetch",
        p.chunks,
        p.chunk_unit,
        p.cached,
        p.cached_without_vwap,
        p.units.iter().map(|u| u.missing).sum::<usize>()
    );
    if let Some(why) = &p.files_unavailable {
        let _ = writeln!(s, "flat files: {why}");
    }
    let _ = writeln!(s, "unit\tsource\tchunks\trequests\tfiles\tbytes\tseconds\tbars_without_vwap\tchosen\twhy");
    for u in &p.units {
        let unit = format!("{}..{}", u.from, u.to);
        let chosen = |src| if u.source == src { "yes" } else { "no" };
        let _ =
            writeln!(s, "{unit}\trest\t{}\t{}\t{}\t{}", u.missing, cost_cells(&u.rest), chosen(Source::Rest), u.why);
        if let Some(f) = &u.files {
            let _ = writeln!(
                s,
                "{unit}\tflatfiles\t{}\t{}\t{}\t{}",
                u.missing,
                cost_cells(f),
                chosen(Source::FlatFiles),
                u.why
            );
        }
    }
    let _ = writeln!(s, "all\trest\t\t{}\t\t", cost_cells(&p.all_rest));
    if let Some(f) = &p.all_files {
        let _ = writeln!(s, "all\tflatfiles\t\t{}\t\t", cost_cells(f));
    }
    let _ = writeln!(s, "all\tchosen\t\t{}\t\t", cost_cells(&p.chosen));
    let _ = writeln!(s, "summary: {}", p.summary());
    s
}

pub async fn run(a: FetchArgs, config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    let req = validate(&a.request)?;
    // The output is checked before anything is asked of the API (a failed run removes it).
    let mut writer = TableWriter::create(a.out.as_deref()).map_err(Failure::usage)?;
    let source = open(&a.request, &req, config_file).await?;
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
    let mut without_vwap = 0usize;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            chunk = rx.recv() => {
                let Some(chunk) = chunk else { break };
                done += chunk.columns.num_series();
                without_vwap += chunk.columns.vw.iter().filter(|v| v.is_nan()).count();
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
        "{} of {total} tickers fetched, {} failed{}; {rows} bars in {secs:.2} s ({:.0} bars/s); {} requests, {} retries, {} flat files, {} chunks from cache{}",
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
        source.progress().files,
        source.progress().cache_hits,
        if without_vwap > 0 {
            format!("; {without_vwap} bars without VWAP (flat files carry none)")
        } else {
            String::new()
        },
    );
    source.shutdown().await;
    Ok(if failed.is_empty() && !interrupted { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
