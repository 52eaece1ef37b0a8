//! Aggregates: one ticker's planned chunks from the cache or the API (every page followed, checked
//! and packed before it is stored), and whole batches of tickers, one result per distinct ticker.

use std::sync::atomic::Ordering::Relaxed;

use std::sync::Arc;

use polygon_cache::{CacheKey, Tier, TtlPolicy};
use polygon_model::{BarColumns, Date, Multiplier, PackedBars, Sort, Ticker, Timespan, decode_aggregates_into};

use crate::checks::{check_page, sort_dedup};
use crate::sources::{Part, ReadCtx, without_vwap_key};
use crate::{Chunk, FetchError, Fetcher, Unit, plan, unit_for};

impl Fetcher {
    /// One chunk: from the cache, or fetched (every page, validated) and stored whole, packed
    /// (exact decimal deltas: about a sixth of the bytes in Redis and in the memory tier). Where
    /// `ctx` allows it, a chunk built from flat files (no VWAP, as traded) answers when no full
    /// one is cached.
    async fn chunk(&self, chunk: &Chunk, ctx: &ReadCtx) -> Result<Part, FetchError> {
        let key = CacheKey::aggregates(&chunk.request);
        if ctx.without_vwap {
            let cache = &self.inner.cache;
            let found = match cache.get::<PackedBars>(&key).await {
                Some(e) => Some(Part { entry: e, adjust: false }),
                None => cache
                    .get::<PackedBars>(&without_vwap_key(chunk))
                    .await
                    .map(|e| Part { entry: e, adjust: chunk.request.adjusted }),
            };
            if let Some(p) = found {
                self.inner.counters.cache_hits.fetch_add(1, Relaxed);
                return Ok(p);
            }
        }
        let class = TtlPolicy::classify_range(chunk.end_ms, self.now());
        let entry = self
            .inner
            .cache
            .get_or_load(&key, class, || async {
                self.inner.counters.chunks_loaded.fetch_add(1, Relaxed);
                let cols = self.fetch_pages(chunk).await?;
                let _cpu = self.inner.workers.acquire().await.expect("never closed");
                Ok::<_, FetchError>(PackedBars::pack(&cols))
            })
            .await?;
        if entry.tier() != Tier::Loaded {
            self.inner.counters.cache_hits.fetch_add(1, Relaxed);
        }
        Ok(Part { entry, adjust: false })
    }

    /// Every page of one chunk's request, decoded into one series and checked page by page.
    async fn fetch_pages(&self, chunk: &Chunk) -> Result<BarColumns, FetchError> {
        let r = &chunk.request;
        let ticker = r.ticker.to_string();
        let mut cols = BarColumns::new();
        cols.begin_series(r.ticker.clone());
        self.follow_pages(r.path_and_query(), &ticker, |body| {
            let before = cols.len();
            let meta = decode_aggregates_into(body, &mut cols)
                .map_err(|source| FetchError::Decode { ticker: ticker.clone(), source })?;
            if let Some(t) = meta.ticker.as_deref()
                && t != r.ticker.as_str()
            {
                return Err(FetchError::Invalid { ticker: ticker.clone(), reason: format!("page is for {t}") });
            }
            check_page(&cols, before, chunk, r.timespan)
                .map_err(|reason| FetchError::Invalid { ticker: ticker.clone(), reason })?;
            Ok(meta.next_url)
        })
        .await?;
        sort_dedup(cols).map_err(|reason| FetchError::Invalid { ticker, reason })
    }

