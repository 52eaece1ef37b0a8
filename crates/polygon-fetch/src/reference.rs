//! The other endpoints, through the cache: grouped daily (the whole market for one day), the
//! previous close, a day of trades or quotes, and the reference ticker universe (every cursor
//! followed by the one pagination loop).

use polygon_cache::{CacheKey, CacheValue, TtlClass, TtlPolicy};
use polygon_model::{
    Date, GroupedDailyRequest, GroupedDailyResponse, PrevCloseRequest, PrevCloseResponse, QuotesResponse, SplitRecord,
    SplitsRequest, SplitsResponse, TickKind, Ticker, TickersRequest, TickersResponse, TicksRequest, TradesResponse,
};
use serde::de::DeserializeOwned;

use crate::{FetchError, Fetcher};

/// Trades or quotes of one day.
#[derive(Debug, Clone, PartialEq)]
pub enum TicksPage {
    /// `/v3/trades`.
    Trades(TradesResponse),
    /// `/v3/quotes`.
    Quotes(QuotesResponse),
}

impl Fetcher {
    /// The whole market's daily bars for one day.
    ///
    /// # Errors
    /// A [`FetchError`] (named `grouped <date>`).
    pub async fn grouped_daily(&self, date: Date) -> Result<GroupedDailyResponse, FetchError> {
        let r = GroupedDailyRequest::new(date);
        let class = TtlPolicy::classify_range(date.add_days(1).ny_unix_ms(0) - 1, self.now());
        self.json_pages(&CacheKey::grouped(&r), class, r.path_and_query(), &format!("grouped {date}")).await
    }

