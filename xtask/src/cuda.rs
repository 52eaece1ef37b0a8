//! CUDA without a CUDA toolkit: PTX from NVRTC, and a stub driver library to link against.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The workspace root (xtask's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

/// Compiles every `kernels/*.cu` to `crates/polygon-gpu/ptx/<name>.ptx`, or with `--check`
/// compares what they give with the committed files.
pub fn kernels(args: &[&str]) -> ExitCode {
    let check = args.contains(&"--check");
    let nvcc = args.contains(&"--nvcc");
    let root = root();
    let out_dir = root.join("crates/polygon-gpu/ptx");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("kernels"))
        .map(|d| {
            d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "cu")).collect()
        })
        .unwrap_or_default();
    sources.sort();
    if sources.is_empty() {
        eprintln!("xtask kernels: no kernels/*.cu");
        return ExitCode::FAILURE;
    }
    let tmp = crate::target_dir().join("xtask-ptx");
    // NVRTC comes from the venv's pinned wheel (xtask/requirements.txt).
    let python = if nvcc {
        None
    } else {
        match crate::pyenv::ensure() {
            Ok(env) => Some(env.python()),
            Err(e) => {
                eprintln!("xtask kernels: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let _ = std::fs::create_dir_all(&tmp);
    let _ = std::fs::create_dir_all(&out_dir);
    let mut ok = true;
    for src in sources {
        let name = format!("{}.ptx", src.file_stem().expect("a file name").to_string_lossy());
        let out = if check { tmp.join(&name) } else { out_dir.join(&name) };
        let status = match &python {
            None => Command::new("nvcc").args(["-ptx", "-arch=compute_90", "-o"]).arg(&out).arg(&src).status(),
            Some(python) => Command::new(python).arg(root.join("xtask/nvrtc.py")).arg(&src).arg(&out).status(),
        };
        if !status.is_ok_and(|s| s.success()) {
            eprintln!(
                "xtask kernels: compiling {} failed (NVRTC: nvidia-cuda-nvrtc-cu12, pinned in xtask/requirements.txt)",
                src.display()
            );
            ok = false;
            continue;
        }
        if check {
            let want = std::fs::read(out_dir.join(&name)).unwrap_or_default();
            let got = std::fs::read(&out).unwrap_or_default();
            if want == got {
                println!("xtask kernels: {name} matches {}", src.display());
            } else {
                eprintln!("xtask kernels: crates/polygon-gpu/ptx/{name} differs from what {} gives", src.display());
                ok = false;
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The driver functions cust_raw declares, read from its bindings in the cargo registry. On a
/// fresh machine nothing has built the `cuda` feature yet, so its sources are not unpacked:
/// then `cargo fetch --locked` (which downloads and unpacks every locked package) and look again.
fn driver_functions() -> Result<Vec<String>, String> {
    match read_driver_functions() {
        Err(_) if crate::cargo(&["fetch", "--locked"]) => read_driver_functions(),
        other => other,
    }
}

fn read_driver_functions() -> Result<Vec<String>, String> {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map_err(|_| "neither CARGO_HOME nor HOME is set".to_string())?;
    let registry = home.join("registry/src");
    for index in std::fs::read_dir(&registry).map_err(|e| format!("{}: {e}", registry.display()))? {
        let bindings = index.map_err(|e| e.to_string())?.path().join("cust_raw-0.11.3/src/cuda.rs");
        if let Ok(text) = std::fs::read_to_string(&bindings) {
            let mut names: Vec<String> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("pub fn "))
                .filter_map(|l| l.split('(').next())
                .filter(|n| n.starts_with("cu"))
                .map(str::to_owned)
                .collect();
            names.sort();
            names.dedup();
            return Ok(names);
        }
    }
    Err("cust_raw 0.11.3 is not in the cargo registry (and `cargo fetch --locked` did not bring it)".into())
}

/// Writes `target/cuda-stub/lib64/libcuda.so`: every driver function returns
/// CUDA_ERROR_NO_DEVICE (100), and the error-string functions fill in their out-pointer (cust's
/// error `Display` calls them). Returns the folder for `CUDA_LIBRARY_PATH`.
pub fn stub() -> Result<PathBuf, String> {
    let names = driver_functions()?;
    let dir = crate::target_dir().join("cuda-stub");
    let lib64 = dir.join("lib64");
    std::fs::create_dir_all(&lib64).map_err(|e| e.to_string())?;
    let mut c = String::from(
        "/* Generated by `cargo xtask cuda-stub`: a libcuda that links and says there is no device. */\n\
         #define NO_DEVICE 100\n\
         int cuGetErrorString(int e, const char **s) { (void)e; *s = \"no CUDA driver on this machine (stub libcuda)\"; return 0; }\n\
         int cuGetErrorName(int e, const char **s) { (void)e; *s = \"CUDA_ERROR_NO_DEVICE\"; return 0; }\n",
    );
    for n in &names {
        if n != "cuGetErrorString" && n != "cuGetErrorName" {
            c.push_str(&format!("int {n}(void) {{ return NO_DEVICE; }}\n"));
        }
    }
    let src = dir.join("stub.c");
    std::fs::write(&src, c).map_err(|e| e.to_string())?;
    let so = lib64.join("libcuda.so");
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .map_err(|e| format!("gcc: {e}"))?;
    if !status.success() {
        return Err("gcc failed to build the stub".into());
    }
    let so1 = lib64.join("libcuda.so.1");
    let _ = std::fs::remove_file(&so1);
    std::fs::copy(&so, &so1).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// clippy (-D warnings) on the CUDA build, linked against the stub, and the CUDA backend's test
/// (which reports that it skipped: the stub has no device).
pub fn build() -> ExitCode {
    let dir = match stub() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("xtask cuda-build: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY-free: set for the child cargo processes only.
    let lib64 = dir.join("lib64");
    let run = |args: &[&str]| {
        println!("$ CUDA_LIBRARY_PATH={} cargo {}", dir.display(), args.join(" "));
        crate::cargo_command()
            .args(args)
            .env("CUDA_LIBRARY_PATH", &dir)
            .env("LD_LIBRARY_PATH", &lib64)
            .status()
            .is_ok_and(|s| s.success())
    };
    let steps: &[&[&str]] = &[
        &[
            "clippy",
            "-p",
            "polygon-gpu",
            "-p",
            "polygon-gh200-cli",
            "--all-targets",
            "--features",
            "cuda",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &["test", "-p", "polygon-gpu", "--features", "cuda", "--locked", "--test", "cuda", "--", "--nocapture"],
    ];
    for s in steps {
        if !run(s) {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Builds the `gpu_check` example (release, CUDA, linked against the stub: at run time the real
/// driver's libcuda.so.1 is used) into `target/gpu-check/gpu_check`, then runs it. On a machine
/// without a GPU it says so: carry that one file to a GPU machine and run it there.
pub fn gpu_check() -> ExitCode {
    let dir = match stub() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("xtask gpu-check: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args = ["build", "--release", "-p", "polygon-gpu", "--features", "cuda", "--example", "gpu_check", "--locked"];
    println!("$ CUDA_LIBRARY_PATH={} cargo {}", dir.display(), args.join(" "));
    if !crate::cargo_command().args(args).env("CUDA_LIBRARY_PATH", &dir).status().is_ok_and(|s| s.success()) {
        return ExitCode::FAILURE;
    }
    let target = crate::target_dir();
    let out = target.join("gpu-check");
    let _ = std::fs::create_dir_all(&out);
    let bin = out.join("gpu_check");
    if let Err(e) = std::fs::copy(target.join("release/examples/gpu_check"), &bin) {
        eprintln!("xtask gpu-check: copying the binary: {e}");
        return ExitCode::FAILURE;
    }
    println!("xtask gpu-check: built {} (PTX embedded; needs only the NVIDIA driver)", bin.display());
    match Command::new(&bin).status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) if matches!(s.code(), Some(2 | 127)) => {
            println!("xtask gpu-check: no usable GPU here; run {} on a machine with one", bin.display());
            ExitCode::SUCCESS
        }
        Ok(s) => {
            eprintln!("xtask gpu-check: {} failed ({s})", bin.display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask gpu-check: cannot run {}: {e} (a libcuda.so.1 must be loadable)", bin.display());
            ExitCode::FAILURE
        }
    }
}
