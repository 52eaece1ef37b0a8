//! The facade's stream is the fast pipeline: chunks given back are reused (bars and indicator
//! columns), the numbers equal the batch call's computed one by one, repeats are fetched once, and
//! the indicator backend is built only when a stream or a computation first needs it.

use std::collections::HashSet;

use polygon_gh200::model::{Multiplier, Timespan};
use polygon_gh200::{Config, Error, PolygonDataSource};

async fn source(url: &str, extra: &[(&str, &str)]) -> PolygonDataSource {
    let mut settings: Vec<(String, String)> = vec![
        ("POLYGON_API_KEY".into(), "k".into()),
        ("POLYGON_BASE_URL".into(), url.into()),
        ("POLYGON_RATE_LIMIT".into(), "off".into()),
        ("REDIS_URL".into(), "off".into()),
        ("CACHE_DISK".into(), "off".into()),
        ("BATCH_SIZE".into(), "1".into()),
        ("QUEUE_SIZE".into(), "1".into()),
        ("GPU_BACKEND".into(), "cpu".into()),
    ];
    settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config =
        Config::from_lookup(&|k: &str| settings.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
    PolygonDataSource::new(config).await.unwrap()
}

fn tickers(n: usize) -> Vec<String> {
    polygon_sim::market::Universe::get().profiles().iter().take(n).map(|p| p.ticker.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_given_back_lend_their_memory_and_the_numbers_equal_the_batch_calls() {
    let sim = polygon_sim::Simulator::builder().build().spawn().await.unwrap();
    // A whole month: the planner's unit for minute bars, so a chunk holds every row it reserved.
    let (from, to) = ("2024-03-01".parse().unwrap(), "2024-03-31".parse().unwrap());
    let names = tickers(8);

    // Reference: the batch call, each ticker's bars computed on their own.
    let reference = source(sim.base_url(), &[]).await;
    let mut expected = Vec::new();
    for (t, r) in reference.get_aggregates_batch(&names, Timespan::Minute, from, to).await {
        let bars = r.unwrap();
        let ind = reference.compute(&bars).unwrap();
        expected.push((t, bars, ind));
    }

    // Chunks held (never given back): each has buffers of its own.
    let s = source(sim.base_url(), &[]).await;
    let mut rx = s.stream(&names, Multiplier::ONE, Timespan::Minute, from, to).unwrap();
    let mut held = Vec::new();
    while let Some(c) = rx.recv().await {
        held.push(c);
    }
    // A fresh buffer is sized to its chunk exactly; one given back keeps the capacity of the
    // larger chunk it held, so `capacity > len` tells reuse apart from an allocator that happens
    // to hand a freed address out again.
    let spare = |v: &Vec<f64>| v.capacity() > v.len();
    assert!(held.iter().all(|c| !spare(&c.bars.c) && !spare(&c.indicators.as_ref().unwrap().sma_20)));
    let ptrs: HashSet<usize> = held.iter().map(|c| c.bars.c.as_ptr() as usize).collect();
    assert_eq!(ptrs.len(), names.len(), "held chunks share no buffer");

    // Chunks given back: later chunks are decoded and computed into the earlier ones' memory.
    let s = source(sim.base_url(), &[]).await;
    let mut rx = s.stream(&names, Multiplier::ONE, Timespan::Minute, from, to).unwrap();
    let (mut reused_bars, mut reused_ind, mut k) = (0, 0, 0);
    while let Some(chunk) = rx.recv().await {
        let ind = chunk.indicators.as_ref().expect("cpu");
        let (want_t, want_bars, want_ind) = &expected[k];
        assert_eq!(chunk.bars.tickers, [want_t.parse().unwrap()], "chunk {k} in request order");
        assert_eq!(chunk.bars.c, want_bars.c);
        for (got, want) in ind.columns().iter().zip(want_ind.columns()) {
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got), bits(want), "{want_t}: the same bits as computing the batch call's bars");
        }
        reused_bars += usize::from(spare(&chunk.bars.c));
        reused_ind += usize::from(spare(&ind.sma_20));
        s.recycle(chunk);
        k += 1;
    }
    assert_eq!(k, names.len());
    assert!(reused_bars > 0, "a later chunk's bars were decoded into a chunk given back");
    assert!(reused_ind > 0, "a later chunk's indicators were computed into a chunk given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_are_fetched_once_and_the_backend_is_built_only_when_needed() {
    let sim = polygon_sim::Simulator::builder().build().spawn().await.unwrap();
    let (from, to) = ("2024-03-04".parse().unwrap(), "2024-03-04".parse().unwrap());
    // A build without CUDA: asking for it is an error, but only where indicators are computed.
    let s = source(sim.base_url(), &[("GPU_BACKEND", "cuda"), ("BATCH_SIZE", "2")]).await;
    let mut rx =
        s.stream_bars(&["AAPL", "MSFT", "AAPL", "NVDA", "MSFT"], Multiplier::ONE, Timespan::Minute, from, to).unwrap();
    let mut got = Vec::new();
    while let Some(chunk) = rx.recv().await {
        assert!(chunk.failures.is_empty());
        got.extend(chunk.columns.tickers.iter().map(|t| t.to_string()));
    }
    assert_eq!(got, ["AAPL", "MSFT", "NVDA"], "each distinct ticker once, in first-seen order");
    assert_eq!(sim.stats().requests, 3, "one request per distinct ticker");
    if cfg!(feature = "cuda") {
        return; // a CUDA build may well have a device
    }
    let before = sim.stats().requests;
    let e = s.stream(&["AAPL"], Multiplier::ONE, Timespan::Minute, from, to).unwrap_err();
    assert!(matches!(&e, Error::Gpu(_)) && e.to_string().contains("--features cuda"), "{e}");
    assert_eq!(sim.stats().requests, before, "nothing fetched for a stream that cannot compute");
    assert!(s.compute(&polygon_gh200::model::BarColumns::new()).is_err());
}
