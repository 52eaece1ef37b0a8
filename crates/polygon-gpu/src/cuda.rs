//! The CUDA backend (feature `cuda`): `kernels/indicators.cu`, compiled to PTX for compute_90 by
//! `cargo xtask kernels` and embedded here, run through cust 0.3.
//!
//! Memory (design.md's `GPU_MEMORY`):
//! - `unified`: every array is a managed (`cudaMallocManaged`) buffer. The host writes a chunk's
//!   columns straight into them and reads the indicators straight out; on a GH200 the GPU reads
//!   and writes that memory coherently over NVLink-C2C, with no explicit copy.
//! - `device`: device buffers, staged through pinned host buffers with asynchronous copies.
//!
//! Either way there are two buffer sets on two streams, sized once (from `BATCH_SIZE` and the
//! largest chunk) and reused: [`Backend::compute_all_into`] fills set `k % 2` with chunk `k` while
//! the GPU still works on chunk `k - 1`, so copies overlap kernels, and copies each chunk's results
//! into the caller's outputs (their memory reused). A chunk larger than the sets grows them once.
//! Managed allocations never ask for more than the device has free.

use std::sync::Mutex;
use std::time::Instant;

use cust::context::{Context, CurrentContext};
use cust::device::Device;
use cust::error::CudaError;
use cust::event::{Event, EventFlags};
use cust::function::{BlockSize, GridSize};
use cust::launch;
use cust::memory::{AsyncCopyDestination, DeviceBuffer, DeviceCopy, LockedBuffer, UnifiedBuffer};
use cust::module::Module;
use cust::stream::{Stream, StreamFlags};
use polygon_model::BarColumns;

use crate::{Backend, Capacity, Error, Indicators, MemoryMode};

/// The PTX of `kernels/indicators.cu` (compute_90), as `cargo xtask kernels` wrote it.
pub const INDICATORS_PTX: &str = include_str!("../ptx/indicators.ptx");

/// Kernel names in the PTX.
pub mod kernel {
    /// log_return, sma_20, std_20, bb_upper_20, bb_lower_20: one thread per bar.
    pub const ROLLING: &str = "rolling";
    /// Phase 1 of the affine scans (ema_20, rsi_14, vwap): segment composites.
    pub const SCAN_LOCAL: &str = "scan_local";
    /// Phase 2: carries per series.
    pub const SCAN_CARRY: &str = "scan_carry";
    /// Phase 3: replay each segment and write ema_20, rsi_14, vwap.
    pub const SCAN_APPLY: &str = "scan_apply";
}

/// Bars per scan segment (`SEG` in the kernel source).
const SEG: usize = 32;
/// Affine sequences per segment (`NSEQ`).
const NSEQ: usize = 5;
const BLOCK: u32 = 256;

fn failed(what: &str, e: CudaError) -> Error {
    Error::Failed { backend: "cuda", reason: format!("{what}: {e}") }
}

/// One array: managed, or device memory with a pinned host stage.
enum Buf<T: DeviceCopy> {
    Unified(UnifiedBuffer<T>),
    Device { dev: DeviceBuffer<T>, host: LockedBuffer<T> },
}

impl<T: DeviceCopy + Default> Buf<T> {
    fn new(mode: MemoryMode, len: usize) -> Result<Self, CudaError> {
        let len = len.max(1);
        Ok(match mode {
            MemoryMode::Unified => Buf::Unified(UnifiedBuffer::new(&T::default(), len)?),
            MemoryMode::Device => {
                // SAFETY: the device side is only read where a chunk's upload or a kernel wrote first.
                let dev = unsafe { DeviceBuffer::uninitialized(len)? };
                Buf::Device { dev, host: LockedBuffer::new(&T::default(), len)? }
            }
        })
    }

    /// The address kernels get.
    fn addr(&mut self) -> u64 {
        match self {
            Buf::Unified(u) => u.as_unified_ptr().as_raw() as u64,
            Buf::Device { dev, .. } => dev.as_device_ptr().as_raw(),
        }
    }

    /// Writes `data` at the start of the host side (unified: the buffer itself).
    fn stage(&mut self, data: &[T]) {
        match self {
            Buf::Unified(u) => u.as_mut_slice()[..data.len()].copy_from_slice(data),
            Buf::Device { host, .. } => host.as_mut_slice()[..data.len()].copy_from_slice(data),
        }
    }

