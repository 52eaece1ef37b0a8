//! The simulator in-process, for keyless notebooks, the demo and the tests: it serves on the
//! module's runtime until `close`.

use std::sync::Mutex;

use polygon_gh200::model::RateLimit;
use polygon_sim::SimHandle;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::block::{Owner, block, runtime};
use crate::errors;

/// A running simulator (see `polygon_gh200.Simulator`).
#[pyclass(frozen, module = "polygon_gh200._native")]
#[derive(Debug)]
pub struct Simulator {
    owner: Owner,
    handle: Mutex<Option<SimHandle>>,
    #[pyo3(get)]
    url: String,
}

#[pymethods]
impl Simulator {
    #[new]
    #[pyo3(signature = (latency_ms=0, rate_limit=None, fault_rate=0.0, api_key=None, fail_tickers=Vec::new(), seed=42, jitter_ms=0, universe=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        latency_ms: u64,
        rate_limit: Option<&str>,
        fault_rate: f64,
        api_key: Option<String>,
        fail_tickers: Vec<String>,
        seed: u64,
        jitter_ms: u64,
        universe: Option<usize>,
    ) -> PyResult<Self> {
        let rate_limit = rate_limit
            .map(|r| r.parse::<RateLimit>().map_err(|e| errors::argument(py, "rate_limit", e)))
            .transpose()?;
        if !(0.0..=1.0).contains(&fault_rate) {
            return Err(errors::argument(py, "fault_rate", format!("{fault_rate} is not between 0 and 1")));
        }
        let mut b = polygon_sim::Simulator::builder()
            .latency_ms(latency_ms)
            .jitter_ms(jitter_ms)
            .rate_limit(rate_limit)
            .fault_rate(fault_rate)
            .seed(seed)
            .fail_tickers(fail_tickers);
        if let Some(k) = api_key {
            b = b.api_key(k);
        }
        if let Some(n) = universe {
            if n == 0 {
                return Err(errors::argument(py, "universe", "0 tickers: expected 1 or more"));
            }
            b = b.universe(n);
        }
        let sim = b.build();
        // Spawned inside the runtime: the server's tasks keep running on its workers.
        let handle = block(py, None, async move { sim.spawn().await })?
            .map_err(|e| errors::new(py, "PolygonError", format!("simulator: {e}")))?;
        let url = handle.base_url().to_owned();
        Ok(Simulator { owner: Owner::here(), handle: Mutex::new(Some(handle)), url })
    }

    /// The first `n` tickers of the simulator's universe (all of them when `None`), in its order.
    #[staticmethod]
    #[pyo3(signature = (n=None))]
    fn universe(n: Option<usize>) -> Vec<String> {
        let u = polygon_sim::market::Universe::get();
        u.profiles().iter().take(n.unwrap_or(usize::MAX)).map(|p| p.ticker.clone()).collect()
    }

    /// Requests served so far, and more counters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        if let Some(h) = self.handle.lock().expect("simulator lock").as_ref() {
            let s = h.stats();
            d.set_item("requests", s.requests)?;
            d.set_item("aggs", s.aggs)?;
            d.set_item("splits", s.splits)?;
            d.set_item("s3_lists", s.s3_lists)?;
            d.set_item("s3_gets", s.s3_gets)?;
            d.set_item("connections", s.connections)?;
            d.set_item("max_in_flight", s.max_in_flight)?;
        }
        Ok(d)
    }

    /// Stops serving (idempotent).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.owner.check(py, "Simulator")?;
        let handle = self.handle.lock().expect("simulator lock").take();
        if let Some(h) = handle {
            block(py, None, h.shutdown())?;
        }
        Ok(())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if !self.owner.is_here() {
            // A forked child's copy: the server lives in the parent; leak the handle here.
            if let Some(h) = self.handle.get_mut().ok().and_then(Option::take) {
                std::mem::forget(h);
            }
            return;
        }
        if let Some(h) = self.handle.get_mut().ok().and_then(Option::take) {
            // Not inside a call: shut it down on the runtime without blocking the dropping thread.
            runtime().spawn(h.shutdown());
        }
    }
}
