//! `demo`: the facade's demo (the whole pipeline against the in-process simulator, cold then
//! warm; see `polygon_gh200::demo`), its report on stdout and the warm pass's bars and indicators
//! written as Parquet.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use polygon_gh200::ProcessedChunk;
use polygon_gh200::demo::{self, DemoError, DemoOptions};
use polygon_gh200::model::{BarColumns, Date};

use crate::files::{Frame, TableWriter};
use crate::{Failure, load_config};

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
    let config = load_config(config_file, &[])?;
    let options = DemoOptions { tickers: a.tickers, from, to, latency_ms: a.latency_ms };
    let report = demo::run(config, options).await.map_err(|e| match e {
        DemoError::Usage(m) => Failure::usage(m),
        e => Failure::failed(e.to_string()),
    })?;
    for f in &report.failures {
        eprintln!("failed: {f}");
    }
    let (bars_path, ind_path) = write(&a.out_dir, &report.chunks)?;
    println!("{report}");
    println!("{:<28}{}", "wrote", bars_path.display());
    println!("{:<28}{}", "wrote", ind_path.display());
    Ok(if report.all_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
