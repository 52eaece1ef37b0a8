//! Pooled, rate-limited, retrying HTTPS to the Polygon (Massive) REST API and its flat-file host.
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
//!    `TCP_NODELAY`, `Accept-Encoding: gzip` unless [`TransportBuilder::gzip`] is off, the key,
//!    when it has one, as `Authorization: Bearer`);
//! 7. **body bound**: a body over `max_body_bytes` (`MAX_BODY_MB`), by its `Content-Length`, by
//!    the bytes that arrive or by what its gzip decodes to, is refused before it is held in memory.
//!
//! [`Transport::request`] sends a `GET` or `HEAD` with extra headers (`Range`, `If-Match`) and
//! returns the response's headers too; [`Transport::get_stream`] hands a body over chunk by chunk
//! as it arrives ([`BodyStream`]) and resumes a cut one with `Range` and `If-Match`.
//!
//! # The flat-file host
//!
//! [`FileHost`] reaches Massive's flat files (gzip CSV, one a trading day, e.g.
//! `us_stocks_sip/minute_aggs_v1/2024/07/2024-07-01.csv.gz`) on their S3-compatible host
//! (`POLYGON_S3_ENDPOINT`, default `https://files.massive.com`, bucket `POLYGON_S3_BUCKET`,
//! default `flatfiles`, path-style) with the dashboard's S3 credentials (`POLYGON_S3_ACCESS_KEY_ID`,
//! `POLYGON_S3_SECRET_ACCESS_KEY` as an [`S3Secret`]; not the API key): [`FileHost::list`]
//! (ListObjectsV2, every page), [`FileHost::head`], [`FileHost::get`] (the bytes as stored: gzip
//! stays gzip) and [`FileHost::open`] (a [`FileStream`] of chunks, resumed where a cut body
//! stopped). [rusty-s3](https://docs.rs/rusty-s3) signs each request as a SigV4 presigned URL and
//! parses the listing; it does no I/O. A second [`Transport`], the file host's own, sends them:
//! its own pool, retries, retry budget and rate limit (file downloads are not charged to the
//! REST quota), its own body bound (1 GiB, [`file_defaults::MAX_BODY_BYTES`]), no gzip
//! decoding, and never the API key: it is built without one whatever its settings say, so no
//! `Authorization` header ever goes to the file host. Wherever a URL is shown (spans and events at
//! any level, errors, `Debug`), its `apiKey`, `X-Amz-Signature`, `X-Amz-Credential` (which names
//! the access key id) and `X-Amz-Security-Token` are `<redacted>`, in one place. S3's errors keep
//! their `Code` ([`Error::code`]): [`Error::is_bad_credentials`] (`SignatureDoesNotMatch`,
//! `InvalidAccessKeyId`; the message names the setting) and [`Error::is_access_denied`] (403
//! `AccessDenied`, which at Massive means not published yet, outside the plan, or no flat-files
//! access: a listing of the prefix tells which).
//!
//! Where things live: [`TransportBuilder`] and its [`defaults`] in `builder.rs`; the composition
//! of one call (`request` ▸ `call` ▸ `wait_to_retry` ▸ `attempt` ▸ `send` ▸ `finish`) in
//! `request.rs`; the streamed body and its resumption in `stream.rs`; [`Transport`], its counters
//! and [`path_of_next_url`] in `transport.rs`; the file host in `files.rs`; the pieces in
//! `retry.rs`, `client.rs`, `gunzip.rs`, `key.rs` and `error.rs`.
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
mod files;
mod gunzip;
mod key;
mod permit;
mod request;
mod retry;
mod stream;
mod transport;

pub use builder::{HttpVersion, TransportBuilder, defaults};
pub use error::{Error, report};
pub use files::{FileHost, FileHostBuilder, FileStream, Object, ObjectInfo, defaults as file_defaults};
pub use key::{ApiKey, S3Secret};
pub use permit::{LocalLimiter, PermitFuture, PermitSource};
pub use retry::{Attempt, RetryBudget, RetryPolicy};
pub use stream::BodyStream;
pub use transport::{Response, Transport, TransportStats, path_of_next_url};