    /// A ticker's cached chunks over `from..=to`, fetched concurrently (the transport bounds the
    /// requests in flight), in time order. A JoinSet aborts what is still running if this future
    /// is dropped.
    async fn ticker_entries(
        &self,
        ticker: &Ticker,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
        ctx: &Arc<ReadCtx>,
    ) -> Result<Vec<Part>, FetchError> {
        if to < from {
            return Err(polygon_model::AggregatesRequest::new(
                ticker.clone(),
                multiplier,
                timespan,
                from.into(),
                to.into(),
            )
            .expect_err("to < from")
            .into());
        }
        let mut chunks = plan(ticker, multiplier, timespan, from, to);
        for c in &mut chunks {
            c.request.adjusted = self.adjusted;
        }
        let n = chunks.len();
        let mut set = tokio::task::JoinSet::new();
        for (i, c) in chunks.into_iter().enumerate() {
            let me = self.clone();
            let ctx = ctx.clone();
            set.spawn(async move { (i, me.chunk(&c, &ctx).await) });
        }
        let mut entries: Vec<Option<Part>> = vec![None; n];
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|_| FetchError::Cancelled { ticker: ticker.to_string() })?;
            entries[i] = Some(r?);
        }
        Ok(entries.into_iter().flatten().collect())
    }

    /// One ticker's bars over `from..=to` (New York dates), ascending or as `sort` asks.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn get_aggregates_sorted(
        &self,
        ticker: &Ticker,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
        sort: Sort,
    ) -> Result<BarColumns, FetchError> {
        let ctx = Arc::new(self.prepare(std::slice::from_ref(ticker), multiplier, timespan, from, to).await?);
        let entries = self.ticker_entries(ticker, multiplier, timespan, from, to, &ctx).await?;
        let mut out = BarColumns::with_capacity(1, entries.iter().map(|e| e.entry.archived().len()).sum());
        out.begin_series(ticker.clone());
        append_parts(&mut out, ticker, &entries, &ctx, multiplier, timespan, from, to)?;
        if sort == Sort::Desc {
            out = reversed(&out);
        }
        Ok(out)
    }

    /// One ticker's bars over `from..=to` (New York dates), ascending.
    ///
    /// # Errors
    /// A [`FetchError`] naming the ticker.
    pub async fn get_aggregates(
        &self,
        ticker: &Ticker,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Result<BarColumns, FetchError> {
        self.get_aggregates_sorted(ticker, multiplier, timespan, from, to, Sort::Asc).await
    }

    /// Every ticker's bars, or its error: one entry per distinct ticker, in first-seen order
    /// (a ticker listed twice is fetched once). Every chunk is started at once; the transport's
    /// `MAX_CONNECTIONS` bounds the requests in flight and `max_workers` the pages decoded at once.
    pub async fn get_aggregates_batch(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> Vec<(Ticker, Result<BarColumns, FetchError>)> {
        // Each ticker's columns are assembled in its own task, beside its fetch: on a warm batch
        // (every chunk from the cache) unpacking and first-touching the new columns is most of
        // the work, and it then spreads over the runtime's threads.
        let ctx = match self.prepare(tickers, multiplier, timespan, from, to).await {
            Ok(ctx) => Arc::new(ctx),
            Err(e) => return self.all_failed(tickers, e),
        };
        let out = self
            .batch_map(tickers, multiplier, timespan, from, to, ctx, move |t, entries, ctx| {
                let rows = entries.iter().map(|e| e.entry.archived().len()).sum();
                let mut cols = BarColumns::with_capacity(1, rows);
                cols.begin_series(t.clone());
                append_parts(&mut cols, t, &entries, ctx, multiplier, timespan, from, to)?;
                Ok(cols)
            })
            .await;
        for (t, r) in &out {
            self.count_ticker(t, r.as_ref().map(BarColumns::len));
        }
        out
    }

    /// Every distinct ticker of `tickers` failed with `e` (shared): what a batch gives when the
    /// source it was told to use refused it as a whole.
    pub(crate) fn all_failed<T>(&self, tickers: &[Ticker], e: FetchError) -> Vec<(Ticker, Result<T, FetchError>)> {
        let shared = Arc::new(e);
        polygon_model::distinct(tickers.iter().cloned())
            .into_iter()
            .map(|t| {
                let e = FetchError::Source { ticker: t.to_string(), source: shared.clone() };
                self.count_ticker(&t, Err(&e));
                (t, Err(e))
            })
            .collect()
    }

    /// Each distinct ticker's cached chunks, or its error, in first-seen order (a ticker listed
    /// twice is fetched once).
    pub(crate) async fn batch_entries(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
        ctx: Arc<ReadCtx>,
    ) -> Vec<(Ticker, Result<Vec<Part>, FetchError>)> {
        self.batch_map(tickers, multiplier, timespan, from, to, ctx, |_, entries, _| Ok(entries)).await
    }

    /// [`Fetcher::batch_entries`] with `f` applied to each ticker's chunks in that ticker's task.
    #[allow(clippy::too_many_arguments)] // the request's parts, how to read it, and the map
    async fn batch_map<T: Send + 'static>(
        &self,
        tickers: &[Ticker],
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
        ctx: Arc<ReadCtx>,
        f: impl Fn(&Ticker, Vec<Part>, &ReadCtx) -> Result<T, FetchError> + Clone + Send + 'static,
    ) -> Vec<(Ticker, Result<T, FetchError>)> {
        let unique = polygon_model::distinct(tickers.iter().cloned());
        let mut set = tokio::task::JoinSet::new();
        for (i, t) in unique.iter().enumerate() {
            let me = self.clone();
            let t = t.clone();
            let f = f.clone();
            let ctx = ctx.clone();
            set.spawn(async move {
                let r = me.ticker_entries(&t, multiplier, timespan, from, to, &ctx).await.and_then(|e| f(&t, e, &ctx));
                (i, r)
            });
        }
        let mut results: Vec<Option<Result<_, FetchError>>> = (0..unique.len()).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            if let Ok((i, r)) = joined {
                results[i] = Some(r);
            }
        }
        unique
            .into_iter()
            .zip(results)
            .map(|(t, r)| {
                let r = r.unwrap_or_else(|| Err(FetchError::Cancelled { ticker: t.to_string() }));
                (t, r)
            })
            .collect()
    }
}

