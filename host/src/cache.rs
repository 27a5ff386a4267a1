//! The exact response cache: a whole answer, or a stream that completed
//! cleanly, kept under a hash of the canonical request ([`key`]) and served
//! again — a stream as the same event sequence — without an upstream call.
//!
//! Which requests take part is decided here ([`ResponseCache::plan`]): the
//! route or model they name says `cache = true`, they are deterministic
//! (`temperature` 0) unless it also says `cache_nondeterministic = true`,
//! and the client did not send `Cache-Control: no-cache` (no lookup) or
//! `no-store` (nothing stored). Answers live in this process ([`memory`]:
//! LRU with entry and byte caps) or in Redis ([`redis`]: shared by
//! replicas). Keys carry the client key's cache scope, so one tenant never
//! sees another's answers.
//!
//! A cache failure is never the client's: a Redis that cannot answer in
//! `timeout_ms` is a miss, and a store that fails is dropped. Nothing here
//! speaks a client's dialect or knows the ledger; ingress serves the hit
//! and records it.

pub mod key;
pub mod memory;
pub mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::canonical::{ChatRequest, ChatResponse, StreamEvent};
use crate::config::limits::Backend;
use crate::config::{CacheConfig, Config, LimitsConfig};

pub use self::key::Key;

/// The version of the stored form; part of every key, so a gateway that
/// stores answers differently never reads another's.
pub const FORMAT: u32 = 1;

/// A stored answer and who served it first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedAnswer {
    /// The config's model that answered.
    pub model: String,
    /// Its provider.
    pub provider: String,
    /// Whether that provider is simulated.
    pub simulated: bool,
    /// The plan of the request that was answered.
    pub plan: Vec<String>,
    /// The policy's labels of that request.
    pub labels: Vec<(String, String)>,
    /// When it was stored, ms since the Unix epoch.
    pub stored_at_ms: i64,
    /// The answer.
    pub body: Answer,
}

/// A whole answer or a stream's events, batch by batch as they were sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    /// A non-streaming answer.
    Complete(ChatResponse),
    /// A stream's event batches, each one frame to the client.
    Stream(Vec<Vec<StreamEvent>>),
}

impl Answer {
    /// Roughly the bytes the answer holds (text, tool calls, framing), to
    /// cap entries before they are serialized.
    pub fn approx_bytes(&self) -> usize {
        match self {
            Answer::Complete(r) => {
                64 + r
                    .choices
                    .iter()
                    .map(|c| {
                        64 + c
                            .message
                            .content
                            .as_ref()
                            .map_or(0, |t| crate::canonical::content_text(t).len())
                            + c.message
                                .tool_calls
                                .iter()
                                .map(|t| t.id.len() + t.name.len() + t.arguments.len())
                                .sum::<usize>()
                    })
                    .sum::<usize>()
            }
            Answer::Stream(batches) => batches
                .iter()
                .map(|b| 8 + b.iter().map(event_bytes).sum::<usize>())
                .sum(),
        }
    }
}

/// Roughly the bytes one stream event holds.
pub fn event_bytes(e: &StreamEvent) -> usize {
    32 + match e {
        StreamEvent::Start(s) => s.id.len() + s.model.len(),
        StreamEvent::Text(t) => t.text.len(),
        StreamEvent::ToolCall(t) => {
            t.arguments.len()
                + t.id.as_ref().map_or(0, String::len)
                + t.name.as_ref().map_or(0, String::len)
        }
        _ => 0,
    }
}

/// Where a generation's answers are kept.
#[derive(Clone)]
pub enum Store {
    /// This process.
    Memory(Arc<memory::MemoryStore>),
    /// Redis, shared by replicas.
    Redis(Arc<redis::RedisCache>),
}

impl Store {
    /// The answer stored under `key`, if any and not expired. A store that
    /// cannot answer is a miss.
    pub async fn get(&self, key: &Key) -> Option<CachedAnswer> {
        match self {
            Store::Memory(m) => m.get(key),
            Store::Redis(r) => r.get(key).await,
        }
    }

    /// Keep `answer` under `key` (off the request path for Redis).
    pub fn put(&self, key: Key, answer: CachedAnswer) {
        match self {
            Store::Memory(m) => m.put(key, answer),
            Store::Redis(r) => r.put(key, answer),
        }
    }
}

/// What the cache does for one request.
#[derive(Clone)]
pub struct Plan {
    /// The request's key.
    pub key: Key,
    /// Look the answer up (not with `Cache-Control: no-cache`).
    pub lookup: bool,
    /// Store the answer (not with `Cache-Control: no-store`).
    pub store: bool,
    /// Where.
    pub at: Store,
    /// Entries larger than this are not stored.
    pub max_entry_bytes: usize,
}

/// Counters of the cache's work, for `/metrics`.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Requests served from the cache.
    pub hits: AtomicU64,
    /// Lookups that found nothing.
    pub misses: AtomicU64,
    /// Answers stored.
    pub stores: AtomicU64,
    /// Answers not stored: too large, or the stream broke.
    pub skipped: AtomicU64,
}

/// The cache of the running gateway: the store in use, kept across
/// generations while `[cache]` (and the Redis settings) stay the same.
#[derive(Default)]
pub struct ResponseCache {
    current: Mutex<Option<(CacheConfig, Option<LimitsConfig>, Store)>>,
    /// Its counters.
    pub stats: Arc<CacheStats>,
}