    /// Device mode: the first `n` staged elements to the device, on `stream`.
    fn upload(&mut self, n: usize, stream: &Stream) -> Result<(), CudaError> {
        if let Buf::Device { dev, host } = self {
            // SAFETY: `host` is pinned and outlives the copy (the stream is synchronised before the
            // buffer is touched again or dropped).
            unsafe { dev.index(..n).async_copy_from(&host.as_slice()[..n], stream)? };
        }
        Ok(())
    }

    /// Device mode: the first `n` device elements back to the host stage, on `stream`.
    fn download(&mut self, n: usize, stream: &Stream) -> Result<(), CudaError> {
        if let Buf::Device { dev, host } = self {
            // SAFETY: as in `upload`.
            unsafe { dev.index(..n).async_copy_to(&mut host.as_mut_slice()[..n], stream)? };
        }
        Ok(())
    }

    /// The host view (after the stream is synchronised).
    fn host(&self) -> &[T] {
        match self {
            Buf::Unified(u) => u.as_slice(),
            Buf::Device { host, .. } => host.as_slice(),
        }
    }

    fn len(&self) -> usize {
        self.host().len()
    }
}

/// One buffer set: inputs, scan scratch and the eight outputs.
struct Set {
    t: Buf<i64>,
    h: Buf<f64>,
    l: Buf<f64>,
    c: Buf<f64>,
    v: Buf<f64>,
    vw: Buf<f64>,
    offsets: Buf<u32>,
    seg_offsets: Buf<u32>,
    seg_a: Buf<f64>,
    seg_b: Buf<f64>,
    carry: Buf<f64>,
    out: [Buf<f64>; 8],
    /// The chunk it holds: (bars, series, segments).
    shape: (usize, usize, usize),
}

impl Set {
    fn new(mode: MemoryMode, cap: Capacity) -> Result<Self, CudaError> {
        let segs = cap.bars / SEG + cap.series + 1;
        let f = |n| Buf::<f64>::new(mode, n);
        Ok(Set {
            t: Buf::new(mode, cap.bars)?,
            h: f(cap.bars)?,
            l: f(cap.bars)?,
            c: f(cap.bars)?,
            v: f(cap.bars)?,
            vw: f(cap.bars)?,
            offsets: Buf::new(mode, cap.series + 1)?,
            seg_offsets: Buf::new(mode, cap.series + 1)?,
            seg_a: f(segs * NSEQ)?,
            seg_b: f(segs * NSEQ)?,
            carry: f(segs * NSEQ)?,
            out: [
                f(cap.bars)?,
                f(cap.bars)?,
                f(cap.bars)?,
                f(cap.bars)?,
                f(cap.bars)?,
                f(cap.bars)?,
                f(cap.bars)?,
                f(cap.bars)?,
            ],
            shape: (0, 0, 0),
        })
    }

    /// Bytes of one set for `cap` (to check against free device memory).
    fn bytes(cap: Capacity) -> usize {
        let segs = cap.bars / SEG + cap.series + 1;
        cap.bars * 8 * (6 + 8) + (cap.series + 1) * 4 * 2 + segs * NSEQ * 8 * 3
    }

    fn fits(&self, bars: usize, series: usize) -> bool {
        self.c.len() >= bars.max(1)
            && self.offsets.len() > series
            && self.seg_a.len() >= (bars / SEG + series + 1) * NSEQ
    }

    /// Stages a chunk's columns and segment table, and (device mode) uploads them on `stream`.
    fn load(&mut self, bars: &BarColumns, stream: &Stream) -> Result<(), CudaError> {
        let n = bars.len();
        let offsets = bars.offsets();
        let series = bars.num_series();
        let mut seg_offsets = Vec::with_capacity(series + 1);
        seg_offsets.push(0u32);
        for w in offsets.windows(2) {
            let len = (w[1] - w[0]) as usize;
            seg_offsets.push(seg_offsets[seg_offsets.len() - 1] + len.div_ceil(SEG) as u32);
        }
        let nseg = seg_offsets[series] as usize;
        self.t.stage(&bars.t);
        self.h.stage(&bars.h);
        self.l.stage(&bars.l);
        self.c.stage(&bars.c);
        self.v.stage(&bars.v);
        self.vw.stage(&bars.vw);
        self.offsets.stage(offsets);
        self.seg_offsets.stage(&seg_offsets);
        for b in [&mut self.h, &mut self.l, &mut self.c, &mut self.v, &mut self.vw] {
            b.upload(n, stream)?;
        }
        self.t.upload(n, stream)?;
        self.offsets.upload(series + 1, stream)?;
        self.seg_offsets.upload(series + 1, stream)?;
        self.shape = (n, series, nseg);
        Ok(())
    }

