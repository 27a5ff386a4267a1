//! Rate limits and budgets of client keys: requests and tokens per minute,
//! spend per UTC day and per UTC calendar month.
//!
//! Windows are aligned to the clock (minute, UTC day, UTC month), so every
//! replica agrees on them without talking. The per-minute limits slide: a
//! request is measured against the current clock minute's count plus the
//! previous minute's, weighted by the share of it still inside the last 60
//! seconds (the sliding-window counter), so a burst straddling a minute
//! boundary cannot pass twice the limit. Budgets are calendar windows (a
//! daily budget renews at 00:00 UTC). A request is admitted when none of its
//! key's limits is already reached; admitting counts the request, its
//! prompt's estimated tokens (when the key limits tokens) and, with a
//! parallel limit, takes one of the key's slots until the request ends. The
//! answer's actual usage then replaces the estimate; completion tokens and
//! spend are counted when the answer is complete (streams included), so a
//! request admitted under a limit may take the key over it, and the next one
//! is refused.
//!
//! Two stores: in-process (the default; a map of per-key counters behind
//! short, never-awaited locks) and Redis (`limits/redis.rs`), which N
//! replicas share so they enforce one limit and one budget. This module never
//! holds a lock across an `.await`, and never decides who a caller is (that
//! is [`crate::keys`]).
//!
//! The layout: [`windows`] (the clock's minute, day and month, and the
//! sliding-minute arithmetic), [`counters`] (what a key used, and the check
//! of a request against its limits), [`refusal`] (the client's error when a
//! limit is reached), [`memory`] and [`redis`] (the two stores), [`slots`]
//! (a request's parallel slot and reservation), and here the [`Limiter`]
//! that ties them. A served request's usage is counted once, from its
//! record, by the ledger's key sink (`crate::ledger`).

pub mod counters;
pub mod memory;
pub mod redis;
pub mod refusal;
pub mod slots;
pub mod windows;

use std::sync::{Arc, Mutex, OnceLock};

use tokio_util::task::TaskTracker;

use crate::config::LimitsConfig;
use crate::config::limits::Backend;
use crate::error::ApiError;
use crate::keys::{ClientKey, KeyTable, NANOS};

pub use self::counters::{Counters, Usage, check};
pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;
pub use self::refusal::{Refusal, Refused};
use self::slots::SlotInner;
pub use self::slots::{Reservation, Slot};
pub use self::windows::{Windows, sliding, sliding_retry};

/// A generation's client keys with the `[limits]` they are counted under.
/// The store is chosen on first use and kept for the generation.
pub struct Quotas {
    /// The generation's keys.
    pub keys: Arc<KeyTable>,
    /// Its `[limits]`.
    pub config: LimitsConfig,
    store: OnceLock<Store>,
}

impl Quotas {
    /// The quotas of `keys` under `config`.
    pub fn new(keys: Arc<KeyTable>, config: LimitsConfig) -> Quotas {
        Quotas {
            keys,
            config,
            store: OnceLock::new(),
        }
    }
}

/// The store a generation's keys use.
#[derive(Clone)]
pub enum Store {
    /// This process.
    Memory(Arc<MemoryStore>),
    /// Redis, shared by replicas.
    Redis(Arc<RedisStore>),
}

/// Owns the stores: the in-process one for the life of the process, and a
/// Redis connection reused by every generation with the same `[limits]`.
#[derive(Default)]
pub struct Limiter {
    memory: Arc<MemoryStore>,
    redis: Mutex<Option<(LimitsConfig, Arc<RedisStore>)>>,
    /// Usage writes to Redis still on their way.
    pending: TaskTracker,
}

/// A finished request's usage, for accounting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spend {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// What the request cost, USD.
    pub cost_usd: f64,
    /// What the request's admission reserved ([`Slot::reservation`]).
    pub reserved: Reservation,
}

impl Spend {
    /// Tokens and nano-USD.
    fn amounts(&self) -> (u64, u64) {
        let tokens = self.prompt_tokens.saturating_add(self.completion_tokens);
        let nanos = self.cost_usd * 1e9;
        (
            tokens,
            if nanos.is_finite() && nanos > 0.0 {
                nanos.round() as u64
            } else {
                0
            },
        )
    }
}

impl Limiter {
    /// The store of a generation's quotas (chosen once per generation).
    pub fn store(&self, quotas: &Quotas) -> Store {
        quotas
            .store
            .get_or_init(|| match quotas.config.backend {
                Backend::Memory => Store::Memory(self.memory.clone()),
                Backend::Redis => {
                    let Ok(mut slot) = self.redis.lock() else {
                        return Store::Redis(Arc::new(RedisStore::broken(&quotas.config)));
                    };
                    if let Some((cfg, store)) = &*slot
                        && *cfg == quotas.config
                    {
                        return Store::Redis(store.clone());
                    }
                    let store = Arc::new(RedisStore::new(&quotas.config));
                    *slot = Some((quotas.config.clone(), store.clone()));
                    Store::Redis(store)
                }
            })
            .clone()
    }

