//! The transport against the simulator over real sockets: pooling, TLS, retries, budget, rate limits, auth.

use std::time::{Duration, Instant};

use polygon_sim::Simulator;
use polygon_transport::{ApiKey, HttpVersion, Transport, TransportBuilder, report};

const NOW: i64 = 1_751_241_600_000; // 2025-06-30 00:00 UTC: every range below is history

fn key() -> ApiKey {
    ApiKey::new("test-key-0123456789").unwrap()
}

fn transport(base: &str) -> TransportBuilder {
    Transport::builder(base)
        .api_key(key())
        .rate_limit(None)
        .backoff(Duration::from_millis(10), Duration::from_millis(100))
}

fn day_path(i: usize) -> String {
    format!("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-{:02}-{:02}", 2 + i / 28, 1 + i % 28)
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection_and_bodies_are_gunzipped() {
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let t = transport(sim.base_url()).build().unwrap();
    for i in 0..10 {
        let r = t.get(&day_path(i)).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.attempts, 1);
        let page: polygon_model::AggregatesResponse = serde_json::from_slice(&r.body).unwrap();
        assert!(!page.results.is_empty());
        assert_eq!(r.request_id.as_deref(), Some(page.request_id.as_str()));
    }
    assert_eq!(sim.stats().connections, 1, "keep-alive: one connection for ten requests");
    let s = t.stats();
    assert_eq!((s.requests, s.attempts, s.connections_opened), (10, 10, 1));
    assert!(s.bytes_wire * 2 < s.bytes, "gzip on the wire: {} vs {}", s.bytes_wire, s.bytes);
}

#[tokio::test]
async fn concurrent_requests_stay_within_max_connections() {
    let sim = Simulator::builder().now_ms(NOW).latency_ms(30).build().spawn().await.unwrap();
    let t = transport(sim.base_url()).max_connections(4).build().unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let t = t.clone();
        set.spawn(async move { t.get(&day_path(i)).await.map(|r| r.status) });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap(), 200);
    }
    let s = sim.stats();
    assert_eq!(s.max_in_flight, 4, "the limit was reached and never exceeded");
    assert!(s.connections <= 4, "{} connections", s.connections);
    assert_eq!(t.stats().connections_opened, s.connections);
}

#[tokio::test]
async fn tls_with_the_simulators_certificate_and_http2_by_alpn() {
    let sim = Simulator::builder().now_ms(NOW).tls(true).build().spawn().await.unwrap();
    let t = transport(sim.base_url()).ca_cert(sim.cert_path().unwrap()).build().unwrap();
    let r = t.get(&day_path(0)).await.unwrap();
    assert_eq!(r.version, http::Version::HTTP_2);
    let h1 =
        transport(sim.base_url()).ca_cert(sim.cert_path().unwrap()).http_version(HttpVersion::Http1).build().unwrap();
    assert_eq!(h1.get(&day_path(0)).await.unwrap().version, http::Version::HTTP_11);

    // Without the simulator's root the handshake fails, clearly.
    let untrusted = transport(sim.base_url()).max_retries(1).build().unwrap();
    let e = untrusted.get(&day_path(0)).await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    let text = report(&e);
    assert!(text.contains("certificate") || text.contains("UnknownIssuer"), "{text}");

    // A bad CA file is a configuration error naming the variable.
    let e = transport(sim.base_url()).ca_cert("/nonexistent/ca.pem").build().unwrap_err();
    assert!(e.is_config() && e.to_string().contains("POLYGON_CA_CERT"), "{e}");
}

#[tokio::test]
async fn plain_http2_with_prior_knowledge() {
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let t = transport(sim.base_url()).http_version(HttpVersion::Http2).build().unwrap();
    assert_eq!(t.get(&day_path(3)).await.unwrap().version, http::Version::HTTP_2);
}

