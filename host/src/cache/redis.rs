//! The Redis store: answers as JSON under `PREFIX:KEYHEX`, expiring by
//! Redis (`SET … PX ttl`), so replicas sharing the Redis share the answers.
//! A lookup that fails or takes longer than `timeout_ms` is a miss; a
//! store runs off the request path and a failed one is dropped. Failures
//! are logged at most every 10 seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::redis::aio::ConnectionManager;

use super::{CachedAnswer, Key};
use crate::config::LimitsConfig;
use crate::limits::redis::lazy_connection;

const LOG_EVERY: Duration = Duration::from_secs(10);

/// Answers in Redis.
pub struct RedisCache {
    conn: Option<ConnectionManager>,
    timeout: Duration,
    ttl_ms: u64,
    prefix: String,
    epoch: Instant,
    last_log: AtomicU64,
}

impl RedisCache {
    /// A store on the Redis `settings` name (connected on first use).
    pub fn new(settings: &LimitsConfig, ttl: Duration) -> RedisCache {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let conn = lazy_connection(settings, "cache");
        RedisCache {
            conn,
            timeout,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            prefix: settings.prefix.clone(),
            epoch: Instant::now(),
            last_log: AtomicU64::new(0),
        }
    }

    fn redis_key(&self, key: &Key) -> String {
        format!("{}:{}", self.prefix, key.hex())
    }

    fn failed(&self, what: &str, why: &str) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_log.load(Ordering::Relaxed);
        let every = u64::try_from(LOG_EVERY.as_millis()).unwrap_or(10_000);
        if (last == 0 || now.saturating_sub(last) >= every)
            && self
                .last_log
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!("cache: Redis {what} failed: {why}; serving without the cache");
        }
    }

    /// The answer under `key`: `None` when absent, unreadable or Redis does
    /// not answer in time.
    pub async fn get(&self, key: &Key) -> Option<CachedAnswer> {
        let mut conn = self.conn.clone()?;
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(self.redis_key(key));
        let got =
            tokio::time::timeout(self.timeout, cmd.query_async::<Option<Vec<u8>>>(&mut conn)).await;
        let bytes = match got {
            Ok(Ok(b)) => b?,
            Ok(Err(e)) => {
                self.failed("lookup", &e.to_string());
                return None;
            }
            Err(_) => {
                self.failed("lookup", "timed out");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(a) => Some(a),
            Err(e) => {
                self.failed("lookup", &format!("unreadable entry: {e}"));
                None
            }
        }
    }

    /// Store `answer` under `key`, off the request path.
    pub fn put(self: &Arc<Self>, key: Key, answer: CachedAnswer) {
        let Some(mut conn) = self.conn.clone() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let bytes = match serde_json::to_vec(&answer) {
                Ok(b) => b,
                Err(e) => {
                    me.failed("store", &e.to_string());
                    return;
                }
            };
            let mut cmd = ::redis::cmd("SET");
            cmd.arg(me.redis_key(&key))
                .arg(bytes)
                .arg("PX")
                .arg(me.ttl_ms.max(1));
            match tokio::time::timeout(me.timeout, cmd.query_async::<()>(&mut conn)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => me.failed("store", &e.to_string()),
                Err(_) => me.failed("store", "timed out"),
            }
        });
    }
}