    /// Enqueues the four kernels on `stream`; with `events`, records one before each and one at the end.
    fn launch(&mut self, module: &Module, stream: &Stream, events: Option<&[Event; 5]>) -> Result<(), CudaError> {
        let (n, series, nseg) = self.shape;
        if n == 0 {
            return Ok(());
        }
        let (n32, series32, nseg32) = (n as u32, series as i32, nseg as u32);
        let grid = |items: usize| GridSize::x((items as u32).div_ceil(BLOCK).max(1));
        let block = BlockSize::x(BLOCK);
        let [t, h, l, c, v, vw] =
            [self.t.addr(), self.h.addr(), self.l.addr(), self.c.addr(), self.v.addr(), self.vw.addr()];
        let (offsets, seg_offsets) = (self.offsets.addr(), self.seg_offsets.addr());
        let (seg_a, seg_b, carry) = (self.seg_a.addr(), self.seg_b.addr(), self.carry.addr());
        let o: Vec<u64> = self.out.iter_mut().map(Buf::addr).collect();
        let mark = |k: usize| events.map_or(Ok(()), |e| e[k].record(stream));
        // SAFETY: every address is a live allocation of at least the length the kernel indexes
        // (checked by `fits`), and the kernels' parameter lists match these argument lists.
        unsafe {
            mark(0)?;
            launch!(module.rolling<<<grid(n), block, 0, stream>>>(c, offsets, series32, n32, o[0], o[1], o[3], o[4], o[5]))?;
            mark(1)?;
            launch!(module.scan_local<<<grid(nseg), block, 0, stream>>>(
                t, h, l, c, v, vw, offsets, seg_offsets, series32, nseg32, seg_a, seg_b
            ))?;
            mark(2)?;
            launch!(module.scan_carry<<<grid(series), block, 0, stream>>>(seg_offsets, series32, nseg32, seg_a, seg_b, carry))?;
            mark(3)?;
            launch!(module.scan_apply<<<grid(nseg), block, 0, stream>>>(
                t, h, l, c, v, vw, offsets, seg_offsets, series32, nseg32, carry, o[2], o[6], o[7]
            ))?;
            mark(4)?;
        }
        for b in &mut self.out {
            b.download(n, stream)?;
        }
        Ok(())
    }

    /// The results into `out` (after the stream is synchronised): each column cleared and
    /// refilled, so memory it already has is reused.
    fn collect_into(&self, out: &mut Indicators) {
        let n = self.shape.0;
        for (col, buf) in out.columns_vec_mut().into_iter().zip(&self.out) {
            col.clear();
            col.extend_from_slice(&buf.host()[..n]);
        }
    }
}

struct State {
    sets: [Set; 2],
    streams: [Stream; 2],
    capacity: Capacity,
}

// SAFETY: the managed buffers are allocations this struct owns alone (their raw pointers are not
// shared), every use goes through the backend's Mutex, and each call makes the backend's context
// current on its thread first.
unsafe impl Send for State {}

/// Indicators on an NVIDIA GPU; see the module documentation.
pub struct CudaBackend {
    // Field order is drop order: buffers and streams before the module, the module before the context.
    state: Mutex<State>,
    module: Module,
    context: Context,
    memory: MemoryMode,
    device: String,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend")
            .field("device", &self.device)
            .field("memory", &self.memory)
            .finish_non_exhaustive()
    }
}

