//! The simulator over real sockets: Polygon's shapes, pagination, auth, errors, knobs and counters.

mod common;

use common::{client, get, get_with};
use polygon_model::{AggregatesResponse, Date, Multiplier, TimeBound, Timespan, TradesResponse};
use polygon_sim::Simulator;

/// A fixed clock, so every range below is history: 2025-06-30 00:00 UTC.
const NOW: i64 = 1_751_241_600_000;

fn d(s: &str) -> TimeBound {
    TimeBound::Date(s.parse::<Date>().unwrap())
}

async fn sim() -> polygon_sim::SimHandle {
    Simulator::builder().now_ms(NOW).build().spawn().await.unwrap()
}

/// Follows `next_url` (path and query against the base) until the end, as a client must.
async fn walk(c: &common::PlainClient, base: &str, first: &str) -> (Vec<polygon_model::Bar>, usize) {
    let mut url = format!("{base}{first}");
    let mut bars = Vec::new();
    let mut pages = 0;
    loop {
        let got = get(c, &url).await;
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
        let page: AggregatesResponse = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(page.results_count as usize, page.results.len());
        pages += 1;
        bars.extend(page.results);
        match page.next_url {
            Some(next) => {
                assert!(next.starts_with(base), "{next}");
                assert!(!next.contains("test-key"), "the key never travels in a next_url");
                url = next;
            }
            None => return (bars, pages),
        }
    }
}

#[tokio::test]
async fn aggregates_answer_like_polygon_and_paginate_to_the_generator() {
    let sim = sim().await;
    let c = client();
    let got =
        get(&c, &format!("{}/v2/aggs/ticker/AAPL/range/1/minute/2024-03-04/2024-03-04?limit=5000", sim.base_url()))
            .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["content-type"], "application/json");
    let v = got.json();
    for k in ["ticker", "queryCount", "resultsCount", "adjusted", "results", "status", "request_id", "count"] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["status"], "OK");
    let bar = &v["results"][0];
    for k in ["v", "vw", "o", "c", "h", "l", "t", "n"] {
        assert!(bar.get(k).is_some(), "bar lacks {k}: {bar}");
    }
    assert!(bar["v"].is_u64(), "volumes are JSON integers, as Polygon writes them: {bar}");
    // Minute bars only inside 04:00-20:00 New York of that day.
    let s = polygon_model::NyseCalendar.session("2024-03-04".parse().unwrap()).unwrap();
    for b in v["results"].as_array().unwrap() {
        assert!(s.contains(b["t"].as_i64().unwrap()));
    }

    // A month of minute bars in pages of 5,000 base bars equals the generator bar for bar, both ways.
    for (sort, limit) in [("asc", 5000), ("desc", 5000), ("asc", 50000)] {
        let (bars, pages) = walk(
            &c,
            sim.base_url(),
            &format!("/v2/aggs/ticker/MSFT/range/1/minute/2024-02-01/2024-02-29?sort={sort}&limit={limit}"),
        )
        .await;
        let mut want = polygon_sim::expected_aggregates(
            "MSFT",
            Multiplier::ONE,
            Timespan::Minute,
            d("2024-02-01"),
            d("2024-02-29"),
            NOW,
        );
        if sort == "desc" {
            want.reverse();
        }
        assert!(want.len() > 15_000, "{}", want.len());
        assert_eq!(bars, want, "sort={sort} limit={limit}");
        assert_eq!(pages, want.len().div_ceil(limit), "sort={sort} limit={limit}");
    }

    // Coarser bars count base bars against the limit: 5-minute bars with limit 1000 hold ~200 bars a page.
    let (bars, pages) =
        walk(&c, sim.base_url(), "/v2/aggs/ticker/SPY/range/5/minute/2024-01-02/2024-01-12?limit=1000").await;
    let want = polygon_sim::expected_aggregates(
        "SPY",
        Multiplier::new(5).unwrap(),
        Timespan::Minute,
        d("2024-01-02"),
        d("2024-01-12"),
        NOW,
    );
    assert_eq!(bars, want);
    let base = polygon_sim::expected_aggregates(
        "SPY",
        Multiplier::ONE,
        Timespan::Minute,
        d("2024-01-02"),
        d("2024-01-12"),
        NOW,
    )
    .len();
    assert!(base > 5_000, "{base}");
    // Whole 5-minute bars per page, at most 1,000 base bars each: one page more than the bare minimum at most.
    assert!((base.div_ceil(1000)..=base.div_ceil(1000) + 1).contains(&pages), "{pages} pages for {base} base bars");

    // Unix-ms bounds work like dates.
    let from = s.regular_open;
    let to = s.regular_open + 9 * 60_000;
    let got = get(&c, &format!("{}/v2/aggs/ticker/AAPL/range/1/minute/{from}/{to}", sim.base_url())).await;
    let page: AggregatesResponse = serde_json::from_slice(&got.body).unwrap();
    assert!(page.results.iter().all(|b| (from..=to).contains(&b.t)));
    assert_eq!(page.results.len(), 10, "AAPL trades every regular minute");
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_errors_and_unknowns_are_polygon_json() {
    let sim = Simulator::builder().now_ms(NOW).api_key("right-key").build().spawn().await.unwrap();
    let c = client();
    let url = format!("{}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31", sim.base_url());
    let none = get_with(&c, &url, &[]).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.json()["status"], "ERROR");
    assert!(none.json()["request_id"].is_string());
    assert!(none.json()["error"].as_str().unwrap().contains("API Key"));
    let wrong = get_with(&c, &url, &[("authorization", "Bearer wrong-key")]).await;
    assert_eq!(wrong.status, 401);
    assert!(!String::from_utf8_lossy(&wrong.body).contains("wrong-key"));
    assert_eq!(get_with(&c, &url, &[("authorization", "Bearer right-key")]).await.status, 200);
    assert_eq!(get_with(&c, &format!("{url}?apiKey=right-key"), &[]).await.status, 200);

    let ok = |path: &str| {
        let c = c.clone();
        let u = format!("{}{path}", sim.base_url());
        async move { get_with(&c, &u, &[("authorization", "Bearer right-key")]).await }
    };
    // An unknown ticker is an empty success, as on Polygon.
    let unknown = ok("/v2/aggs/ticker/ZZZZZZ/range/1/day/2024-01-02/2024-01-31").await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json()["resultsCount"], 0);
    assert!(unknown.json().get("results").is_none());
    for (path, status) in [
        ("/v2/aggs/ticker/AAPL/range/1/fortnight/2024-01-02/2024-01-31", 400),
        ("/v2/aggs/ticker/AAPL/range/0/day/2024-01-02/2024-01-31", 400),
        ("/v2/aggs/ticker/AAPL/range/1/day/2024-13-02/2024-01-31", 400),
        ("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31?sort=sideways", 400),
        ("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31?cursor=!!!", 400),
        ("/v9/nothing", 404),
    ] {
        let got = ok(path).await;
        assert_eq!(got.status, status, "{path}");
        let v = got.json();
        assert!(v["request_id"].is_string() && (v["error"].is_string()), "{path}: {v}");
    }
    // Options data is not in the simulated key's plan: 403, with Polygon's NOT_AUTHORIZED body.
    let opt = ok("/v2/aggs/ticker/O:SPY251219C00650000/range/1/day/2024-01-02/2024-01-31").await;
    assert_eq!(opt.status, 403);
    assert_eq!(opt.json()["status"], "NOT_AUTHORIZED");
    assert!(opt.json()["message"].as_str().unwrap().contains("not entitled"));
    let s = sim.stats();
    assert_eq!(s.auth_failures, 3);
    assert!(s.client_errors >= 6);
}

