//! Fidelity: the official Python client (`massive` from PyPI) against the simulator. A paginated
//! `list_aggs` must return exactly the bars of the simulator's own generator.
//!
//! Needs `python3` with `massive` installed (`.ci/run` installs it); without it this test fails
//! and says how to install it, because a fidelity check that silently skips checks nothing.

use std::process::Command;

use polygon_model::{Date, Multiplier, TimeBound, Timespan};

const NOW: i64 = 1_751_241_600_000; // 2025-06-30 00:00 UTC

const SCRIPT: &str = r#"
import json, sys
from massive import RESTClient
base, ticker, mult, span, frm, to, limit = sys.argv[1:8]
client = RESTClient(api_key="fidelity-test-key", base=base, retries=0)
out = []
for a in client.list_aggs(ticker, int(mult), span, frm, to, limit=int(limit)):
    out.append([a.open, a.high, a.low, a.close, a.volume, a.vwap, a.timestamp, a.transactions])
json.dump(out, sys.stdout)
"#;

/// One bar as the script prints it: open, high, low, close, volume, vwap, timestamp, transactions.
type PyBar = (f64, f64, f64, f64, f64, f64, i64, u64);

fn python_bars(base: &str, args: &[&str]) -> Vec<PyBar> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(base)
        .args(args)
        .output()
        .expect("python3 must be installed for the fidelity test");
    assert!(
        out.status.success(),
        "the Python client failed (install it with `pip install massive`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

#[test]
fn massive_list_aggs_paginates_to_the_generator_bars() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(polygon_sim::Simulator::builder().now_ms(NOW).build().spawn()).unwrap();
    for (ticker, mult, span, from, to, limit) in [
        ("AAPL", 1, Timespan::Minute, "2024-06-03", "2024-06-07", 1000), // ~5 pages of 1,000 minute bars
        ("BRK.B", 15, Timespan::Minute, "2024-06-03", "2024-06-14", 2000), // 15-minute bars, 2,000 base bars a page
        ("SPY", 1, Timespan::Day, "2023-01-01", "2024-12-31", 120),      // daily, ~5 pages
    ] {
        let got =
            python_bars(sim.base_url(), &[ticker, &mult.to_string(), span.as_str(), from, to, &limit.to_string()]);
        let want = polygon_sim::expected_aggregates(
            ticker,
            Multiplier::new(mult).unwrap(),
            span,
            TimeBound::Date(from.parse::<Date>().unwrap()),
            TimeBound::Date(to.parse::<Date>().unwrap()),
            NOW,
        );
        assert!(!want.is_empty());
        let want: Vec<_> = want.iter().map(|b| (b.o, b.h, b.l, b.c, b.v, b.vw.unwrap(), b.t, b.n.unwrap())).collect();
        assert_eq!(got.len(), want.len(), "{ticker} {mult}/{span}");
        assert_eq!(got, want, "{ticker} {mult}/{span}");
    }
    let stats = sim.stats();
    assert!(stats.aggs >= 12, "the client paginated: {} aggregates requests", stats.aggs);
    assert_eq!(stats.auth_failures, 0, "the key travelled in the header on every page");
}
