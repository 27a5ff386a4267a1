//! The in-process store: an LRU map of answers with a cap on entries and on
//! bytes, each entry expiring `ttl` after it was stored. One mutex, held
//! for a map operation only (no serialization under it).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use super::{CachedAnswer, Key};

struct Entry {
    answer: CachedAnswer,
    bytes: usize,
    expires: Instant,
}

struct Inner {
    map: LruCache<Key, Entry>,
    bytes: usize,
}

/// Answers in this process.
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
    ttl: Duration,
}

impl MemoryStore {
    /// A store of at most `max_entries` answers and `max_bytes` bytes,
    /// each kept for `ttl`.
    pub fn new(max_entries: usize, max_bytes: usize, ttl: Duration) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(Inner {
                map: LruCache::unbounded(),
                bytes: 0,
            }),
            max_entries: max_entries.max(1),
            max_bytes,
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map stays consistent across a panic elsewhere: every
        // operation on it is a single call.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer under `key`, unless it expired (then it is dropped).
    pub fn get(&self, key: &Key) -> Option<CachedAnswer> {
        let mut inner = self.lock();
        let now = Instant::now();
        match inner.map.get(key) {
            Some(e) if e.expires > now => Some(e.answer.clone()),
            Some(_) => {
                if let Some(e) = inner.map.pop(key) {
                    inner.bytes -= e.bytes;
                }
                None
            }
            None => None,
        }
    }

    /// Keep `answer` under `key`, dropping the least recently used answers
    /// until both caps hold.
    pub fn put(&self, key: Key, answer: CachedAnswer) {
        let bytes = answer.body.approx_bytes();
        if bytes > self.max_bytes {
            return;
        }
        let entry = Entry {
            answer,
            bytes,
            expires: Instant::now() + self.ttl,
        };
        let mut inner = self.lock();
        if let Some(old) = inner.map.put(key, entry) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.map.len() > self.max_entries || inner.bytes > self.max_bytes {
            match inner.map.pop_lru() {
                Some((_, e)) => inner.bytes -= e.bytes,
                None => break,
            }
        }
    }

    /// Answers held now, and their bytes.
    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.map.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Answer;
    use crate::canonical::{StreamEvent, TextDelta};

    fn answer(text: &str) -> CachedAnswer {
        CachedAnswer {
            model: "m".into(),
            provider: "p".into(),
            simulated: false,
            plan: vec![],
            labels: vec![],
            stored_at_ms: 0,
            body: Answer::Stream(vec![vec![StreamEvent::Text(TextDelta {
                choice: 0,
                text: text.into(),
            })]]),
        }
    }

    #[test]
    fn entries_and_bytes_are_capped_least_recently_used_first() {
        let s = MemoryStore::new(2, 1 << 20, Duration::from_secs(60));
        s.put(Key([1; 32]), answer("a"));
        s.put(Key([2; 32]), answer("b"));
        assert!(s.get(&Key([1; 32])).is_some(), "1 is now the most recent");
        s.put(Key([3; 32]), answer("c"));
        assert!(s.get(&Key([2; 32])).is_none(), "2 was the least recent");
        assert!(s.get(&Key([1; 32])).is_some());
        assert_eq!(s.size().0, 2);

        let one = answer(&"x".repeat(100)).body.approx_bytes();
        let s = MemoryStore::new(100, one * 2, Duration::from_secs(60));
        for i in 0..5u8 {
            s.put(Key([i; 32]), answer(&"x".repeat(100)));
        }
        assert_eq!(s.size(), (2, one * 2));
    }

    #[test]
    fn entries_expire() {
        let s = MemoryStore::new(10, 1 << 20, Duration::from_millis(0));
        s.put(Key([1; 32]), answer("a"));
        assert!(s.get(&Key([1; 32])).is_none());
        assert_eq!(s.size(), (0, 0));
    }
}