#[tokio::test]
async fn weekends_holidays_and_the_future_have_no_bars() {
    let sim = sim().await;
    let c = client();
    for (from, to) in [("2024-07-04", "2024-07-04"), ("2024-07-06", "2024-07-07"), ("2025-07-01", "2025-07-31")] {
        let got = get(&c, &format!("{}/v2/aggs/ticker/AAPL/range/1/minute/{from}/{to}", sim.base_url())).await;
        assert_eq!(got.json()["resultsCount"], 0, "{from}..{to}");
    }
    // Daily bars across 2024 count the exchange's 252 trading days.
    let (bars, _) = walk(&c, sim.base_url(), "/v2/aggs/ticker/AAPL/range/1/day/2024-01-01/2024-12-31").await;
    assert_eq!(bars.len(), 252);
    // Each daily bar is the aggregate of its minutes.
    let day = &bars[100];
    let date = polygon_model::ny_date_minute(day.t).unwrap().0;
    let minutes = polygon_sim::expected_aggregates(
        "AAPL",
        Multiplier::ONE,
        Timespan::Minute,
        TimeBound::Date(date),
        TimeBound::Date(date),
        NOW,
    );
    assert_eq!(day.o, minutes[0].o);
    assert_eq!(day.c, minutes.last().unwrap().c);
    assert_eq!(day.v, minutes.iter().map(|m| m.v).sum::<f64>());
    assert_eq!(day.n, Some(minutes.iter().map(|m| m.n.unwrap()).sum::<u64>()));
}

#[tokio::test]
async fn same_request_same_bytes_and_a_cached_second_answer() {
    let a = sim().await;
    let b = sim().await;
    let c = client();
    let path = "/v2/aggs/ticker/NVDA/range/1/hour/2024-05-01/2024-05-10";
    let x = get(&c, &format!("{}{path}", a.base_url())).await.body;
    let y = get(&c, &format!("{}{path}", b.base_url())).await.body;
    let z = get(&c, &format!("{}{path}", a.base_url())).await.body;
    assert_eq!(x, y, "two simulators, same bytes");
    assert_eq!(x, z);
    assert_eq!(a.stats().body_cache_hits, 1);
}

