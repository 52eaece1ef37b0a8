//! The memory tier: validated archives, bounded in bytes, least recently used out first, with TTLs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rkyv::util::AlignedVec;

pub(crate) struct Slot {
    pub(crate) kind: u32,
    pub(crate) archive: Arc<AlignedVec>,
    expires: Instant,
    tick: u64,
}

/// LRU by bytes: `map` holds the entries, `order` their last-use ticks.
pub(crate) struct MemoryTier {
    map: HashMap<String, Slot>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
    cap: usize,
}

impl MemoryTier {
    pub(crate) fn new(cap: usize) -> Self {
        MemoryTier { map: HashMap::new(), order: BTreeMap::new(), tick: 0, bytes: 0, cap }
    }

    fn cost(key: &str, a: &AlignedVec) -> usize {
        key.len() + a.len() + 96
    }

    /// The archive under `key`, if present, of `kind` and not expired; refreshes its recency.
    pub(crate) fn get(&mut self, key: &str, kind: u32, now: Instant) -> Option<Arc<AlignedVec>> {
        let slot = self.map.get_mut(key)?;
        if slot.expires <= now || slot.kind != kind {
            self.remove(key);
            return None;
        }
        self.tick += 1;
        self.order.remove(&slot.tick);
        slot.tick = self.tick;
        self.order.insert(self.tick, key.to_owned());
        Some(slot.archive.clone())
    }

    pub(crate) fn put(&mut self, key: &str, kind: u32, archive: Arc<AlignedVec>, expires: Instant) {
        let cost = Self::cost(key, &archive);
        if cost > self.cap {
            return; // larger than the whole tier: not cached in memory
        }
        self.remove(key);
        self.tick += 1;
        self.order.insert(self.tick, key.to_owned());
        self.map.insert(key.to_owned(), Slot { kind, archive, expires, tick: self.tick });
        self.bytes += cost;
        while self.bytes > self.cap {
            let Some((_, victim)) = self.order.pop_first() else { break };
            if let Some(s) = self.map.remove(&victim) {
                self.bytes -= Self::cost(&victim, &s.archive);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(s) = self.map.remove(key) {
            self.order.remove(&s.tick);
            self.bytes -= Self::cost(key, &s.archive);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn buf(n: usize) -> Arc<AlignedVec> {
        let mut v = AlignedVec::<16>::new();
        v.extend_from_slice(&vec![7u8; n]);
        Arc::new(v)
    }

    #[test]
    fn bounded_in_bytes_least_recently_used_first_and_ttls() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut m = MemoryTier::new(3 * (1000 + 96 + 1));
        for k in ["a", "b", "c"] {
            m.put(k, 1, buf(1000), later);
        }
        assert!(m.get("a", 1, now).is_some()); // a is now the most recent
        m.put("d", 1, buf(1000), later); // evicts b, the least recent
        assert!(m.get("b", 1, now).is_none());
        assert!(m.get("a", 1, now).is_some() && m.get("c", 1, now).is_some() && m.get("d", 1, now).is_some());
        assert!(m.bytes() <= 3 * 1097);
        assert!(m.get("a", 2, now).is_none(), "another kind under the key is a miss");
        m.put("e", 1, buf(10), now);
        assert!(m.get("e", 1, now + Duration::from_millis(1)).is_none(), "expired");
        m.put("huge", 1, buf(10_000), later);
        assert!(m.get("huge", 1, now).is_none(), "bigger than the tier: not kept");
        assert_eq!(m.len(), 2);
    }
}