/// Appends a ticker's chunks, in order, to the current series of `out`: whole-range requests are
/// exactly the user's range, unit chunks are cut to it; a chunk as traded (from flat files) that
/// the request wants adjusted is adjusted with the ticker's splits. Returns the rows appended.
///
/// # Errors
/// [`FetchError::Invalid`] naming the ticker when one of its splits cannot be applied (nothing of
/// the ticker is then worth keeping; the caller drops its series).
#[allow(clippy::too_many_arguments)] // the request's parts
pub(crate) fn append_parts(
    out: &mut BarColumns,
    ticker: &Ticker,
    parts: &[Part],
    ctx: &ReadCtx,
    multiplier: Multiplier,
    timespan: Timespan,
    from: Date,
    to: Date,
) -> Result<usize, FetchError> {
    let (lo, hi) = if unit_for(timespan, multiplier) == Unit::Whole {
        (i64::MIN, i64::MAX)
    } else {
        (from.ny_unix_ms(0), to.add_days(1).ny_unix_ms(0) - 1)
    };
    let mut n = 0;
    for p in parts {
        let before = out.len();
        n += p.entry.archived().append_rows_to(out, lo, hi);
        if p.adjust {
            let (Some(splits), Some(as_of)) = (&ctx.splits, ctx.as_of) else {
                return Err(FetchError::Invalid {
                    ticker: ticker.to_string(),
                    reason: "a chunk from flat files needs the splits to be adjusted, and they were not fetched".into(),
                });
            };
            let mine = splits.get(ticker).map(Vec::as_slice).unwrap_or_default();
            polygon_model::adjust_rows_for_splits(out, before..out.len(), ticker.as_str(), mine, as_of)
                .map_err(|reason| FetchError::Invalid { ticker: ticker.to_string(), reason })?;
        }
    }
    Ok(n)
}

fn reversed(cols: &BarColumns) -> BarColumns {
    let mut out = BarColumns::with_capacity(1, cols.len());
    out.begin_series(cols.tickers[0].clone());
    for i in (0..cols.len()).rev() {
        out.push_row(cols.t[i], cols.o[i], cols.h[i], cols.l[i], cols.c[i], cols.v[i], cols.vw[i], cols.n[i]);
    }
    out
}