#[tokio::test]
async fn a_429_waits_its_retry_after_then_succeeds() {
    let sim = Simulator::builder().now_ms(NOW).rate_limit(Some("2/s".parse().unwrap())).build().spawn().await.unwrap();
    let t = transport(sim.base_url()).build().unwrap();
    t.get(&day_path(0)).await.unwrap();
    t.get(&day_path(1)).await.unwrap();
    let started = Instant::now();
    let r = t.get(&day_path(2)).await.unwrap();
    assert_eq!(r.attempts, 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured");
    assert_eq!(t.stats().rate_limited, 1);
    assert_eq!(sim.stats().rate_limited, 1);
}

#[tokio::test]
async fn a_429_pauses_every_request_to_the_host() {
    let sim = Simulator::builder().now_ms(NOW).rate_limit(Some("2/s".parse().unwrap())).build().spawn().await.unwrap();
    let t = transport(sim.base_url()).build().unwrap();
    t.get(&day_path(0)).await.unwrap();
    t.get(&day_path(1)).await.unwrap();
    // This one gets the 429 (Retry-After: 1) …
    let first = tokio::spawn({
        let t = t.clone();
        async move { t.get(&day_path(2)).await.map(|r| r.attempts) }
    });
    let waiting = Instant::now();
    while sim.stats().rate_limited == 0 {
        assert!(waiting.elapsed() < Duration::from_secs(10), "the third request within 0.5 s was not refused");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // … and a request started after it waits out the pause instead of hitting the server now.
    let second = t.get(&day_path(3)).await.unwrap();
    assert_eq!(second.attempts, 1, "the second request was held back, not refused");
    assert_eq!(first.await.unwrap().unwrap(), 2);
    assert_eq!(sim.stats().rate_limited, 1, "only one 429 for two requests");
}

#[tokio::test]
async fn a_30_percent_fault_mix_still_returns_every_body_exactly() {
    let clean = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let faulty = Simulator::builder()
        .now_ms(NOW)
        .fault_rate(0.3)
        .seed(3)
        .stall(Duration::from_secs(5))
        .build()
        .spawn()
        .await
        .unwrap();
    let reference = transport(clean.base_url()).build().unwrap();
    // Stalls last 5 s; 1.5 s per attempt catches them without mistaking a slow healthy reply for one.
    let t = transport(faulty.base_url()).attempt_timeout(Duration::from_millis(1500)).max_retries(6).build().unwrap();
    for i in 0..60 {
        let want = reference.get(&day_path(i)).await.unwrap().body;
        let got = t.get(&day_path(i)).await.unwrap_or_else(|e| panic!("request {i}: {}", report(&e)));
        assert_eq!(got.body, want, "request {i}");
    }
    let (s, f) = (t.stats(), faulty.stats());
    assert!(f.faults >= 10, "the mix was real: {} faults", f.faults);
    assert_eq!(s.retries, f.faults, "one retry per injected fault");
    assert_eq!(s.budget_refusals, 0);
    assert!(s.retries as f64 <= 10.0 + 0.2 * 60.0 + 10.0 * 30.0, "within the budget");
}

#[tokio::test]
async fn the_retry_budget_stops_a_retry_storm() {
    let sim = Simulator::builder()
        .now_ms(NOW)
        .fault_rate(1.0)
        .seed(5)
        .stall(Duration::from_millis(50))
        .build()
        .spawn()
        .await
        .unwrap();
    // Every attempt fails. A budget of half a retry per request, no floor: at most 50 % extra load.
    let t = transport(sim.base_url())
        .attempt_timeout(Duration::from_millis(30))
        .retry_budget(0.5, 0.0, 100.0)
        .max_retries(5)
        .build()
        .unwrap();
    for i in 0..10 {
        assert!(t.get(&day_path(i)).await.is_err());
    }
    let s = t.stats();
    assert_eq!(s.retries, 5, "one retry per two requests, not five per request");
    assert_eq!(s.attempts, 15);
    assert_eq!(s.budget_refusals, 10, "each call ended when the budget said no");
    assert_eq!(sim.stats().requests, 15);
}

#[tokio::test]
async fn a_dead_server_fails_within_the_deadline() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let t = transport(&format!("http://{addr}"))
        .attempt_timeout(Duration::from_millis(200))
        .deadline(Duration::from_millis(700))
        .max_retries(10)
        .build()
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), t.get("/v2/aggs/ticker/AAPL/prev"))
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(e.attempts() >= 2);

    // Nothing listening: refused, retried, then a connect error.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let t = transport(&format!("http://127.0.0.1:{port}")).max_retries(2).build().unwrap();
    let e = t.get("/v2/aggs/ticker/AAPL/prev").await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert_eq!(e.attempts(), 3);
}

