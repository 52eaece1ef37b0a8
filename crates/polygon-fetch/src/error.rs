//! `FetchError`: why one ticker's (or one request's) data could not be had; it always names the
//! ticker or endpoint.

use polygon_model::DecodeError;

/// Why one ticker's (or one request's) data could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The HTTP request failed (after the transport's retries).
    #[error("{ticker}: {source}")]
    Transport {
        /// The ticker (or endpoint) concerned.
        ticker: String,
        /// The transport's error.
        #[source]
        source: polygon_transport::Error,
    },
    /// A page's JSON was not an aggregates response.
    #[error("{ticker}: {source}")]
    Decode {
        /// The ticker concerned.
        ticker: String,
        /// Where and what.
        #[source]
        source: DecodeError,
    },
    /// A body that is valid JSON but not of the expected shape (other endpoints).
    #[error("{ticker}: unexpected response: {reason}")]
    Shape {
        /// The ticker or endpoint.
        ticker: String,
        /// What was wrong.
        reason: String,
    },
    /// The data broke an invariant (a bar outside its range, low above open, negative volume, …).
    #[error("{ticker}: invalid data from the server: {reason}")]
    Invalid {
        /// The ticker concerned.
        ticker: String,
        /// Which check failed, with the bar.
        reason: String,
    },
    /// `next_url` repeated, or there were more pages than any real range has.
    #[error("{ticker}: pagination stopped: {reason}")]
    Pagination {
        /// The ticker concerned.
        ticker: String,
        /// What happened.
        reason: String,
    },
    /// The arguments were wrong (`to` before `from`, …).
    #[error(transparent)]
    BadArgument(#[from] polygon_model::Error),
    /// A flat file's gzip stream was cut short or corrupt (after one more download).
    #[error("flat file {file}: damaged gzip: {reason}")]
    Gzip {
        /// The file's key.
        file: String,
        /// What the decompressor said.
        reason: String,
    },
    /// A flat file's CSV could not be decoded: the file, line, field and byte.
    #[error("{source}")]
    Csv {
        /// The file's key.
        file: String,
        /// Where and what (its `Display` starts with the file).
        #[source]
        source: Box<polygon_model::CsvError>,
    },
    /// The source this request was told to use (`--source flatfiles`) refused the whole batch
    /// (bad credentials, no access, a damaged file): every ticker it held gets this, naming it.
    #[error("{ticker}: {source}")]
    Source {
        /// The ticker concerned.
        ticker: String,
        /// Why, shared by every ticker of the batch.
        #[source]
        source: std::sync::Arc<FetchError>,
    },
    /// `Source::FlatFiles` was asked for and the files cannot serve the request at all: not
    /// configured (naming the settings), VWAP required, or bars the files do not hold.
    #[error("flat files cannot serve this request: {reason}")]
    FilesUnavailable {
        /// Why.
        reason: String,
    },
    /// Fetching was cancelled (the stream was dropped or the fetcher shut down).
    #[error("{ticker}: cancelled")]
    Cancelled {
        /// The ticker concerned.
        ticker: String,
    },
}

impl FetchError {
    /// The transport error inside, when that is what failed.
    pub fn transport(&self) -> Option<&polygon_transport::Error> {
        match self {
            FetchError::Transport { source, .. } => Some(source),
            FetchError::Source { source, .. } => source.transport(),
            _ => None,
        }
    }
}
