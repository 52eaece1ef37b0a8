//! The transport alone: pooled, rate-limited, retrying HTTPS with the key in a header, for any
//! Polygon endpoint (here against the simulator): `cargo run -p polygon-gh200 --example transport_alone`.

use polygon_gh200::model::decode_aggregates;
use polygon_gh200::transport::{ApiKey, Transport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = polygon_sim::Simulator::builder().api_key("example").latency_ms(5).build().spawn().await?;
    let transport = Transport::builder(sim.base_url()).api_key(ApiKey::new("example")?).max_retries(3).build()?;
    let resp = transport.get("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-03-28?limit=50000").await?;
    let page = decode_aggregates(&resp.body)?;
    let columns = page.bars;
    eprintln!("AAPL: {} daily bars in {} attempt(s), first close {:.2}", columns.len(), resp.attempts, columns.c[0]);
    eprintln!("{:?}", transport.stats());
    sim.shutdown().await;
    Ok(())
}
