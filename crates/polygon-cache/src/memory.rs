//! The memory tier: validated archives, bounded in bytes, least recently used out first, with TTLs,
//! told apart by type (`TypeId`): a value is only ever handed back as the type it was stored as.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// A stored value, type-erased; `Arc::downcast` gives it back only as its own type.
type Value = Arc<dyn Any + Send + Sync>;

struct Slot {
    value: Value,
    /// What the value weighs (its archive's length).
    bytes: usize,
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

    fn cost(key: &str, bytes: usize) -> usize {
        key.len() + bytes + 96
    }

    /// The value under `key` if present, of type `V` and not expired; refreshes its recency. A
    /// value of another type under the key is removed (and a miss).
    pub(crate) fn get<V: Any + Send + Sync>(&mut self, key: &str, now: Instant) -> Option<Arc<V>> {
        let slot = self.map.get_mut(key)?;
        if slot.expires <= now {
            self.remove(key);
            return None;
        }
        let Ok(value) = slot.value.clone().downcast::<V>() else {
            self.remove(key);
            return None;
        };
        self.tick += 1;
        self.order.remove(&slot.tick);
        slot.tick = self.tick;
        self.order.insert(self.tick, key.to_owned());
        Some(value)
    }

    /// Stores `value` (weighing `bytes`) under `key` until `expires`, evicting the least recently
    /// used entries beyond the bound; a value larger than the whole tier is not kept.
    pub(crate) fn put<V: Any + Send + Sync>(&mut self, key: &str, value: Arc<V>, bytes: usize, expires: Instant) {
        let cost = Self::cost(key, bytes);
        if cost > self.cap {
            return;
        }
        self.remove(key);
        self.tick += 1;
        self.order.insert(self.tick, key.to_owned());
        self.map.insert(key.to_owned(), Slot { value, bytes, expires, tick: self.tick });
        self.bytes += cost;
        while self.bytes > self.cap {
            let Some((_, victim)) = self.order.pop_first() else { break };
            if let Some(s) = self.map.remove(&victim) {
                self.bytes -= Self::cost(&victim, s.bytes);
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(s) = self.map.remove(key) {
            self.order.remove(&s.tick);
            self.bytes -= Self::cost(key, s.bytes);
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

    fn put(m: &mut MemoryTier, key: &str, n: usize, expires: Instant) {
        m.put(key, Arc::new(vec![7u8; n]), n, expires);
    }

    fn has(m: &mut MemoryTier, key: &str, now: Instant) -> bool {
        m.get::<Vec<u8>>(key, now).is_some()
    }

    #[test]
    fn bounded_in_bytes_least_recently_used_first_and_ttls() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut m = MemoryTier::new(3 * (1000 + 96 + 1));
        for k in ["a", "b", "c"] {
            put(&mut m, k, 1000, later);
        }
        assert!(has(&mut m, "a", now)); // a is now the most recent
        put(&mut m, "d", 1000, later); // evicts b, the least recent
        assert!(!has(&mut m, "b", now));
        assert!(has(&mut m, "a", now) && has(&mut m, "c", now) && has(&mut m, "d", now));
        assert!(m.bytes() <= 3 * 1097);
        assert!(m.get::<String>("a", now).is_none(), "another type under the key is a miss");
        put(&mut m, "e", 10, now);
        assert!(!has(&mut m, "e", now + Duration::from_millis(1)), "expired");
        put(&mut m, "huge", 10_000, later);
        assert!(!has(&mut m, "huge", now), "bigger than the tier: not kept");
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn a_value_is_only_handed_back_as_the_type_it_was_stored_as() {
        let now = Instant::now();
        let mut m = MemoryTier::new(1 << 20);
        m.put("k", Arc::new(0xFFFF_FFFF_7FFF_FFF0u64), 8, now + Duration::from_secs(60));
        assert!(m.get::<Vec<u64>>("k", now).is_none(), "another type under the key is a miss");
        assert_eq!((m.len(), m.bytes()), (0, 0), "and is removed");
        m.put("k", Arc::new(5u64), 8, now + Duration::from_secs(60));
        assert_eq!(m.get::<u64>("k", now).as_deref(), Some(&5));
    }
}
