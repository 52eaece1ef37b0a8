//! `cargo xtask bench <enhanced|scaling-test|large-scale|fetch-cli|fleet|python>`: builds the release binaries, starts a
//! simulator process (TLS, 20 ms latency) and a redis-server of its own on a free port (when one is
//! installed; else the memory tier is used and said), runs the driver
//! (`crates/polygon-gh200/examples/bench.rs`; for `python`, the package built in release into the
//! venv and `xtask/bench_python_package.py`), and leaves JSON in `target/bench/<mode>.json`
//! (`target/` is the resolved target directory). The official client's rows run in the Python
//! venv (`crate::pyenv`), on the driver's PATH.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(0, |a| a.port())
}

pub fn run(args: &[&str]) -> ExitCode {
    let Some(&mode) = args.first() else {
        eprintln!(
            "usage: cargo xtask bench <enhanced|scaling-test|large-scale|fetch-cli|fleet|python> [--latency-ms N]"
        );
        return ExitCode::from(2);
    };
    if !["enhanced", "scaling-test", "large-scale", "fetch-cli", "fleet", "python"].contains(&mode) {
        eprintln!(
            "xtask bench: unknown mode {mode:?}: enhanced, scaling-test, large-scale, fetch-cli, fleet or python"
        );
        return ExitCode::from(2);
    }
    let latency = args.iter().position(|a| *a == "--latency-ms").and_then(|i| args.get(i + 1)).copied().unwrap_or("20");
    let target = crate::target_dir();
    // The venv holds the pinned client (xtask/requirements.txt); without one the rows are skipped.
    let python = match crate::pyenv::ensure() {
        Ok(env) => Some(env),
        Err(e) => {
            println!("xtask bench: no Python venv ({e}): the official client's rows are skipped");
            None
        }
    };
    for build in [
        &["build", "--release", "--locked", "-p", "polygon-gh200-cli"][..],
        &["build", "--release", "--locked", "-p", "polygon-gh200", "--example", "bench"][..],
    ] {
        if !crate::cargo(build) {
            return ExitCode::FAILURE;
        }
    }
    if mode == "python" {
        // The package as users install it: a release build, into the venv.
        let Some(env) = python else {
            eprintln!("xtask bench python: needs the Python venv");
            return ExitCode::FAILURE;
        };
        if let Err(e) = crate::pyenv::install_package(env, "release") {
            eprintln!("xtask bench python: {e}");
            return ExitCode::FAILURE;
        }
    }
    let cert_dir = target.join("bench/sim-cert");
    let _ = std::fs::create_dir_all(&cert_dir);
    // A new connection pays the TCP and TLS 1.3 handshakes' two round trips, as it would over a
    // network `latency` away (loopback charges none of it).
    let Ok(latency_ms) = latency.parse::<u64>() else {
        eprintln!("xtask bench: --latency-ms {latency:?} is not a whole number of milliseconds");
        return ExitCode::from(2);
    };
    let connect = (2 * latency_ms).to_string();
    let mut sim = match Command::new(target.join("release/polygon-gh200"))
        .args(["sim", "--tls", "--latency-ms", latency, "--connect-latency-ms", &connect, "--api-key", "bench-key"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask bench: starting the simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = BufReader::new(sim.stdout.take().expect("piped"));
    let (mut url, mut cert) = (String::new(), String::new());
    let _ = out.read_line(&mut url);
    let _ = out.read_line(&mut cert);
    let _sim = Killed(sim);
    let url = url.trim().to_owned();
    let cert = cert.trim().trim_start_matches("cert: ").to_owned();
    let port = free_port();
    let redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no", "--maxmemory", "8gb"])
        .stdout(Stdio::null())
        .spawn()
        .ok()
        .map(Killed);
    let redis_url = match &redis {
        Some(_) => {
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            format!("redis://127.0.0.1:{port}/0")
        }
        None => {
            println!("xtask bench: redis-server is not installed: the memory tier is used");
            "none".to_owned()
        }
    };
    let json = target.join(format!("bench/{mode}.json"));
    println!(
        "xtask bench {mode}: simulator {url} (TLS, {latency} ms a request, {connect} ms more a new connection), redis {redis_url}"
    );
    let mut driver = if mode == "python" {
        // From one Python process: xtask/bench_python_package.py, in the venv.
        let env = python.expect("checked above");
        let mut c = Command::new(env.python());
        env.apply(&mut c)
            .arg(crate::root().join("xtask/bench_python_package.py"))
            .args(["--base", &url, "--ca", &cert, "--key", "bench-key", "--redis", &redis_url])
            .arg("--out")
            .arg(&json);
        c
    } else {
        let mut c = Command::new(target.join("release/examples/bench"));
        c.arg(mode)
            .args(["--base-url", &url, "--ca", &cert, "--redis-url", &redis_url, "--latency-ms", latency])
            .arg("--out")
            .arg(&json);
        if let Some(env) = python {
            env.apply(&mut c).arg("--python");
        }
        c
    };
    let ok = driver.status().is_ok_and(|s| s.success());
    drop(redis);
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
