//! `sim`: the local Polygon REST API simulator, served until Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use polygon_gh200::model::RateLimit;
use tokio::io::AsyncWriteExt;

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Listen address; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Fixed latency added to every response, ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Latency of each new connection before its first byte, ms: the TCP and TLS handshakes'
    /// round trips (2 x --latency-ms models an HTTPS server that far away).
    #[arg(long, default_value_t = 0)]
    connect_latency_ms: u64,
    /// Random extra latency, uniform in 0..=N ms (seeded).
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Answer 429 with Retry-After beyond this rate: 5/min, 100/s, or off.
    #[arg(long, default_value = "off", value_parser = parse_rate)]
    rate_limit: RateLimitArg,
    /// Fraction of requests that fail (5xx, reset, truncated or stalled body), 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    fault_rate: f64,
    /// Seed of latency jitter and faults.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Serve HTTPS with a self-signed certificate; its PEM path is printed on the second line.
    #[arg(long)]
    tls: bool,
    /// Accept only this API key (default: any non-empty key).
    #[arg(long, env = "POLYGON_SIM_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Freeze the simulator's clock at this Unix ms (default: the real clock).
    #[arg(long)]
    now_ms: Option<i64>,
    /// Bound of the cache of rendered bodies, MiB (0: render every response afresh, so a repeated
    /// request costs what the first did; benchmarks use 0).
    #[arg(long, default_value_t = 256)]
    body_cache_mb: usize,
    /// Tickers that always answer 500, comma-separated.
    #[arg(long, value_delimiter = ',')]
    fail_tickers: Vec<String>,
    /// Append a line for every request to this file: the Unix ms it arrived and the status sent.
    #[arg(long)]
    request_log: Option<std::path::PathBuf>,
    /// List only N tickers on every endpoint and in the flat files (the large caps first), so that
    /// whole-market requests stay small; default: the whole universe (10,060).
    #[arg(long)]
    universe: Option<usize>,
    /// Bound of the rendered flat files kept in memory, MiB (a whole-market minute file of the
    /// full universe is about 50 MB gzip and takes seconds to render on one core).
    #[arg(long, default_value_t = 1024)]
    flat_file_cache_mb: usize,
    /// The flat-file store's S3 access key id (path-style bucket `flatfiles` on the same port).
    #[arg(long, default_value = polygon_sim::s3::DEFAULT_ACCESS_KEY_ID)]
    s3_access_key_id: String,
    /// The flat-file store's S3 secret.
    #[arg(long, env = "POLYGON_SIM_S3_SECRET_ACCESS_KEY", hide_env_values = true, hide_default_value = true,
          default_value = polygon_sim::s3::DEFAULT_SECRET)]
    s3_secret_access_key: String,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimitArg(Option<RateLimit>);

fn parse_rate(s: &str) -> Result<RateLimitArg, String> {
    RateLimit::parse_optional(s).map(RateLimitArg).map_err(|e| e.to_string())
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a fraction from 0 to 1")),
    }
}

pub async fn run(a: SimArgs) -> ExitCode {
    let mut b = polygon_sim::Simulator::builder()
        .addr(a.addr)
        .latency_ms(a.latency_ms)
        .connect_latency_ms(a.connect_latency_ms)
        .jitter_ms(a.jitter_ms)
        .rate_limit(a.rate_limit.0)
        .fault_rate(a.fault_rate)
        .seed(a.seed)
        .tls(a.tls)
        .fail_tickers(a.fail_tickers)
        .body_cache_bytes(a.body_cache_mb << 20)
        .s3_credentials(a.s3_access_key_id, a.s3_secret_access_key)
        .flat_file_cache_bytes(a.flat_file_cache_mb << 20)
        .stall(Duration::from_secs(30));
    if let Some(k) = a.api_key {
        b = b.api_key(k);
    }
    if let Some(now) = a.now_ms {
        b = b.now_ms(now);
    }
    if let Some(p) = a.request_log {
        b = b.request_log(p);
    }
    if let Some(n) = a.universe {
        b = b.universe(n);
    }
    let handle = match b.build().spawn().await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = tokio::io::stdout();
    let mut head = format!("{}\n", handle.base_url());
    if let Some(cert) = handle.cert_path() {
        head.push_str(&format!("cert: {}\n", cert.display()));
    }
    // Flush at once: the first line is how scripts and tests find the simulator.
    if out.write_all(head.as_bytes()).await.and(out.flush().await).is_err() {
        return ExitCode::from(1);
    }
    let _ = tokio::signal::ctrl_c().await;
    let stats = handle.stats();
    handle.shutdown().await;
    eprintln!(
        "sim: {} requests over {} connections, {} faults injected, {} rate-limited; flat files: {} lists, {} gets, {} refused",
        stats.requests,
        stats.connections,
        stats.faults,
        stats.rate_limited,
        stats.s3_lists,
        stats.s3_gets,
        stats.s3_denied
    );
    ExitCode::SUCCESS
}
