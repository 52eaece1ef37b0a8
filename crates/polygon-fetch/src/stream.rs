//! Streaming: a batch in chunks of `batch_size` tickers through a bounded channel, the next
//! groups fetched while one is decoded and queued, so processing overlaps fetching and memory
//! stays bounded.

use polygon_model::{BarColumns, Date, Multiplier, Ticker, Timespan};
use tokio::sync::mpsc;

use std::sync::Arc;

use crate::aggregates::append_parts;
use crate::{FetchError, Fetcher};

/// One streamed chunk: the columns of the tickers that succeeded, and every one that did not.
#[derive(Debug)]
pub struct BatchChunk {
    /// Columns, one series per successful ticker, in request order.
    pub columns: BarColumns,
    /// The tickers of this chunk that failed, with why.
    pub failures: Vec<(Ticker, FetchError)>,
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Fetcher {
    /// Streams the batch in chunks of `batch_size` tickers through a channel holding at most
    /// `queue_size` chunks, so processing overlaps fetching and memory stays bounded. The next
    /// two groups of tickers are fetched while a group is decoded and waits for room in the
    /// queue, so the workers do not idle at each group's end.
    ///
    /// # Cancel safety
    /// Dropping the receiver stops the producer before its next chunk; fetches in flight,
    /// the groups fetched ahead included, are aborted, and since a chunk is stored in the cache
    /// only once all of its pages arrived and passed their checks, nothing partial is ever stored.
    pub fn stream_aggregates(
        &self,
        tickers: Vec<Ticker>,
        multiplier: Multiplier,
        timespan: Timespan,
        from: Date,
        to: Date,
    ) -> mpsc::Receiver<BatchChunk> {
        let (tx, rx) = mpsc::channel(self.inner.cfg.queue_size.max(1));
        let tickers = polygon_model::distinct(tickers);
        let me = self.clone();
        tokio::spawn(async move {
            let size = me.inner.cfg.batch_size.max(1);
            // The whole stream is planned (and flat files read) once, before its first group.
            let ctx = match me.prepare(&tickers, multiplier, timespan, from, to).await {
                Ok(ctx) => Arc::new(ctx),
                Err(e) => {
                    let mut failed = me.all_failed::<()>(&tickers, e).into_iter();
                    loop {
                        let failures: Vec<_> =
                            failed.by_ref().take(size).map(|(t, r)| (t, r.expect_err("all failed"))).collect();
                        if failures.is_empty()
                            || tx.send(BatchChunk { columns: BarColumns::new(), failures }).await.is_err()
                        {
                            return;
                        }
                    }
                }
            };
            let start = |group: Vec<Ticker>| {
                let me = me.clone();
                let g = group.clone();
                let ctx = ctx.clone();
                let task = tokio::spawn(async move { me.batch_entries(&g, multiplier, timespan, from, to, ctx).await });
                (group, AbortOnDrop(task))
            };
            let mut groups = tickers.chunks(size).map(<[Ticker]>::to_vec);
            // Besides the group being delivered, the next AHEAD groups are in flight, so the
            // workers always have tickers queued when a group's last requests finish.
            const AHEAD: usize = 2;
            let mut inflight: std::collections::VecDeque<_> = groups.by_ref().take(AHEAD).map(start).collect();
            while let Some((group, mut current)) = inflight.pop_front() {
                // Stop as soon as nobody listens, even mid-group.
                let results = tokio::select! {
                    r = &mut current.0 => r.unwrap_or_else(|_| {
                        // The group's task died (a panic): every one of its tickers is reported.
                        group
                            .iter()
                            .cloned()
                            .map(|t| {
                                let e = FetchError::Cancelled { ticker: t.to_string() };
                                (t, Err(e))
                            })
                            .collect()
                    }),
                    _ = tx.closed() => return,
                };
                // Keep AHEAD groups in flight while this one is decoded and waits for room in the
                // queue (a bound, so memory stays bounded). Returning drops (aborts) them.
                inflight.extend(groups.next().map(start));
                // Every ticker's chunks decoded straight into the one batch: no per-ticker copy.
                let rows =
                    results.iter().filter_map(|(_, r)| r.as_ref().ok()).flatten().map(|e| e.entry.archived().len());
                let mut columns = me.spare_columns();
                columns.reserve(rows.sum());
                let mut failures = Vec::new();
                for (t, r) in results {
                    match r {
                        Ok(entries) => {
                            columns.begin_series(t.clone());
                            match append_parts(&mut columns, &t, &entries, &ctx, multiplier, timespan, from, to) {
                                Ok(n) => me.count_ticker(&t, Ok(n)),
                                Err(e) => {
                                    columns.abandon_series();
                                    me.count_ticker(&t, Err(&e));
                                    failures.push((t, e));
                                }
                            }
                        }
                        Err(e) => {
                            me.count_ticker(&t, Err(&e));
                            failures.push((t, e));
                        }
                    }
                }
                if tx.send(BatchChunk { columns, failures }).await.is_err() {
                    return;
                }
            }
        });
        rx
    }
}
