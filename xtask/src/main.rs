//! `cargo xtask`: the project's automation. `cargo xtask ci` passing locally means CI is green.

#![allow(clippy::print_stdout)] // a command-line tool reports on stdout

mod bench;
mod cuda;
mod fuzz;

use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

  bench MODE         enhanced | scaling-test | large-scale: the seed's claims measured against a
                     simulator process and a redis-server of its own; JSON in target/bench/
  ci                 formatting, clippy (-D warnings), the whole test suite, the embedded PTX
                     check, the CUDA build (stub driver) and a minute of each fuzz target, as CI
                     runs them
  kernels [--check]  compile kernels/*.cu to PTX for compute_90 (NVRTC from the pip wheel
                     nvidia-cuda-nvrtc-cu12; nvcc with --nvcc) into crates/polygon-gpu/ptx/;
                     --check fails if the committed PTX is not what the sources give
  fuzz [SECONDS]     each cargo-fuzz target (xtask/fuzz) for SECONDS (default 60) from the seed
                     corpus; nightly toolchain, installs cargo-fuzz when missing
  cuda-stub          write a stub libcuda.so under target/cuda-stub/lib64 (what CUDA_LIBRARY_PATH
                     must name for `cargo build --features cuda` on a machine without CUDA)
  cuda-build         cuda-stub, then clippy -D warnings on the CUDA build of polygon-gpu and the CLI
  gpu-check          build target/gpu-check/gpu_check (CUDA tests + benchmark, PTX embedded) and
                     run it: on a GPU machine it prints the table for docs/benchmarks.md";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("kernels") => cuda::kernels(&rest),
        Some("cuda-stub") => match cuda::stub() {
            Ok(dir) => {
                println!("CUDA_LIBRARY_PATH={}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask cuda-stub: {e}");
                ExitCode::FAILURE
            }
        },
        Some("cuda-build") => cuda::build(),
        Some("gpu-check") => cuda::gpu_check(),
        Some("bench") => bench::run(&rest),
        Some("fuzz") => fuzz::run(&rest),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Runs one cargo step, echoing it; false when it fails.
pub(crate) fn cargo(args: &[&str]) -> bool {
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
    if cuda::kernels(&["--check"]) != ExitCode::SUCCESS {
        eprintln!("xtask ci: the embedded PTX is not what kernels/*.cu give: run `cargo xtask kernels`");
        return ExitCode::FAILURE;
    }
    if cuda::build() != ExitCode::SUCCESS {
        eprintln!("xtask ci: the CUDA build (--features cuda, stub driver) failed");
        return ExitCode::FAILURE;
    }
    if fuzz::run(&["60"]) != ExitCode::SUCCESS {
        eprintln!("xtask ci: fuzzing found a crash");
        return ExitCode::FAILURE;
    }
    println!("xtask ci: all checks passed");
    ExitCode::SUCCESS
}
