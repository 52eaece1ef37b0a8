//! The [`Backend`] trait, the configuration that picks one ([`BackendKind`], [`MemoryMode`],
//! [`Capacity`]) and [`select`].

use std::sync::Arc;

use polygon_model::BarColumns;

use crate::{CpuBackend, Error, Indicators};

/// Computes indicators for a chunk of tickers.
pub trait Backend: Send + Sync {
    /// A short name for logs (`cpu`, `cuda`).
    fn name(&self) -> &'static str;

    /// Every indicator for every series of `bars`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the backend cannot run here; [`Error::Failed`] when it fails.
    fn compute(&self, bars: &BarColumns) -> Result<Indicators, Error>;

    /// Every indicator for every series of `bars`, into `out`: its columns are resized to
    /// `bars.len()` and overwritten, reusing their memory, so a stream of chunks allocates (and
    /// faults in) its output once. The default computes afresh and replaces `out`.
    ///
    /// # Errors
    /// As [`Backend::compute`].
    fn compute_into(&self, bars: &BarColumns, out: &mut Indicators) -> Result<(), Error> {
        *out = self.compute(bars)?;
        Ok(())
    }

    /// Indicators of several chunks, into `out` (one per chunk, in order): each output's columns
    /// are resized and overwritten as in [`Backend::compute_into`], reusing their memory. Backends
    /// that can overlap one chunk's transfers with another's computation (CUDA, double-buffered)
    /// override it; the default runs [`Backend::compute_into`] chunk by chunk.
    ///
    /// # Errors
    /// As [`Backend::compute`]. Outputs of chunks before the failing one may have been written.
    ///
    /// # Panics
    /// When `out.len() != chunks.len()`.
    fn compute_all_into(&self, chunks: &[&BarColumns], out: &mut [Indicators]) -> Result<(), Error> {
        assert_eq!(out.len(), chunks.len(), "compute_all_into: one output per chunk");
        chunks.iter().zip(out).try_for_each(|(c, o)| self.compute_into(c, o))
    }

    /// Indicators of several chunks, freshly allocated: [`Backend::compute_all_into`] into new
    /// outputs.
    ///
    /// # Errors
    /// As [`Backend::compute`].
    fn compute_all(&self, chunks: &[BarColumns]) -> Result<Vec<Indicators>, Error> {
        let refs: Vec<&BarColumns> = chunks.iter().collect();
        let mut out = vec![Indicators::default(); chunks.len()];
        self.compute_all_into(&refs, &mut out)?;
        Ok(out)
    }
}

/// Which backend to use (design.md's `GPU_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// CUDA when a device initialises, else the CPU.
    #[default]
    Auto,
    /// rayon on the CPU.
    Cpu,
    /// CUDA (an error where it is not available).
    Cuda,
}

/// How the CUDA backend holds memory (design.md's `GPU_MEMORY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryMode {
    /// Unified (managed) memory: on Grace-Hopper the GPU reads host memory coherently.
    #[default]
    Unified,
    /// Device buffers with pinned host buffers and explicit, double-buffered copies.
    Device,
}

/// Sizes a backend pre-allocates for: the largest chunk it will be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Series per chunk (`BATCH_SIZE`).
    pub series: usize,
    /// Bars per chunk, all series together.
    pub bars: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity { series: 256, bars: 256 * 20_000 }
    }
}

/// The backend `kind` asks for. `Auto` tries CUDA (in a build with feature `cuda`) and falls back to
/// the CPU, logging which it chose and why.
///
/// # Errors
/// [`Error::Unavailable`] when `Cuda` is asked for and cannot be had: a build without the `cuda`
/// feature, no driver, or no device.
pub fn select(kind: BackendKind, memory: MemoryMode, capacity: Capacity) -> Result<Arc<dyn Backend>, Error> {
    match kind {
        BackendKind::Cpu => {
            tracing::info!(backend = "cpu", "indicator backend chosen by configuration");
            Ok(Arc::new(CpuBackend::new()))
        }
        BackendKind::Cuda => cuda_backend(memory, capacity),
        BackendKind::Auto => match cuda_backend(memory, capacity) {
            Ok(b) => {
                tracing::info!(backend = "cuda", ?memory, "indicator backend: a CUDA device initialised");
                Ok(b)
            }
            Err(e) => {
                tracing::info!(backend = "cpu", reason = %e, "indicator backend: CUDA not available, using the CPU");
                Ok(Arc::new(CpuBackend::new()))
            }
        },
    }
}

#[cfg(feature = "cuda")]
fn cuda_backend(memory: MemoryMode, capacity: Capacity) -> Result<Arc<dyn Backend>, Error> {
    Ok(Arc::new(crate::cuda::CudaBackend::new(memory, capacity)?))
}

#[cfg(not(feature = "cuda"))]
fn cuda_backend(_: MemoryMode, _: Capacity) -> Result<Arc<dyn Backend>, Error> {
    Err(Error::Unavailable {
        backend: "cuda",
        reason: "this build has no CUDA support (rebuild with `--features cuda`)".into(),
    })
}
