//! `cargo xtask fuzz [SECONDS]`: each cargo-fuzz target in `xtask/fuzz/` for SECONDS (default 60),
//! from the committed seed corpus (new inputs go to `target/fuzz/corpus/`, crashes to
//! `target/fuzz/artifacts/`, `target/` being the resolved target directory). Runs on the nightly
//! toolchain; installs it (rustup, minimal profile) and cargo-fuzz when missing.

use std::process::{Command, ExitCode};

const TARGETS: [&str; 4] = ["decode_aggregates", "decode_flat_file", "cache_envelope", "next_url"];

pub fn run(args: &[&str]) -> ExitCode {
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(60);
    let root = crate::root();
    let target = crate::target_dir();
    let has_nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_nightly {
        println!("$ rustup toolchain install nightly --profile minimal");
        let installed = Command::new("rustup")
            .args(["toolchain", "install", "nightly", "--profile", "minimal"])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!("xtask fuzz: installing the nightly toolchain failed (rustup: https://rustup.rs)");
            return ExitCode::FAILURE;
        }
    }
    let has_fuzz =
        Command::new("cargo").args(["+nightly", "fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_fuzz {
        println!("$ cargo install cargo-fuzz --locked");
        if !Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]).status().is_ok_and(|s| s.success()) {
            eprintln!("xtask fuzz: installing cargo-fuzz failed");
            return ExitCode::FAILURE;
        }
    }
    for t in TARGETS {
        let corpus = target.join("fuzz/corpus").join(t);
        let artifacts = target.join("fuzz/artifacts").join(t);
        let _ = std::fs::create_dir_all(&corpus);
        // Only this run's crash inputs count: an empty folder before it starts.
        let _ = std::fs::remove_dir_all(&artifacts);
        let _ = std::fs::create_dir_all(&artifacts);
        let seeds = root.join("xtask/fuzz/corpus").join(t);
        println!("$ cargo +nightly fuzz run {t} -- -max_total_time={secs}");
        let ok = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", "--fuzz-dir"])
            .arg(root.join("xtask/fuzz"))
            .args(["--sanitizer", "none", "--target-dir"])
            .arg(target.join("fuzz-build"))
            .arg(t)
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .current_dir(&root)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let crashes = std::fs::read_dir(&artifacts).map_or(0, |d| d.count());
            if crashes == 0 {
                eprintln!("xtask fuzz: {t} did not run (its build failed or cargo-fuzz could not start: see above)");
                return ExitCode::FAILURE;
            }
            eprintln!(
                "xtask fuzz: {t} found a crash (see {}); fix it and add the input to xtask/fuzz/corpus/{t}/",
                artifacts.display()
            );
            return ExitCode::FAILURE;
        }
    }
    println!("xtask fuzz: {} targets, {secs} s each, no crash", TARGETS.len());
    ExitCode::SUCCESS
}
