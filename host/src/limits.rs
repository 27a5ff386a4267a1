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
//! holds a lock across an `.await`.

mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use serde::Deserialize;
use tokio_util::task::TaskTracker;

use crate::error::ApiError;
use crate::keys::{ClientKey, KeyConfig, KeyTable};

pub use self::redis::RedisStore;

/// `[limits]`: where counters live.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// `memory` (this process) or `redis` (shared by replicas).
    #[serde(default)]
    pub backend: Backend,
    /// `redis://host:port[/db]` for the redis backend (`rediss://` for TLS).
    pub url: Option<String>,
    /// With a `rediss://` url: a PEM file of the CA certificate(s) the Redis
    /// server's certificate must chain to, instead of the system's trust
    /// store (relative to the config file).
    pub ca_file: Option<std::path::PathBuf>,
    /// What to do when Redis cannot answer: `open` admits the request,
    /// `closed` answers 503.
    #[serde(default)]
    pub on_error: OnError,
    /// Longest wait for one Redis operation.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Prefix of every Redis key.
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_timeout_ms() -> u64 {
    100
}
fn default_prefix() -> String {
    "switchyard".into()
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            backend: Backend::Memory,
            url: None,
            ca_file: None,
            on_error: OnError::Open,
            timeout_ms: default_timeout_ms(),
            prefix: default_prefix(),
        }
    }
}

/// `[limits] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// In-process counters.
    #[default]
    Memory,
    /// Redis.
    Redis,
}

/// `[limits] on_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Admit requests while the store is unreachable.
    #[default]
    Open,
    /// Refuse them (503).
    Closed,
}

/// Check `[limits]`.
pub fn validate(l: &LimitsConfig) -> anyhow::Result<()> {
    let err = |key: &str, message: &str| -> anyhow::Error {
        crate::config::KeyError {
            key: format!("limits.{key}"),
            message: message.into(),
        }
        .into()
    };
    if l.timeout_ms == 0 || l.timeout_ms > 10_000 {
        return Err(err("timeout_ms", "must be between 1 and 10000"));
    }
    match (&l.backend, &l.url) {
        (Backend::Redis, None) => Err(err(
            "url",
            "the redis backend needs a url like redis://127.0.0.1:6379",
        )),
        (Backend::Redis, Some(u)) => {
            if let Some(f) = &l.ca_file {
                if !u.starts_with("rediss://") {
                    return Err(err(
                        "ca_file",
                        "only used with a TLS url (rediss://host:port)",
                    ));
                }
                match crate::config::read_text_capped(f, crate::config::CA_FILE_MAX) {
                    Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
                    Ok(_) => {
                        return Err(err(
                            "ca_file",
                            &format!("{} holds no PEM certificate", f.display()),
                        ));
                    }
                    Err(e) => {
                        return Err(err("ca_file", &format!("reading {}: {e}", f.display())));
                    }
                }
            }
            match redis_client(l) {
                Ok(_) => Ok(()),
                Err(e) => Err(err("url", &format!("not a usable Redis URL: {e}"))),
            }
        }
        (Backend::Memory, Some(_)) => Err(err("url", "only used with backend = \"redis\"")),
        (Backend::Memory, None) => Ok(()),
    }
}

/// The Redis client of `[limits]`: plain or TLS (`rediss://`), trusting
/// `ca_file` when given, else the system's trust store.
pub fn redis_client(l: &LimitsConfig) -> Result<::redis::Client, String> {
    let Some(url) = l.url.as_deref() else {
        return Err("no url".into());
    };
    match &l.ca_file {
        None => ::redis::Client::open(url).map_err(|e| e.to_string()),
        Some(f) => {
            let pem = crate::config::read_capped(f, crate::config::CA_FILE_MAX)
                .map_err(|e| format!("reading {}: {e}", f.display()))?;
            let certs = ::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            ::redis::Client::build_with_tls(url, certs).map_err(|e| e.to_string())
        }
    }
}

/// Nano-USD per USD: spend is counted in integers, so sums are exact and
/// Redis can add them atomically with INCRBY.
const NANOS: f64 = 1e9;

/// The limits of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KeyLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    pub parallel: Option<u64>,
    /// Nano-USD per UTC day.
    pub daily: Option<u64>,
    /// Nano-USD per UTC month.
    pub monthly: Option<u64>,
}