    /// Admit a request of `key` or refuse it with the client's error. The
    /// request holds the returned slot until it finishes. `reserve`: the
    /// tokens to count at once against the key's tokens per minute (its
    /// prompt's estimate; see [`Limiter::reservation`]), which the request's
    /// [`Spend::reserved`] must then name (the returned slot says what was
    /// reserved: nothing when a Redis store that cannot answer admits
    /// without limits).
    pub async fn admit(
        &self,
        quotas: &Quotas,
        key: &ClientKey,
        reserve: u64,
    ) -> Result<Slot, ApiError> {
        if !key.limits.any() {
            return Ok(Slot::none());
        }
        let w = Windows::now();
        let admitted = match self.store(quotas) {
            Store::Memory(m) => m.admit(key, &w, reserve),
            Store::Redis(r) => {
                r.admit(key, &w, &self.pending, reserve)
                    .await?
                    .map(|(slot, reserved)| Slot {
                        inner: slot.map_or(SlotInner::None, SlotInner::Redis),
                        reservation: Reservation {
                            minute: w.minute,
                            tokens: reserved,
                        },
                    })
            }
        };
        admitted.map_err(|r| r.error(key, &w))
    }

    /// Each key's use of its current windows, as JSON for `GET /admin/keys`.
    pub async fn usage(&self, quotas: &Quotas) -> Result<serde_json::Value, ApiError> {
        let w = Windows::now();
        let store = self.store(quotas);
        let mut keys = Vec::with_capacity(quotas.keys.keys().len());
        for key in quotas.keys.keys() {
            let u = match &store {
                Store::Memory(m) => m.usage(key, &w),
                Store::Redis(r) => r.usage(key, &w).await?,
            };
            let requests = sliding(u.requests.0, u.requests.1, w.minute_ms);
            let tokens = sliding(u.tokens.0, u.tokens.1, w.minute_ms);
            let (day, month) = (u.day, u.month);
            let l = &key.limits;
            let usd = |n: u64| n as f64 / NANOS;
            keys.push(serde_json::json!({
                "name": key.name,
                "models": key.models,
                "requests_last_minute": requests,
                "in_flight": u.in_flight,
                "tokens_last_minute": tokens,
                "spend_today_usd": usd(day),
                "spend_this_month_usd": usd(month),
                "limits": {
                    "requests_per_minute": l.rpm,
                    "tokens_per_minute": l.tpm,
                    "max_parallel_requests": l.parallel,
                    "daily_budget_usd": l.daily.map(usd),
                    "monthly_budget_usd": l.monthly.map(usd),
                },
            }));
        }
        let backend = match store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        };
        Ok(serde_json::json!({"backend": backend, "keys": keys}))
    }

    /// The tokens to reserve at admission for a request of `key` whose
    /// prompt is estimated at `prompt_tokens`: the estimate when the key has
    /// a tokens-per-minute limit, else nothing.
    pub fn reservation(key: &ClientKey, prompt_tokens: u64) -> u64 {
        if key.limits.tpm.is_some() {
            prompt_tokens
        } else {
            0
        }
    }

    /// Count a finished request's usage against `key` (the tokens beyond or
    /// short of what its admission reserved). The Redis store writes in the
    /// background; nothing here waits.
    pub fn record(&self, quotas: &Quotas, key: &Arc<ClientKey>, spend: Spend) {
        if !key.limits.any() {
            return;
        }
        let (tokens, nanos) = spend.amounts();
        let r = spend.reserved;
        if tokens == 0 && nanos == 0 && r.tokens == 0 {
            return;
        }
        let w = Windows::now();
        match self.store(quotas) {
            Store::Memory(m) => m.record(key, &w, tokens, nanos, r),
            Store::Redis(store) => store.record(&self.pending, key.clone(), w, tokens, nanos, r),
        }
    }

    /// Usage writes to the limit store still on their way.
    pub fn pending_writes(&self) -> usize {
        self.pending.len()
    }

    /// Wait up to `within` for the usage writes still on their way (at
    /// shutdown: answers already sent are counted before the process
    /// exits); whether they all finished.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        self.pending.close();
        let done = tokio::time::timeout(within, self.pending.wait())
            .await
            .is_ok();
        self.pending.reopen();
        done
    }
}

#[cfg(test)]
mod tests;
