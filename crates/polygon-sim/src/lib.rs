//! A local Polygon (Massive) REST API simulator: every endpoint of design.md on localhost, with
//! Polygon's JSON, pagination, auth and errors, over HTTP/1.1 or HTTP/2, plain or TLS, with
//! seeded latency, rate-limit and fault knobs; and Massive's flat-file store (S3, SigV4) on the
//! same port ([`s3`]).
//!
//! The data is a deterministic market ([`market`]): the same request gives the same bytes in any
//! process, minute bars exist only inside NYSE sessions (04:00-20:00 New York) on trading days,
//! and every coarser bar is the exact aggregate of the minute bars, which are in turn the exact
//! aggregate of their trades. Rendered bodies are cached, so benchmarks measure the client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), polygon_sim::Error> {
//! let sim = polygon_sim::Simulator::builder().latency_ms(20).build().spawn().await?;
//! println!("{}", sim.base_url()); // http://127.0.0.1:PORT
//! let stats = sim.stats();
//! assert_eq!(stats.requests, 0);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod market;
mod render;
pub mod s3;
mod server;
pub mod timer;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use polygon_model::RateLimit;

pub use server::{SimHandle, SimStats};

/// What can go wrong starting the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The self-signed certificate could not be made or written.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// The request log could not be opened.
    #[error("cannot open the request log {path}")]
    RequestLog {
        /// The file asked for.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The simulator's settings. Build with [`Simulator::builder`].
#[derive(Clone)]
pub struct Simulator {
    pub(crate) addr: SocketAddr,
    pub(crate) api_key: Option<Arc<str>>,
    pub(crate) latency: Duration,
    pub(crate) connect_latency: Duration,
    pub(crate) jitter: Duration,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) fault_rate: f64,
    pub(crate) seed: u64,
    pub(crate) stall: Duration,
    pub(crate) tls: bool,
    pub(crate) cert_dir: Option<PathBuf>,
    pub(crate) now_ms: Option<i64>,
    pub(crate) fail_tickers: Vec<String>,
    pub(crate) wrong_shape_tickers: Vec<String>,
    pub(crate) body_cache_bytes: usize,
    pub(crate) loop_next_url: bool,
    pub(crate) request_log: Option<PathBuf>,
    pub(crate) universe: Option<usize>,
    pub(crate) s3: s3::S3Config,
    pub(crate) without_stocks_v1_splits: bool,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("latency", &self.latency)
            .field("connect_latency", &self.connect_latency)
            .field("jitter", &self.jitter)
            .field("rate_limit", &self.rate_limit)
            .field("fault_rate", &self.fault_rate)
            .field("seed", &self.seed)
            .field("tls", &self.tls)
            .field("now_ms", &self.now_ms)
            .field("fail_tickers", &self.fail_tickers)
            .field("wrong_shape_tickers", &self.wrong_shape_tickers)
            .field("universe", &self.universe)
            .field("s3_access_key_id", &self.s3.access_key_id)
            .field("s3_secret", &"<redacted>")
            .field("flat_file_faults", &self.s3.faults)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Settings: `127.0.0.1:0`, no latency, no rate limit, no faults, plain HTTP, any key accepted.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder(Simulator {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: None,
            latency: Duration::ZERO,
            connect_latency: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_limit: None,
            fault_rate: 0.0,
            seed: 42,
            stall: Duration::from_secs(30),
            tls: false,
            cert_dir: None,
            now_ms: None,
            fail_tickers: Vec::new(),
            wrong_shape_tickers: Vec::new(),
            body_cache_bytes: 256 << 20,
            loop_next_url: false,
            request_log: None,
            universe: None,
            s3: s3::S3Config::default(),
            without_stocks_v1_splits: false,
        })
    }

    /// Binds and serves in the background of the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Bind`] if the address is taken; [`Error::Tls`] if the certificate cannot be written.
    pub async fn spawn(self) -> Result<SimHandle, Error> {
        server::spawn(self).await
    }
}

/// Builds a [`Simulator`].
#[derive(Debug, Clone)]
pub struct SimulatorBuilder(Simulator);