fn usd_to_nanos(usd: f64) -> u64 {
    // `as` saturates; validation keeps the value finite and non-negative.
    (usd * NANOS).round() as u64
}

impl KeyLimits {
    /// The limits a key's config sets.
    pub fn of(k: &KeyConfig) -> KeyLimits {
        KeyLimits {
            rpm: k.requests_per_minute,
            tpm: k.tokens_per_minute,
            parallel: k.max_parallel_requests,
            daily: k.daily_budget_usd.map(usd_to_nanos),
            monthly: k.monthly_budget_usd.map(usd_to_nanos),
        }
    }

    /// Whether the key has any limit at all (if not, nothing is counted).
    pub fn any(&self) -> bool {
        self.rpm.is_some()
            || self.tpm.is_some()
            || self.parallel.is_some()
            || self.daily.is_some()
            || self.monthly.is_some()
    }
}

/// The windows a moment falls in, and the seconds left in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Minutes since the epoch.
    pub minute: u64,
    /// Days since the epoch (UTC).
    pub day: u64,
    /// Months since year 0 (UTC): `year * 12 + month - 1`.
    pub month: u64,
    /// Milliseconds into the minute (0 to 59,999).
    pub minute_ms: u64,
    /// Seconds to the end of the minute (at least 1).
    pub minute_left: u64,
    /// Seconds to the end of the UTC day.
    pub day_left: u64,
    /// Seconds to the end of the UTC month.
    pub month_left: u64,
}

/// Year, month (1-12) and day of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (`days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Windows {
    /// The windows of `secs` seconds since the epoch.
    pub fn at(secs: u64) -> Windows {
        Windows::at_ms(secs.saturating_mul(1000))
    }

    /// The windows of `ms` milliseconds since the epoch.
    pub fn at_ms(ms: u64) -> Windows {
        let secs = ms / 1000;
        let day = secs / 86_400;
        let (y, m, _) = civil_from_days(day as i64);
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let next_month = days_from_civil(ny, nm, 1).max(0) as u64 * 86_400;
        Windows {
            minute: secs / 60,
            minute_ms: ms % 60_000,
            day,
            month: (y.max(0) as u64) * 12 + u64::from(m) - 1,
            minute_left: 60 - secs % 60,
            day_left: 86_400 - secs % 86_400,
            month_left: next_month.saturating_sub(secs).max(1),
        }
    }

    /// The windows now.
    pub fn now() -> Windows {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Windows::at_ms(ms)
    }
}

/// A per-minute count over the sliding minute: the current clock minute's
/// count plus the previous minute's, weighted by the share of the previous
/// minute still inside the last 60 seconds.
pub fn sliding(prev: u64, curr: u64, minute_ms: u64) -> u64 {
    let weight = 60_000 - minute_ms.min(60_000);
    let carried = u128::from(prev) * u128::from(weight) / 60_000;
    curr.saturating_add(u64::try_from(carried).unwrap_or(u64::MAX))
}

/// Seconds (at least 1) until [`sliding`] falls below `limit`, if nothing
/// more is counted meanwhile.
pub fn sliding_retry(prev: u64, curr: u64, limit: u64, minute_ms: u64) -> u64 {
    let minute_ms = minute_ms.min(59_999);
    let ms = if curr >= limit {
        // Not before the next minute, where this minute's count is the
        // previous one, fading: curr × (60000 - t) / 60000 < limit.
        let t = 60_000 - u128::from(limit) * 60_000 / u128::from(curr.max(1));
        (60_000 - minute_ms) + u64::try_from(t).unwrap_or(60_000) + 1
    } else {
        // Within this minute, as the previous minute's share fades:
        // prev × (60000 - t) / 60000 + curr < limit.
        let room = u128::from(limit - curr) * 60_000 / u128::from(prev.max(1));
        let t = 60_000u128.saturating_sub(room);
        u64::try_from(t).unwrap_or(60_000).saturating_sub(minute_ms) + 1
    };
    ms.div_ceil(1000).max(1)
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The month's spend reached the monthly budget.
    Monthly,
    /// The day's spend reached the daily budget.
    Daily,
    /// The minute's tokens reached the limit.
    Tokens,
    /// The minute's requests reached the limit.
    Requests,
    /// The key's requests in flight reached the limit.
    Parallel,
}

fn usd(nanos: u64) -> String {
    format!("${:.4}", nanos as f64 / NANOS)
}

