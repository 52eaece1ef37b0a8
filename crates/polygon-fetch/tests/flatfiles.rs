//! The flat-file source against the simulator's S3 store over real sockets: the published
//! sessions, a day decoded for some tickers equal to the REST bars as traded, and every way a
//! file can fail, each named.

use polygon_fetch::{FetchError, FlatFiles, MINUTE_AGGS, flat_file_key};
use polygon_model::{Date, Multiplier, Ticker, TimeBound, Timespan};
use polygon_sim::s3::{self, FlatFileFault};
use polygon_sim::{SimHandle, Simulator};
use polygon_transport::{FileHost, S3Secret};

/// 2024-07-12 12:00 New York: July 11's files are out, July 12's are not.
const NOW: i64 = 1_720_800_000_000;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

async fn sim() -> SimHandle {
    Simulator::builder()
        .now_ms(NOW)
        .universe(60)
        .flat_file_fault(flat_file_key(MINUTE_AGGS, d("2024-07-08")), FlatFileFault::BadCsvField)
        .flat_file_fault(flat_file_key(MINUTE_AGGS, d("2024-07-09")), FlatFileFault::TruncatedGzip)
        .flat_file_fault(flat_file_key(MINUTE_AGGS, d("2024-07-10")), FlatFileFault::CorruptGzip)
        .build()
        .spawn()
        .await
        .unwrap()
}

fn files(sim: &SimHandle, secret: &str) -> FlatFiles {
    let host = FileHost::builder(s3::DEFAULT_ACCESS_KEY_ID, S3Secret::new(secret).unwrap())
        .endpoint(sim.base_url())
        .transport(|t| t.backoff(std::time::Duration::from_millis(5), std::time::Duration::from_millis(20)))
        .build()
        .unwrap();
    FlatFiles::new(host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_for_some_tickers_equals_the_rest_bars_as_traded() {
    let sim = sim().await;
    let f = files(&sim, s3::DEFAULT_SECRET);
    let published = f.published(Timespan::Minute, d("2024-06-27"), d("2024-07-15")).await.unwrap();
    let days: Vec<String> = published.keys().map(Date::to_string).collect();
    assert_eq!(
        days,
        [
            "2024-06-27",
            "2024-06-28",
            "2024-07-01",
            "2024-07-02",
            "2024-07-03",
            "2024-07-05",
            "2024-07-08",
            "2024-07-09",
            "2024-07-10",
            "2024-07-11"
        ],
        "two months listed; the holiday, the weekends and the unpublished 12th absent"
    );
    assert_eq!(sim.stats().s3_lists, 2);
    let tickers: Vec<Ticker> = ["AAPL", "MSFT", "TSLA", "NOSUCH"].map(|t| t.parse().unwrap()).to_vec();
    let day = f.day(&published[&d("2024-07-03")].key, Some(&tickers)).await.unwrap();
    assert!(day.rows > 10_000, "every row of the file was read: {}", day.rows);
    let names: Vec<&str> = day.bars.tickers.iter().map(Ticker::as_str).collect();
    assert_eq!(names, ["AAPL", "MSFT", "TSLA"], "sorted; a ticker without rows has no series");
    for (k, s) in day.bars.iter_series().enumerate() {
        let dd = TimeBound::Date(d("2024-07-03"));
        let want = polygon_sim::expected_aggregates_as(names[k], Multiplier::ONE, Timespan::Minute, dd, dd, NOW, false);
        assert_eq!(s.len(), want.len(), "{}", names[k]);
        for (i, w) in want.iter().enumerate() {
            let got = (s.t[i], s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i], s.n[i]);
            assert_eq!(got, (w.t, w.o, w.h, w.l, w.c, w.v, w.n.unwrap()), "{} bar {i}", names[k]);
            assert!(s.vw[i].is_nan(), "files carry no VWAP: never invented");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_are_fetched_again_then_named_and_a_bad_field_names_file_line_and_field() {
    let sim = sim().await;
    let f = files(&sim, s3::DEFAULT_SECRET);
    let aapl = vec!["AAPL".parse::<Ticker>().unwrap()];
    for (date, what) in [("2024-07-09", "truncated"), ("2024-07-10", "corrupt")] {
        let key = flat_file_key(MINUTE_AGGS, d(date));
        let before = sim.stats().s3_gets;
        let e = f.day(&key, Some(&aapl)).await.unwrap_err();
        assert!(matches!(e, FetchError::Gzip { .. }), "{what}: {e}");
        assert!(e.to_string().contains(&key) && e.to_string().contains("gzip"), "{what}: {e}");
        assert_eq!(sim.stats().s3_gets - before, 2, "{what}: downloaded once more before giving up");
    }
    let key = flat_file_key(MINUTE_AGGS, d("2024-07-08"));
    let e = f.day(&key, None).await.unwrap_err();
    let FetchError::Csv { file, source } = &e else { panic!("{e}") };
    assert_eq!(file, &key);
    assert_eq!((source.line, source.field.as_str()), (4, "open"), "the third data row's open: {e}");
    assert!(e.to_string().starts_with(&format!("{key}: line 4, field \"open\"")), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_they_mean() {
    let sim = sim().await;
    let good = files(&sim, s3::DEFAULT_SECRET);
    let key = flat_file_key(MINUTE_AGGS, d("2024-07-12"));
    let e = good.day(&key, None).await.unwrap_err();
    assert!(e.transport().is_some_and(polygon_transport::Error::is_access_denied), "{e}");
    assert!(e.to_string().contains(&key), "{e}");
    let bad = files(&sim, "not-the-secret");
    let e = bad.published(Timespan::Minute, d("2024-07-01"), d("2024-07-03")).await.unwrap_err();
    assert!(e.transport().is_some_and(polygon_transport::Error::is_bad_credentials), "{e}");
    assert!(e.to_string().contains("POLYGON_S3_SECRET_ACCESS_KEY") && !e.to_string().contains("not-the-secret"), "{e}");
    let e = good.published(Timespan::Hour, d("2024-07-01"), d("2024-07-03")).await.unwrap_err();
    assert!(matches!(e, FetchError::BadArgument(_)), "{e}");
}