impl SimulatorBuilder {
    /// Listen address (port 0 picks a free one).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.0.addr = addr;
        self
    }

    /// Accept only this key (by default any non-empty key is accepted).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.0.api_key = Some(Arc::from(key.into()));
        self
    }

    /// Fixed latency before each response, kept to the OS timer's precision (tens of
    /// microseconds), not tokio's 1 ms tick.
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.0.latency = Duration::from_millis(ms);
        self
    }

    /// Latency of a new connection before its first byte is answered: the handshake round trips
    /// a real network charges and a loopback socket does not (one for TCP, one more for TLS 1.3,
    /// so `2 × latency` models an HTTPS server `latency` away). Pooled connections pay it once.
    pub fn connect_latency_ms(mut self, ms: u64) -> Self {
        self.0.connect_latency = Duration::from_millis(ms);
        self
    }

    /// Extra latency, uniform in `0..=ms`, seeded.
    pub fn jitter_ms(mut self, ms: u64) -> Self {
        self.0.jitter = Duration::from_millis(ms);
        self
    }

    /// Answer 429 with `Retry-After` beyond this rate (one bucket for all keys).
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.0.rate_limit = limit;
        self
    }

    /// Fraction (0..=1) of requests that fail: 500/502/503/504, reset, truncated or stalled body.
    pub fn fault_rate(mut self, rate: f64) -> Self {
        self.0.fault_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Seed of the latency jitter and fault draws.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    /// How long a stalled body stalls before the connection is dropped.
    pub fn stall(mut self, d: Duration) -> Self {
        self.0.stall = d;
        self
    }

    /// Serve HTTPS with a fresh self-signed certificate for `127.0.0.1` and `localhost`.
    pub fn tls(mut self, on: bool) -> Self {
        self.0.tls = on;
        self
    }

    /// Where to write `cert.pem` (default: a new folder under the system temp dir).
    pub fn cert_dir(mut self, dir: PathBuf) -> Self {
        self.0.cert_dir = Some(dir);
        self
    }

    /// Freeze the simulator's clock at this Unix ms (default: the real clock). No bar is served
    /// that ends after "now".
    pub fn now_ms(mut self, ms: i64) -> Self {
        self.0.now_ms = Some(ms);
        self
    }

    /// Tickers whose aggregates answer 200 with valid JSON of the wrong shape: `results` missing
    /// while `resultsCount` says there are bars (tickers whose first letter is A-M), or a price
    /// sent as a string (N-Z).
    pub fn wrong_shape_tickers(mut self, tickers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.0.wrong_shape_tickers = tickers.into_iter().map(Into::into).collect();
        self
    }

    /// Tickers whose every request answers 500 (a per-ticker fault).
    pub fn fail_tickers(mut self, tickers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.0.fail_tickers = tickers.into_iter().map(Into::into).collect();
        self
    }

    /// Appends a line for every request answered to `path`: the Unix ms it arrived and the
    /// status sent (`reset` for a connection reset on purpose), so that a test or a benchmark
    /// can measure the rate the server saw, window by window.
    pub fn request_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.0.request_log = Some(path.into());
        self
    }

    /// A server bug on purpose: every aggregates page's `next_url` points back at the same page,
    /// so a client that follows it blindly never ends.
    pub fn loop_next_url(mut self, on: bool) -> Self {
        self.0.loop_next_url = on;
        self
    }

    /// List only `n` tickers (the familiar large caps first, then synthetic ones; see
    /// [`market::Listing::bounded`]) on every endpoint, so that whole-market requests (grouped
    /// daily, the flat files) stay small. Default: the whole universe (10,060 tickers).
    pub fn universe(mut self, n: usize) -> Self {
        self.0.universe = Some(n);
        self
    }

    /// The flat-file store's S3 credentials (default [`s3::DEFAULT_ACCESS_KEY_ID`] and
    /// [`s3::DEFAULT_SECRET`]): requests signed with any other are refused as S3 refuses them.
    pub fn s3_credentials(mut self, access_key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.0.s3.access_key_id = Arc::from(access_key_id.into());
        self.0.s3.secret = Arc::from(secret.into());
        self
    }

    /// Serve the flat file `key` damaged in this way (see [`s3::FlatFileFault`]).
    pub fn flat_file_fault(mut self, key: impl Into<String>, fault: s3::FlatFileFault) -> Self {
        self.0.s3.faults.push((key.into(), fault));
        self
    }

    /// Bound of the rendered flat files kept in memory, bytes (default 1 GiB).
    pub fn flat_file_cache_bytes(mut self, bytes: usize) -> Self {
        self.0.s3.cache_bytes = bytes;
        self
    }

    /// Answer `/stocks/v1/splits` with 404, as a server from before 2026-02-18 would (only the
    /// deprecated `/v3/reference/splits` is served), so that a client's fallback can be tested.
    pub fn without_stocks_v1_splits(mut self, on: bool) -> Self {
        self.0.without_stocks_v1_splits = on;
        self
    }

    /// Bound of the rendered-body cache, bytes.
    pub fn body_cache_bytes(mut self, bytes: usize) -> Self {
        self.0.body_cache_bytes = bytes;
        self
    }

    /// The settings.
    pub fn build(self) -> Simulator {
        self.0
    }
}

/// The bars the simulator serves for a ticker and range, straight from its generator, ascending
/// (what a client that follows every `next_url` must end up with). Empty for unknown tickers.
pub fn expected_aggregates(
    ticker: &str,
    multiplier: polygon_model::Multiplier,
    timespan: polygon_model::Timespan,
    from: polygon_model::TimeBound,
    to: polygon_model::TimeBound,
    now_ms: i64,
) -> Vec<polygon_model::Bar> {
    expected_aggregates_as(ticker, multiplier, timespan, from, to, now_ms, true)
}

/// [`expected_aggregates`], split-adjusted or (`adjusted` false) as traded.
pub fn expected_aggregates_as(
    ticker: &str,
    multiplier: polygon_model::Multiplier,
    timespan: polygon_model::Timespan,
    from: polygon_model::TimeBound,
    to: polygon_model::TimeBound,
    now_ms: i64,
    adjusted: bool,
) -> Vec<polygon_model::Bar> {
    match market::Universe::get().profile(ticker) {
        Some(p) => market::aggregates_as(p, timespan, multiplier.get(), from.start_ms(), to.end_ms(), now_ms, adjusted)
            .iter()
            .map(render::bar_of)
            .collect(),
        None => Vec::new(),
    }
}
