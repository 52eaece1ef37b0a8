//! Sources and the planner against the simulator over real sockets: flat files and REST give the
//! same bars (adjusted and as traded, across a split), a backfill from either answers the other,
//! a month with unpublished days goes to REST, the plan weighs requests against files, and every
//! refusal is either a named error (`flatfiles`) or a fallback to REST (`auto`).

use std::time::Duration;

use polygon_cache::Cache;
use polygon_fetch::{FetchConfig, FetchError, Fetcher, FlatFiles, MINUTE_AGGS, Source, flat_file_key};
use polygon_model::{BarColumns, Date, Multiplier, Ticker, Timespan};
use polygon_sim::s3::{self, FlatFileFault};
use polygon_sim::{SimHandle, Simulator};
use polygon_transport::{ApiKey, FileHost, S3Secret, Transport};

/// 2024-07-12 12:00 New York: July 11's files are out, July 12's are not.
const NOW: i64 = 1_720_800_000_000;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn tickers(names: &[&str]) -> Vec<Ticker> {
    names.iter().map(|t| t.parse().unwrap()).collect()
}

/// NVDA split 10-for-1 on 2024-06-10, inside June.
const SOME: &[&str] = &["AAPL", "MSFT", "NVDA", "TSLA"];

async fn sim_with(faults: &[(&str, FlatFileFault)]) -> SimHandle {
    let mut b = Simulator::builder().now_ms(NOW).universe(60);
    for (day, fault) in faults {
        b = b.flat_file_fault(flat_file_key(MINUTE_AGGS, d(day)), *fault);
    }
    b.build().spawn().await.unwrap()
}

fn files(sim: &SimHandle, secret: &str) -> FlatFiles {
    let host = FileHost::builder(s3::DEFAULT_ACCESS_KEY_ID, S3Secret::new(secret).unwrap())
        .endpoint(sim.base_url())
        .transport(|t| t.backoff(Duration::from_millis(5), Duration::from_millis(20)))
        .build()
        .unwrap();
    FlatFiles::new(host)
}

