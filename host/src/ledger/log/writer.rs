//! The writer: records queue in a bounded channel (a full one drops and
//! counts, never waits), a task writes them in batches, one transaction
//! each, and another purges rows past the retention.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::{Store, postgres, sqlite, truncate};
use crate::config::log::{Backend, LogConfig};
use crate::record::Record;

/// Longest wait for one batch's transaction.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A summary of drops is logged at most this often.
/// After a batch smaller than `[log] batch`, the writer waits this long
/// before taking the next: records gather in the queue without waking it,
/// so a busy gateway writes a few large transactions a second instead of
/// one per request, and a request's record costs it one queue push.
const LINGER: Duration = Duration::from_millis(50);

const WARN_EVERY: Duration = Duration::from_secs(10);
/// Retries of a failing store wait from this long ...
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// ... doubling up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often rows past the retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The request log's writer: cheap to clone.
#[derive(Clone)]
pub struct RequestLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog")
            .field("store", &self.inner.store)
            .field("written", &self.written())
            .field("dropped", &self.dropped())
            .finish()
    }
}

struct Inner {
    store: Store,
    tx: mpsc::Sender<Record>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    /// Accepted and neither written nor dropped yet.
    pending: AtomicU64,
    /// Wakes [`RequestLog::flush`] when `pending` goes down.
    settled: Notify,
    /// The last write error, for the drop summary.
    last_error: Mutex<Option<String>>,
}

impl RequestLog {
    /// Open the log of `cfg` and start its writer; `None` when the log is
    /// off. A SQLite file that cannot be opened or migrated is an error; a
    /// PostgreSQL server is connected to in the background (records are
    /// dropped and counted until it answers), so a replica serves without
    /// its database — [`RequestLog::check`] tells whether it answers.
    pub async fn start(cfg: &LogConfig) -> anyhow::Result<Option<RequestLog>> {
        let store = match cfg.backend {
            Backend::Off => return Ok(None),
            Backend::Sqlite => {
                Store::Sqlite(sqlite::SqliteStore::open(cfg.sqlite_path()?, true).await?)
            }
            Backend::Postgres => {
                let pg = postgres::PgStore::new(cfg)?;
                let first = pg.clone();
                tokio::spawn(async move {
                    if let Err(e) = first.connect_writer().await {
                        tracing::error!(
                            "request log: {e:#}; requests are not logged until it is fixed (retrying)"
                        );
                    }
                });
                Store::Postgres(pg)
            }
        };
        Ok(Some(RequestLog::with_store(store, cfg)))
    }

    /// Whether the log of `cfg` can be opened, migrated and written: the
    /// error (unreachable server, wrong password, a newer schema) if not.
    pub async fn check(cfg: &LogConfig) -> anyhow::Result<()> {
        match cfg.backend {
            Backend::Off => Ok(()),
            _ => Store::open(cfg).await.map(|_| ()),
        }
    }

    /// A writer on an open store.
    pub(super) fn with_store(store: Store, cfg: &LogConfig) -> RequestLog {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let counters = Arc::new(Counters::default());
        let inner = Arc::new(Inner {
            store: store.clone(),
            tx,
            counters: counters.clone(),
        });
        let w = Writer {
            store,
            rx,
            counters,
            batch: cfg.batch.max(1),
            bodies: cfg.bodies.then_some(cfg.body_max_bytes),
        };
        tokio::spawn(w.run());
        if cfg.retention_days > 0 {
            let keep = Duration::from_secs(u64::from(cfg.retention_days) * 86_400);
            tokio::spawn(purge_loop(Arc::downgrade(&inner), keep));
        }
        RequestLog { inner }
    }

