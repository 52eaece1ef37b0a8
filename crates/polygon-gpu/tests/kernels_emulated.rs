//! The CUDA kernels (kernels/indicators.cu), compiled for the CPU with g++ by kernels/emulate.cpp
//! and run one thread at a time, agree with the CPU backend within 1e-9 relative. This checks the
//! kernels' indexing, scans and New York calendar on every change, on machines without a GPU.

use std::path::{Path, PathBuf};
use std::process::Command;

use polygon_gpu::synthetic::{chunk, max_relative_error};
use polygon_gpu::{Backend, CpuBackend, Indicators};
use polygon_model::BarColumns;

fn kernels_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels")
}

fn write<T: Copy>(dir: &Path, name: &str, v: &[T]) {
    // SAFETY: plain numbers, viewed as their bytes.
    let bytes = unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), size_of_val(v)) };
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn read_f64(dir: &Path, name: &str) -> Vec<f64> {
    std::fs::read(dir.join(name)).unwrap().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
}

fn emulate(exe: &Path, dir: &Path, c: &BarColumns) -> Indicators {
    std::fs::create_dir_all(dir).unwrap();
    write(dir, "t", &c.t);
    write(dir, "h", &c.h);
    write(dir, "l", &c.l);
    write(dir, "c", &c.c);
    write(dir, "v", &c.v);
    write(dir, "vw", &c.vw);
    write(dir, "offsets", c.offsets());
    let st = Command::new(exe).arg(dir).arg(c.len().to_string()).arg(c.num_series().to_string()).status().unwrap();
    assert!(st.success());
    Indicators::from_columns(std::array::from_fn(|k| read_f64(dir, &format!("out{k}"))))
}

#[test]
fn the_cuda_kernels_run_on_the_cpu_agree_with_the_cpu_backend() {
    let tmp = std::env::temp_dir().join(format!("pgh200-emulate-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let exe = tmp.join("emulate");
    let out = Command::new("g++")
        .args(["-O2", "-std=c++17", "-ffp-contract=off", "-o"])
        .arg(&exe)
        .arg(kernels_dir().join("emulate.cpp"))
        .output()
        .expect("g++ is installed");
    assert!(out.status.success(), "g++: {}", String::from_utf8_lossy(&out.stderr));
    let cpu = CpuBackend::new();
    let cases = [
        chunk(&[1, 2, 13, 14, 15, 19, 20, 21, 31, 32, 33, 64, 100, 959, 960, 961, 2_500], 7),
        chunk(&[5_000, 3, 12_000], 11),
    ];
    for (k, c) in cases.iter().enumerate() {
        let got = emulate(&exe, &tmp.join(format!("case{k}")), c);
        let want = cpu.compute(c).unwrap();
        let err = max_relative_error(&got, &want);
        assert!(err <= 1e-9, "case {k}: max relative error {err:e}");
        // The day boundaries matter: VWAP restarts somewhere in the long series.
        assert!(
            want.vwap
                .iter()
                .zip(&got.vwap)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs())
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
