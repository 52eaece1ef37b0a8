//! Pooled, rate-limited, retrying HTTPS to the Polygon (Massive) REST API.
//!
//! [`Transport`] GETs any Polygon path against a configured base URL and returns the body bytes
//! (gzip decoded) or an [`Error`] with predicates. It knows nothing about bars, caching or
//! Polygon's paths beyond `next_url` handling. One `GET` passes through these pieces, in this order
//! (the first listed sees the request first):
//!
//! 1. **deadline**: the whole call, retries included, ends by `deadline`;
//! 2. **retry** ([`RetryPolicy`], full-jitter backoff, `Retry-After`, [`RetryBudget`]): each failed
//!    attempt that the policy deems retryable is tried again while attempts and budget last;
//! 3. **host pause**: after a 429 every request to the host waits out its `Retry-After`;
//! 4. **rate limit**: a [`PermitSource`]: by default [`LocalLimiter`], governor's GCRA at
//!    `POLYGON_RATE_LIMIT` (`5/min`, `100/s`, `off`) with `POLYGON_RATE_BURST`, waiting with jitter;
//!    a fleet's shared quota instead when one is given (a 429 pauses everyone who shares it);
//! 5. **concurrency**: at most `max_connections` attempts in flight;
//! 6. **attempt timeout**, then the pooled hyper client (keep-alive, HTTP/1.1 or HTTP/2 by ALPN,
//!    `TCP_NODELAY`, `Accept-Encoding: gzip`, the key as `Authorization: Bearer`);
//! 7. **body bound**: a body over `max_body_bytes` (`MAX_BODY_MB`), by its `Content-Length`, by
//!    the bytes that arrive or by what its gzip decodes to, is refused before it is held in memory.
//!
//! Where things live: [`TransportBuilder`] and its [`defaults`] in `builder.rs`; the composition
//! of one call (`get` ▸ `get_inner` ▸ `attempt` ▸ `send`) in `request.rs`; [`Transport`], its
//! counters and [`path_of_next_url`] in `transport.rs`; the pieces in `retry.rs`, `client.rs`,
//! `gunzip.rs`, `key.rs` and `error.rs`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), polygon_transport::Error> {
//! use polygon_transport::{ApiKey, Transport};
//! let t = Transport::builder("https://api.massive.com")
//!     .api_key(ApiKey::new(std::env::var("POLYGON_API_KEY").unwrap_or_default())?)
//!     .rate_limit("100/s".parse().ok())
//!     .build()?;
//! let page = t.get("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31").await?;
//! println!("{} bytes, request {:?}", page.body.len(), page.request_id);
//! # Ok(()) }
//! ```

mod builder;
mod client;
mod error;
mod gunzip;
mod key;
mod permit;
mod request;
mod retry;
mod transport;

pub use builder::{HttpVersion, TransportBuilder, defaults};
pub use error::{Error, report};
pub use key::ApiKey;
pub use permit::{LocalLimiter, PermitFuture, PermitSource};
pub use retry::{Attempt, RetryBudget, RetryPolicy};
pub use transport::{Response, Transport, TransportStats, path_of_next_url};
