//! The `polygon-gh200` command: `demo`, `fetch`, `plan`, `indicators`, `sim`, `cache stats|clear`.
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
    /// A dry run of `fetch` (same arguments): per source, requests or files, bytes, what is
    /// cached, the time at the rate limit, and the choice. Asks for no bars.
    Plan(fetch::PlanArgs),
    /// Compute indicators over a file written by `fetch`.
    Indicators(indicators::IndicatorArgs),
    /// Serve the local Polygon REST API simulator; prints its base URL on the first line of stdout.
    Sim(sim::SimArgs),
    /// The cache: `stats` (entries and bytes per tier and namespace) or `clear` (this tool's
    /// entries only; other keys in the same Redis are left alone).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

#[derive(Debug, Subcommand)]
enum CacheAction {
    /// Entries and bytes per tier (disk, Redis) and namespace, tab-separated.
    Stats {
        /// Only this namespace (`default` for entries without one).
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Removes one namespace's entries (under every upstream): `--namespace`, else the configured
    /// `CACHE_NAMESPACE`, else the default one; `--all` removes every namespace's.
    Clear {
        /// Which tier.
        #[arg(long, value_enum, default_value_t = TierArg::All)]
        tier: TierArg,
        /// This namespace (`default` for entries without one).
        #[arg(long, conflicts_with = "all")]
        namespace: Option<String>,
        /// Every namespace this tool wrote (keys under `pgh200:`, every disk scope).
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TierArg {
    Memory,
    Disk,
    Redis,
    All,
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

/// A command-line flag that sets a configuration variable: one more layer of `Config`, over the
/// environment and the `--config` file, validated by the same code with the same messages.
#[derive(Debug)]
pub struct Flag {
    /// The flag as typed (`--base-url`).
    pub flag: &'static str,
    /// The variable it sets (`POLYGON_BASE_URL`).
    pub variable: &'static str,
    /// Its value, when given.
    pub value: Option<String>,
}

/// The configuration from the `--config` file, the environment and the flags given, in that order.
pub fn load_config(file: Option<&std::path::Path>, flags: &[Flag]) -> Result<Config, Failure> {
    if let Some(f) = file
        && !f.is_file()
    {
        return Err(Failure::usage(format!("--config {}: no such file", f.display())));
    }
    let overrides: Vec<(&str, String)> =
        flags.iter().filter_map(|f| f.value.clone().map(|v| (f.variable, v))).collect();
    Config::load_with(file, &overrides).map_err(|e| {
        match flags.iter().find(|f| f.variable == e.variable && f.value.is_some()) {
            Some(f) => {
                Failure::usage(format!("{} {:?}: expected {} (it sets {})", f.flag, e.value, e.expected, f.variable))
            }
            None => Failure::from(e),
        }
    })
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
            Command::Plan(args) => fetch::plan(args, config).await,
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
    let namespace = match &action {
        CacheAction::Stats { namespace } | CacheAction::Clear { namespace, .. } => namespace.clone(),
    };
    // `--namespace default` is the default scope; any other name is validated as CACHE_NAMESPACE.
    let ns_flag = namespace.clone().filter(|n| n != "default");
    let flags = [Flag { flag: "--namespace", variable: "CACHE_NAMESPACE", value: ns_flag }];
    let mut config = load_config(config, &flags)?;
    if namespace.as_deref() == Some("default") {
        config.cache_namespace = None; // the default scope, whatever CACHE_NAMESPACE says
    }
    let where_ = config.redis_url.as_deref().map(polygon_gh200::cache::redact_url);
    let disk_dir = config.cache_dir.clone().filter(|_| config.cache_disk);
    let cache = config.cache_builder().build().await.map_err(|e| Failure::usage(format!("cache: {e}")))?;
    let redis_up = polygon_gh200::demo::wait_for_redis(&cache).await;
    let redis_down = || Failure::failed(format!("Redis at {} is not answering", where_.as_deref().unwrap_or("")));
    let result = match action {
        CacheAction::Stats { .. } => {
            let wanted = |scope: &str| namespace.as_deref().is_none_or(|ns| scope.split('.').next() == Some(ns));
            println!("tier\tnamespace\tentries\tbytes\twhere");
            if let Some((root, usage)) = cache.disk_usage() {
                for u in usage.iter().filter(|u| wanted(&u.scope)) {
                    println!("disk\t{}\t{}\t{}\t{}", u.scope, u.entries, u.bytes, root.display());
                }
            }
            match (&where_, redis_up) {
                (None, _) => Ok(()),
                (Some(_), false) => Err(redis_down()),
                (Some(w), true) => {
                    let usage = cache.redis_usage_by_scope().await.map_err(|e| Failure::failed(format!("{w}: {e}")))?;
                    for u in usage.iter().filter(|u| wanted(&u.scope)) {
                        println!("redis\t{}\t{}\t{}\t{w}", u.scope, u.entries, u.bytes);
                    }
                    Ok(())
                }
            }
        }
        CacheAction::Clear { tier, all, .. } => {
            use polygon_gh200::cache::{Clear, Tiers};
            let tiers = Tiers {
                memory: matches!(tier, TierArg::Memory | TierArg::All),
                disk: matches!(tier, TierArg::Disk | TierArg::All),
                redis: matches!(tier, TierArg::Redis | TierArg::All),
            };
            if tier == TierArg::Disk && disk_dir.is_none() {
                return Err(Failure::usage(
                    "the disk tier is off (CACHE_DISK=off) or has no directory (set CACHE_DIR)",
                ));
            }
            if tier == TierArg::Redis && where_.is_none() {
                return Err(Failure::usage("REDIS_URL is off: there is no Redis tier to clear"));
            }
            // A Redis that does not answer: the other tiers are cleared all the same, then it is named.
            let unreachable = tiers.redis && where_.is_some() && !redis_up;
            let tiers = Tiers { redis: tiers.redis && redis_up, ..tiers };
            let what = if all { Clear::Everything } else { Clear::Namespace };
            let n = cache.clear_tiers(tiers, what).await.map_err(|e| Failure::failed(e.to_string()))?;
            println!("removed\t{n}");
            if unreachable { Err(redis_down()) } else { Ok(()) }
        }
    };
    cache.shutdown().await;
    result.map(|()| ExitCode::SUCCESS)
}
