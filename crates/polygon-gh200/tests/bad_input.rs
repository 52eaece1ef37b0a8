//! The bad-input matrix at the library's entry points: every bad value is an error that names the
//! problem, and nothing panics (each call runs under `catch_unwind`).

use std::panic::catch_unwind;

use polygon_gh200::model::{AggregatesRequest, Date, Multiplier, RateLimit, Ticker, TimeBound, Timespan};
use polygon_gh200::{Config, ConfigError};

/// Runs `f`, which must return an error whose text contains `says`.
fn refused<T: std::fmt::Debug, E: std::fmt::Display>(what: &str, says: &str, f: impl FnOnce() -> Result<T, E>) {
    let r = catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("{what}: panicked"));
    match r {
        Ok(v) => panic!("{what}: accepted as {v:?}"),
        Err(e) => assert!(e.to_string().contains(says), "{what}: {says:?} not in {e}"),
    }
}

#[test]
fn every_bad_value_is_a_clear_error_and_nothing_panics() {
    for (input, says) in [
        ("", "empty"),
        ("../x", "../x"),
        ("A/B", "A/B"),
        ("AAPL?apiKey=x", "AAPL?apiKey=x"),
        ("not a ticker", "not a ticker"),
        (&*"A".repeat(300), "AAAA"),
        ("O:BAD", "O:BAD"),
    ] {
        refused(&format!("ticker {input:?}"), says, || input.parse::<Ticker>());
    }
    for (input, says) in [
        ("2024-13-01", "2024-13-01"),
        ("2024-02-30", "2024-02-30"),
        ("1800-01-01", "1800-01-01"),
        ("yesterday", "yesterday"),
        ("", ""),
    ] {
        refused(&format!("date {input:?}"), says, || input.parse::<Date>());
    }
    for (input, says) in [("0", "multiplier"), ("-1", "multiplier"), ("100001", "multiplier"), ("x", "multiplier")] {
        refused(&format!("multiplier {input:?}"), says, || input.parse::<Multiplier>());
    }
    refused("multiplier 0", "multiplier", || Multiplier::new(0));
    for input in ["fortnight", "", "MINUTES"] {
        refused(&format!("timespan {input:?}"), input, || input.parse::<Timespan>());
    }
    for input in ["5/day", "0/s", "x", "-1/s"] {
        refused(&format!("rate {input:?}"), input, || input.parse::<RateLimit>());
    }
    let aapl: Ticker = "AAPL".parse().unwrap();
    let d = |s: &str| TimeBound::Date(s.parse().unwrap());
    refused("to before from", "to", || {
        AggregatesRequest::new(aapl.clone(), Multiplier::ONE, Timespan::Minute, d("2024-02-01"), d("2024-01-01"))
    });
    refused("limit over 50,000", "limit", || {
        AggregatesRequest::new(aapl.clone(), Multiplier::ONE, Timespan::Minute, d("2024-01-01"), d("2024-01-02"))
            .unwrap()
            .with_limit(50_001)
    });
    refused("limit 0", "limit", || {
        AggregatesRequest::new(aapl.clone(), Multiplier::ONE, Timespan::Minute, d("2024-01-01"), d("2024-01-02"))
            .unwrap()
            .with_limit(0)
    });
    // Configuration: each bad value names its variable.
    for (var, value) in [
        ("MAX_WORKERS", "0"),
        ("MAX_WORKERS", "-3"),
        ("BATCH_SIZE", "lots"),
        ("REDIS_PORT", "70000"),
        ("REDIS_TTL", "-1"),
        ("POLYGON_RATE_LIMIT", "5/fortnight"),
        ("POLYGON_BASE_URL", "ftp://x"),
        ("REDIS_URL", "mysql://x"),
        ("GPU_BACKEND", "tpu"),
        ("GPU_MEMORY", "swap"),
        ("CONNECTION_TIMEOUT", "0"),
        ("POLYGON_CA_CERT", "/no/such/file.pem"),
    ] {
        let r: Result<Config, ConfigError> = Config::from_lookup(&|k: &str| (k == var).then(|| value.to_owned()));
        refused(&format!("{var}={value}"), var, || r);
    }
}
