//! A one-line progress bar on stderr, drawn only when stderr is a terminal (quiet in a pipe).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use polygon_gh200::PolygonDataSource;

/// Redraws until dropped; then clears its line.
pub struct ProgressBar {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressBar {
    /// A bar over `total` tickers, fed by `source`'s counters; nothing when stderr is not a terminal.
    pub fn start(source: &PolygonDataSource, total: u64) -> ProgressBar {
        if !std::io::stderr().is_terminal() {
            return ProgressBar { task: None };
        }
        let source = source.clone();
        let base = source.progress();
        let start = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let p = source.progress();
                let done = (p.tickers_done + p.tickers_failed).saturating_sub(base.tickers_done + base.tickers_failed);
                let width = 30;
                let filled = (done * width).checked_div(total).map_or(width, |f| f.min(width)) as usize;
                let secs = start.elapsed().as_secs_f64().max(1e-9);
                let bars = p.bars - base.bars;
                let line = format!(
                    "\r\x1b[2K[{}{}] {done}/{total} tickers, {} failed, {} bars ({:.0}/s), {:.1} MB, {} cache hits",
                    "#".repeat(filled),
                    " ".repeat(width as usize - filled),
                    p.tickers_failed - base.tickers_failed,
                    bars,
                    bars as f64 / secs,
                    (p.bytes - base.bytes) as f64 / 1e6,
                    p.cache_hits - base.cache_hits,
                );
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(line.as_bytes());
                let _ = err.flush();
            }
        });
        ProgressBar { task: Some(task) }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = std::io::stderr().write_all(b"\r\x1b[2K");
        }
    }
}