    /// Queue a finished request's record; never waits. A full queue drops
    /// it (counted in [`RequestLog::dropped`]).
    pub fn submit(&self, r: Record) {
        let c = &self.inner.counters;
        c.pending.fetch_add(1, Ordering::SeqCst);
        if self.inner.tx.try_send(r).is_err() {
            c.pending.fetch_sub(1, Ordering::SeqCst);
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records dropped: the queue was full, or their batch failed.
    pub fn dropped(&self) -> u64 {
        self.inner.counters.dropped.load(Ordering::Relaxed)
    }

    /// Records written (an id already present counts as written).
    pub fn written(&self) -> u64 {
        self.inner.counters.written.load(Ordering::Relaxed)
    }

    /// Records waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        let tx = &self.inner.tx;
        tx.max_capacity() - tx.capacity()
    }

    /// Wait until every record submitted so far is written or dropped, or
    /// `timeout` passed; whether everything was settled.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let c = &self.inner.counters;
        let wait = async {
            loop {
                let settled = c.settled.notified();
                if c.pending.load(Ordering::SeqCst) == 0 {
                    return;
                }
                settled.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

struct Writer {
    store: Store,
    rx: mpsc::Receiver<Record>,
    counters: Arc<Counters>,
    batch: usize,
    /// `Some(max bytes)` when bodies are kept.
    bodies: Option<usize>,
}

impl Writer {
    async fn run(mut self) {
        let mut backoff = Duration::ZERO;
        let mut tick = tokio::time::interval(WARN_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = 0;
        let mut since = Instant::now();
        let mut batch = Vec::with_capacity(self.batch);
        loop {
            tokio::select! {
                n = self.rx.recv_many(&mut batch, self.batch) => {
                    if n == 0 {
                        break;
                    }
                }
                _ = tick.tick() => {
                    self.report(&mut reported, &mut since);
                    continue;
                }
            }
            for r in &mut batch {
                self.prepare(r);
            }
            let n = batch.len() as u64;
            let result = match tokio::time::timeout(WRITE_TIMEOUT, self.store.write(&batch)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!(
                    "the database did not answer within {WRITE_TIMEOUT:?}"
                )),
            };
            batch.clear();
            let c = &self.counters;
            match result {
                Ok(()) => {
                    c.written.fetch_add(n, Ordering::Relaxed);
                    backoff = Duration::ZERO;
                }
                Err(e) => {
                    c.dropped.fetch_add(n, Ordering::Relaxed);
                    let msg = format!("{e:#}");
                    if backoff.is_zero() {
                        // The first failure of a run is told at once.
                        tracing::error!("request log: writing to {}: {msg}", self.store.describe());
                    }
                    if let Ok(mut last) = c.last_error.lock() {
                        *last = Some(msg);
                    }
                    backoff = (backoff * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                }
            }
            c.pending.fetch_sub(n, Ordering::SeqCst);
            c.settled.notify_waiters();
            if !backoff.is_zero() {
                tokio::time::sleep(backoff).await;
            } else if n < self.batch as u64 {
                tokio::time::sleep(LINGER).await;
            }
        }
        self.report(&mut reported, &mut since);
    }

    /// Cut (or, with bodies off, drop) the texts.
    fn prepare(&self, r: &mut Record) {
        match self.bodies {
            None => {
                r.prompt = None;
                r.answer = None;
            }
            Some(max) => {
                for s in [&mut r.prompt, &mut r.answer].into_iter().flatten() {
                    truncate(s, max);
                }
            }
        }
    }

    /// A warning when records were dropped since the last one.
    fn report(&self, reported: &mut u64, since: &mut Instant) {
        let dropped = self.counters.dropped.load(Ordering::Relaxed);
        if dropped > *reported {
            let last = self
                .counters
                .last_error
                .lock()
                .ok()
                .and_then(|l| l.clone())
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default();
            tracing::warn!(
                "request log: {} records dropped in the last {:.0} s ({dropped} in all){last}",
                dropped - *reported,
                since.elapsed().as_secs_f64()
            );
            *reported = dropped;
        }
        *since = Instant::now();
    }
}

/// Delete rows older than `keep`, now and then hourly, while the log lives.
async fn purge_loop(log: Weak<Inner>, keep: Duration) {
    loop {
        let Some(inner) = log.upgrade() else { return };
        let before = now_ms() - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        match inner.store.purge(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("request log: {n} requests past the retention deleted"),
            Err(e) => tracing::warn!("request log: purging old requests: {e:#}"),
        }
        drop(inner);
        tokio::time::sleep(PURGE_EVERY).await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
