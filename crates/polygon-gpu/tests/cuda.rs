//! The CUDA backend against the CPU backend, within 1e-9 relative, in both memory modes and
//! double-buffered. Runs where a GPU is present; elsewhere it prints that it skipped and why.

#![cfg(feature = "cuda")]

use polygon_gpu::cuda::CudaBackend;
use polygon_gpu::synthetic::{chunk, max_relative_error};
use polygon_gpu::{Backend, Capacity, CpuBackend, MemoryMode};

fn backend(mode: MemoryMode) -> Option<CudaBackend> {
    match CudaBackend::new(mode, Capacity { series: 64, bars: 1 << 16 }) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("SKIPPED: no CUDA device to test on ({e})");
            None
        }
    }
}

#[test]
fn cuda_matches_the_cpu_backend_in_both_memory_modes() {
    let cpu = CpuBackend::new();
    for mode in [MemoryMode::Unified, MemoryMode::Device] {
        let Some(gpu) = backend(mode) else { return };
        // Lengths around every boundary: 1 bar, shorter than the windows, a scan segment (32), many
        // segments, a whole session and more (VWAP restarts, the DST change).
        let lengths = [1, 2, 13, 14, 15, 19, 20, 21, 31, 32, 33, 64, 100, 959, 960, 961, 2_500, 5_000];
        let c = chunk(&lengths, 7);
        let err = max_relative_error(&gpu.compute(&c).unwrap(), &cpu.compute(&c).unwrap());
        assert!(err <= 1e-9, "{mode:?}: max relative error {err:e}");

        // Several chunks double-buffered, one of them larger than the capacity (the sets grow).
        let chunks: Vec<_> =
            (0..5).map(|k| chunk(&[3_000 + 700 * k, 17, 40_000 * (k % 2) + 1], 100 + k as u64)).collect();
        let got = gpu.compute_all(&chunks).unwrap();
        for (g, c) in got.iter().zip(&chunks) {
            let err = max_relative_error(g, &cpu.compute(c).unwrap());
            assert!(err <= 1e-9, "{mode:?} double-buffered: {err:e}");
        }
    }
}

#[test]
fn the_host_and_the_kernels_agree_on_the_segment_layout() {
    let src = include_str!("../../../kernels/indicators.cu");
    assert!(src.contains("#define SEG 32\n"), "cuda.rs sizes scan segments of 32 bars");
    assert!(src.contains("#define NSEQ 5 "), "cuda.rs allocates 5 affine sequences per segment");
    let ptx = polygon_gpu::cuda::INDICATORS_PTX;
    assert!(ptx.contains(".target sm_90") || ptx.contains(".target compute_90"));
    for k in ["rolling", "scan_local", "scan_carry", "scan_apply"] {
        assert!(ptx.contains(&format!(".entry {k}(")), "{k} is in the PTX");
    }
}
