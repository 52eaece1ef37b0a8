//! Running the facade's futures from Python: on one process-wide tokio runtime, with the GIL
//! released, so other Python threads keep running; Ctrl-C (and a [`Cancel`] set from another
//! thread, which is how the asyncio variants cancel) is checked every [`TICK`], and ends the call
//! by dropping its future, which cancels the requests in flight. A panic becomes an exception.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

use crate::errors;

/// How often a blocked call looks at Python's signal flags and its [`Cancel`].
pub const TICK: Duration = Duration::from_millis(50);

/// The runtime every call runs on (the simulator's server too): a worker per core, one per
/// process. A child forked from a process that had one (`multiprocessing`'s default start method
/// on Linux) inherits it without its threads, where every call would wait forever: the child
/// makes its own (the parent's is left alone, never dropped, since its threads are not there).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    // No lock: one held by another thread at the fork would stay held in the child.
    static CURRENT: AtomicPtr<(u32, tokio::runtime::Runtime)> = AtomicPtr::new(std::ptr::null_mut());
    let pid = std::process::id();
    let seen = CURRENT.load(Ordering::Acquire);
    // SAFETY: a non-null pointer is one of the leaked boxes below, never freed.
    if let Some((owner, rt)) = unsafe { seen.as_ref() }
        && *owner == pid
    {
        return rt;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("polygon-gh200")
        .build()
        .expect("a tokio runtime (threads and an epoll instance) can be made");
    let made = Box::into_raw(Box::new((pid, rt)));
    match CURRENT.compare_exchange(seen, made, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `made` was just leaked from a Box and is never freed; the one it replaced
        // (another process's) is leaked too.
        Ok(_) => unsafe { &(*made).1 },
        Err(winner) => {
            // Another thread of this process made one first: use it, drop ours (not inside any
            // runtime here, so dropping is allowed).
            // SAFETY: `made` is ours alone, never published.
            drop(unsafe { Box::from_raw(made) });
            // SAFETY: as above: a leaked box, never freed.
            unsafe { &(*winner).1 }
        }
    }
}

/// The process a handle was made in; using it in another (a forked child) is an error, not a hang.
#[derive(Debug, Clone, Copy)]
pub struct Owner(u32);

impl Owner {
    /// This process.
    pub fn here() -> Self {
        Owner(std::process::id())
    }

    /// Whether this is the process that made the handle (no Python needed).
    pub fn is_here(self) -> bool {
        self.0 == std::process::id()
    }

    /// `Ok` in the process that made the handle.
    ///
    /// # Errors
    /// `PolygonError` in any other (a child forked after the handle was made).
    pub fn check(self, py: Python<'_>, what: &str) -> PyResult<()> {
        if self.is_here() {
            Ok(())
        } else {
            Err(errors::new(
                py,
                "PolygonError",
                format!(
                    "this {what} was made in process {} and cannot be used in process {} (a child forked after it was made): make a new one in this process",
                    self.0,
                    std::process::id()
                ),
            ))
        }
    }
}

/// A flag another thread sets to end a call in progress (`CancelledError` in that call).
#[pyclass(frozen, module = "polygon_gh200._native")]
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

#[pymethods]
impl Cancel {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Ends the call this was given to at its next check (within 50 ms).
    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether `set` was called.
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

enum Stop {
    Signal(PyErr),
    Cancelled,
}

/// Runs `fut` to completion with the GIL released. Every [`TICK`] it checks Python's signals
/// (Ctrl-C raises `KeyboardInterrupt` here, in the main thread) and `cancel`; either ends the call
/// at once, dropping `fut`.
///
/// # Errors
/// The signal handler's exception (`KeyboardInterrupt`), `CancelledError` when `cancel` was set,
/// `PolygonError` when the work panicked.
pub fn block<F>(py: Python<'_>, cancel: Option<&Cancel>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let flag = cancel.map(|c| c.flag.clone());
    let outcome = py.detach(move || {
        std::panic::catch_unwind(AssertUnwindSafe(move || {
            runtime().block_on(async move {
                // On a worker, not on this (the caller's) thread, which only waits and checks
                // signals: the work's own tasks and what it runs inline share the workers alike.
                // Dropping the guard (Ctrl-C, cancel) aborts it.
                let mut fut = Abort(tokio::spawn(fut));
                let mut tick = tokio::time::interval(TICK);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        biased;
                        out = &mut fut.0 => match out {
                            Ok(out) => return Ok(out),
                            Err(e) => match e.try_into_panic() {
                                Ok(panic) => std::panic::resume_unwind(panic),
                                Err(_) => return Err(Stop::Cancelled), // the runtime is shutting down
                            },
                        },
                        _ = tick.tick() => {
                            if let Err(e) = Python::attach(|py| py.check_signals()) {
                                return Err(Stop::Signal(e));
                            }
                            if flag.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
                                return Err(Stop::Cancelled);
                            }
                        }
                    }
                }
            })
        }))
    });
    match outcome {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(Stop::Signal(e))) => Err(e),
        Ok(Err(Stop::Cancelled)) => Err(errors::new(py, "CancelledError", "the call was cancelled".into())),
        Err(panic) => Err(errors::panicked(py, &*panic)),
    }
}

/// A task aborted when dropped.
struct Abort<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Abort<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `f` with the GIL released, a panic becoming an exception (for CPU work: indicators).
///
/// # Errors
/// `PolygonError` when `f` panicked.
pub fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(move || std::panic::catch_unwind(AssertUnwindSafe(f))).map_err(|panic| errors::panicked(py, &*panic))
}
