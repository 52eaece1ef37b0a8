//! `cargo xtask`: the project's automation. `cargo xtask ci` passing locally means CI is green.

#![allow(clippy::print_stdout)] // a command-line tool reports on stdout

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        _ => {
            eprintln!(
                "usage: cargo xtask ci\n\n  ci    formatting, clippy (-D warnings) and the whole test suite, as CI runs them"
            );
            ExitCode::from(2)
        }
    }
}

/// Runs one cargo step, echoing it; false when it fails.
fn cargo(args: &[&str]) -> bool {
    println!("$ cargo {}", args.join(" "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo).args(args).status().map(|s| s.success()).unwrap_or(false)
}

fn ci() -> ExitCode {
    let steps: &[&[&str]] = &[
        &["fmt", "--all", "--check"],
        &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"],
        &["test", "--workspace", "--locked"],
    ];
    for step in steps {
        if !cargo(step) {
            eprintln!("xtask ci: `cargo {}` failed", step.join(" "));
            return ExitCode::FAILURE;
        }
    }
    println!("xtask ci: all checks passed");
    ExitCode::SUCCESS
}
