//! `gpu-check`: on a machine with an NVIDIA GPU, checks the CUDA backend against the CPU and
//! measures it, in one run from a prebuilt binary (the PTX is embedded). Build it with
//! `cargo xtask gpu-check` (writes target/gpu-check/gpu_check), run it there.
//!
//! Prints: correctness (max relative error against the CPU backend, both memory modes); per
//! kernel, achieved bandwidth against the measured device-to-device copy bandwidth; unified
//! versus device mode end to end; the chunk pipeline's throughput (double-buffered; fresh outputs
//! and reused ones), and the CPU's.

#![allow(clippy::print_stdout)] // a report on stdout

use std::process::ExitCode;
use std::time::Instant;

use polygon_gpu::cuda::CudaBackend;
use polygon_gpu::synthetic::{chunk, max_relative_error, uniform};
use polygon_gpu::{Backend, Capacity, CpuBackend, MemoryMode};

fn main() -> ExitCode {
    let (series, bars) = (256usize, 100_000usize);
    let cap = Capacity { series, bars: series * bars };
    let cpu = CpuBackend::new();
    let mut ok = true;
    println!("# gpu-check\n");
    let big = uniform(series, bars, 1);
    let t = Instant::now();
    let cpu_big = cpu.compute(&big).expect("cpu");
    let cpu_secs = t.elapsed().as_secs_f64();
    let n = big.len() as f64;
    for mode in [MemoryMode::Unified, MemoryMode::Device] {
        let gpu = match CudaBackend::new(mode, cap) {
            Ok(g) => g,
            Err(e) => {
                println!("CUDA unavailable ({mode:?}): {e}");
                return ExitCode::from(2);
            }
        };
        println!("## {} ({mode:?} memory)\n", gpu.device_name());
        let small = chunk(&[1, 13, 14, 15, 20, 21, 33, 960, 961, 5_000], 3);
        let e1 = max_relative_error(&gpu.compute(&small).expect("cuda"), &cpu.compute(&small).expect("cpu"));
        let e2 = max_relative_error(&gpu.compute(&big).expect("cuda"), &cpu_big);
        let pass = e1 <= 1e-9 && e2 <= 1e-9;
        ok &= pass;
        println!(
            "correctness: max relative error {:.2e} (edge cases), {:.2e} (256 x 100,000): {}\n",
            e1,
            e2,
            if pass { "PASS" } else { "FAIL" }
        );
        let copy = gpu.copy_bandwidth(1 << 30).expect("copy bandwidth");
        println!("device-to-device copy: {:.0} GB/s (read + write)\n", copy / 1e9);
        println!("| kernel | ms | GB/s | of copy |");
        println!("|---|---|---|---|");
        let times = gpu.profile(&big).expect("profile");
        for (name, secs, bytes) in &times.kernels {
            let bw = *bytes as f64 / secs;
            println!("| {name} | {:.3} | {:.0} | {:.0} % |", secs * 1e3, bw / 1e9, 100.0 * bw / copy);
        }
        // End to end: 8 chunks through compute_all (double-buffered), including host staging.
        let chunks: Vec<_> = (0..8).map(|k| uniform(series, bars / 4, 10 + k)).collect();
        gpu.compute_all(&chunks[..2]).expect("warm-up");
        let t = Instant::now();
        let mut out = gpu.compute_all(&chunks).expect("pipeline");
        let secs = t.elapsed().as_secs_f64();
        let total: usize = chunks.iter().map(|c| c.len()).sum();
        assert_eq!(out.len(), chunks.len());
        // The same pipeline into the outputs just filled (as a stream reuses them): no allocation.
        let refs: Vec<_> = chunks.iter().collect();
        let t = Instant::now();
        gpu.compute_all_into(&refs, &mut out).expect("pipeline into reused outputs");
        let reused = t.elapsed().as_secs_f64();
        let t1 = Instant::now();
        gpu.compute(&big).expect("one chunk");
        let one = t1.elapsed().as_secs_f64();
        println!(
            "\nend to end ({mode:?}): one 256 x 100,000 chunk {:.1} ms = {:.0} M bars/s; 8-chunk pipeline {:.0} M bars/s, \
             {:.0} M bars/s into reused outputs\n",
            one * 1e3,
            n / one / 1e6,
            total as f64 / secs / 1e6,
            total as f64 / reused / 1e6
        );
    }
    println!(
        "CPU backend ({} threads): {:.0} M bars/s on the same 256 x 100,000 chunk",
        rayon::current_num_threads(),
        n / cpu_secs / 1e6
    );
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
