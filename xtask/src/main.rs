//! `cargo xtask`: the project's automation. `cargo xtask ci` passing locally means CI is green.

#![allow(clippy::print_stdout)] // a command-line tool reports on stdout

mod bench;
mod cuda;
mod fuzz;
mod preflight;
mod pyenv;
#[cfg(test)]
mod tidy;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::OnceLock;

const USAGE: &str = "usage: cargo xtask <command>

Build outputs go to the target directory (CARGO_TARGET_DIR, else cargo's own); `target/` below
means that directory.

  bench MODE         enhanced | scaling-test | large-scale | fetch-cli | fleet | python: measured against a
                     simulator process and a redis-server of its own; JSON in target/bench/
  ci                 checks the system packages the suite needs, makes the Python venv
                     (py-env), then formatting, clippy (-D warnings), the whole test suite, the
                     Python package (built into the venv) and its pytest suite, the embedded PTX check, the CUDA build (stub driver) and a minute of each fuzz
                     target, as CI runs them
  py-env             create or update target/py-venv (python3 -m venv, the exact pins of
                     xtask/requirements.txt; remade only when that file changes); prints its path
  kernels [--check]  compile kernels/*.cu to PTX for compute_90 (NVRTC from the pip wheel
                     nvidia-cuda-nvrtc-cu12, in the venv; nvcc with --nvcc) into
                     crates/polygon-gpu/ptx/; --check fails if the committed PTX is not what
                     the sources give
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
    let command = args.first().map(String::as_str);
    if command.is_none_or(|c| !COMMANDS.contains(&c)) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    match resolve_target_dir() {
        Ok(dir) => TARGET_DIR.set(dir).expect("set once"),
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    }
    match command {
        Some("ci") => ci(),
        Some("py-env") => match pyenv::ensure() {
            Ok(env) => {
                println!("{}", env.dir().display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xtask py-env: {e}");
                ExitCode::FAILURE
            }
        },
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
        _ => unreachable!("checked against COMMANDS"),
    }
}

const COMMANDS: [&str; 8] = ["ci", "py-env", "kernels", "cuda-stub", "cuda-build", "gpu-check", "bench", "fuzz"];

/// The workspace root (xtask's parent).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

static TARGET_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The target directory, absolute, resolved once at start (see [`resolve_target_dir`]).
pub(crate) fn target_dir() -> &'static Path {
    TARGET_DIR.get().expect("main resolves the target directory first")
}

/// CARGO_TARGET_DIR (relative to the current directory, as cargo reads it), else the
/// `target_directory` that `cargo metadata` reports (which follows `build.target-dir`).
fn resolve_target_dir() -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("the current directory: {e}"))?;
    target_dir_from(std::env::var_os("CARGO_TARGET_DIR"), &cwd, metadata_target_dir)
}

fn target_dir_from(
    env: Option<OsString>,
    cwd: &Path,
    metadata: impl FnOnce() -> Result<PathBuf, String>,
) -> Result<PathBuf, String> {
    match env.filter(|d| !d.is_empty()) {
        Some(dir) => Ok(cwd.join(dir)), // `join` keeps an absolute path as it is
        None => metadata(),
    }
}

fn metadata_target_dir() -> Result<PathBuf, String> {
    let out = Command::new(cargo_bin())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata's output: {e}"))?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata reports no target_directory".to_owned())
}

/// The cargo that runs xtask (`cargo xtask` sets CARGO), else the one on PATH.
pub(crate) fn cargo_bin() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A cargo command on the resolved target directory, inside the Python venv once
/// [`pyenv::ensure`] has made it ready.
pub(crate) fn cargo_command() -> Command {
    let mut cmd = Command::new(cargo_bin());
    cmd.env("CARGO_TARGET_DIR", target_dir());
    if let Some(env) = pyenv::current() {
        env.apply(&mut cmd);
    }
    cmd
}

/// Runs one cargo step, echoing it; false when it fails.
pub(crate) fn cargo(args: &[&str]) -> bool {
    println!("$ cargo {}", args.join(" "));
    cargo_command().args(args).status().is_ok_and(|s| s.success())
}

fn ci() -> ExitCode {
    if let Err(e) = preflight::check(&preflight::CI) {
        eprintln!("xtask ci: {e}");
        return ExitCode::FAILURE;
    }
    let env = match pyenv::ensure() {
        Ok(env) => {
            println!("xtask ci: Python steps run in {}", env.dir().display());
            env
        }
        Err(e) => {
            eprintln!("xtask ci: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    // The Python package: a dev-profile build (the debug artifacts of `cargo test` are reused)
    // into the venv, then its pytest suite against the installed package.
    if let Err(e) = pyenv::install_package(env, "dev") {
        eprintln!("xtask ci: {e}");
        return ExitCode::FAILURE;
    }
    if !pyenv::package_tests(env) {
        eprintln!("xtask ci: the Python package's tests failed");
        return ExitCode::FAILURE;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// CARGO_TARGET_DIR wins over cargo metadata; a relative one is taken from the current
    /// directory, an absolute one as it is; an empty one counts as unset.
    #[test]
    fn target_dir_prefers_the_environment() {
        let cwd = Path::new("/work/here");
        let never = || -> Result<PathBuf, String> { panic!("metadata must not be asked") };
        assert_eq!(target_dir_from(Some("out/t".into()), cwd, never), Ok(PathBuf::from("/work/here/out/t")));
        assert_eq!(target_dir_from(Some("/abs/t".into()), cwd, never), Ok(PathBuf::from("/abs/t")));
        let meta = || Ok(PathBuf::from("/from/metadata"));
        assert_eq!(target_dir_from(Some("".into()), cwd, meta), Ok(PathBuf::from("/from/metadata")));
        assert_eq!(target_dir_from(None, cwd, meta), Ok(PathBuf::from("/from/metadata")));
    }

    /// cargo metadata's target directory is the one this very test binary was built into.
    #[test]
    fn metadata_names_the_target_dir_this_test_was_built_in() {
        let dir = metadata_target_dir().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert!(exe.starts_with(&dir), "{} is not under {}", exe.display(), dir.display());
    }
}
