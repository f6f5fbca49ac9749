//! A small bounded map whose entries expire. Held behind a `std::sync::Mutex` by the client:
//! every operation is short and never awaits, so an async lock would only add overhead.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

pub(super) struct TtlCache<K, V> {
    entries: HashMap<K, (Instant, V)>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub(super) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The value stored for `key` if it has not expired at `now`; an expired one is dropped.
    pub(super) fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        match self.entries.get(key) {
            Some((stored, value)) if now.saturating_duration_since(*stored) < self.ttl => {
                Some(value.clone())
            }
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value`. When the map is full, expired entries are dropped first and then, if
    /// that freed nothing, the oldest entry: a linear scan, which is fine at a few hundred
    /// entries and keeps the structure trivial (no LRU bookkeeping on every read).
    pub(super) fn insert(&mut self, key: K, value: V, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let ttl = self.ttl;
            self.entries
                .retain(|_, (stored, _)| now.saturating_duration_since(*stored) < ttl);
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (stored, _))| *stored)
                    .map(|(key, _)| key.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (now, value));
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let start = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(10), 4);
        cache.insert("a", 1, start);
        assert_eq!(cache.get(&"a", start + Duration::from_secs(9)), Some(1));
        assert_eq!(cache.get(&"a", start + Duration::from_secs(10)), None);
        assert_eq!(cache.len(), 0, "an expired entry is dropped when read");
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_oldest() {
        let start = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(10), 2);
        cache.insert("old", 1, start);
        cache.insert("newer", 2, start + Duration::from_secs(5));
        // Full, nothing expired: the oldest goes.
        cache.insert("third", 3, start + Duration::from_secs(6));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"old", start + Duration::from_secs(6)), None);
        assert_eq!(cache.get(&"newer", start + Duration::from_secs(6)), Some(2));
        // Full again, and both entries are expired by now: both go.
        cache.insert("fourth", 4, start + Duration::from_secs(30));
        assert_eq!(cache.len(), 1);
        // Replacing an existing key never evicts.
        cache.insert("fourth", 5, start + Duration::from_secs(30));
        assert_eq!(
            cache.get(&"fourth", start + Duration::from_secs(30)),
            Some(5)
        );
    }

    #[test]
    fn capacity_zero_still_holds_one_entry() {
        let now = Instant::now();
        let mut cache = TtlCache::new(Duration::from_secs(10), 0);
        cache.insert(1, "x", now);
        cache.insert(2, "y", now);
        assert_eq!(cache.len(), 1);
    }
}