impl ResponseCache {
    /// The store for `config`'s `[cache]`: the one in use when its settings
    /// are unchanged (a reload keeps the cached answers), else a new one.
    pub fn store(&self, config: &Config) -> Store {
        let redis = match config.cache.backend {
            Backend::Redis => config.cache.redis_settings(&config.limits),
            Backend::Memory => None,
        };
        let mut slot = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((c, r, store)) = &*slot
            && *c == config.cache
            && *r == redis
        {
            return store.clone();
        }
        let store = match &redis {
            Some(settings) => Store::Redis(Arc::new(redis::RedisCache::new(
                settings,
                Duration::from_secs(config.cache.ttl_s),
            ))),
            None => Store::Memory(Arc::new(memory::MemoryStore::new(
                config.cache.max_entries,
                usize::try_from(config.cache.max_bytes).unwrap_or(usize::MAX),
                Duration::from_secs(config.cache.ttl_s),
            ))),
        };
        *slot = Some((config.cache.clone(), redis, store.clone()));
        store
    }

    /// What the cache does for `req` (already checked and admitted) from a
    /// caller with `scope` and these request headers; `None` when the
    /// route or model it names does not cache, or the request is
    /// nondeterministic and it does not say `cache_nondeterministic`.
    pub fn plan(
        &self,
        config: &Config,
        req: &ChatRequest,
        headers: &HeaderMap,
        scope: &str,
    ) -> Option<Plan> {
        let (cache, nondeterministic) = match config.routes.get(&req.model) {
            Some(r) => (r.cache, r.cache_nondeterministic),
            None => {
                let m = config.models.get(&req.model)?;
                (m.cache, m.cache_nondeterministic)
            }
        };
        // Providers sample at temperature 1 when none is given.
        let deterministic = req.temperature.is_some_and(|t| t <= 0.0);
        if !cache || !(deterministic || nondeterministic) {
            return None;
        }
        let (no_cache, no_store) = cache_control(headers);
        Some(Plan {
            key: Key::of(scope, req),
            lookup: !no_cache && !no_store,
            store: !no_store,
            at: self.store(config),
            max_entry_bytes: usize::try_from(config.cache.max_entry_bytes).unwrap_or(usize::MAX),
        })
    }

    /// Count a hit or a miss.
    pub fn looked_up(&self, hit: bool) {
        let c = if hit {
            &self.stats.hits
        } else {
            &self.stats.misses
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl Plan {
    /// Keep `answer` (unless the client said `no-store` or it is larger
    /// than `max_entry_bytes`); `stats` counts what happened.
    pub fn keep(&self, answer: CachedAnswer, stats: &CacheStats) {
        if !self.store {
            return;
        }
        if answer.body.approx_bytes() > self.max_entry_bytes {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        stats.stores.fetch_add(1, Ordering::Relaxed);
        self.at.put(self.key, answer);
    }
}

/// `Cache-Control`'s `no-cache` and `no-store` directives (any of the
/// header's values, case-insensitive).
fn cache_control(headers: &HeaderMap) -> (bool, bool) {
    let mut no_cache = false;
    let mut no_store = false;
    for v in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(v) = v.to_str() else { continue };
        for d in v.split(',') {
            let d = d.trim();
            no_cache |= d.eq_ignore_ascii_case("no-cache");
            no_store |= d.eq_ignore_ascii_case("no-store");
        }
    }
    (no_cache, no_store)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn cache_control_directives() {
        let mut h = HeaderMap::new();
        assert_eq!(cache_control(&h), (false, false));
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=0, No-Cache"),
        );
        assert_eq!(cache_control(&h), (true, false));
        h.append(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        assert_eq!(cache_control(&h), (true, true));
    }

    fn config(route: &str) -> Config {
        let text = format!(
            "[providers.p]\nadapter = \"openai\"\nbase_url = \"http://127.0.0.1:1\"\n\
             [models.m]\nprovider = \"p\"\n\
             [routes.r]\nmodels = [\"m\"]\n{route}\n"
        );
        Config::parse(&text).unwrap()
    }

    #[test]
    fn only_deterministic_requests_of_caching_targets_take_part() {
        let cache = ResponseCache::default();
        let h = HeaderMap::new();
        let mut req = ChatRequest::new("r", vec![]);
        assert!(cache.plan(&config(""), &req, &h, "").is_none());
        let on = config("cache = true");
        assert!(
            cache.plan(&on, &req, &h, "").is_none(),
            "no temperature: sampled"
        );
        req.temperature = Some(0.0);
        assert!(cache.plan(&on, &req, &h, "").is_some());
        req.temperature = Some(0.7);
        assert!(cache.plan(&on, &req, &h, "").is_none());
        let any = config("cache = true\ncache_nondeterministic = true");
        assert!(cache.plan(&any, &req, &h, "").is_some());
        req.model = "m".into();
        assert!(
            cache.plan(&any, &req, &h, "").is_none(),
            "the model does not cache"
        );
    }

    #[test]
    fn a_reload_with_the_same_settings_keeps_the_store() {
        let cache = ResponseCache::default();
        let a = config("cache = true");
        let (Store::Memory(x), Store::Memory(y)) = (cache.store(&a), cache.store(&a)) else {
            panic!("memory stores expected");
        };
        assert!(Arc::ptr_eq(&x, &y));
        let mut b = a.clone();
        b.cache.ttl_s = 5;
        let Store::Memory(z) = cache.store(&b) else {
            panic!("memory store expected");
        };
        assert!(!Arc::ptr_eq(&x, &z));
    }
}