/// Per-kernel timings of one chunk, from CUDA events.
#[derive(Debug, Clone)]
pub struct KernelTimes {
    /// (kernel name, seconds, bytes it must move at least: its column reads and writes).
    pub kernels: Vec<(&'static str, f64, u64)>,
}

impl CudaBackend {
    /// Initialises the driver and device 0, loads the PTX, and allocates two buffer sets of
    /// `capacity`.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when there is no driver or device (the message says which), or the
    /// sets would not fit in the device's free memory.
    pub fn new(memory: MemoryMode, capacity: Capacity) -> Result<Self, Error> {
        let unavailable =
            |what: &str, e: CudaError| Error::Unavailable { backend: "cuda", reason: format!("{what}: {e}") };
        cust::init(cust::CudaFlags::empty()).map_err(|e| unavailable("no usable CUDA driver", e))?;
        let device = Device::get_device(0).map_err(|e| unavailable("no CUDA device", e))?;
        let context = Context::new(device).map_err(|e| unavailable("creating a context", e))?;
        let name = device.name().unwrap_or_else(|_| "unknown device".into());
        let module = Module::from_ptx(INDICATORS_PTX, &[]).map_err(|e| unavailable("loading the PTX", e))?;
        let streams = [
            Stream::new(StreamFlags::NON_BLOCKING, None).map_err(|e| failed("stream", e))?,
            Stream::new(StreamFlags::NON_BLOCKING, None).map_err(|e| failed("stream", e))?,
        ];
        let capacity = Capacity { series: capacity.series.max(1), bars: capacity.bars.max(1) };
        let sets = Self::allocate(memory, capacity)?;
        tracing::info!(device = %name, ?memory, ?capacity, "CUDA backend ready");
        Ok(CudaBackend { state: Mutex::new(State { sets, streams, capacity }), module, context, memory, device: name })
    }

    fn allocate(memory: MemoryMode, cap: Capacity) -> Result<[Set; 2], Error> {
        let need = 2 * Set::bytes(cap);
        let (free, _total) = cust::memory::mem_get_info().map_err(|e| failed("cuMemGetInfo", e))?;
        if need > free {
            return Err(Error::Unavailable {
                backend: "cuda",
                reason: format!(
                    "two buffer sets for {} bars need {} MiB; the device has {} MiB free (lower BATCH_SIZE)",
                    cap.bars,
                    need >> 20,
                    free >> 20
                ),
            });
        }
        let set = || Set::new(memory, cap).map_err(|e| failed("allocating buffers", e));
        Ok([set()?, set()?])
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        &self.device
    }

    /// The memory mode.
    pub fn memory(&self) -> MemoryMode {
        self.memory
    }

    fn ensure(&self, st: &mut State, chunks: &[&BarColumns]) -> Result<(), Error> {
        let bars = chunks.iter().map(|c| c.len()).max().unwrap_or(0);
        let series = chunks.iter().map(|c| c.num_series()).max().unwrap_or(0);
        if st.sets.iter().all(|s| s.fits(bars, series)) {
            return Ok(());
        }
        let cap = Capacity { bars: bars.max(st.capacity.bars), series: series.max(st.capacity.series) };
        tracing::info!(?cap, "growing the CUDA buffer sets for a larger chunk");
        // Free the old sets before asking for the new ones.
        for s in &st.streams {
            s.synchronize().map_err(|e| failed("synchronize", e))?;
        }
        st.sets = Self::allocate(self.memory, Capacity { series: 1, bars: 1 })?;
        st.sets = Self::allocate(self.memory, cap)?;
        st.capacity = cap;
        Ok(())
    }

    /// Runs one chunk with CUDA events around each kernel (for `gpu-check`).
    ///
    /// # Errors
    /// [`Error::Failed`] on a CUDA error.
    pub fn profile(&self, bars: &BarColumns) -> Result<KernelTimes, Error> {
        CurrentContext::set_current(&self.context).map_err(|e| failed("set context", e))?;
        let mut st = self.state.lock().map_err(|_| Error::Failed { backend: "cuda", reason: "poisoned".into() })?;
        self.ensure(&mut st, &[bars])?;
        let State { sets, streams, .. } = &mut *st;
        let ev = |_| Event::new(EventFlags::DEFAULT).map_err(|e| failed("event", e));
        let events: [Event; 5] = [ev(0)?, ev(1)?, ev(2)?, ev(3)?, ev(4)?];
        sets[0].load(bars, &streams[0]).map_err(|e| failed("copy", e))?;
        streams[0].synchronize().map_err(|e| failed("synchronize", e))?;
        sets[0].launch(&self.module, &streams[0], Some(&events)).map_err(|e| failed("launch", e))?;
        streams[0].synchronize().map_err(|e| failed("synchronize", e))?;
        let secs = |a: usize, b: usize| {
            events[b].elapsed_time_f32(&events[a]).map(|ms| f64::from(ms) / 1e3).map_err(|e| failed("event time", e))
        };
        let n = bars.len() as u64;
        Ok(KernelTimes {
            kernels: vec![
                (kernel::ROLLING, secs(0, 1)?, n * 8 * (1 + 5)),
                (kernel::SCAN_LOCAL, secs(1, 2)?, n * 8 * 6),
                (kernel::SCAN_CARRY, secs(2, 3)?, (n / SEG as u64) * 8 * NSEQ as u64 * 3),
                (kernel::SCAN_APPLY, secs(3, 4)?, n * 8 * (6 + 3)),
            ],
        })
    }

