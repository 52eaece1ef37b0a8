//! Grouped daily as a source of daily bars: one request a session gives every ticker's bar, so a
//! range of daily bars for thousands of tickers costs one request per session instead of one
//! (or more) per ticker.
//!
//! The grouped endpoint stamps a bar with the session's close (16:00 New York); the aggregates
//! endpoint stamps a daily bar with the New York midnight that starts the day. Bars from here carry
//! the aggregates' stamp, so that either source gives the same rows. It leaves OTC securities out
//! unless asked (`include_otc`); a ticker it does not carry gets no bars here, and the caller (the
//! planner) must ask the aggregates endpoint for it rather than let it vanish.

use polygon_cache::{CacheKey, TtlPolicy};
use polygon_model::{BarColumns, Date, GroupedDailyRequest, GroupedDailyResponse, NyseCalendar, Ticker};

use crate::{FetchError, Fetcher};

/// Daily bars of many tickers from grouped daily.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedBars {
    /// One series per distinct ticker asked for, in first-seen order; a ticker absent from every
    /// session has an empty series.
    pub bars: BarColumns,
    /// Tickers asked for that no session carried (not listed, OTC without `include_otc`, or
    /// delisted before the range): the aggregates endpoint must confirm them.
    pub absent: Vec<Ticker>,
    /// Sessions of the range not closed yet by "now": no grouped bar is final for them.
    pub open_sessions: Vec<Date>,
    /// Requests this took that were not answered by the cache.
    pub requests: u64,
}

impl Fetcher {
    /// The daily bars of `tickers` over the sessions `from..=to` from grouped daily (one request
    /// a closed session, through the cache), adjusted as this fetcher is
    /// ([`Fetcher::with_adjusted`]).
    ///
    /// # Errors
    /// A [`FetchError`] naming the session (`grouped YYYY-MM-DD`) whose request failed;
    /// [`FetchError::BadArgument`] when `to` is before `from`.
    pub async fn daily_from_grouped(
        &self,
        tickers: &[Ticker],
        from: Date,
        to: Date,
        include_otc: bool,
    ) -> Result<GroupedBars, FetchError> {
        if to < from {
            return Err(FetchError::BadArgument(polygon_model::Error::BadArgument {
                param: "to",
                value: to.to_string(),
                reason: format!("is before from ({from})"),
            }));
        }
        let now = self.now();
        let (closed, open_sessions): (Vec<Date>, Vec<Date>) = NyseCalendar
            .trading_days(from, to)
            .partition(|d| NyseCalendar.session(*d).is_some_and(|s| s.post_close <= now));
        let mut set = tokio::task::JoinSet::new();
        for (i, d) in closed.iter().copied().enumerate() {
            let me = self.clone();
            set.spawn(async move { (i, me.grouped_with(d, include_otc).await) });
        }
        let mut days: Vec<Option<(GroupedDailyResponse, bool)>> = vec![None; closed.len()];
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|_| FetchError::Cancelled { ticker: "grouped".into() })?;
            days[i] = Some(r?);
        }
        let unique = polygon_model::distinct(tickers.iter().cloned());
        let index: std::collections::HashMap<&str, usize> =
            unique.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
        // Each session's bar per asked ticker, by ticker then session.
        let mut rows: Vec<Vec<(i64, &polygon_model::TickerBar)>> = vec![Vec::new(); unique.len()];
        let mut requests = 0;
        for (d, day) in closed.iter().zip(&days) {
            let (resp, loaded) = day.as_ref().expect("every session answered");
            requests += u64::from(*loaded);
            let t = d.ny_unix_ms(0);
            for b in &resp.results {
                if let Some(&i) = index.get(b.ticker.as_str()) {
                    rows[i].push((t, b));
                }
            }
        }
        let mut bars = BarColumns::with_capacity(unique.len(), rows.iter().map(Vec::len).sum());
        let mut absent = Vec::new();
        for (t, r) in unique.iter().zip(&rows) {
            bars.begin_series(t.clone());
            if r.is_empty() {
                absent.push(t.clone());
            }
            for (ts, b) in r {
                bars.push_row(
                    *ts,
                    b.o,
                    b.h,
                    b.l,
                    b.c,
                    b.v,
                    b.vw.unwrap_or(f64::NAN),
                    b.n.unwrap_or(polygon_model::N_ABSENT),
                );
            }
        }
        Ok(GroupedBars { bars, absent, open_sessions, requests })
    }

    /// One closed session's grouped daily, through the cache, and whether it was loaded.
    async fn grouped_with(&self, date: Date, include_otc: bool) -> Result<(GroupedDailyResponse, bool), FetchError> {
        let mut r = GroupedDailyRequest::new(date);
        r.adjusted = self.adjusted();
        r.include_otc = include_otc;
        let class = TtlPolicy::classify_range(date.add_days(1).ny_unix_ms(0) - 1, self.now());
        let name = format!("grouped {date}");
        let e = self
            .inner
            .cache
            .get_or_load(&CacheKey::grouped(&r), class, || {
                self.merged_pages::<GroupedDailyResponse>(r.path_and_query(), &name)
            })
            .await?;
        Ok((e.to_value(), e.tier() == polygon_cache::Tier::Loaded))
    }
}