#[tokio::test]
async fn keep_alive_reuses_one_connection_and_gzip_is_served_when_asked() {
    let sim = sim().await;
    let c = client();
    for i in 0..5 {
        let got =
            get(&c, &format!("{}/v2/aggs/ticker/AAPL/range/1/day/2024-01-0{}/2024-02-01", sim.base_url(), i + 2)).await;
        assert_eq!(got.status, 200);
    }
    let s = sim.stats();
    assert_eq!((s.connections, s.requests, s.aggs), (1, 5, 5));

    let url = format!("{}/v2/aggs/ticker/AAPL/range/1/minute/2024-01-02/2024-01-02", sim.base_url());
    let gz = get_with(&c, &url, &[("authorization", "Bearer k"), ("accept-encoding", "gzip")]).await;
    assert_eq!(gz.headers["content-encoding"], "gzip");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain).unwrap();
    assert_eq!(plain, get(&c, &url).await.body);
    assert!(gz.body.len() * 3 < plain.len());
}

#[tokio::test]
async fn a_new_connection_pays_the_handshake_latency_once_and_latency_is_never_short() {
    // Lower bounds only (a sleep never ends early); the pooled request is compared with the
    // connect latency it must not pay, 1.5 s, which no loaded machine adds to a loopback GET.
    let sim = Simulator::builder().latency_ms(30).connect_latency_ms(1500).build().spawn().await.unwrap();
    let c = client();
    let url = format!("{}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31", sim.base_url());
    let s = std::time::Instant::now();
    assert_eq!(get(&c, &url).await.status, 200);
    let first = s.elapsed();
    assert!(first >= std::time::Duration::from_millis(1530), "first request on a new connection: {first:?}");
    let s = std::time::Instant::now();
    assert_eq!(get(&c, &url).await.status, 200);
    let pooled = s.elapsed();
    assert!(pooled >= std::time::Duration::from_millis(30), "latency is never cut short: {pooled:?}");
    assert!(pooled < std::time::Duration::from_millis(1500), "a pooled request paid a handshake: {pooled:?}");
    assert_eq!(sim.stats().connections, 1);
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let sim = sim().await;
    let tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(format!("{}/v3/reference/tickers?limit=5", sim.base_url()))
        .header("authorization", "Bearer k")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let sim =
        Simulator::builder().now_ms(NOW).rate_limit(Some("3/min".parse().unwrap())).build().spawn().await.unwrap();
    let c = client();
    let url = format!("{}/v2/aggs/ticker/AAPL/prev", sim.base_url());
    let statuses: Vec<u16> = futures_lite(&c, &url, 5).await;
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let got = get(&c, &url).await;
    assert_eq!(got.status, 429);
    let retry: u64 = got.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}"); // one token of 3/min refills in 20 s
    assert!(got.json()["error"].as_str().unwrap().contains("exceeded"));
    assert_eq!(sim.stats().rate_limited, 3);
}

async fn futures_lite(c: &common::PlainClient, url: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(c, url).await.status);
    }
    out
}

#[tokio::test]
async fn faults_are_seeded_and_mixed() {
    let run = || async {
        let sim = Simulator::builder()
            .now_ms(NOW)
            .fault_rate(0.5)
            .seed(7)
            .stall(std::time::Duration::from_millis(200))
            .build()
            .spawn()
            .await
            .unwrap();
        let mut outcomes = Vec::new();
        for i in 0..60 {
            // A fresh client each time: a reset or cut body poisons its connection.
            let c = client();
            let url =
                format!("{}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-02-{:02}", sim.base_url(), 1 + i % 28);
            let mut req = http::Request::get(url);
            req = req.header("authorization", "Bearer k");
            let r = c.request(req.body(http_body_util::Empty::new()).unwrap()).await;
            let outcome = match r {
                Err(_) => "reset".to_string(),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match http_body_util::BodyExt::collect(resp.into_body()).await {
                        Ok(b) if status == 200 => {
                            serde_json::from_slice::<AggregatesResponse>(&b.to_bytes())
                                .expect("a whole 200 body is valid");
                            "200".into()
                        }
                        Ok(_) => status.to_string(),
                        Err(_) => "cut".into(),
                    }
                }
            };
            outcomes.push(outcome);
        }
        let faults = sim.stats().faults;
        (outcomes, faults)
    };
    let (a, fa) = run().await;
    let (b, _) = run().await;
    assert_eq!(a, b, "same seed, same faults");
    for kind in ["200", "reset", "cut", "500", "502", "503", "504"] {
        assert!(a.iter().any(|o| o == kind), "no {kind} in {a:?}");
    }
    assert_eq!(fa as usize, a.iter().filter(|o| *o != "200").count());
}

