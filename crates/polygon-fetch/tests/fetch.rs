//! The fetch pipeline against the simulator and a real redis-server: exact bars, whole batches,
//! named failures, warm reruns with zero requests, loops that end, drops that store nothing partial.

use std::time::Duration;

use polygon_cache::{Cache, CacheKey};
use polygon_fetch::{FetchConfig, FetchError, Fetcher, plan};
use polygon_model::{BarColumns, Date, Multiplier, PackedBars, Sort, Ticker, TimeBound, Timespan};
use polygon_sim::{SimHandle, Simulator};
use polygon_test_support::Redis;
use polygon_transport::{ApiKey, Transport};

const NOW: i64 = 1_751_241_600_000; // 2025-06-30 00:00 UTC

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn t(s: &str) -> Ticker {
    s.parse().unwrap()
}

async fn fetcher(sim: &SimHandle, cache: Cache, workers: usize) -> Fetcher {
    let transport = Transport::builder(sim.base_url())
        .api_key(ApiKey::new("k").unwrap())
        .rate_limit(None)
        .max_connections(workers.max(1))
        .backoff(Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .unwrap();
    Fetcher::new(transport, cache, FetchConfig { max_workers: workers, now_ms: Some(NOW), ..FetchConfig::default() })
}

async fn memory_cache() -> Cache {
    Cache::builder().build().await.unwrap()
}

fn expected(ticker: &str, k: u32, span: Timespan, from: &str, to: &str) -> Vec<polygon_model::Bar> {
    polygon_sim::expected_aggregates(
        ticker,
        Multiplier::new(k).unwrap(),
        span,
        TimeBound::Date(d(from)),
        TimeBound::Date(d(to)),
        NOW,
    )
}

fn bars(c: &BarColumns) -> Vec<polygon_model::Bar> {
    (0..c.len()).map(|i| c.bar(i).unwrap()).collect()
}

#[tokio::test]
async fn three_months_of_minutes_equal_the_generator_in_every_form() {
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let f = fetcher(&sim, memory_cache().await, 8).await;
    let (from, to) = ("2024-02-12", "2024-05-10");
    let got = f.get_aggregates(&t("AAPL"), Multiplier::ONE, Timespan::Minute, d(from), d(to)).await.unwrap();
    let want = expected("AAPL", 1, Timespan::Minute, from, to);
    assert!(want.len() > 50_000, "several chunks and pages: {}", want.len());
    assert_eq!(bars(&got), want);
    assert!(f.progress().chunks_loaded >= 4, "{:?}", f.progress());

    let desc = f
        .get_aggregates_sorted(&t("AAPL"), Multiplier::ONE, Timespan::Minute, d(from), d(to), Sort::Desc)
        .await
        .unwrap();
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(bars(&desc), rev);

    for (k, span) in [(5, Timespan::Minute), (1, Timespan::Hour), (1, Timespan::Week)] {
        let got = f.get_aggregates(&t("MSFT"), Multiplier::new(k).unwrap(), span, d(from), d(to)).await.unwrap();
        assert_eq!(bars(&got), expected("MSFT", k, span, from, to), "{k}/{span}");
    }
}

#[tokio::test]
async fn streamed_chunks_decoded_into_recycled_columns_equal_the_generator() {
    // Partial months at both ends: the cached month chunks are cut to the range while decoding.
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let f = Fetcher::new(
        Transport::builder(sim.base_url()).api_key(ApiKey::new("k").unwrap()).rate_limit(None).build().unwrap(),
        memory_cache().await,
        FetchConfig { max_workers: 8, batch_size: 2, queue_size: 1, now_ms: Some(NOW), ..FetchConfig::default() },
    );
    let (from, to) = ("2024-02-12", "2024-04-10");
    let names = ["AAPL", "MSFT", "SPY", "QQQ", "NVDA"];
    let tickers: Vec<Ticker> = names.iter().map(|s| t(s)).collect();
    let mut seen = Vec::new();
    let mut rx = f.stream_aggregates(tickers.clone(), Multiplier::ONE, Timespan::Minute, d(from), d(to));
    while let Some(chunk) = rx.recv().await {
        assert!(chunk.failures.is_empty(), "{:?}", chunk.failures);
        let c = &chunk.columns;
        for (k, w) in c.offsets().windows(2).enumerate() {
            let got: Vec<_> = (w[0] as usize..w[1] as usize).map(|i| c.bar(i).unwrap()).collect();
            let name = c.tickers[k].as_str();
            assert_eq!(got, expected(name, 1, Timespan::Minute, from, to), "{name}");
            seen.push(name.to_owned());
        }
        // The next chunks are decoded into this chunk's memory.
        f.recycle(chunk.columns);
    }
    assert_eq!(seen, names);
    assert_eq!(f.progress().bars as usize, {
        let mut n = 0;
        for name in names {
            n += expected(name, 1, Timespan::Minute, from, to).len();
        }
        n
    });
}

#[tokio::test]
async fn a_thousand_tickers_of_daily_bars_all_present_and_correct() {
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let f = fetcher(&sim, memory_cache().await, 32).await;
    let universe = f.tickers().await.unwrap();
    let tickers: Vec<Ticker> = universe.results.iter().take(1_000).map(|i| t(&i.ticker)).collect();
    assert_eq!(tickers.len(), 1_000);
    let out = f.get_aggregates_batch(&tickers, Multiplier::ONE, Timespan::Day, d("2023-01-01"), d("2024-12-31")).await;
    assert_eq!(out.len(), 1_000, "every ticker is there");
    for (i, (tk, r)) in out.iter().enumerate() {
        assert_eq!(tk, &tickers[i], "in request order");
        let cols = r.as_ref().unwrap_or_else(|e| panic!("{tk}: {e}"));
        assert_eq!(cols.len(), 502, "{tk}: 2023 and 2024 have 250 + 252 sessions");
        if i % 97 == 0 {
            assert_eq!(bars(cols), expected(tk.as_str(), 1, Timespan::Day, "2023-01-01", "2024-12-31"), "{tk}");
        }
    }
    assert_eq!(f.progress().tickers_done, 1_000);
}

#[tokio::test]
async fn a_failing_ticker_is_reported_by_name_and_the_rest_succeed() {
    let sim = Simulator::builder().now_ms(NOW).fail_tickers(["NVDA"]).build().spawn().await.unwrap();
    let f = fetcher(&sim, memory_cache().await, 4).await;
    let tickers = [t("AAPL"), t("NVDA"), t("MSFT"), t("AAPL"), t("ZZZZZZ")];
    let out = f.get_aggregates_batch(&tickers, Multiplier::ONE, Timespan::Day, d("2024-01-01"), d("2024-03-31")).await;
    let names: Vec<&str> = out.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["AAPL", "NVDA", "MSFT", "ZZZZZZ"], "duplicates fetched once, nothing dropped");
    let err = out[1].1.as_ref().unwrap_err();
    assert!(err.to_string().starts_with("NVDA:"), "{err}");
    assert!(err.transport().is_some_and(|e| e.is_server()), "{err:?}");
    assert!(out[0].1.is_ok() && out[2].1.is_ok());
    assert!(out[3].1.as_ref().unwrap().is_empty(), "an unknown ticker is empty, not an error");
    let p = f.progress();
    assert_eq!((p.tickers_done, p.tickers_failed), (3, 1));
}