    /// The previous trading day's bar of a ticker.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn previous_close(&self, ticker: &Ticker) -> Result<PrevCloseResponse, FetchError> {
        let r = PrevCloseRequest::new(ticker.clone());
        let today = polygon_model::ny_date_minute(self.now()).map(|(d, _)| d)?;
        self.json_pages(&CacheKey::prev(&r, today), TtlClass::Live, r.path_and_query(), ticker.as_str()).await
    }

    /// All trades (or quotes) of a ticker on one New York day, every cursor followed.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn ticks(&self, kind: TickKind, ticker: &Ticker, date: Date) -> Result<TicksPage, FetchError> {
        let r = TicksRequest::day(kind, ticker.clone(), date);
        let class = TtlPolicy::classify_range(date.add_days(1).ny_unix_ms(0) - 1, self.now());
        let (key, path, name) = (CacheKey::ticks(&r), r.path_and_query(), ticker.to_string());
        Ok(match kind {
            TickKind::Trades => TicksPage::Trades(self.json_pages(&key, class, path, &name).await?),
            TickKind::Quotes => TicksPage::Quotes(self.json_pages(&key, class, path, &name).await?),
        })
    }

    /// The ticker universe (reference tickers, every page).
    ///
    /// # Errors
    /// A [`FetchError`] (named `tickers`).
    pub async fn tickers(&self) -> Result<TickersResponse, FetchError> {
        let r = TickersRequest::default();
        self.json_pages(&CacheKey::tickers(&r), TtlClass::Reference, r.path_and_query(), "tickers").await
    }

    /// Every split of `tickers` (oldest first per ticker, then by ticker), through the cache: one
    /// request per [`SPLITS_PER_REQUEST`] tickers to `/stocks/v1/splits` (`ticker.any_of`, every
    /// page), cached for the default TTL (`REDIS_TTL`, an hour: a split announced today reaches
    /// adjusted history within that). Where that endpoint answers 404 (a server without it), the
    /// deprecated `/v3/reference/splits` is asked instead, one request per ticker.
    ///
    /// # Errors
    /// A [`FetchError`] (named `splits`).
    pub async fn splits(&self, tickers: &[Ticker]) -> Result<Vec<SplitRecord>, FetchError> {
        let all = SplitsRequest::new(tickers.iter().cloned());
        let mut out: Vec<SplitRecord> = Vec::new();
        for group in all.tickers.chunks(SPLITS_PER_REQUEST) {
            let r = SplitsRequest::new(group.iter().cloned());
            let key = CacheKey::splits(&r);
            let e = self
                .inner
                .cache
                .get_or_load(&key, TtlClass::Default, || async {
                    match self.merged_pages::<SplitsResponse>(r.path_and_query(), "splits").await {
                        Err(FetchError::Transport { source, .. }) if source.is_not_found() => {
                            tracing::warn!(
                                "/stocks/v1/splits answered 404: asking the deprecated /v3/reference/splits, one request per ticker"
                            );
                            let mut merged: Option<SplitsResponse> = None;
                            for (_, path) in r.legacy_paths() {
                                let page = self.merged_pages::<SplitsResponse>(path, "splits").await?;
                                match &mut merged {
                                    None => merged = Some(page),
                                    Some(m) => m.results.extend(page.results),
                                }
                            }
                            Ok(merged.expect("a request has at least one ticker"))
                        }
                        other => other,
                    }
                })
                .await?;
            out.extend(e.to_value().results);
        }
        // Oldest first within each ticker, whatever order the server used.
        out.sort_by(|a, b| a.ticker.cmp(&b.ticker).then_with(|| a.execution_date.cmp(&b.execution_date)));
        out.dedup_by(|a, b| a.ticker == b.ticker && a.execution_date == b.execution_date);
        Ok(out)
    }

    /// Every page of a JSON endpoint, fetched and merged into one response (no cache).
    pub(crate) async fn merged_pages<T: Paged + DeserializeOwned>(
        &self,
        path: String,
        name: &str,
    ) -> Result<T, FetchError> {
        let mut merged: Option<T> = None;
        self.follow_pages(path, name, |body| {
            let mut page: T = serde_json::from_slice(body)
                .map_err(|e| FetchError::Shape { ticker: name.into(), reason: e.to_string() })?;
            let next = page.take_next();
            match &mut merged {
                None => merged = Some(page),
                Some(first) => first.absorb(page),
            }
            Ok(next)
        })
        .await?;
        Ok(merged.expect("the loop ends after at least one page"))
    }

    /// Every page of a JSON endpoint merged into one response, through the cache.
    async fn json_pages<T>(&self, key: &CacheKey, class: TtlClass, path: String, name: &str) -> Result<T, FetchError>
    where
        T: Paged + CacheValue + DeserializeOwned,
    {
        let e = self.inner.cache.get_or_load(key, class, || self.merged_pages::<T>(path, name)).await?;
        Ok(e.to_value())
    }
}

/// A page of a JSON endpoint: its cursor can be taken, and later pages appended. Single-page
/// endpoints have no cursor.
pub(crate) trait Paged {
    /// Removes and returns `next_url`.
    fn take_next(&mut self) -> Option<String>;
    /// Appends a later page's results.
    fn absorb(&mut self, later: Self);
}

macro_rules! paged {
    ($($t:ty),*) => {$(
        impl Paged for $t {
            fn take_next(&mut self) -> Option<String> {
                self.next_url.take()
            }
            fn absorb(&mut self, later: Self) {
                self.results.extend(later.results);
            }
        }
    )*};
}
paged!(TradesResponse, QuotesResponse, SplitsResponse);

/// Tickers per `/stocks/v1/splits` request: 200 tickers keep its URL near 1 KB.
pub const SPLITS_PER_REQUEST: usize = 200;

impl Paged for TickersResponse {
    fn take_next(&mut self) -> Option<String> {
        self.next_url.take()
    }
    fn absorb(&mut self, later: Self) {
        self.results.extend(later.results);
        self.count = Some(self.results.len() as u64);
    }
}

macro_rules! single_page {
    ($($t:ty),*) => {$(
        impl Paged for $t {
            fn take_next(&mut self) -> Option<String> {
                None
            }
            fn absorb(&mut self, _later: Self) {
                unreachable!("a single-page endpoint has no later page")
            }
        }
    )*};
}
single_page!(GroupedDailyResponse, PrevCloseResponse);
