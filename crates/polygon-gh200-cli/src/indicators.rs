//! `indicators`: reads a `fetch` output file, computes design.md's indicators on the chosen
//! backend, writes `ticker,t` and one column per indicator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use polygon_gh200::GpuBackend;
use polygon_gh200::gpu::{Capacity, Indicators};
use polygon_gh200::model::BarColumns;

use crate::files::{FloatCol, Frame, TableWriter, read_bars};
use crate::{Failure, load_config};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, clap::Args)]
pub struct IndicatorArgs {
    /// Bars written by `fetch` (.csv or .parquet).
    #[arg(long = "in")]
    input: PathBuf,
    /// Output file (.csv or .parquet).
    #[arg(long)]
    out: PathBuf,
    /// Backend (overrides GPU_BACKEND).
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
}

/// The indicator frame of `bars`: `ticker,t` then the eight columns (NaN written as absent).
pub fn frame<'a>(bars: &'a BarColumns, ind: &'a Indicators) -> Frame<'a> {
    Frame {
        tickers: &bars.tickers,
        offsets: bars.offsets(),
        t: &bars.t,
        floats: Indicators::NAMES
            .iter()
            .zip(ind.columns())
            .map(|(name, values)| FloatCol { name, values, nullable: true })
            .collect(),
        counts: None,
    }
}

/// `bars` split into chunks of at most `series` series.
pub fn chunks(bars: &BarColumns, series: usize) -> Vec<BarColumns> {
    let mut out = Vec::new();
    let offsets = bars.offsets();
    for group in (0..bars.num_series()).collect::<Vec<_>>().chunks(series.max(1)) {
        let (a, b) = (offsets[group[0]] as usize, offsets[group[group.len() - 1] + 1] as usize);
        let mut c = BarColumns::with_capacity(group.len(), b - a);
        for k in group {
            let s = bars.series(*k).expect("in range");
            c.begin_series(s.ticker.clone());
            for i in 0..s.t.len() {
                c.push_row(s.t[i], s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i], s.vw[i], s.n[i]);
            }
        }
        out.push(c);
    }
    out
}

pub async fn run(a: IndicatorArgs, config_file: Option<&Path>) -> Result<ExitCode, Failure> {
    let config = load_config(config_file)?;
    let kind = match a.backend {
        None => config.gpu_backend,
        Some(BackendArg::Auto) => GpuBackend::Auto,
        Some(BackendArg::Cpu) => GpuBackend::Cpu,
        Some(BackendArg::Cuda) => GpuBackend::Cuda,
    };
    let input = a.input.clone();
    let bars = tokio::task::spawn_blocking(move || read_bars(&input))
        .await
        .map_err(|e| Failure::failed(e.to_string()))?
        .map_err(Failure::usage)?;
    let capacity = Capacity { series: config.batch_size, ..Capacity::default() };
    let backend = polygon_gh200::gpu::select(kind, config.gpu_memory, capacity)
        .map_err(|e| Failure::usage(format!("--backend: {e}")))?;
    let mut writer = TableWriter::create(Some(&a.out)).map_err(Failure::usage)?;
    let start = Instant::now();
    let mut compute_secs = 0.0;
    for chunk in chunks(&bars, config.batch_size) {
        let t = Instant::now();
        let ind = backend.compute(&chunk).map_err(|e| Failure::failed(format!("{}: {e}", backend.name())))?;
        compute_secs += t.elapsed().as_secs_f64();
        writer.write(&frame(&chunk, &ind)).map_err(Failure::failed)?;
    }
    let empty = BarColumns::new();
    writer.finish(&frame(&empty, &Indicators::default())).map_err(Failure::failed)?;
    eprintln!(
        "{} tickers, {} bars: indicators on {} in {compute_secs:.3} s ({:.0} bars/s); {:.2} s with writing",
        bars.num_series(),
        bars.len(),
        backend.name(),
        bars.len() as f64 / compute_secs.max(1e-9),
        start.elapsed().as_secs_f64(),
    );
    Ok(ExitCode::SUCCESS)
}