#[tokio::test]
async fn per_ticker_faults_hit_only_that_ticker() {
    let sim = Simulator::builder().now_ms(NOW).fail_tickers(["MSFT"]).build().spawn().await.unwrap();
    let c = client();
    assert_eq!(
        get(&c, &format!("{}/v2/aggs/ticker/MSFT/range/1/day/2024-01-02/2024-01-31", sim.base_url())).await.status,
        500
    );
    assert_eq!(
        get(&c, &format!("{}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-31", sim.base_url())).await.status,
        200
    );
}

#[tokio::test]
async fn trades_and_quotes_paginate_and_agree_with_the_bars() {
    let sim = sim().await;
    let c = client();
    let date: Date = "2024-03-04".parse().unwrap();
    let minute = polygon_sim::expected_aggregates(
        "KO",
        Multiplier::ONE,
        Timespan::Minute,
        TimeBound::Date(date),
        TimeBound::Date(date),
        NOW,
    )[200]
        .clone();
    let (gte, lt) = (minute.t * 1_000_000, (minute.t + 60_000) * 1_000_000);
    let mut url = format!("{}/v3/trades/KO?timestamp.gte={gte}&timestamp.lt={lt}&limit=7&order=asc", sim.base_url());
    let mut trades = Vec::new();
    loop {
        let page: TradesResponse = serde_json::from_slice(&get(&c, &url).await.body).unwrap();
        assert!(page.results.len() <= 7);
        trades.extend(page.results);
        match page.next_url {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(trades.len() as u64, minute.n.unwrap());
    assert!(trades.windows(2).all(|w| w[0].sip_timestamp < w[1].sip_timestamp));
    assert_eq!(trades.iter().map(|t| t.size).sum::<f64>(), minute.v);
    assert_eq!(trades[0].price, minute.o);
    assert_eq!(trades.last().unwrap().price, minute.c);
    let notional: f64 = trades.iter().map(|t| t.price * t.size).sum();
    assert!((notional / minute.v - minute.vw.unwrap()).abs() < 1e-4, "vw agrees to Polygon's 4 decimals");

    let quotes: polygon_model::QuotesResponse = serde_json::from_slice(
        &get(&c, &format!("{}/v3/quotes/KO?timestamp.gte={gte}&timestamp.lt={lt}&limit=50000", sim.base_url()))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(quotes.results.len(), trades.len());
    for (q, t) in quotes.results.iter().zip(&trades) {
        assert!(q.sip_timestamp <= t.sip_timestamp && q.bid_price <= t.price && t.price <= q.ask_price);
    }
}

#[tokio::test]
async fn grouped_daily_prev_and_the_universe() {
    let sim = sim().await;
    let c = client();
    let g = get(&c, &format!("{}/v2/aggs/grouped/locale/us/market/stocks/2024-03-04", sim.base_url())).await;
    let g: polygon_model::GroupedDailyResponse = serde_json::from_slice(&g.body).unwrap();
    assert!(g.results.len() >= 10_000, "{}", g.results.len());
    let aapl = g.results.iter().find(|b| b.ticker == "AAPL").unwrap();
    let day =
        polygon_sim::expected_aggregates("AAPL", Multiplier::ONE, Timespan::Day, d("2024-03-04"), d("2024-03-04"), NOW);
    assert_eq!((aapl.o, aapl.c, aapl.v), (day[0].o, day[0].c, day[0].v));
    let holiday = get(&c, &format!("{}/v2/aggs/grouped/locale/us/market/stocks/2024-12-25", sim.base_url())).await;
    assert_eq!(holiday.json()["resultsCount"], 0);

    // NOW is Monday 2025-06-30 00:00 UTC (Sunday evening in New York): the previous close is Friday's.
    let prev: polygon_model::PrevCloseResponse =
        serde_json::from_slice(&get(&c, &format!("{}/v2/aggs/ticker/AAPL/prev", sim.base_url())).await.body).unwrap();
    assert_eq!(prev.results[0].t, "2025-06-27".parse::<Date>().unwrap().ny_unix_ms(16 * 60));

    let mut url = format!("{}/v3/reference/tickers?market=stocks&limit=1000", sim.base_url());
    let mut all = Vec::new();
    loop {
        let page: polygon_model::TickersResponse = serde_json::from_slice(&get(&c, &url).await.body).unwrap();
        all.extend(page.results.into_iter().map(|t| t.ticker));
        match page.next_url {
            Some(n) => url = n,
            None => break,
        }
    }
    assert!(all.len() >= 10_000);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats across pages");
    for t in ["AAPL", "MSFT", "BRK.B", "SPY"] {
        assert!(all.iter().any(|x| x == t), "{t}");
    }
}