#[tokio::test]
async fn auth_and_client_errors_are_final_and_never_show_the_key() {
    let sim = Simulator::builder().now_ms(NOW).api_key("right-key").build().spawn().await.unwrap();
    let secret = "wrong-key-5ecret";
    let t = Transport::builder(sim.base_url()).api_key(ApiKey::new(secret).unwrap()).rate_limit(None).build().unwrap();
    let e = t.get(&format!("{}?apiKey={secret}", day_path(0))).await.unwrap_err();
    assert!(e.is_auth() && !e.is_server() && !e.is_timeout());
    assert_eq!(e.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(e.attempts(), 1);
    assert!(e.request_id().is_some());
    assert_eq!(e.message(), Some("Unknown API Key"));
    for text in [e.to_string(), format!("{e:?}"), report(&e), format!("{t:?}")] {
        assert!(!text.contains(secret), "key leaked: {text}");
    }
    assert!(e.to_string().contains("apiKey=<redacted>"), "{e}");
    assert_eq!(sim.stats().requests, 1, "401 is not retried");

    let t =
        Transport::builder(sim.base_url()).api_key(ApiKey::new("right-key").unwrap()).rate_limit(None).build().unwrap();
    let e = t.get("/v2/aggs/ticker/O:SPY251219C00650000/range/1/day/2024-01-02/2024-01-31").await.unwrap_err();
    assert!(e.is_auth() && e.status().unwrap().as_u16() == 403, "{e}");
    let e = t.get("/v3/no/such/route").await.unwrap_err();
    assert!(e.is_not_found());
    let e = t.get("/v2/aggs/ticker/AAPL/range/1/fortnight/2024-01-02/2024-01-31").await.unwrap_err();
    assert_eq!(e.status().unwrap().as_u16(), 400);
    assert!(e.message().unwrap().contains("timespan"), "{e}");
    assert_eq!(sim.stats().requests, 4, "none of 401, 403, 404, 400 was retried");
}

#[tokio::test]
async fn the_client_side_rate_limit_holds() {
    let sim = Simulator::builder().now_ms(NOW).build().spawn().await.unwrap();
    let t = transport(sim.base_url()).rate_limit(Some("5/s".parse().unwrap())).build().unwrap();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..15 {
        let t = t.clone();
        set.spawn(async move { t.get(&day_path(i)).await.map(|_| ()) });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().unwrap();
    }
    // A burst of 5, then one every 200 ms: the 15th cannot start before 2 s.
    assert!(started.elapsed() >= Duration::from_millis(1_950), "{:?}", started.elapsed());
    assert_eq!(sim.stats().requests, 15);
}

#[test]
fn next_urls_are_followed_by_path_and_lose_any_key() {
    use polygon_transport::path_of_next_url;
    assert_eq!(
        path_of_next_url("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/1/2?cursor=abc&apiKey=zzz")
            .unwrap(),
        "/v2/aggs/ticker/AAPL/range/1/minute/1/2?cursor=abc"
    );
    assert_eq!(path_of_next_url("/v3/trades/A?cursor=x").unwrap(), "/v3/trades/A?cursor=x");
    assert!(path_of_next_url("ftp://x/y").unwrap_err().is_config());
    assert!(Transport::builder("not a url").build().unwrap_err().is_config());
    assert!(Transport::builder("ftp://host").build().unwrap_err().to_string().contains("POLYGON_BASE_URL"));
}