fn fetcher_with(sim: &SimHandle, cache: Cache, cfg: FetchConfig) -> Fetcher {
    let transport = Transport::builder(sim.base_url())
        .api_key(ApiKey::new("k").unwrap())
        .rate_limit(None)
        .max_connections(8)
        .backoff(Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .unwrap();
    Fetcher::new(transport, cache, FetchConfig { max_workers: 4, now_ms: Some(NOW), ..cfg })
}

/// A fetcher with flat files (good credentials) and `source`.
fn fetcher(sim: &SimHandle, cache: Cache, source: Source) -> Fetcher {
    fetcher_with(sim, cache, FetchConfig::default()).with_flat_files(files(sim, s3::DEFAULT_SECRET)).with_source(source)
}

async fn memory() -> Cache {
    Cache::builder().build().await.unwrap()
}

/// Each ticker's bars, or the test fails naming the ticker.
async fn batch(f: &Fetcher, names: &[&str], from: &str, to: &str) -> Vec<BarColumns> {
    f.get_aggregates_batch(&tickers(names), Multiplier::ONE, Timespan::Minute, d(from), d(to))
        .await
        .into_iter()
        .map(|(t, r)| r.unwrap_or_else(|e| panic!("{t}: {e}")))
        .collect()
}

/// Every field but VWAP equal, bar for bar; `vw_from_files` says which side lacks VWAP.
fn assert_same_bars(rest: &[BarColumns], other: &[BarColumns], vw_from_files: bool, what: &str) {
    assert_eq!(rest.len(), other.len(), "{what}");
    for (a, b) in rest.iter().zip(other) {
        let name = a.tickers[0].as_str();
        assert_eq!(a.tickers, b.tickers, "{what}");
        assert!(a.len() > 1_000, "{what} {name}: a month of minutes: {}", a.len());
        assert_eq!(a.len(), b.len(), "{what} {name}: same rows");
        assert_eq!(a.t, b.t, "{what} {name}: same times, same order");
        for i in 0..a.len() {
            let x = (a.o[i], a.h[i], a.l[i], a.c[i], a.v[i], a.n[i]);
            let y = (b.o[i], b.h[i], b.l[i], b.c[i], b.v[i], b.n[i]);
            assert_eq!(x, y, "{what} {name} bar {i} (t {})", a.t[i]);
            if vw_from_files {
                assert!(
                    !a.vw[i].is_nan() && b.vw[i].is_nan(),
                    "{what} {name} bar {i}: files carry no VWAP, never invented"
                );
            } else {
                assert_eq!(a.vw[i].to_bits(), b.vw[i].to_bits(), "{what} {name} bar {i}: vw");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flat_files_and_rest_give_the_same_bars_adjusted_and_as_traded_across_a_split() {
    let sim = sim_with(&[]).await;
    for adjusted in [true, false] {
        let what = if adjusted { "adjusted" } else { "as traded" };
        let rest = fetcher(&sim, memory().await, Source::Rest).with_adjusted(adjusted);
        let before = sim.stats();
        let r = batch(&rest, SOME, "2024-06-03", "2024-06-28").await;
        let after = sim.stats();
        assert_eq!(after.aggs - before.aggs, SOME.len() as u64, "{what}: REST, a month of minutes in a page");
        assert_eq!((after.s3_lists, after.s3_gets), (before.s3_lists, before.s3_gets), "{what}: REST touches no file");

        let ff = fetcher(&sim, memory().await, Source::FlatFiles).with_adjusted(adjusted);
        let f = batch(&ff, SOME, "2024-06-03", "2024-06-28").await;
        let later = sim.stats();
        assert_eq!(later.aggs, after.aggs, "{what}: flat files make no aggregates request");
        assert_eq!(later.s3_gets - after.s3_gets, 19, "{what}: June's 19 sessions (Juneteenth closed), each file once");
        assert_eq!(later.splits - after.splits, u64::from(adjusted), "{what}: splits asked once, only to adjust");
        assert_eq!(ff.progress().files, 19);
        assert_same_bars(&r, &f, true, what);
        // Some rows before NVDA's split prove the adjustment (or its absence) was applied.
        let nvda = &f[2];
        let first = nvda.o[0];
        let last = nvda.o[nvda.len() - 1];
        assert!(if adjusted { first < last * 3.0 } else { first > last * 5.0 }, "{what}: NVDA {first} .. {last}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_from_either_source_answers_the_other_and_vwap_is_never_taken_from_a_file() {
    let sim = sim_with(&[]).await;
    // Files first: a later `auto` request uses the file-built chunks; one that needs VWAP does not.
    let cache = memory().await;
    let filled = batch(&fetcher(&sim, cache.clone(), Source::FlatFiles), SOME, "2024-06-03", "2024-06-28").await;
    let s0 = sim.stats();
    let again = batch(&fetcher(&sim, cache.clone(), Source::Auto), SOME, "2024-06-10", "2024-06-20").await;
    let s1 = sim.stats();
    assert_eq!(
        (s1.aggs, s1.s3_gets, s1.s3_lists, s1.splits),
        (s0.aggs, s0.s3_gets, s0.s3_lists, s0.splits),
        "auto after a file backfill: nothing upstream (the splits are cached too)"
    );
    assert!(again.iter().all(|c| c.len() > 1_000 && c.vw.iter().all(|v| v.is_nan())));
    assert_eq!(again[0].t.first(), filled[0].t.iter().find(|&&t| t >= again[0].t[0]), "cut to the range asked");
    for needs_vwap in [Source::Rest, Source::Auto] {
        // Each on its own cache filled from files, so that neither finds what the other fetched.
        let own = memory().await;
        batch(&fetcher(&sim, own.clone(), Source::FlatFiles), SOME, "2024-06-03", "2024-06-28").await;
        let f = fetcher(&sim, own, needs_vwap).with_require_vwap(needs_vwap == Source::Auto);
        let before = sim.stats().aggs;
        let full = batch(&f, SOME, "2024-06-03", "2024-06-28").await;
        assert_eq!(sim.stats().aggs - before, SOME.len() as u64, "{:?}: VWAP needed, so REST", f.source());
        assert!(full.iter().all(|c| c.vw.iter().all(|v| !v.is_nan())), "full bars from REST");
    }
    batch(&fetcher(&sim, cache.clone(), Source::Rest), SOME, "2024-06-03", "2024-06-28").await;
    // Now that REST filled the full chunks, `auto` and `flatfiles` read them (with VWAP).
    let s2 = sim.stats();
    for source in [Source::Auto, Source::FlatFiles] {
        let got = batch(&fetcher(&sim, cache.clone(), source), SOME, "2024-06-03", "2024-06-28").await;
        assert!(got.iter().all(|c| c.vw.iter().all(|v| !v.is_nan())), "{source}: the full chunk wins");
    }
    let s3 = sim.stats();
    assert_eq!((s3.aggs, s3.s3_gets, s3.s3_lists), (s2.aggs, s2.s3_gets, s2.s3_lists), "repeats make no request");

    // REST first: a flat-file request of the same sessions makes no request of any kind.
    let cache = memory().await;
    let rest = batch(&fetcher(&sim, cache.clone(), Source::Rest), SOME, "2024-05-01", "2024-05-31").await;
    let s4 = sim.stats();
    let ff = batch(&fetcher(&sim, cache.clone(), Source::FlatFiles), SOME, "2024-05-01", "2024-05-31").await;
    let s5 = sim.stats();
    assert_eq!((s5.aggs, s5.s3_gets, s5.s3_lists, s5.splits), (s4.aggs, s4.s3_gets, s4.s3_lists, s4.splits));
    assert_same_bars(&rest, &ff, false, "REST backfill read as flatfiles");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_with_sessions_not_yet_in_files_comes_from_rest() {
    let sim = sim_with(&[]).await;
    let f = fetcher(&sim, memory().await, Source::FlatFiles);
    let plan = f
        .plan_sources(&tickers(SOME), Multiplier::ONE, Timespan::Minute, d("2024-07-01"), d("2024-07-11"))
        .await
        .unwrap();
    assert_eq!(plan.units.len(), 1);
    assert_eq!(plan.units[0].source, Source::Rest, "{plan:?}");
    assert!(plan.units[0].why.contains("2024-07-12"), "the first day without a file: {}", plan.units[0].why);
    let before = sim.stats();
    let got = batch(&f, SOME, "2024-07-01", "2024-07-11").await;
    let after = sim.stats();
    assert!(after.aggs > before.aggs && after.s3_gets == before.s3_gets, "REST, no file downloaded");
    assert!(got.iter().all(|c| c.len() > 1_000 && c.vw.iter().all(|v| !v.is_nan())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_weighs_requests_at_the_rate_limit_against_files() {
    let sim = sim_with(&[]).await;
    let all: Vec<Ticker> = {
        let f = fetcher(&sim, memory().await, Source::Auto);
        let day = f.flat_files().unwrap().day(&flat_file_key(MINUTE_AGGS, d("2024-06-03")), None).await.unwrap();
        day.bars.tickers.clone()
    };
    assert_eq!(all.len(), 60, "the bounded universe");
    let (from, to) = (d("2024-06-03"), d("2024-06-28"));
    let cfg = |rate| FetchConfig { rest_rate_per_sec: Some(rate), ..FetchConfig::default() };
    let planned = async |rate: f64, n: usize, source: Source| {
        let f = fetcher_with(&sim, memory().await, cfg(rate))
            .with_flat_files(files(&sim, s3::DEFAULT_SECRET))
            .with_source(source);
        f.plan_sources(&all[..n], Multiplier::ONE, Timespan::Minute, from, to).await.unwrap()
    };
    let before = sim.stats();
    let few = planned(1_000.0, 2, Source::Auto).await;
    assert_eq!(
        (few.units.len(), few.units[0].source),
        (1, Source::Rest),
        "two tickers at 1000/s: REST, {}",
        few.summary()
    );
    assert_eq!(few.all_rest.requests, 2, "a month of minutes fits a page");
    let f = few.all_files.expect("files could serve June");
    assert_eq!(f.files, 19);
    assert!(f.bytes > 0 && f.bars_without_vwap > 0, "{f:?}");
    assert_eq!(few.chosen, few.all_rest);

    let many = planned(5.0, 60, Source::Auto).await;
    assert_eq!(many.units[0].source, Source::FlatFiles, "sixty at 5/s: files, {}", many.summary());
    assert_eq!(many.all_rest.requests, 60);
    assert!((many.all_rest.seconds - 12.0).abs() < 1e-9, "{:?}", many.all_rest);
    assert_eq!(many.chosen, many.all_files.unwrap());
    assert!(many.summary().contains("bars without VWAP"), "{}", many.summary());

    let rest = planned(5.0, 60, Source::Rest).await;
    assert_eq!((rest.units[0].source, rest.chosen), (Source::Rest, rest.all_rest));
    assert!(rest.all_files.is_none(), "REST asked for: files not even listed");
    let after = sim.stats();
    assert_eq!((after.aggs, after.s3_gets), (before.aggs, before.s3_gets), "a plan downloads nothing and asks no bars");
    assert_eq!(after.s3_lists - before.s3_lists, 2, "only the two auto plans listed June");

    let vw = planned(5.0, 60, Source::Auto).await;
    assert_eq!(vw.units[0].source, Source::FlatFiles);
    let f = fetcher_with(&sim, memory().await, cfg(5.0))
        .with_flat_files(files(&sim, s3::DEFAULT_SECRET))
        .with_require_vwap(true);
    let p = f.plan_sources(&all, Multiplier::ONE, Timespan::Minute, from, to).await.unwrap();
    assert_eq!(p.units[0].source, Source::Rest, "VWAP required: REST");
    assert!(p.files_unavailable.as_deref().is_some_and(|w| w.contains("VWAP")), "{p:?}");
    let hourly =
        f.with_require_vwap(false).plan_sources(&all, Multiplier::ONE, Timespan::Hour, from, to).await.unwrap();
    assert!(hourly.files_unavailable.as_deref().is_some_and(|w| w.contains("1-minute and 1-day")), "{hourly:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_files_are_an_error_under_flatfiles_and_rest_under_auto() {
    let sim = sim_with(&[]).await;
    let cache = memory().await;
    let bad = |source| {
        fetcher_with(&sim, cache.clone(), FetchConfig::default())
            .with_flat_files(files(&sim, "not-the-secret"))
            .with_source(source)
    };
    let before = sim.stats().aggs;
    let out = bad(Source::FlatFiles)
        .get_aggregates_batch(&tickers(SOME), Multiplier::ONE, Timespan::Minute, d("2024-06-03"), d("2024-06-28"))
        .await;
    assert_eq!(out.len(), SOME.len(), "no ticker vanishes");
    for (t, r) in &out {
        let e = r.as_ref().expect_err("flatfiles never switches silently");
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("{t}: ")), "{msg}");
        assert!(msg.contains("POLYGON_S3_SECRET_ACCESS_KEY") && !msg.contains("not-the-secret"), "{msg}");
        assert!(e.transport().is_some_and(polygon_transport::Error::is_bad_credentials), "{msg}");
    }
    assert_eq!(sim.stats().aggs, before, "and REST was not asked");
    let e = bad(Source::FlatFiles)
        .get_aggregates(&tickers(&["AAPL"])[0], Multiplier::ONE, Timespan::Minute, d("2024-06-03"), d("2024-06-28"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("POLYGON_S3_SECRET_ACCESS_KEY"), "{e}");

    // Files that cannot serve at all are an error under flatfiles too, for the plan and the fetch.
    let unconfigured = fetcher_with(&sim, cache.clone(), FetchConfig::default()).with_source(Source::FlatFiles);
    let hourly = fetcher(&sim, cache.clone(), Source::FlatFiles);
    let with_vwap = fetcher(&sim, cache.clone(), Source::FlatFiles).with_require_vwap(true);
    for (f, span, want) in [
        (&unconfigured, Timespan::Minute, "POLYGON_S3_ACCESS_KEY_ID"),
        (&hourly, Timespan::Hour, "1-minute and 1-day bars, not 1 hour"),
        (&with_vwap, Timespan::Minute, "VWAP"),
    ] {
        let (from, to) = (d("2024-06-03"), d("2024-06-28"));
        let e = f.plan_sources(&tickers(SOME), Multiplier::ONE, span, from, to).await.unwrap_err();
        assert!(matches!(e, FetchError::FilesUnavailable { .. }) && e.to_string().contains(want), "{e}");
        let out = f.get_aggregates_batch(&tickers(SOME), Multiplier::ONE, span, from, to).await;
        assert!(
            out.iter().all(|(t, r)| r
                .as_ref()
                .is_err_and(|e| e.to_string().starts_with(&format!("{t}: flat files cannot serve")))),
            "{out:?}"
        );
    }
    assert_eq!(sim.stats().aggs, before, "and REST was not asked");

    let auto = bad(Source::Auto);
    let p = auto
        .plan_sources(&tickers(SOME), Multiplier::ONE, Timespan::Minute, d("2024-06-03"), d("2024-06-28"))
        .await
        .unwrap();
    assert!(p.files_unavailable.as_deref().is_some_and(|w| w.contains("refused")), "{p:?}");
    assert_eq!(p.units[0].source, Source::Rest);
    let got = batch(&auto, SOME, "2024-06-03", "2024-06-28").await;
    let rest = batch(&fetcher(&sim, memory().await, Source::Rest), SOME, "2024-06-03", "2024-06-28").await;
    assert_same_bars(&rest, &got, false, "auto after a refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tight_memory_budget_takes_more_passes_and_gives_the_same_bars() {
    let sim = sim_with(&[]).await;
    let roomy = batch(&fetcher(&sim, memory().await, Source::FlatFiles), SOME, "2024-06-03", "2024-06-28").await;
    let tight = fetcher_with(&sim, memory().await, FetchConfig { flat_file_memory_bytes: 1, ..FetchConfig::default() })
        .with_flat_files(files(&sim, s3::DEFAULT_SECRET))
        .with_source(Source::FlatFiles);
    let before = sim.stats().s3_gets;
    let got = batch(&tight, SOME, "2024-06-03", "2024-06-28").await;
    let p = tight.progress();
    assert_eq!(p.file_passes, SOME.len() as u64, "halved down to one ticker a pass: {p:?}");
    assert!(p.files > 20 && sim.stats().s3_gets - before == p.files, "files read again per pass: {p:?}");
    assert_eq!(roomy.len(), got.len());
    for (a, b) in roomy.iter().zip(&got) {
        assert_eq!((&a.tickers, &a.t, &a.o, &a.c, &a.v, &a.n), (&b.tickers, &b.t, &b.o, &b.c, &b.v, &b.n));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_file_is_named_under_flatfiles_and_its_month_comes_from_rest_under_auto() {
    let sim = sim_with(&[("2024-06-12", FlatFileFault::CorruptGzip)]).await;
    let key = flat_file_key(MINUTE_AGGS, d("2024-06-12"));
    let out = fetcher(&sim, memory().await, Source::FlatFiles)
        .get_aggregates_batch(&tickers(SOME), Multiplier::ONE, Timespan::Minute, d("2024-06-03"), d("2024-06-28"))
        .await;
    for (t, r) in &out {
        let e = r.as_ref().expect_err("a corrupt file fails the unit");
        assert!(
            matches!(e, FetchError::Source { .. }) && e.to_string().contains(&key) && e.to_string().contains("gzip"),
            "{t}: {e}"
        );
    }
    let before = sim.stats().aggs;
    let got = batch(&fetcher(&sim, memory().await, Source::Auto), SOME, "2024-06-03", "2024-06-28").await;
    assert_eq!(sim.stats().aggs - before, SOME.len() as u64, "the month from REST");
    assert!(got.iter().all(|c| c.len() > 1_000 && c.vw.iter().all(|v| !v.is_nan())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reads_the_files_once_for_all_its_groups_and_reports_a_refusal_per_ticker() {
    let sim = sim_with(&[]).await;
    let want =
        batch(&fetcher(&sim, memory().await, Source::Rest).with_adjusted(true), SOME, "2024-06-03", "2024-06-28").await;
    let cfg = FetchConfig { batch_size: 3, ..FetchConfig::default() };
    let f = fetcher_with(&sim, memory().await, cfg.clone())
        .with_flat_files(files(&sim, s3::DEFAULT_SECRET))
        .with_source(Source::FlatFiles);
    let (aggs, gets) = (sim.stats().aggs, sim.stats().s3_gets);
    let mut rx =
        f.stream_aggregates(tickers(SOME), Multiplier::ONE, Timespan::Minute, d("2024-06-03"), d("2024-06-28"));
    let mut got = Vec::new();
    while let Some(chunk) = rx.recv().await {
        assert!(chunk.failures.is_empty(), "{:?}", chunk.failures);
        assert!(chunk.columns.num_series() <= 3);
        for s in 0..chunk.columns.num_series() {
            let o = chunk.columns.offsets();
            let (a, b) = (o[s] as usize, o[s + 1] as usize);
            let mut one = BarColumns::new();
            one.begin_series(chunk.columns.tickers[s].clone());
            for i in a..b {
                let c = &chunk.columns;
                one.push_row(c.t[i], c.o[i], c.h[i], c.l[i], c.c[i], c.v[i], c.vw[i], c.n[i]);
            }
            got.push(one);
        }
    }
    assert_eq!((sim.stats().aggs, sim.stats().s3_gets - gets), (aggs, 19), "each file once for both groups, no REST");
    assert_same_bars(&want, &got, true, "streamed from files");

    let bad = fetcher_with(&sim, memory().await, cfg)
        .with_flat_files(files(&sim, "not-the-secret"))
        .with_source(Source::FlatFiles);
    let mut rx =
        bad.stream_aggregates(tickers(SOME), Multiplier::ONE, Timespan::Minute, d("2024-06-03"), d("2024-06-28"));
    let mut failed = Vec::new();
    while let Some(chunk) = rx.recv().await {
        assert_eq!(chunk.columns.num_series(), 0);
        failed.extend(chunk.failures.into_iter().map(|(t, e)| (t.to_string(), e.to_string())));
    }
    assert_eq!(failed.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), SOME, "every ticker reported, in order");
    assert!(failed.iter().all(|(_, e)| e.contains("POLYGON_S3_SECRET_ACCESS_KEY")), "{failed:?}");
}
