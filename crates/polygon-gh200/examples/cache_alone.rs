//! The cache alone: rkyv archives in Redis (when one answers at REDIS_URL, default
//! redis://localhost:6379/0) behind a bounded memory tier, with single-flight loading:
//! `cargo run -p polygon-gh200 --example cache_alone`.

use polygon_gh200::cache::{Cache, CacheKey, TtlClass};
use polygon_gh200::model::{Bar, BarColumns};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://localhost:6379/0".into());
    let cache = Cache::builder().redis_url(url).namespace("example").build().await?;
    let key = CacheKey::from_canonical("example", "AAPL 2024-01-02");
    let entry = cache
        .get_or_load(&key, TtlClass::Immutable, || async {
            let mut c = BarColumns::new();
            c.begin_series("AAPL".parse().expect("a ticker"));
            c.push(&Bar {
                o: 185.0,
                h: 186.1,
                l: 184.2,
                c: 185.6,
                v: 1e6,
                vw: Some(185.3),
                n: Some(9000),
                t: 1_704_205_800_000,
                otc: None,
            });
            Ok::<_, std::convert::Infallible>(c)
        })
        .await?;
    // Zero-copy: the archived columns are read in place.
    let archived = entry.archived();
    eprintln!(
        "{} bar(s) from the {:?} tier; close {}",
        archived.t_slice().len(),
        entry.tier(),
        archived.f64_column("c").map_or(f64::NAN, |c| c[0])
    );
    eprintln!("{:?}", cache.stats());
    cache.clear().await.ok();
    cache.shutdown().await;
    Ok(())
}