fn duration_text(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// A refused request: why, the figure at fault (over the sliding minute for
/// the per-minute limits) and, for those, the seconds until one would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The limit reached.
    pub why: Refusal,
    /// The figure at fault.
    pub used: u64,
    /// Seconds until a request would pass the per-minute limit at fault.
    pub retry: u64,
}

impl Refused {
    /// The client's error.
    pub fn error(self, key: &ClientKey, w: &Windows) -> ApiError {
        self.why.error(key, w, self.used, self.retry)
    }
}

impl Refusal {
    /// The client's error, in terms of the key's name and limits; `retry` is
    /// the wait a per-minute refusal names.
    pub fn error(self, key: &ClientKey, w: &Windows, spent: u64, retry: u64) -> ApiError {
        let l = &key.limits;
        let name = &key.name;
        let (status, kind, code, message, retry) = match self {
            Refusal::Requests => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "The key `{name}` is over its limit of {} requests per minute; retry in {retry} s.",
                    l.rpm.unwrap_or(0),
                ),
                retry,
            ),
            Refusal::Tokens => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "The key `{name}` is over its limit of {} tokens per minute ({spent} used in the last minute); retry in {retry} s.",
                    l.tpm.unwrap_or(0),
                ),
                retry,
            ),
            Refusal::Daily => (
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_quota",
                "budget_exceeded",
                format!(
                    "The key `{name}` has used its daily budget ({} of {} per UTC day); it renews in {}.",
                    usd(spent),
                    usd(l.daily.unwrap_or(0)),
                    duration_text(w.day_left)
                ),
                w.day_left,
            ),
            Refusal::Monthly => (
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_quota",
                "budget_exceeded",
                format!(
                    "The key `{name}` has used its monthly budget ({} of {} per UTC month); it renews in {}.",
                    usd(spent),
                    usd(l.monthly.unwrap_or(0)),
                    duration_text(w.month_left)
                ),
                w.month_left,
            ),
            Refusal::Parallel => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "The key `{name}` already has {spent} requests in flight, its limit of {}; retry when one finishes.",
                    l.parallel.unwrap_or(0),
                ),
                1,
            ),
        };
        let mut e = ApiError::new(status, kind, message).code(code);
        e.retry_after = Some(retry.max(1));
        e
    }
}

/// The counters of one key in its current windows (and the previous
/// minute's, for the sliding minute).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    minute: u64,
    requests: u64,
    tokens: u64,
    prev_requests: u64,
    prev_tokens: u64,
    /// Requests admitted and not yet finished (not a window: never rolled).
    in_flight: u64,
    day: u64,
    day_spend: u64,
    month: u64,
    month_spend: u64,
}

impl Counters {
    /// Start new windows where `w` moved on.
    fn roll(&mut self, w: &Windows) {
        if self.minute != w.minute {
            let next = self.minute.checked_add(1) == Some(w.minute);
            self.prev_requests = if next { self.requests } else { 0 };
            self.prev_tokens = if next { self.tokens } else { 0 };
            self.minute = w.minute;
            self.requests = 0;
            self.tokens = 0;
        }
        if self.day != w.day {
            self.day = w.day;
            self.day_spend = 0;
        }
        if self.month != w.month {
            self.month = w.month;
            self.month_spend = 0;
        }
    }

    /// What [`check`] weighs.
    fn usage(&self) -> Usage {
        Usage {
            month: self.month_spend,
            day: self.day_spend,
            tokens: (self.prev_tokens, self.tokens),
            requests: (self.prev_requests, self.requests),
            in_flight: self.in_flight,
        }
    }

    /// Admit a request (counting it, and holding one of the key's parallel
    /// slots when it has a limit) or say why not.
    ///
    /// `reserve` tokens (the prompt's estimate) are counted at once, so
    /// requests admitted together see each other's prompts; the answer's
    /// [`Counters::record`] replaces the estimate with the actual figure.
    pub fn admit(&mut self, l: &KeyLimits, w: &Windows, reserve: u64) -> Result<(), Refused> {
        self.roll(w);
        check(l, w, &self.usage())?;
        self.requests += 1;
        self.tokens = self.tokens.saturating_add(reserve);
        if l.parallel.is_some() {
            self.in_flight += 1;
        }
        Ok(())
    }

