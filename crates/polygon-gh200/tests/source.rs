//! `PolygonDataSource` against the simulator: the seed's batch call keeps every input (a malformed
//! symbol is an error in its own place), streaming computes indicators per chunk, and `shutdown`
//! stops a stream in flight and refuses new work.

use polygon_gh200::cache::Cache;
use polygon_gh200::model::{Multiplier, Timespan};
use polygon_gh200::{Config, Error, PolygonDataSource};

async fn source(url: &str, batch: &str) -> PolygonDataSource {
    let url = url.to_owned();
    let batch = batch.to_owned();
    let config = Config::from_lookup(&|k: &str| match k {
        "POLYGON_API_KEY" => Some("k".into()),
        "POLYGON_BASE_URL" => Some(url.clone()),
        "POLYGON_RATE_LIMIT" => Some("off".into()),
        "BATCH_SIZE" => Some(batch.clone()),
        "QUEUE_SIZE" => Some("1".into()),
        "GPU_BACKEND" => Some("cpu".into()),
        _ => None,
    })
    .unwrap();
    let transport = config.transport_builder().build().unwrap();
    PolygonDataSource::with_parts(config, transport, Cache::builder().build().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_keeps_every_input_and_stream_computes_each_chunk() {
    let sim = polygon_sim::Simulator::builder().fail_tickers(["FAIL"]).build().spawn().await.unwrap();
    let s = source(sim.base_url(), "2").await;
    let (from, to) = ("2024-03-04".parse().unwrap(), "2024-03-05".parse().unwrap());
    let out =
        s.get_aggregates_batch(&["MSFT", "not a ticker", "FAIL", "AAPL", "MSFT"], Timespan::Minute, from, to).await;
    let names: Vec<&str> = out.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["MSFT", "not a ticker", "FAIL", "AAPL"], "every distinct input, in order");
    assert!(out[0].1.as_ref().is_ok_and(|c| c.len() > 500));
    assert!(matches!(&out[1].1, Err(Error::Ticker { input, .. }) if input == "not a ticker"));
    assert!(matches!(&out[2].1, Err(Error::Fetch(e)) if e.to_string().contains("FAIL")));
    assert!(out[3].1.is_ok());

    let mut rx = s.stream(&["AAPL", "MSFT", "NVDA"], Multiplier::ONE, Timespan::Minute, from, to).unwrap();
    let mut sizes = Vec::new();
    while let Some(chunk) = rx.recv().await {
        let ind = chunk.indicators.expect("cpu");
        assert_eq!(ind.sma_20.len(), chunk.bars.len(), "indicators row-aligned with the bars");
        sizes.push(chunk.bars.num_series());
    }
    assert_eq!(sizes, [2, 1], "chunks of BATCH_SIZE tickers");
    assert!(matches!(s.stream(&["A/B"], Multiplier::ONE, Timespan::Minute, from, to), Err(Error::Ticker { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_stream_in_flight_and_refuses_new_work() {
    let sim = polygon_sim::Simulator::builder().latency_ms(200).build().spawn().await.unwrap();
    let s = source(sim.base_url(), "1").await;
    let (from, to) = ("2024-03-04".parse().unwrap(), "2024-03-04".parse().unwrap());
    let tickers: Vec<String> =
        polygon_sim::market::Universe::get().profiles().iter().take(200).map(|p| p.ticker.clone()).collect();
    let mut rx = s.stream(&tickers, Multiplier::ONE, Timespan::Minute, from, to).unwrap();
    assert!(rx.recv().await.is_some(), "a first chunk");
    s.shutdown().await;
    let mut rest = 0;
    while rx.recv().await.is_some() {
        rest += 1;
    }
    assert!(rest < 10, "the stream ended soon after shutdown, not after all 200 chunks ({rest} more)");
    assert!(matches!(s.stream(&["AAPL"], Multiplier::ONE, Timespan::Minute, from, to), Err(Error::ShutDown)));
    let late = s.get_aggregates("AAPL", Multiplier::ONE, Timespan::Minute, from, to).await;
    assert!(matches!(late, Err(Error::ShutDown)));
}
