//! The key never reaches a log line: every span and event, hyper's and h2's included, at TRACE.

use std::io::Write;
use std::sync::{Arc, Mutex};

use polygon_transport::{ApiKey, HttpVersion, Transport, report};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn trace_logs_never_carry_the_key() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let good = "good-key-7f3a9c";
    let bad = "bad-key-41d2e8";
    let mut errors = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let sim = polygon_sim::Simulator::builder().api_key(good).tls(true).build().spawn().await.unwrap();
            for (key, version) in [(good, HttpVersion::Http2), (good, HttpVersion::Http1), (bad, HttpVersion::Http2)] {
                let t = Transport::builder(sim.base_url())
                    .api_key(ApiKey::new(key).unwrap())
                    .ca_cert(sim.cert_path().unwrap())
                    .http_version(version)
                    .rate_limit(None)
                    .build()
                    .unwrap();
                match t.get(&format!("/v2/aggs/ticker/AAPL/prev?apiKey={key}")).await {
                    Ok(r) => assert_eq!(r.status, 200),
                    Err(e) => errors.push(format!("{e} {e:?} {}", report(&e))),
                }
                tracing::info!(transport = ?t, "done");
            }
        });
    });
    assert_eq!(errors.len(), 1, "the bad key was refused");
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.len() > 1_000, "TRACE output was captured ({} bytes)", logs.len());
    assert!(logs.contains("polygon.get"), "the request span is logged");
    for key in [good, bad] {
        assert!(!logs.contains(key), "{key} leaked into the logs");
        assert!(!errors.iter().any(|e| e.contains(key)), "{key} leaked into an error");
    }
}