    /// Device-to-device copy bandwidth (bytes/s, read + write counted) over `bytes`-sized buffers:
    /// the yardstick for the kernels.
    ///
    /// # Errors
    /// [`Error::Failed`] on a CUDA error.
    pub fn copy_bandwidth(&self, bytes: usize) -> Result<f64, Error> {
        CurrentContext::set_current(&self.context).map_err(|e| failed("set context", e))?;
        let n = bytes / 8;
        let a = DeviceBuffer::<f64>::zeroed(n).map_err(|e| failed("alloc", e))?;
        let mut b = DeviceBuffer::<f64>::zeroed(n).map_err(|e| failed("alloc", e))?;
        let stream = Stream::new(StreamFlags::NON_BLOCKING, None).map_err(|e| failed("stream", e))?;
        let (start, end) = (
            Event::new(EventFlags::DEFAULT).map_err(|e| failed("event", e))?,
            Event::new(EventFlags::DEFAULT).map_err(|e| failed("event", e))?,
        );
        let reps = 10;
        // SAFETY: both buffers live until the stream is synchronised below.
        unsafe {
            b.async_copy_from(&a, &stream).map_err(|e| failed("copy", e))?;
            start.record(&stream).map_err(|e| failed("event", e))?;
            for _ in 0..reps {
                b.async_copy_from(&a, &stream).map_err(|e| failed("copy", e))?;
            }
            end.record(&stream).map_err(|e| failed("event", e))?;
        }
        stream.synchronize().map_err(|e| failed("synchronize", e))?;
        let ms = end.elapsed_time_f32(&start).map_err(|e| failed("event time", e))?;
        Ok(2.0 * (n * 8 * reps) as f64 / (f64::from(ms) / 1e3))
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn compute(&self, bars: &BarColumns) -> Result<Indicators, Error> {
        let mut out = Indicators::default();
        self.compute_into(bars, &mut out)?;
        Ok(out)
    }

    fn compute_into(&self, bars: &BarColumns, out: &mut Indicators) -> Result<(), Error> {
        self.compute_all_into(&[bars], std::slice::from_mut(out))
    }

    /// Double-buffered: chunk k+1 is staged and copied on one stream while chunk k's kernels run
    /// on the other; each chunk's results go into its output as soon as its stream is done.
    fn compute_all_into(&self, chunks: &[&BarColumns], out: &mut [Indicators]) -> Result<(), Error> {
        assert_eq!(out.len(), chunks.len(), "compute_all_into: one output per chunk");
        // The kernels index rows by the offsets: a batch whose columns were cut by hand would
        // send them past the buffers (device writes out of bounds). Checked before anything runs.
        for c in chunks {
            c.check().map_err(Error::BadBatch)?;
        }
        let start = Instant::now();
        CurrentContext::set_current(&self.context).map_err(|e| failed("set context", e))?;
        let mut st = self.state.lock().map_err(|_| Error::Failed { backend: "cuda", reason: "poisoned".into() })?;
        self.ensure(&mut st, chunks)?;
        let State { sets, streams, .. } = &mut *st;
        for (k, chunk) in chunks.iter().enumerate() {
            let s = k % 2;
            if k >= 2 {
                streams[s].synchronize().map_err(|e| failed("synchronize", e))?;
                sets[s].collect_into(&mut out[k - 2]);
            }
            sets[s].load(chunk, &streams[s]).map_err(|e| failed("copy to device", e))?;
            sets[s].launch(&self.module, &streams[s], None).map_err(|e| failed("launch", e))?;
        }
        for (k, o) in out.iter_mut().enumerate().skip(chunks.len().saturating_sub(2)) {
            let s = k % 2;
            streams[s].synchronize().map_err(|e| failed("synchronize", e))?;
            sets[s].collect_into(o);
        }
        let bars: usize = chunks.iter().map(|c| c.len()).sum();
        tracing::trace!(chunks = chunks.len(), bars, secs = start.elapsed().as_secs_f64(), "cuda chunks");
        Ok(())
    }
}
