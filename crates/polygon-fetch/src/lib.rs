//! Fetching whole batches of tickers from Polygon: planned into cacheable chunks, paginated with
//! loop detection, validated, single-flighted through the cache, parallel up to `MAX_WORKERS`,
//! and streamed in chunks of `BATCH_SIZE` tickers. No ticker is ever dropped silently: every one
//! comes back with its columns or with an error that names it and says why.
//!
//! ```no_run
//! # async fn demo(t: polygon_transport::Transport, c: polygon_cache::Cache) {
//! use polygon_fetch::{Fetcher, FetchConfig};
//! use polygon_model::{Multiplier, Timespan};
//! let f = Fetcher::new(t, c, FetchConfig::default());
//! let tickers = ["AAPL".parse().unwrap(), "MSFT".parse().unwrap()];
//! for (ticker, result) in f
//!     .get_aggregates_batch(&tickers, Multiplier::ONE, Timespan::Minute, "2024-06-03".parse().unwrap(), "2024-06-28".parse().unwrap())
//!     .await
//! {
//!     match result {
//!         Ok(cols) => println!("{ticker}: {} bars", cols.len()),
//!         Err(e) => println!("{ticker}: failed: {e}"),
//!     }
//! }
//! # }
//! ```

mod aggregates;
mod checks;
mod config;
mod error;
mod fetcher;
mod flatfiles;
mod grouped;
mod pages;
mod plan;
mod reference;
mod sources;
mod stream;

pub use config::{
    DEFAULT_BATCH_SIZE, DEFAULT_FLAT_FILE_MEMORY, DEFAULT_MAX_PAGES, DEFAULT_MAX_WORKERS, DEFAULT_QUEUE_SIZE,
    FetchConfig,
};
pub use error::FetchError;
pub use fetcher::{Fetcher, Progress};
pub use flatfiles::{DAY_AGGS, FlatFiles, MINUTE_AGGS, key_of as flat_file_key, prefix_of as flat_file_prefix};
pub use grouped::GroupedBars;
pub use plan::{Chunk, Unit, plan, unit_for};
pub use reference::{SPLITS_PER_REQUEST, TicksPage};
pub use sources::{Cost, FILE_BYTES_PER_SEC_PER_CORE, Source, SourcePlan, UnitPlan};
pub use stream::BatchChunk;
