//! The `polygon-gh200` command: `demo`, `fetch`, `indicators`, `sim`, `cache stats|clear`.
//!
//! Results go to stdout (or the `--out` file), everything else to stderr: logs (tracing, `RUST_LOG`,
//! `--log-format json`), the progress bar, failures and summaries. Exit status: 0 success, 1 some
//! ticker failed (or the run was interrupted), 2 bad arguments or configuration.

// A binary: its results go to stdout by design (logs go through tracing to stderr).
#![allow(clippy::print_stdout)]

mod demo;
mod fetch;
mod files;
mod indicators;
mod progress;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use polygon_gh200::Config;

#[derive(Debug, Parser)]
#[command(name = "polygon-gh200", version, about = "Polygon.io market data, fast, cached and GPU-ready")]
struct Cli {
    /// A TOML file with the same keys as the environment variables (the environment wins over it,
    /// flags over both).
    #[arg(long, global = true, env = "POLYGON_GH200_CONFIG")]
    config: Option<PathBuf>,
    /// Log format on stderr (level from RUST_LOG, default warn).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline against the in-process simulator: no key, Redis or GPU needed.
    Demo(demo::DemoArgs),
    /// Fetch aggregates for many tickers to a CSV or Parquet file (or CSV on stdout).
    Fetch(fetch::FetchArgs),
    /// Compute indicators over a file written by `fetch`.
    Indicators(indicators::IndicatorArgs),
    /// Serve the local Polygon REST API simulator; prints its base URL on the first line of stdout.
    Sim(sim::SimArgs),
    /// The cache: `stats` or `clear` (removes this tool's keys only).
    Cache {
        #[arg(value_enum)]
        action: CacheAction,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CacheAction {
    Stats,
    Clear,
}

/// A command's failure: its message and exit status.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Bad arguments or configuration: exit 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }

    /// The work failed: exit 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Failure { code: 1, message: message.into() }
    }
}

impl From<polygon_gh200::ConfigError> for Failure {
    fn from(e: polygon_gh200::ConfigError) -> Self {
        Failure::usage(format!("configuration: {e}"))
    }
}

/// The configuration from the environment and the `--config` file.
pub fn load_config(file: Option<&std::path::Path>) -> Result<Config, Failure> {
    if let Some(f) = file
        && !f.is_file()
    {
        return Err(Failure::usage(format!("--config {}: no such file", f.display())));
    }
    Ok(Config::load(file)?)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let config = cli.config.as_deref();
    let result = rt.block_on(async {
        match cli.command {
            Command::Sim(args) => Ok(sim::run(args).await),
            Command::Demo(args) => demo::run(args, config).await,
            Command::Fetch(args) => fetch::run(args, config).await,
            Command::Indicators(args) => indicators::run(args, config).await,
            Command::Cache { action } => cache(action, config).await,
        }
    });
    // Tasks still blocked on the network must not hold the process open.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn cache(action: CacheAction, config: Option<&std::path::Path>) -> Result<ExitCode, Failure> {
    let config = load_config(config)?;
    let cache = config.cache_builder().build().await.map_err(|e| Failure::usage(format!("cache: {e}")))?;
    let where_ = polygon_gh200::cache::redact_url(&config.redis_url);
    if !wait_for_redis(&cache).await {
        return Err(Failure::failed(format!("Redis at {where_} is not answering")));
    }
    match action {
        CacheAction::Stats => {
            let (keys, bytes) = cache.redis_usage().await.map_err(|e| Failure::failed(format!("{where_}: {e}")))?;
            println!("redis\t{where_}");
            println!("keys\t{keys}");
            println!("bytes\t{bytes}");
        }
        CacheAction::Clear => {
            let n = cache.clear().await.map_err(|e| Failure::failed(format!("{where_}: {e}")))?;
            println!("removed\t{n}");
        }
    }
    cache.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Whether Redis answers within a second (the cache connects in the background).
pub async fn wait_for_redis(cache: &polygon_gh200::cache::Cache) -> bool {
    use polygon_gh200::cache::RedisStatus;
    for _ in 0..20 {
        match cache.redis_status() {
            RedisStatus::Up => return true,
            RedisStatus::Disabled => return false,
            RedisStatus::Down => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    false
}