#[tokio::test]
async fn a_warm_rerun_makes_no_request_and_extending_fetches_only_the_new_month() {
    let redis = Redis::start();
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    // A fresh process each time: a new fetcher and cache, the same Redis.
    async fn run(sim: &SimHandle, url: String, to: &str) {
        let cache = Cache::builder().redis_url(url).command_timeout(Duration::from_secs(3)).build().await.unwrap();
        let f = fetcher(sim, cache, 4).await;
        let tickers = [t("AAPL"), t("MSFT"), t("SPY")];
        let out = f.get_aggregates_batch(&tickers, Multiplier::ONE, Timespan::Minute, d("2024-03-04"), d(to)).await;
        assert!(out.iter().all(|(_, r)| r.is_ok()));
    }
    run(&sim, redis.url(), "2024-04-30").await;
    let cold = sim.stats().aggs;
    assert!(cold >= 6, "two months × three tickers: {cold}");
    run(&sim, redis.url(), "2024-04-30").await;
    assert_eq!(sim.stats().aggs, cold, "warm: zero upstream requests");
    run(&sim, redis.url(), "2024-05-31").await;
    assert_eq!(sim.stats().aggs, cold + 3, "one new month for each of three tickers");
}

#[tokio::test]
async fn a_looping_next_url_ends_in_an_error() {
    let sim = Simulator::builder().now_ms(NOW).loop_next_url(true).build().spawn().await.unwrap();
    let f = fetcher(&sim, memory_cache().await, 2).await;
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        f.get_aggregates(&t("AAPL"), Multiplier::ONE, Timespan::Day, d("2024-01-01"), d("2024-01-31")),
    )
    .await
    .expect("no hang");
    match r {
        Err(FetchError::Pagination { ticker, reason }) => {
            assert_eq!(ticker, "AAPL");
            assert!(reason.contains("repeated"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.stats().aggs, 1, "the next_url repeating the page just fetched is caught before asking again");
}

#[tokio::test]
async fn the_next_two_groups_are_fetched_while_the_consumer_holds_the_queue_full() {
    // Daily bars: one request per ticker. Groups of 2, a queue of 1, and a consumer that takes
    // nothing for now: group 1 waits in the queue, group 2 waits for room, groups 3 and 4 have
    // been fetched ahead; groups 5 and 6 have not started.
    let sim = Simulator::builder().now_ms(NOW).latency_ms(20).build().spawn().await.unwrap();
    let f = Fetcher::new(
        Transport::builder(sim.base_url()).api_key(ApiKey::new("k").unwrap()).rate_limit(None).build().unwrap(),
        memory_cache().await,
        FetchConfig { max_workers: 8, batch_size: 2, queue_size: 1, now_ms: Some(NOW), ..FetchConfig::default() },
    );
    let names = ["AAPL", "MSFT", "SPY", "QQQ", "NVDA", "AMZN", "META", "TSLA", "GOOGL", "AMD", "NFLX", "INTC"];
    let tickers: Vec<Ticker> = names.iter().map(|s| t(s)).collect();
    let mut rx = f.stream_aggregates(tickers, Multiplier::ONE, Timespan::Day, d("2024-01-02"), d("2024-03-28"));
    // Wait until the producer has gone as far as it can (no request for 500 ms).
    let mut last = u64::MAX;
    while sim.stats().aggs != last {
        last = sim.stats().aggs;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(last, 8, "four groups fetched while the consumer waits: one queued, one waiting, two ahead");
    let mut seen = Vec::new();
    while let Some(chunk) = rx.recv().await {
        assert!(chunk.failures.is_empty(), "{:?}", chunk.failures);
        seen.extend(chunk.columns.tickers.iter().map(|t| t.to_string()));
    }
    assert_eq!(seen, names, "every ticker once, in order");
    assert_eq!(sim.stats().aggs, 12);
}

#[tokio::test]
async fn dropping_the_stream_midway_leaves_nothing_partial_in_the_cache() {
    let redis = Redis::start();
    let sim = Simulator::builder().now_ms(NOW).latency_ms(30).build().spawn().await.unwrap();
    // A generous Redis timeout: a slow reply on a busy machine must not look like a dead Redis here.
    let cache = Cache::builder().redis_url(redis.url()).command_timeout(Duration::from_secs(3)).build().await.unwrap();
    let f = Fetcher::new(
        Transport::builder(sim.base_url()).api_key(ApiKey::new("k").unwrap()).rate_limit(None).build().unwrap(),
        cache.clone(),
        FetchConfig { max_workers: 4, batch_size: 2, queue_size: 1, now_ms: Some(NOW), ..FetchConfig::default() },
    );
    let tickers: Vec<Ticker> =
        ["AAPL", "MSFT", "SPY", "QQQ", "NVDA", "AMZN", "META", "TSLA"].iter().map(|s| t(s)).collect();
    let mut rx =
        f.stream_aggregates(tickers.clone(), Multiplier::ONE, Timespan::Minute, d("2024-01-02"), d("2024-06-28"));
    let first = rx.recv().await.expect("a first chunk");
    assert_eq!(first.columns.num_series(), 2);
    assert!(first.failures.is_empty());
    drop(rx);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests_after_drop = sim.stats().aggs;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.stats().aggs, requests_after_drop, "nothing more is fetched once the stream is dropped");
    // Every chunk in the cache is whole: equal to the generator's month.
    let mut stored = 0;
    let mut missing = 0;
    cache.clear_memory();
    for tk in &tickers {
        for chunk in plan(tk, Multiplier::ONE, Timespan::Minute, d("2024-01-02"), d("2024-06-28")) {
            match cache.get::<PackedBars>(&CacheKey::aggregates(&chunk.request)).await {
                Some(e) => {
                    stored += 1;
                    let want = polygon_sim::expected_aggregates(
                        tk.as_str(),
                        Multiplier::ONE,
                        Timespan::Minute,
                        chunk.request.from,
                        chunk.request.to,
                        NOW,
                    );
                    assert_eq!(bars(&e.archived().unpack()), want, "{tk} {} is whole", chunk.request.from);
                }
                None => missing += 1,
            }
        }
    }
    assert!(stored >= 12 && missing > 0, "stored {stored}, missing {missing}: the drop stopped work midway");
}

#[tokio::test]
async fn other_endpoints_through_the_cache() {
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let f = fetcher(&sim, memory_cache().await, 4).await;
    let g = f.grouped_daily(d("2024-03-04")).await.unwrap();
    assert!(g.results.len() >= 10_000);
    let p = f.previous_close(&t("AAPL")).await.unwrap();
    assert_eq!(p.results.len(), 1);
    let trades = match f.ticks(polygon_model::TickKind::Trades, &t("KO"), d("2024-03-04")).await.unwrap() {
        polygon_fetch::TicksPage::Trades(tr) => tr,
        other => panic!("{other:?}"),
    };
    let minutes = expected("KO", 1, Timespan::Minute, "2024-03-04", "2024-03-04");
    assert_eq!(
        trades.results.len() as u64,
        minutes.iter().map(|m| m.n.unwrap()).sum::<u64>(),
        "every trade of the day, across pages"
    );
    let before = sim.stats().requests;
    f.grouped_daily(d("2024-03-04")).await.unwrap();
    f.ticks(polygon_model::TickKind::Trades, &t("KO"), d("2024-03-04")).await.unwrap();
    assert_eq!(sim.stats().requests, before, "served from the cache");
    let e = f
        .get_aggregates(&t("AAPL"), Multiplier::ONE, Timespan::Day, d("2024-03-04"), d("2024-03-01"))
        .await
        .unwrap_err();
    assert!(matches!(e, FetchError::BadArgument(_)), "{e}");
}

/// The splits the simulator has executed by NOW for `tickers`, oldest first per ticker.
fn sim_splits(tickers: &[&str]) -> Vec<(String, String, u32)> {
    let mut want = Vec::new();
    let mut sorted = tickers.to_vec();
    sorted.sort();
    for tk in sorted {
        let p = polygon_sim::market::Universe::get().profile(tk).unwrap();
        for s in p.splits().iter().filter(|s| s.execution_date <= d("2025-06-29")) {
            want.push((tk.to_owned(), s.execution_date.to_string(), s.split_to / s.split_from));
        }
    }
    want
}

#[tokio::test]
async fn splits_of_many_tickers_in_few_requests_cached_and_from_the_old_endpoint_when_the_new_is_missing() {
    // 450 tickers: three /stocks/v1/splits requests of at most 200 tickers.
    let mut names: Vec<String> = polygon_sim::market::Universe::get()
        .profiles()
        .iter()
        .filter(|p| !p.splits().is_empty())
        .take(440)
        .map(|p| p.ticker.clone())
        .collect();
    names.extend(["TSLA", "AAPL", "NVDA", "MSFT"].map(String::from));
    names.extend(polygon_sim::market::Universe::get().profiles().iter().take(6).map(|p| p.ticker.clone()));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let tickers: Vec<Ticker> = names.iter().map(|n| t(n)).collect();
    let distinct = polygon_model::SplitsRequest::new(tickers.clone()).tickers.len();
    let mut want = sim_splits(&names);
    want.sort();
    want.dedup();

    for legacy in [false, true] {
        let sim = Simulator::builder().now_ms(NOW).without_stocks_v1_splits(legacy).build().spawn().await.unwrap();
        let f = fetcher(&sim, memory_cache().await, 8).await;
        let got = f.splits(&tickers).await.unwrap();
        let got_t: Vec<(String, String, u32)> = got
            .iter()
            .map(|s| (s.ticker.clone(), s.execution_date.clone(), (s.split_to / s.split_from) as u32))
            .collect();
        assert_eq!(got_t, want, "legacy endpoint: {legacy}");
        let tsla: Vec<&polygon_model::SplitRecord> = got.iter().filter(|s| s.ticker == "TSLA").collect();
        if legacy {
            assert!(tsla[0].historical_adjustment_factor.is_none(), "the old endpoint has no factor");
            assert_eq!(sim.stats().splits, 3 + distinct as u64, "three 404s, then one request per ticker");
        } else {
            assert_eq!(tsla[0].historical_adjustment_factor, Some(1.0 / 15.0));
            assert_eq!(sim.stats().splits, distinct.div_ceil(polygon_fetch::SPLITS_PER_REQUEST) as u64);
        }
        let before = sim.stats().requests;
        assert_eq!(f.splits(&tickers).await.unwrap(), got);
        assert_eq!(sim.stats().requests, before, "served from the cache");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_bars_from_grouped_equal_the_aggregates_endpoint_at_one_request_a_session() {
    let sim = Simulator::builder().now_ms(NOW).universe(300).build().spawn().await.unwrap();
    let listing = polygon_sim::market::Listing::bounded(300);
    let mut names: Vec<String> = listing.profiles().step_by(7).take(40).map(|p| p.ticker.clone()).collect();
    names.extend(["NVDA", "NOSUCH", "AAPL"].map(String::from)); // NVDA split 10:1 on 2024-06-10
    let tickers: Vec<Ticker> = names.iter().map(|n| t(n)).collect();
    let (from, to) = (d("2024-05-20"), d("2024-06-21"));
    let sessions = polygon_model::NyseCalendar.trading_days(from, to).count();
    for adjusted in [true, false] {
        let f = fetcher(&sim, memory_cache().await, 4).await.with_adjusted(adjusted);
        let before = sim.stats();
        let g = f.daily_from_grouped(&tickers, from, to, false).await.unwrap();
        assert_eq!(sim.stats().grouped - before.grouped, sessions as u64, "one request a session");
        assert_eq!(g.requests, sessions as u64);
        assert!(g.open_sessions.is_empty());
        assert_eq!(g.absent, [t("NOSUCH")], "an unknown ticker is reported, not dropped");
        let distinct = polygon_model::distinct(tickers.iter().cloned());
        assert_eq!(g.bars.tickers, distinct, "one series per distinct ticker, first-seen order");
        for (k, s) in g.bars.iter_series().enumerate() {
            let want = polygon_sim::expected_aggregates_as(
                s.ticker.as_str(),
                Multiplier::ONE,
                Timespan::Day,
                TimeBound::Date(from),
                TimeBound::Date(to),
                NOW,
                adjusted,
            );
            let got: Vec<polygon_model::Bar> =
                (0..s.len()).map(|i| g.bars.bar(g.bars.offsets()[k] as usize + i).unwrap()).collect();
            assert_eq!(got, want, "{} adjusted={adjusted}", s.ticker);
        }
        let again = f.daily_from_grouped(&tickers, from, to, false).await.unwrap();
        assert_eq!((again.requests, again.bars.t.len()), (0, g.bars.t.len()), "a rerun is served by the cache");
    }
    // A range reaching past "now": the open sessions are named, not guessed.
    let f = fetcher(&sim, memory_cache().await, 4).await;
    let g = f.daily_from_grouped(&tickers[..2], d("2025-06-26"), d("2025-07-03"), false).await.unwrap();
    assert_eq!(
        g.open_sessions.iter().map(Date::to_string).collect::<Vec<_>>(),
        ["2025-06-30", "2025-07-01", "2025-07-02", "2025-07-03"]
    );
    assert_eq!(g.bars.t.len(), 4, "two closed sessions x two tickers");
}
