//! `indicators`: reads a `fetch` output file, computes design.md's indicators on the chosen
//! backend, writes `ticker,t` and one column per indicator.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use polygon_gh200::PolygonDataSource;
use polygon_gh200::gpu::Indicators;
use polygon_gh200::model::BarColumns;

use crate::files::{FloatCol, Frame, TableWriter, read_bars};
use crate::{Failure, Flag, load_config};

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
    let backend = a.backend.map(|b| match b {
        BackendArg::Auto => "auto",
        BackendArg::Cpu => "cpu",
        BackendArg::Cuda => "cuda",
    });
    let flags = [Flag { flag: "--backend", variable: "GPU_BACKEND", value: backend.map(str::to_owned) }];
    let config = load_config(config_file, &flags)?;
    let batch_size = config.batch_size;
    let input = a.input.clone();
    let bars = tokio::task::spawn_blocking(move || read_bars(&input))
        .await
        .map_err(|e| Failure::failed(e.to_string()))?
        .map_err(Failure::usage)?;
    let source = PolygonDataSource::new(config).await.map_err(|e| Failure::usage(e.to_string()))?;
    let name = match source.backend() {
        Ok(b) => b.name(),
        Err(e) => {
            source.shutdown().await;
            return Err(Failure::usage(format!("--backend: {e}")));
        }
    };
    let mut writer = TableWriter::create(Some(&a.out)).map_err(Failure::usage)?;
    let start = Instant::now();
    let mut compute_secs = 0.0;
    let mut ind = Indicators::default();
    for chunk in chunks(&bars, batch_size) {
        let t = Instant::now();
        source.compute_into(&chunk, &mut ind).map_err(|e| Failure::failed(format!("{name}: {e}")))?;
        compute_secs += t.elapsed().as_secs_f64();
        writer.write(&frame(&chunk, &ind)).map_err(Failure::failed)?;
    }
    let empty = BarColumns::new();
    writer.finish(&frame(&empty, &Indicators::default())).map_err(Failure::failed)?;
    eprintln!(
        "{} tickers, {} bars: indicators on {name} in {compute_secs:.3} s ({:.0} bars/s); {:.2} s with writing",
        bars.num_series(),
        bars.len(),
        bars.len() as f64 / compute_secs.max(1e-9),
        start.elapsed().as_secs_f64(),
    );
    source.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
