//! A sleep with the operating system's timer precision, for the simulated latency.
//!
//! tokio's timer wheel has a 1 ms tick and rounds every deadline up to the next tick, so a 20 ms
//! `tokio::time::sleep` takes 20.5-21.5 ms, and every request whose deadline falls in the same
//! tick is released at once (bursts that a real network does not produce). One process-wide
//! thread keeps the deadlines in a heap and waits on a condition variable with a timeout, which
//! Linux serves from a high-resolution timer (tens of microseconds of slack), then wakes each
//! sleeper through a oneshot channel. With nothing to wait for the thread sleeps on the condvar.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

struct Entry {
    at: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Default)]
struct Timer {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    wake: Condvar,
}

fn timer() -> &'static Timer {
    static T: OnceLock<&'static Timer> = OnceLock::new();
    T.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::default());
        std::thread::Builder::new().name("sim-timer".into()).spawn(move || t.run()).expect("spawn the timer thread");
        t
    })
}

impl Timer {
    fn run(&self) {
        let mut g = self.heap.lock().expect("timer lock");
        loop {
            let now = Instant::now();
            while g.0.peek().is_some_and(|Reverse(e)| e.at <= now) {
                let Reverse(e) = g.0.pop().expect("peeked");
                let _ = e.tx.send(()); // the sleeper may have been dropped (its request cancelled)
            }
            g = match g.0.peek() {
                Some(Reverse(e)) => {
                    let wait = e.at.saturating_duration_since(now);
                    self.wake.wait_timeout(g, wait).expect("timer lock").0
                }
                None => self.wake.wait(g).expect("timer lock"),
            };
        }
    }
}

/// Sleeps until `at`, with the OS timer's precision rather than tokio's 1 ms tick.
pub async fn sleep_until(at: Instant) {
    if at <= Instant::now() {
        return;
    }
    let t = timer();
    let (tx, rx) = oneshot::channel();
    {
        let mut g = t.heap.lock().expect("timer lock");
        let seq = g.1;
        g.1 += 1;
        let earliest = g.0.peek().is_none_or(|Reverse(e)| at < e.at);
        g.0.push(Reverse(Entry { at, seq, tx }));
        if earliest {
            t.wake.notify_one();
        }
    }
    let _ = rx.await;
}

/// Sleeps for `d` (see [`sleep_until`]).
pub async fn sleep(d: Duration) {
    sleep_until(Instant::now() + d).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_in_deadline_order_and_not_early() {
        let start = Instant::now();
        let mut order = Vec::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (i, ms) in [30u64, 10, 20, 10].into_iter().enumerate() {
            let tx = tx.clone();
            tokio::spawn(async move {
                let at = start + Duration::from_millis(ms);
                sleep_until(at).await;
                assert!(Instant::now() >= at, "woke before its deadline");
                tx.send(i).unwrap();
            });
        }
        drop(tx);
        while let Some(i) = rx.recv().await {
            order.push(i);
        }
        assert_eq!(order.len(), 4);
        assert_eq!(order[3], 0, "the 30 ms sleeper wakes last: {order:?}");
        assert_eq!(order[2], 2, "the 20 ms sleeper wakes third: {order:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_past_deadline_returns_at_once_and_a_dropped_sleeper_is_harmless() {
        sleep_until(Instant::now() - Duration::from_millis(1)).await;
        let f = sleep(Duration::from_millis(5));
        drop(f); // never polled: registers nothing
        let mut f = Box::pin(sleep(Duration::from_millis(5)));
        assert!(futures_poll_once(&mut f).await.is_none());
        drop(f); // registered, then dropped: the timer's send fails quietly
        sleep(Duration::from_millis(10)).await;
    }

    async fn futures_poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
