//! polygon-gh200: Polygon (Massive) market data for thousands of tickers, cached and GPU-ready.
//!
//! One module per layer; [`Config`], which reads design.md's settings from the environment and an
//! optional TOML file; and [`PolygonDataSource`], every layer wired behind one handle. The crate
//! has no logic of its own beyond configuration and wiring: each layer is usable alone through its
//! module (or its own crate).

mod config;
/// The demo: the whole pipeline against the in-process simulator, cold then warm.
#[cfg(feature = "demo")]
pub mod demo;
mod fleet;
mod source;

pub use config::{Config, ConfigError, GpuBackend, GpuMemory, RateLimitScope};
pub use polygon_fetch::{BatchChunk, Progress, Source, SourcePlan};
pub use source::{Error, PolygonDataSource, ProcessedChunk};

/// The vocabulary: tickers, dates, the calendar, requests, responses, `BarColumns`.
pub mod model {
    pub use polygon_model::*;
}
/// Pooled, rate-limited, retrying HTTPS.
pub mod transport {
    pub use polygon_transport::*;
}
/// Redis and memory cache of rkyv archives.
pub mod cache {
    pub use polygon_cache::*;
}
/// Planning, pagination, batches and streams.
pub mod fetch {
    pub use polygon_fetch::*;
}
/// Indicator backends.
pub mod gpu {
    pub use polygon_gpu::*;
}