    /// A request admitted with a parallel slot finished.
    pub fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Count a finished request's tokens and spend, taking back what its
    /// admission reserved (from the minute it was reserved in, while that
    /// minute still counts).
    pub fn record(&mut self, w: &Windows, tokens: u64, nanos: u64, r: Reservation) {
        self.roll(w);
        if r.minute == self.minute {
            self.tokens = self.tokens.saturating_sub(r.tokens);
        } else if r.minute.checked_add(1) == Some(self.minute) {
            self.prev_tokens = self.prev_tokens.saturating_sub(r.tokens);
        }
        self.tokens = self.tokens.saturating_add(tokens);
        self.day_spend = self.day_spend.saturating_add(nanos);
        self.month_spend = self.month_spend.saturating_add(nanos);
    }
}

/// What a key has used: the month's and the day's spend, and the previous
/// and current clock minute's tokens and requests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The month's spend (nano-USD).
    pub month: u64,
    /// The day's spend (nano-USD).
    pub day: u64,
    /// Tokens: (previous minute, this minute).
    pub tokens: (u64, u64),
    /// Requests: (previous minute, this minute).
    pub requests: (u64, u64),
    /// Requests in flight.
    pub in_flight: u64,
}

/// The admission rule shared by both stores.
pub fn check(l: &KeyLimits, w: &Windows, u: &Usage) -> Result<(), Refused> {
    for (limit, used, why) in [
        (l.monthly, u.month, Refusal::Monthly),
        (l.daily, u.day, Refusal::Daily),
        (l.parallel, u.in_flight, Refusal::Parallel),
    ] {
        if let Some(limit) = limit
            && used >= limit
        {
            return Err(Refused {
                why,
                used,
                retry: 0,
            });
        }
    }
    for (limit, (prev, curr), why) in [
        (l.tpm, u.tokens, Refusal::Tokens),
        (l.rpm, u.requests, Refusal::Requests),
    ] {
        if let Some(limit) = limit {
            let used = sliding(prev, curr, w.minute_ms);
            if used >= limit {
                return Err(Refused {
                    why,
                    used,
                    retry: sliding_retry(prev, curr, limit, w.minute_ms),
                });
            }
        }
    }
    Ok(())
}

/// In-process counters by key name. Survives config reloads.
#[derive(Default)]
pub struct MemoryStore {
    keys: RwLock<HashMap<String, Arc<Mutex<Counters>>>>,
}

