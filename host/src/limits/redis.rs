//! The Redis store: counters N gateway replicas share, so they enforce one
//! limit and one budget per key.
//!
//! Admission is one Lua script (atomic on the server): it reads the month's
//! and day's spend and the current and previous minute's tokens and
//! requests, weighs them over the sliding minute as the in-process store
//! does ([`super::sliding`]), compares them with the key's limits, and counts
//! the request (INCR, with an expiry) only when it is admitted. Usage is
//! added after the answer with one atomic pipeline of INCRBY + EXPIRE, in
//! the background. Spend is counted in integer nano-USD. `rediss://` URLs
//! speak TLS ([`redis_client`]).
//!
//! Redis going away must never crash the gateway or hang a request: every
//! operation has a short timeout (`[limits] timeout_ms`), and after a failure
//! the store is treated as down for a second (requests do not each wait for
//! a timeout) before it is tried again. While down, `on_error = "open"`
//! admits requests and `"closed"` answers 503. Failures are logged at most
//! every ten seconds, with the count of those not logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use http::StatusCode;
use tokio_util::task::TaskTracker;

use super::{Refusal, Refused, Reservation, Usage, Windows, sliding_retry};
use crate::config::LimitsConfig;
use crate::config::limits::{OnError, redis_client};
use crate::error::ApiError;
use crate::keys::ClientKey;

/// How long the store counts as down after a failure.
const DOWN_FOR: Duration = Duration::from_secs(1);
/// At most one failure log line per this period.
const LOG_EVERY: Duration = Duration::from_secs(10);

// The admission script: KEYS, ARGV and the reply are described in it.
const ADMIT: &str = include_str!("redis/admit.lua");

/// How long a parallel slot is held at most: a replica that dies holding
/// slots frees them after this (a longer stream stops counting then).
const SLOT_LEASE: Duration = Duration::from_secs(15 * 60);

/// A parallel slot held in Redis; [`RedisSlot::release`] removes it.
pub struct RedisSlot {
    store: Arc<RedisStore>,
    pending: TaskTracker,
    set: String,
    id: String,
}

impl RedisSlot {
    /// Free the slot, in the background (a task of the shutdown-awaited
    /// tracker). If Redis cannot be reached, the lease frees it.
    pub fn release(self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let RedisSlot {
            store,
            pending,
            set,
            id,
        } = self;
        pending.spawn_on(
            async move {
                // Not skipped while the store counts as down (a slot left
                // behind blocks the key until its lease ends): tried a few
                // times instead.
                let Some(conn) = &store.conn else {
                    return;
                };
                let mut last = String::new();
                for attempt in 0..3u32 {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    let mut conn = conn.clone();
                    let mut cmd = ::redis::cmd("ZREM");
                    cmd.arg(&set).arg(&id);
                    match tokio::time::timeout(store.timeout, cmd.query_async::<i64>(&mut conn))
                        .await
                    {
                        Ok(Ok(_)) => {
                            store.succeeded();
                            return;
                        }
                        Ok(Err(e)) => last = e.to_string(),
                        Err(_) => last = format!("no answer in {} ms", store.timeout.as_millis()),
                    }
                }
                store.failed("slot release", &Failure::from(last));
            },
            &handle,
        );
    }
}

/// Why an operation did not reach Redis or got no answer.
struct Failure {
    why: String,
    /// Not tried: the store failed moments ago. Such a failure does not
    /// extend the down period, or steady traffic would keep it down forever.
    skipped: bool,
}

impl From<String> for Failure {
    fn from(why: String) -> Failure {
        Failure {
            why,
            skipped: false,
        }
    }
}

/// Counters in Redis.
pub struct RedisStore {
    conn: Option<ConnectionManager>,
    timeout: Duration,
    on_error: OnError,
    prefix: String,
    script: ::redis::Script,
    epoch: Instant,
    /// Milliseconds after `epoch` until which the store counts as down.
    down_until: AtomicU64,
    last_log: AtomicU64,
    suppressed: AtomicU64,
    failing: AtomicBool,
    /// This store's part of slot ids (unique across replicas).
    instance: u64,
    next_slot: AtomicU64,
}

fn limit_arg(l: Option<u64>) -> i64 {
    l.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// A connection manager for the Redis `cfg` names, connected on first use
/// with `cfg.timeout_ms` for connecting and for each answer; `None` (and a
/// warning naming `what` uses it) when the settings give no usable client.
pub fn lazy_connection(cfg: &LimitsConfig, what: &str) -> Option<ConnectionManager> {
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let client = match redis_client(cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("{what}: cannot set up the Redis client: {e}");
            return None;
        }
    };
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200));
    match ConnectionManager::new_lazy_with_config(client, config) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("{what}: cannot set up the Redis connection: {e}");
            None
        }
    }
}

impl RedisStore {
    /// A store for `cfg`. The connection is made on first use, so a Redis
    /// that is down at start-up only counts as an error when asked.
    pub fn new(cfg: &LimitsConfig) -> RedisStore {
        let mut store = RedisStore::broken(cfg);
        store.conn = lazy_connection(cfg, "limits");
        store
    }

