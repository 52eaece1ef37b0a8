//! Massive's flat files as a source of bars: which sessions the host has published, and one
//! session's file decoded, streamed from the host through gunzip into the CSV decoder (the file is
//! never held whole, compressed or not), into per-ticker columns of the tickers asked for.
//!
//! Bars from files are as traded (Massive does not adjust them) and carry no VWAP (NaN in the
//! columns); [`polygon_model::adjust_for_splits`] puts them on the API's adjusted basis.
//!
//! Keys, as Massive lays them out: `us_stocks_sip/minute_aggs_v1/YYYY/MM/YYYY-MM-DD.csv.gz` and
//! `us_stocks_sip/day_aggs_v1/…` ([`key_of`]).

use std::collections::BTreeMap;
use std::io::Write as _;

use polygon_model::{Date, FlatFileDay, FlatFileDecoder, Ticker, Timespan};
use polygon_transport::{FileHost, ObjectInfo};

use crate::FetchError;

/// The minute aggregates' key prefix.
pub const MINUTE_AGGS: &str = "us_stocks_sip/minute_aggs_v1/";
/// The day aggregates' key prefix.
pub const DAY_AGGS: &str = "us_stocks_sip/day_aggs_v1/";

/// Compressed bytes handed to the decoding thread at a time (a channel of this many chunks).
const IN_FLIGHT_CHUNKS: usize = 16;

/// The prefix of a timespan's files: minute and day bars have files; nothing else does.
pub fn prefix_of(span: Timespan) -> Option<&'static str> {
    match span {
        Timespan::Minute => Some(MINUTE_AGGS),
        Timespan::Day => Some(DAY_AGGS),
        _ => None,
    }
}

/// The key of one session's file.
pub fn key_of(prefix: &str, date: Date) -> String {
    let (y, m, _) = date.ymd();
    format!("{prefix}{y:04}/{m:02}/{date}.csv.gz")
}

/// Flat files of one host.
#[derive(Debug, Clone)]
pub struct FlatFiles {
    host: FileHost,
}

impl FlatFiles {
    /// Files of `host`.
    pub fn new(host: FileHost) -> Self {
        FlatFiles { host }
    }

    /// The host.
    pub fn host(&self) -> &FileHost {
        &self.host
    }

    /// The published files of `span` for the sessions `from..=to`, by date: one listing per
    /// calendar month of the range. A session missing here has no file yet (not published, or
    /// not a trading day): the listing, not a 403, is what says so.
    ///
    /// # Errors
    /// [`FetchError::BadArgument`] for a timespan without files; a [`FetchError::Transport`]
    /// naming the listing (bad credentials, no access).
    pub async fn published(
        &self,
        span: Timespan,
        from: Date,
        to: Date,
    ) -> Result<BTreeMap<Date, ObjectInfo>, FetchError> {
        let prefix = prefix_of(span).ok_or_else(|| {
            FetchError::BadArgument(polygon_model::Error::BadArgument {
                param: "timespan",
                value: span.to_string(),
                reason: "flat files hold minute and day bars only".into(),
            })
        })?;
        let mut out = BTreeMap::new();
        let mut month = from.first_of_month();
        while month <= to {
            let (y, m, _) = month.ymd();
            let listing = self.host.list(&format!("{prefix}{y:04}/{m:02}/")).await.map_err(|source| {
                FetchError::Transport { ticker: format!("flat files {prefix}{y:04}/{m:02}/"), source }
            })?;
            for o in listing {
                if let Some(d) =
                    o.key.strip_prefix(prefix).and_then(|r| r.get(8..18)).and_then(|d| d.parse::<Date>().ok())
                    && d >= from
                    && d <= to
                    && key_of(prefix, d) == o.key
                {
                    out.insert(d, o);
                }
            }
            month = month.add_days(32).first_of_month();
        }
        Ok(out)
    }

    /// One session's file, decoded: the bars of `tickers` (all of the file's when `None`), as
    /// traded, VWAP absent. A gzip stream that is cut short or corrupt is downloaded once more
    /// (a transfer can damage it past what HTTP sees); if the second copy is damaged too, the
    /// error names the file. A CSV error names the file, line, field and byte.
    ///
    /// # Errors
    /// [`FetchError::Transport`] (access denied, bad credentials; named `flat file KEY`),
    /// [`FetchError::Gzip`], [`FetchError::Csv`].
    pub async fn day(&self, key: &str, tickers: Option<&[Ticker]>) -> Result<FlatFileDay, FetchError> {
        match self.day_once(key, tickers).await {
            Err(FetchError::Gzip { file, reason }) => {
                tracing::warn!(file = %file, "damaged gzip ({reason}): downloading it once more");
                self.day_once(key, tickers).await
            }
            other => other,
        }
    }

    async fn day_once(&self, key: &str, tickers: Option<&[Ticker]>) -> Result<FlatFileDay, FetchError> {
        let transport = |source| FetchError::Transport { ticker: format!("flat file {key}"), source };
        let mut stream = self.host.open(key).await.map_err(transport)?;
        let decoder = match tickers {
            Some(t) => FlatFileDecoder::with_filter(t.iter()),
            None => FlatFileDecoder::new(),
        };
        // Gunzip and decode off the reactor: a whole-market day is millions of rows.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(IN_FLIGHT_CHUNKS);
        let file = key.to_owned();
        let work = tokio::task::spawn_blocking(move || {
            let mut gz = flate2::write::GzDecoder::new(Feed { decoder, error: None });
            let gzip = |e: std::io::Error, gz: &mut flate2::write::GzDecoder<Feed>| match gz.get_mut().error.take() {
                Some(csv) => FetchError::Csv { file: file.clone(), source: Box::new(csv.with_file(file.clone())) },
                None => FetchError::Gzip { file: file.clone(), reason: e.to_string() },
            };
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(e) = gz.write_all(&chunk) {
                    return Err(gzip(e, &mut gz));
                }
            }
            if let Err(e) = gz.try_finish() {
                return Err(gzip(e, &mut gz));
            }
            let feed = gz.finish().map_err(|e| FetchError::Gzip { file: file.clone(), reason: e.to_string() })?;
            feed.decoder
                .finish()
                .map_err(|csv| FetchError::Csv { file: file.clone(), source: Box::new(csv.with_file(file.clone())) })
        });
        let mut sent = Ok(());
        loop {
            match stream.next_chunk().await {
                Ok(Some(chunk)) => {
                    if tx.send(chunk).await.is_err() {
                        break; // the decoder stopped on an error: it says which below
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    sent = Err(transport(e));
                    break;
                }
            }
        }
        drop(tx);
        let decoded = work
            .await
            .map_err(|e| FetchError::Gzip { file: key.to_owned(), reason: format!("decoder panicked: {e}") })?;
        sent?;
        decoded
    }
}

/// Where gunzipped bytes go: the CSV decoder, whose error is kept aside (the gzip writer only
/// carries `io::Error`s).
struct Feed {
    decoder: FlatFileDecoder,
    error: Option<polygon_model::CsvError>,
}

impl std::io::Write for Feed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Err(std::io::Error::other("the CSV decoder stopped"));
        }
        match self.decoder.feed(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.error = Some(e);
                Err(std::io::Error::other("the CSV decoder stopped"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
