//! The vocabulary of polygon-gh200: tickers, timespans, dates and the NYSE calendar, request and
//! response types for the Polygon (Massive) REST API, [`BarColumns`] and fast JSON and flat-file CSV decoders.
//!
//! This crate knows nothing about HTTP, Redis or CUDA. Its principal types:
//! - [`Ticker`], [`Timespan`], [`Multiplier`], [`TimeBound`]: validated at the edge, so the rest
//!   of the workspace takes types instead of strings;
//! - [`NyseCalendar`] and [`Session`]: trading days, holidays, early closes, 04:00-20:00 sessions
//!   in America/New_York across DST;
//! - the request types ([`AggregatesRequest`], …) and the serde response types ([`AggregatesResponse`], …);
//! - [`BarColumns`]: a batch of tickers as a struct of arrays with per-ticker offsets, rkyv-archivable;
//! - [`PackedBars`]: the same batch in a compact exact encoding (decimal deltas), what the cache stores;
//! - [`decode_aggregates`]: JSON body straight into columns, errors naming field and byte offset;
//! - [`FlatFileDecoder`]: Massive's flat-file aggregate CSV, streamed chunk by chunk into
//!   per-ticker columns, errors naming line, column and byte offset;
//! - [`adjust_for_splits`]: bars as traded to the API's split-adjusted basis (one cached form for every source);
//! - [`Shard`]: a ticker list split across N workers without coordination (rendezvous hashing).
//!
//! ```
//! use polygon_model::{AggregatesRequest, Multiplier, NyseCalendar, Ticker, Timespan};
//! let req = AggregatesRequest::new(
//!     Ticker::new("AAPL")?, Multiplier::ONE, Timespan::Minute,
//!     "2024-07-01".parse()?, "2024-07-05".parse()?,
//! )?;
//! assert!(req.path_and_query().starts_with("/v2/aggs/ticker/AAPL/range/1/minute/2024-07-01/2024-07-05"));
//! let days = NyseCalendar.trading_days("2024-07-01".parse()?, "2024-07-05".parse()?).count();
//! assert_eq!(days, 4); // July 4th is a holiday
//! # Ok::<(), polygon_model::Error>(())
//! ```

mod adjust;
mod calendar;
mod columns;
mod csv;
mod decode;
mod error;
mod packed;
mod rate;
mod request;
mod response;
pub mod shard;
mod ticker;
mod time;

pub use adjust::{adjust_for_splits, adjust_rows_for_splits};
pub use calendar::{
    DayKind, EARLY_CLOSE_MINUTE, EARLY_POST_CLOSE_MINUTE, MAX_MINUTES_PER_SESSION, NyseCalendar, POST_CLOSE_MINUTE,
    PRE_OPEN_MINUTE, REGULAR_CLOSE_MINUTE, REGULAR_OPEN_MINUTE, Session,
};
pub use columns::{ArchivedBarColumns, BarColumns, N_ABSENT, SeriesView};
pub use csv::{CsvError, CsvErrorKind, FlatFileDay, FlatFileDecoder, MAX_CSV_LINE_LEN, decode_flat_file};
pub use decode::{
    AggregatesMeta, AggregatesPage, DecodeError, DecodeErrorKind, decode_aggregates, decode_aggregates_into,
};
pub use error::Error;
pub use packed::{ArchivedPackedBars, BLOCK as PACKED_BLOCK, PackedBars};
pub use rate::RateLimit;
pub use request::{
    AGGS_DEFAULT_LIMIT, AGGS_MAX_LIMIT, AggregatesRequest, GroupedDailyRequest, LEGACY_SPLITS_MAX_LIMIT, Multiplier,
    PrevCloseRequest, SPLITS_MAX_LIMIT, Sort, SplitsRequest, TICKERS_DEFAULT_LIMIT, TICKERS_MAX_LIMIT,
    TICKS_DEFAULT_LIMIT, TICKS_MAX_LIMIT, TickKind, TickersRequest, TicksRequest, TimeBound, Timespan,
};
pub use response::{
    AggregatesResponse, Bar, ErrorResponse, GroupedDailyResponse, PrevCloseResponse, Quote, QuotesResponse,
    SplitRecord, SplitsResponse, TickerBar, TickerInfo, TickersResponse, Trade, TradesResponse,
};
pub use shard::Shard;
pub use ticker::{MAX_TICKER_LEN, Ticker, TickerKind, distinct};
pub use time::{DAY_MS, Date, MINUTE_MS, Weekday, ny_date_minute, ny_utc_offset_minutes};
