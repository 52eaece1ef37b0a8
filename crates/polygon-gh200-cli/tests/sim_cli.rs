//! `polygon-gh200 sim`: prints its base URL first, answers like Polygon, refuses bad flags with exit 2.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use polygon_test_support::SimProcess;

/// `polygon-gh200 sim …` (killed on drop) and the lines it printed first: its base URL, then with
/// `--tls` its certificate's path.
fn start(args: &[&str]) -> (SimProcess, Vec<String>) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_polygon-gh200"));
    c.arg("sim").args(args).stderr(Stdio::null());
    let sim = SimProcess::spawn(c, if args.contains(&"--tls") { 2 } else { 1 });
    let lines = sim.lines().to_vec();
    (sim, lines)
}

/// One HTTP/1.1 GET over a plain socket: (status, body).
fn get(base: &str, path: &str, key: Option<&str>) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

#[test]
fn sim_prints_its_url_first_and_answers_like_polygon() {
    let (_sim, lines) = start(&["--now-ms", "1751241600000"]);
    let base = &lines[0];
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let path = "/v2/aggs/ticker/AAPL/range/1/minute/2024-06-03/2024-06-04?limit=500";
    let (status, body) = get(base, path, Some("k"));
    assert_eq!(status, 200);
    let page: polygon_gh200::model::AggregatesResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(page.results.len(), 500);
    let next = page.next_url.expect("a second page");
    assert!(next.starts_with(base.as_str()) && next.contains("cursor="));
    let (status, _) = get(base, next.trim_start_matches(base.as_str()), Some("k"));
    assert_eq!(status, 200);
    let (status, body) = get(base, path, None);
    assert_eq!(status, 401);
    assert!(body.contains("\"status\":\"ERROR\""));
}

#[test]
fn sim_with_a_key_rejects_others_and_tls_prints_its_certificate() {
    let (_sim, lines) = start(&["--api-key", "s3cret"]);
    let (status, body) = get(&lines[0], "/v2/aggs/ticker/AAPL/prev", Some("other"));
    assert_eq!(status, 401);
    assert!(!body.contains("other") && !body.contains("s3cret"));
    assert_eq!(get(&lines[0], "/v2/aggs/ticker/AAPL/prev", Some("s3cret")).0, 200);

    let (_tls, lines) = start(&["--tls"]);
    assert!(lines[0].starts_with("https://127.0.0.1:"));
    let cert = lines[1].strip_prefix("cert: ").expect("second line names the certificate");
    assert!(std::fs::read_to_string(cert).unwrap().contains("BEGIN CERTIFICATE"));
}

#[test]
fn bad_flags_exit_2_naming_the_problem() {
    for (flag, value, says) in [
        ("--rate-limit", "5/day", "rate limit"),
        ("--fault-rate", "1.5", "fraction"),
        ("--addr", "not-an-address", "addr"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_polygon-gh200")).args(["sim", flag, value]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{flag} {value}: {err}");
        assert!(!err.contains("panicked"));
    }
}