    /// A store that always fails (no usable connection).
    pub fn broken(cfg: &LimitsConfig) -> RedisStore {
        RedisStore {
            conn: None,
            timeout: Duration::from_millis(cfg.timeout_ms),
            on_error: cfg.on_error,
            prefix: cfg.prefix.clone(),
            script: ::redis::Script::new(ADMIT),
            epoch: Instant::now(),
            down_until: AtomicU64::new(0),
            last_log: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            instance: {
                use std::hash::{BuildHasher as _, Hasher as _};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u32(std::process::id());
                h.write_u128(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos()),
                );
                h.finish()
            },
            next_slot: AtomicU64::new(0),
        }
    }

    fn key(&self, name: &str, what: &str, window: u64) -> String {
        format!("{}:{name}:{what}:{window}", self.prefix)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A connection, unless the store is known to be down.
    fn connection(&self) -> Result<ConnectionManager, Failure> {
        let Some(conn) = &self.conn else {
            return Err(Failure::from(
                "no usable Redis connection (see the start-up log)".to_owned(),
            ));
        };
        if self.now_ms() < self.down_until.load(Ordering::Relaxed) {
            return Err(Failure {
                why: "Redis failed moments ago; not retried yet".into(),
                skipped: true,
            });
        }
        Ok(conn.clone())
    }

    fn succeeded(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            let n = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::info!(
                suppressed = n,
                "limits: Redis answers again; shared limits are enforced"
            );
        }
    }

    fn failed(&self, what: &str, f: &Failure) {
        let why = &f.why;
        tracing::debug!("limits: Redis {what} failed: {why}");
        let now = self.now_ms();
        if !f.skipped {
            self.down_until.store(
                now + u64::try_from(DOWN_FOR.as_millis()).unwrap_or(1000),
                Ordering::Relaxed,
            );
        }
        self.failing.store(true, Ordering::Relaxed);
        let last = self.last_log.load(Ordering::Relaxed);
        let every = u64::try_from(LOG_EVERY.as_millis()).unwrap_or(10_000);
        if (last == 0 || now.saturating_sub(last) >= every)
            && self
                .last_log
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let n = self.suppressed.swap(0, Ordering::Relaxed);
            let policy = match self.on_error {
                OnError::Open => "admitting requests without limits (on_error = \"open\")",
                OnError::Closed => "refusing requests with 503 (on_error = \"closed\")",
            };
            tracing::warn!(
                suppressed = n,
                "limits: Redis {what} failed: {why}; {policy}"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Admit a request of `key` (`Ok(Ok(()))`), refuse it with the figure at
    /// fault (`Ok(Err(..))`), or, with Redis unreachable and `on_error =
    /// "closed"`, answer 503.
    pub async fn admit(
        self: &Arc<Self>,
        key: &ClientKey,
        w: &Windows,
        pending: &TaskTracker,
        reserve: u64,
    ) -> Result<Result<(Option<RedisSlot>, u64), Refused>, ApiError> {
        let slot = key.limits.parallel.map(|_| RedisSlot {
            store: self.clone(),
            pending: pending.clone(),
            set: self.key(&key.name, "inflight", 0),
            id: format!(
                "{:016x}-{}",
                self.instance,
                self.next_slot.fetch_add(1, Ordering::Relaxed)
            ),
        });
        let id = slot.as_ref().map_or("", |s| s.id.as_str()).to_owned();
        match self.try_admit(key, w, &id, reserve).await {
            Ok(Ok(())) => {
                self.succeeded();
                Ok(Ok((slot, reserve)))
            }
            Ok(Err(refused)) => {
                self.succeeded();
                Ok(Err(refused))
            }
            Err(f) => {
                self.failed("admission", &f);
                // The script may have run with its answer lost (a timeout):
                // give back the slot it may have taken.
                if let Some(s) = slot {
                    s.release();
                }
                match self.on_error {
                    OnError::Open => Ok(Ok((None, 0))),
                    OnError::Closed => {
                        let mut e = ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "server_error",
                            "The gateway cannot check this key's limits: its limit store (Redis) is unreachable and [limits] on_error = \"closed\". Retry shortly.",
                        )
                        .code("limits_unavailable");
                        e.retry_after = Some(1);
                        Err(e)
                    }
                }
            }
        }
    }

    async fn try_admit(
        &self,
        key: &ClientKey,
        w: &Windows,
        slot_id: &str,
        reserve: u64,
    ) -> Result<Result<(), Refused>, Failure> {
        let mut conn = self.connection()?;
        let l = &key.limits;
        let prev_minute = w.minute.saturating_sub(1);
        let mut call = self.script.prepare_invoke();
        call.key(self.key(&key.name, "req", w.minute))
            .key(self.key(&key.name, "tok", w.minute))
            .key(self.key(&key.name, "day", w.day))
            .key(self.key(&key.name, "month", w.month))
            .key(self.key(&key.name, "req", prev_minute))
            .key(self.key(&key.name, "tok", prev_minute))
            .key(self.key(&key.name, "inflight", 0))
            .arg(limit_arg(l.rpm))
            .arg(limit_arg(l.tpm))
            .arg(limit_arg(l.daily))
            .arg(limit_arg(l.monthly))
            .arg(w.minute_ms)
            .arg(limit_arg(l.parallel))
            .arg(u64::try_from(SLOT_LEASE.as_millis()).unwrap_or(u64::MAX))
            .arg(slot_id)
            .arg(reserve);
        let (code, used, prev, curr): (i64, i64, i64, i64) =
            match tokio::time::timeout(self.timeout, call.invoke_async(&mut conn)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Err(e.to_string().into()),
                Err(_) => {
                    return Err(format!("no answer in {} ms", self.timeout.as_millis()).into());
                }
            };
        let [used, prev, curr] = [used, prev, curr].map(|v| u64::try_from(v).unwrap_or(0));
        let (why, limit) = match code {
            0 => return Ok(Ok(())),
            1 => (Refusal::Monthly, None),
            2 => (Refusal::Daily, None),
            3 => (Refusal::Tokens, l.tpm),
            4 => (Refusal::Requests, l.rpm),
            5 => (Refusal::Parallel, None),
            other => return Err(format!("the admission script returned {other}").into()),
        };
        let retry = limit.map_or(0, |limit| sliding_retry(prev, curr, limit, w.minute_ms));
        Ok(Err(Refused { why, used, retry }))
    }

    /// A key's counters in the current windows: requests, tokens, the day's
    /// and the month's spend. 503 when Redis cannot answer.
    pub async fn usage(&self, key: &ClientKey, w: &Windows) -> Result<Usage, ApiError> {
        let prev_minute = w.minute.saturating_sub(1);
        let keys = [
            self.key(&key.name, "req", w.minute),
            self.key(&key.name, "tok", w.minute),
            self.key(&key.name, "day", w.day),
            self.key(&key.name, "month", w.month),
            self.key(&key.name, "req", prev_minute),
            self.key(&key.name, "tok", prev_minute),
        ];
        let unavailable = |why: String| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                format!("The limit store (Redis) cannot answer: {why}"),
            )
            .code("limits_unavailable")
        };
        let mut conn = self.connection().map_err(|f| unavailable(f.why))?;
        // One round trip: the counters, and the slots held (those whose
        // lease ran out are dropped at the next admission).
        let mut pipe = ::redis::pipe();
        pipe.cmd("MGET")
            .arg(&keys)
            .cmd("ZCARD")
            .arg(self.key(&key.name, "inflight", 0));
        let (values, in_flight): (Vec<Option<i64>>, u64) =
            match tokio::time::timeout(self.timeout, pipe.query_async(&mut conn)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Err(unavailable(e.to_string())),
                Err(_) => {
                    return Err(unavailable(format!(
                        "no answer in {} ms",
                        self.timeout.as_millis()
                    )));
                }
            };
        // A token counter may dip below zero (a reservation corrected in a
        // later minute): read as zero.
        let mut v = [0u64; 6];
        for (o, got) in v.iter_mut().zip(values) {
            *o = got.map_or(0, |n| u64::try_from(n).unwrap_or(0));
        }
        Ok(Usage {
            month: v[3],
            day: v[2],
            tokens: (v[5], v[1]),
            requests: (v[4], v[0]),
            in_flight,
        })
    }

    /// Add a finished request's tokens and spend, in the background (a task
    /// of `pending`, which shutdown waits for).
    pub fn record(
        self: &Arc<Self>,
        pending: &TaskTracker,
        key: Arc<ClientKey>,
        w: Windows,
        tokens: u64,
        nanos: u64,
        r: Reservation,
    ) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        pending.spawn_on(
            async move {
                match store.try_record(&key, &w, tokens, nanos, r).await {
                    Ok(()) => store.succeeded(),
                    Err(f) => store.failed("accounting", &f),
                }
            },
            &handle,
        );
    }

    async fn try_record(
        &self,
        key: &ClientKey,
        w: &Windows,
        tokens: u64,
        nanos: u64,
        r: Reservation,
    ) -> Result<(), Failure> {
        let mut conn = self.connection()?;
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        // The reservation comes back out of the minute it went into (a
        // minute that no longer counts takes it with it).
        if r.tokens > 0 {
            let k = self.key(&key.name, "tok", r.minute);
            pipe.cmd("DECRBY")
                .arg(&k)
                .arg(r.tokens)
                .ignore()
                .cmd("EXPIRE")
                .arg(&k)
                .arg(120)
                .ignore();
        }
        // Each key expires a little after its window ends.
        for (what, window, amount, ttl) in [
            ("tok", w.minute, tokens, 120),
            ("day", w.day, nanos, 2 * 86_400),
            ("month", w.month, nanos, 32 * 86_400),
        ] {
            if amount == 0 {
                continue;
            }
            let k = self.key(&key.name, what, window);
            pipe.cmd("INCRBY")
                .arg(&k)
                .arg(amount)
                .ignore()
                .cmd("EXPIRE")
                .arg(&k)
                .arg(ttl)
                .ignore();
        }
        match tokio::time::timeout(self.timeout, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string().into()),
            Err(_) => Err(format!("no answer in {} ms", self.timeout.as_millis()).into()),
        }
    }
}
