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

        // The same chunks into reused outputs: the same values, and outputs whose columns were
        // already large enough (here: each holds the largest chunk's results) keep their memory.
        let largest = chunks.iter().max_by_key(|c| c.len()).unwrap();
        let mut out = vec![gpu.compute(largest).unwrap(); chunks.len()];
        let before: Vec<Vec<*const f64>> = out.iter().map(|o| o.columns().map(<[f64]>::as_ptr).to_vec()).collect();
        let refs: Vec<_> = chunks.iter().collect();
        gpu.compute_all_into(&refs, &mut out).unwrap();
        for (k, (o, g)) in out.iter().zip(&got).enumerate() {
            let err = max_relative_error(o, g);
            assert_eq!(err, 0.0, "{mode:?}: chunk {k} into a reused output differs from compute_all's");
        }
        let after: Vec<Vec<*const f64>> = out.iter().map(|o| o.columns().map(<[f64]>::as_ptr).to_vec()).collect();
        assert_eq!(before, after, "{mode:?}: outputs keep their memory");
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