impl MemoryStore {
    fn counters(&self, name: &str) -> Arc<Mutex<Counters>> {
        if let Ok(m) = self.keys.read()
            && let Some(c) = m.get(name)
        {
            return c.clone();
        }
        match self.keys.write() {
            Ok(mut m) => m.entry(name.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    fn admit(&self, key: &ClientKey, w: &Windows, reserve: u64) -> Result<Slot, Refused> {
        let c = self.counters(&key.name);
        let Ok(mut counters) = c.lock() else {
            return Ok(Slot::none());
        };
        counters.admit(&key.limits, w, reserve)?;
        drop(counters);
        let inner = if key.limits.parallel.is_some() {
            SlotInner::Memory(c)
        } else {
            SlotInner::None
        };
        Ok(Slot {
            inner,
            reservation: Reservation {
                minute: w.minute,
                tokens: reserve,
            },
        })
    }

    fn usage(&self, key: &ClientKey, w: &Windows) -> Usage {
        let c = self.counters(&key.name);
        let Ok(c) = c.lock() else {
            return Usage::default();
        };
        let mut c = *c;
        c.roll(w);
        c.usage()
    }

    fn record(&self, key: &ClientKey, w: &Windows, tokens: u64, nanos: u64, r: Reservation) {
        let c = self.counters(&key.name);
        if let Ok(mut c) = c.lock() {
            c.record(w, tokens, nanos, r);
        }
    }
}

/// One of a key's parallel slots, held by a request until it finishes
/// (a stream: until it ends or the client leaves); dropping it frees the
/// slot. Keys without a parallel limit get an empty one.
pub struct Slot {
    inner: SlotInner,
    reservation: Reservation,
}

/// Tokens an admission counted against the key's tokens per minute ahead of
/// the answer, and the minute it counted them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reservation {
    /// Minutes since the epoch.
    pub minute: u64,
    /// Tokens reserved (0: none).
    pub tokens: u64,
}

enum SlotInner {
    None,
    Memory(Arc<Mutex<Counters>>),
    Redis(redis::RedisSlot),
}

impl Slot {
    /// A slot that holds nothing.
    pub fn none() -> Slot {
        Slot {
            inner: SlotInner::None,
            reservation: Reservation::default(),
        }
    }

    /// What the admission reserved (to hand to [`Spend::reserved`]).
    pub fn reservation(&self) -> Reservation {
        self.reservation
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.inner, SlotInner::None) {
            SlotInner::None => {}
            SlotInner::Memory(c) => {
                if let Ok(mut c) = c.lock() {
                    c.release();
                }
            }
            SlotInner::Redis(r) => r.release(),
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
    /// USD per million prompt tokens.
    pub input_price: f64,
    /// USD per million completion tokens.
    pub output_price: f64,
    /// What the request's admission reserved ([`Slot::reservation`]).
    pub reserved: Reservation,
}

impl Spend {
    /// Tokens and nano-USD.
    fn amounts(&self) -> (u64, u64) {
        let tokens = self.prompt_tokens.saturating_add(self.completion_tokens);
        // price per million tokens × tokens ÷ 1e6 × 1e9 nano-USD.
        let nanos = (self.prompt_tokens as f64 * self.input_price
            + self.completion_tokens as f64 * self.output_price)
            * 1e3;
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
    /// The store of a generation's key table (chosen once per generation).
    pub fn store(&self, table: &KeyTable) -> Store {
        table
            .store
            .get_or_init(|| match table.limits.backend {
                Backend::Memory => Store::Memory(self.memory.clone()),
                Backend::Redis => {
                    let Ok(mut slot) = self.redis.lock() else {
                        return Store::Redis(Arc::new(RedisStore::broken(&table.limits)));
                    };
                    if let Some((cfg, store)) = &*slot
                        && *cfg == table.limits
                    {
                        return Store::Redis(store.clone());
                    }
                    let store = Arc::new(RedisStore::new(&table.limits));
                    *slot = Some((table.limits.clone(), store.clone()));
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
        table: &KeyTable,
        key: &ClientKey,
        reserve: u64,
    ) -> Result<Slot, ApiError> {
        if !key.limits.any() {
            return Ok(Slot::none());
        }
        let w = Windows::now();
        let admitted = match self.store(table) {
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
    pub async fn usage(&self, table: &KeyTable) -> Result<serde_json::Value, ApiError> {
        let w = Windows::now();
        let store = self.store(table);
        let mut keys = Vec::with_capacity(table.keys().len());
        for key in table.keys() {
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
    pub fn record(&self, table: &KeyTable, key: &Arc<ClientKey>, spend: Spend) {
        if !key.limits.any() {
            return;
        }
        let (tokens, nanos) = spend.amounts();
        let r = spend.reserved;
        if tokens == 0 && nanos == 0 && r.tokens == 0 {
            return;
        }
        let w = Windows::now();
        match self.store(table) {
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
mod tests {
    use super::*;

    #[test]
    fn calendar_windows() {
        // 2026-11-28T09:30:15Z
        let t = days_from_civil(2026, 11, 28) as u64 * 86_400 + 9 * 3600 + 30 * 60 + 15;
        let w = Windows::at(t);
        assert_eq!(civil_from_days(w.day as i64), (2026, 11, 28));
        assert_eq!(w.month, 2026 * 12 + 10);
        assert_eq!(w.minute_left, 45);
        assert_eq!(w.day_left, 86_400 - (9 * 3600 + 30 * 60 + 15));
        // 2 days 14.5 h and 45 s to 2026-12-01.
        assert_eq!(w.month_left, 2 * 86_400 + w.day_left);
        // December rolls into January of the next year.
        let dec = days_from_civil(2026, 12, 31) as u64 * 86_400 + 86_399;
        let w = Windows::at(dec);
        assert_eq!((w.month_left, w.day_left, w.minute_left), (1, 1, 1));
        assert_eq!(Windows::at(dec + 1).month, 2027 * 12);
        // Leap day.
        assert_eq!(civil_from_days(days_from_civil(2028, 2, 29)), (2028, 2, 29));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    fn why(r: Result<(), Refused>) -> Option<(Refusal, u64)> {
        r.err().map(|r| (r.why, r.used))
    }

    #[test]
    fn windows_count_and_roll() {
        let l = KeyLimits {
            rpm: Some(2),
            tpm: Some(100),
            daily: Some(usd_to_nanos(1.0)),
            monthly: Some(usd_to_nanos(10.0)),
            ..Default::default()
        };
        let mut c = Counters::default();
        let w = Windows::at(6_000_000);
        assert!(c.admit(&l, &w, 0).is_ok());
        assert!(c.admit(&l, &w, 0).is_ok());
        assert_eq!(why(c.admit(&l, &w, 0)), Some((Refusal::Requests, 2)));
        // Two minutes on, nothing of that minute is left in the sliding one.
        let w2 = Windows::at(6_000_120);
        assert!(c.admit(&l, &w2, 0).is_ok());
        // Tokens over the limit refuse the next request of the minute.
        c.record(&w2, 150, 0, Reservation::default());
        assert_eq!(why(c.admit(&l, &w2, 0)), Some((Refusal::Tokens, 150)));
        // Spend: the day's budget, then a new day.
        c.record(&w2, 0, usd_to_nanos(1.0), Reservation::default());
        let w3 = Windows::at(6_000_240);
        assert_eq!(
            why(c.admit(&l, &w3, 0)),
            Some((Refusal::Daily, usd_to_nanos(1.0)))
        );
        let tomorrow = Windows::at(6_000_240 + 86_400);
        assert!(c.admit(&l, &tomorrow, 0).is_ok());
        // The month keeps counting across days.
        c.record(&tomorrow, 0, usd_to_nanos(9.5), Reservation::default());
        let later = Windows::at(6_000_240 + 2 * 86_400);
        assert!(matches!(
            why(c.admit(&l, &later, 0)),
            Some((Refusal::Monthly, _))
        ));
    }

    #[test]
    fn prompts_are_reserved_at_admission_and_corrected_after() {
        let l = KeyLimits {
            tpm: Some(100),
            ..Default::default()
        };
        let w = Windows::at(6_000_000);
        let mut c = Counters::default();
        // Two requests admitted together see each other's prompts: the third
        // is refused before either answer is counted.
        assert!(c.admit(&l, &w, 60).is_ok());
        assert!(c.admit(&l, &w, 60).is_ok());
        assert_eq!(why(c.admit(&l, &w, 60)), Some((Refusal::Tokens, 120)));
        // The answers used fewer tokens than reserved (10 and 20 of 60 each):
        // the corrections give them back.
        let r = Reservation {
            minute: w.minute,
            tokens: 60,
        };
        c.record(&w, 10, 0, r);
        c.record(&w, 20, 0, r);
        assert_eq!(c.usage().tokens, (0, 30));
        assert!(c.admit(&l, &w, 60).is_ok());
        // An answer in the next minute takes its reservation back from the
        // minute it was made in (now the previous one) and counts its own
        // tokens in the new one.
        let next = Windows::at(6_000_060);
        c.record(&next, 25, 0, r);
        assert_eq!(c.usage().tokens, (30, 25));
        // A reservation from longer ago is gone with its minute.
        let later = Windows::at(6_000_600);
        c.record(&later, 5, 0, r);
        assert_eq!(c.usage().tokens, (0, 5));
        // Keys without a token limit reserve nothing.
        let free = ClientKey::test("free", KeyLimits::default());
        assert_eq!(Limiter::reservation(&free, 500), 0);
        let limited = ClientKey::test("t", l);
        assert_eq!(Limiter::reservation(&limited, 500), 500);
    }

    #[test]
    fn parallel_slots_are_held_until_dropped() {
        let store = MemoryStore::default();
        let key = ClientKey::test(
            "k",
            KeyLimits {
                parallel: Some(2),
                ..Default::default()
            },
        );
        let w = Windows::at(6_000_000);
        let a = store.admit(&key, &w, 0).unwrap();
        let b = store.admit(&key, &w, 0).unwrap();
        let refused = store.admit(&key, &w, 0).err().unwrap();
        assert_eq!((refused.why, refused.used), (Refusal::Parallel, 2));
        let e = refused.error(&key, &w);
        assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(1)));
        assert!(e.message.contains("2 requests in flight"), "{}", e.message);
        assert_eq!(store.usage(&key, &w).in_flight, 2);
        // A finished request frees its slot; minutes passing do not.
        drop(a);
        let later = Windows::at(6_000_600);
        let c = store.admit(&key, &later, 0).unwrap();
        assert!(store.admit(&key, &later, 0).is_err());
        drop((b, c));
        assert_eq!(store.usage(&key, &later).in_flight, 0);
        // A key without the limit holds nothing.
        let free = ClientKey::test(
            "free",
            KeyLimits {
                rpm: Some(100),
                ..Default::default()
            },
        );
        let _slots: Vec<Slot> = (0..10)
            .map(|_| store.admit(&free, &w, 0).unwrap())
            .collect();
        assert_eq!(store.usage(&free, &w).in_flight, 0);
    }

    #[test]
    fn the_minute_slides_across_its_boundary() {
        let l = KeyLimits {
            rpm: Some(10),
            ..Default::default()
        };
        let mut c = Counters::default();
        // Ten requests in the last second of a minute (6,000,000 s is a
        // minute boundary)…
        let end = Windows::at_ms(5_999_999_500);
        for _ in 0..10 {
            assert!(c.admit(&l, &end, 0).is_ok());
        }
        let refused = c.admit(&l, &end, 0).unwrap_err();
        assert_eq!((refused.why, refused.used), (Refusal::Requests, 10));
        // …and the first half-second of the next one: a fixed window would
        // admit ten more; the sliding minute still holds 9 of them (10 ×
        // 59.5/60), so one passes and the next is refused.
        let start = Windows::at_ms(6_000_000_500);
        assert!(c.admit(&l, &start, 0).is_ok());
        let r = c.admit(&l, &start, 0).unwrap_err();
        assert_eq!((r.why, r.used), (Refusal::Requests, 10));
        // It says when one will pass: 10 × (60 - t)/60 + 1 < 10 → t > 6 s.
        assert_eq!(r.retry, 6);
        // Half-way into the minute, 5 of the previous ten and 1 are left.
        let half = Windows::at_ms(6_000_030_000);
        let admitted = (0..10).filter(|_| c.admit(&l, &half, 0).is_ok()).count();
        assert_eq!(admitted, 4);
        // A minute with no traffic in between forgets it all.
        let mut c = Counters::default();
        for _ in 0..10 {
            assert!(c.admit(&l, &end, 0).is_ok());
        }
        let later = Windows::at_ms(6_000_060_500);
        assert!(c.admit(&l, &later, 0).is_ok());
    }

    #[test]
    fn sliding_figures_and_waits() {
        assert_eq!(sliding(0, 7, 0), 7);
        assert_eq!(sliding(60, 0, 0), 60);
        assert_eq!(sliding(60, 5, 30_000), 35);
        assert_eq!(sliding(60, 5, 59_999), 5);
        assert_eq!(sliding(u64::MAX, u64::MAX, 0), u64::MAX);
        // This minute alone is at the limit: wait for its end, then until
        // its fading share is below the limit (right away when equal).
        assert_eq!(sliding_retry(0, 10, 10, 45_000), 16);
        // Twice the limit this minute: the end of it, then half of the next.
        assert_eq!(sliding_retry(0, 20, 10, 45_000), 46);
        // The previous minute's share: 20 × (60 - t)/60 + 0 < 10 → t > 30 s.
        assert_eq!(sliding_retry(20, 0, 10, 10_000), 21);
        // Never less than a second.
        assert_eq!(sliding_retry(20, 0, 10, 59_999), 1);
        // A wait computed this way is enough: just after it, one passes.
        for (prev, curr, limit, ms) in [(37, 3, 12, 5_123), (0, 12, 12, 59_000), (100, 50, 60, 0)] {
            let wait = sliding_retry(prev, curr, limit, ms);
            let then = ms + wait * 1000;
            let (p, c) = if then >= 60_000 {
                (curr, 0)
            } else {
                (prev, curr)
            };
            assert!(
                sliding(p, c, then % 60_000) < limit,
                "{prev} {curr} {limit} {ms}: wait {wait}"
            );
        }
    }

    #[test]
    fn redis_settings_are_checked() {
        let cfg = |url: &str, ca: Option<&str>| LimitsConfig {
            backend: Backend::Redis,
            url: Some(url.into()),
            ca_file: ca.map(Into::into),
            ..LimitsConfig::default()
        };
        let key_of = |c: &LimitsConfig| {
            validate(c)
                .err()
                .and_then(|e| e.downcast::<crate::config::KeyError>().ok())
                .map(|e| e.key)
        };
        assert_eq!(key_of(&cfg("redis://127.0.0.1:6379", None)), None);
        assert_eq!(key_of(&cfg("rediss://127.0.0.1:6379", None)), None);
        assert_eq!(
            key_of(&cfg("redis://127.0.0.1:6379", Some("/etc/hostname"))),
            Some("limits.ca_file".into())
        );
        assert_eq!(
            key_of(&cfg("rediss://127.0.0.1:6379", Some("/no/such/ca.pem"))),
            Some("limits.ca_file".into())
        );
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        assert_eq!(
            key_of(&cfg("rediss://127.0.0.1:6379", not_pem.to_str())),
            Some("limits.ca_file".into())
        );
        assert_eq!(
            key_of(&cfg("http://127.0.0.1:6379", None)),
            Some("limits.url".into())
        );
    }

    #[test]
    fn spend_in_nanos() {
        let s = Spend {
            prompt_tokens: 1000,
            completion_tokens: 500,
            input_price: 0.15,
            output_price: 0.6,
            reserved: Reservation::default(),
        };
        // 1000 × 0.15/1e6 + 500 × 0.6/1e6 = 0.00045 USD.
        assert_eq!(s.amounts(), (1500, 450_000));
        assert_eq!(Spend::default().amounts(), (0, 0));
    }

    #[test]
    fn refusal_messages_name_key_and_budget() {
        let key = ClientKey::test(
            "team-a",
            KeyLimits {
                rpm: Some(3),
                daily: Some(usd_to_nanos(5.0)),
                ..Default::default()
            },
        );
        let w = Windows::at(6_000_000);
        let e = Refusal::Requests.error(&key, &w, 3, 17);
        assert_eq!((e.status.as_u16(), e.retry_after), (429, Some(17)));
        assert!(e.message.contains("retry in 17 s"), "{}", e.message);
        assert!(e.message.contains("`team-a`") && e.message.contains("3 requests per minute"));
        let e = Refusal::Daily.error(&key, &w, usd_to_nanos(5.5), 0);
        assert_eq!(e.status.as_u16(), 402);
        assert_eq!(e.code.as_deref(), Some("budget_exceeded"));
        assert!(
            e.message.contains("daily budget") && e.message.contains("$5.0000"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn flush_waits_for_usage_writes_on_their_way() {
        // A "Redis" that accepts connections and never answers: each write
        // waits out its timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                held.push(s);
            }
        });
        let cfg = crate::config::Config::parse(&format!(
            r#"
            [keys.k]
            key_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            requests_per_minute = 10
            [limits]
            backend = "redis"
            url = "redis://{addr}"
            timeout_ms = 300
            "#
        ))
        .unwrap();
        let table = KeyTable::from_config(&cfg.keys, &cfg.server, &cfg.limits).unwrap();
        let key = table.keys()[0].clone();
        let limiter = Limiter::default();
        let spend = Spend {
            prompt_tokens: 10,
            completion_tokens: 5,
            input_price: 1.0,
            output_price: 1.0,
            reserved: Reservation::default(),
        };
        limiter.record(&table, &key, spend);
        limiter.record(&table, &key, spend);
        assert_eq!(limiter.pending_writes(), 2);
        let started = std::time::Instant::now();
        assert!(limiter.flush(std::time::Duration::from_secs(5)).await);
        assert_eq!(limiter.pending_writes(), 0);
        // It waited for them (each gave up after its 300 ms timeout).
        assert!(started.elapsed() >= std::time::Duration::from_millis(200));
        // And a flush that cannot wait long enough says so (a new limiter
        // and table: this store now skips Redis for a second after the
        // failures).
        let limiter = Limiter::default();
        let table = KeyTable::from_config(&cfg.keys, &cfg.server, &cfg.limits).unwrap();
        limiter.record(&table, &key, spend);
        assert!(!limiter.flush(std::time::Duration::from_millis(10)).await);
    }

    /// A figure, not a check: `cargo test --release -p switchyard
    /// memory_admission -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn memory_admission_cost() {
        let store = MemoryStore::default();
        let key = ClientKey::test(
            "k",
            KeyLimits {
                rpm: Some(u64::MAX),
                ..Default::default()
            },
        );
        let n = 100_000u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            let w = Windows::now();
            assert!(store.admit(&key, &w, 0).is_ok());
        }
        let per = start.elapsed() / n;
        println!("memory admission (clock read + lookup + count): {per:?} per request");
    }
}
