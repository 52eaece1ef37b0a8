//! The seed's basic usage: a batch of tickers, every one with its bars or its error, then
//! indicators on the configured backend, streamed in chunks.
//!
//! Runs against the simulator when `POLYGON_API_KEY` is unset (no network needed):
//! `cargo run -p polygon-gh200 --example basic_usage`.

use polygon_gh200::model::{Date, Multiplier, Timespan};
use polygon_gh200::{Config, PolygonDataSource};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    let _sim = if config.api_key.is_none() {
        let sim = polygon_sim::Simulator::builder().api_key("example").build().spawn().await?;
        config.base_url = sim.base_url().to_owned();
        config.api_key = Some(polygon_gh200::transport::ApiKey::new("example")?);
        eprintln!("no POLYGON_API_KEY: using the simulator at {}", sim.base_url());
        Some(sim)
    } else {
        None
    };
    let source = if _sim.is_some() {
        // Simulated bars go under their own namespace, never where real ones are cached.
        let transport = config.transport_builder().build()?;
        let cache = config.cache_builder().namespace("example").build().await?;
        PolygonDataSource::with_parts(config, transport, cache)?
    } else {
        PolygonDataSource::new(config).await?
    };
    let from: Date = "2024-01-02".parse()?;
    let to: Date = "2024-01-31".parse()?;

    // Every symbol comes back: its data or its error (here, a malformed one).
    for (ticker, result) in
        source.get_aggregates_batch(&["AAPL", "MSFT", "GOOGL", "not a ticker"], Timespan::Minute, from, to).await
    {
        match result {
            Ok(bars) => eprintln!("{ticker}: {} bars", bars.len()),
            Err(e) => eprintln!("{ticker}: error: {e}"),
        }
    }

    // Streaming: chunks of BATCH_SIZE tickers, processed while the next ones are fetched.
    let tickers = ["AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META"];
    let mut chunks = source.stream(&tickers, Multiplier::ONE, Timespan::Minute, from, to)?;
    while let Some(chunk) = chunks.recv().await {
        let ind = chunk.indicators?;
        for (k, ticker) in chunk.bars.tickers.iter().enumerate() {
            let last = chunk.bars.offsets()[k + 1] as usize - 1;
            eprintln!(
                "{ticker}: last close {:.2}, rsi_14 {:.1}, vwap {:.2}",
                chunk.bars.c[last], ind.rsi_14[last], ind.vwap[last]
            );
        }
        for (ticker, e) in chunk.failures {
            eprintln!("{ticker}: {e}");
        }
    }
    eprintln!("backend: {}, cache: {:?}", source.backend()?.name(), source.cache().stats());
    source.shutdown().await;
    Ok(())
}
