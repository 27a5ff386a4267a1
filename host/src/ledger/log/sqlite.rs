//! The SQLite store: one file in WAL mode, a connection for the writer and
//! one for readers (so a query does not wait for a batch), each used on
//! tokio's blocking pool. The schema version is `PRAGMA user_version`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use super::{
    COLUMNS, Filter, Param, Record, SCHEMA_VERSION, SCORE_COLUMNS, Score, SpendBy, SpendFold,
    SpendItem, SpendRow, error_for_newer, json_columns, parse_json, to_i64, to_u64, where_clause,
};
use crate::record::Outcome;

/// Migrations: `MIGRATIONS[i]` takes the schema from version i to i + 1.
pub(super) const MIGRATIONS: [&str; 4] = [
    "CREATE TABLE requests (
        id TEXT PRIMARY KEY NOT NULL,
        started_at_ms INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        key TEXT,
        dialect TEXT NOT NULL,
        requested TEXT NOT NULL,
        route TEXT,
        policy TEXT,
        model TEXT,
        provider TEXT,
        status INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        error TEXT,
        stream INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        tokens_estimated INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        cost_known INTEGER NOT NULL,
        bytes_in INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL,
        ttft_ms REAL,
        upstream_ms REAL NOT NULL,
        overhead_ms REAL NOT NULL,
        failovers INTEGER NOT NULL,
        labels TEXT NOT NULL,
        plan TEXT NOT NULL,
        attempts TEXT NOT NULL
    );",
    "ALTER TABLE requests ADD COLUMN prompt TEXT;
     ALTER TABLE requests ADD COLUMN answer TEXT;
     ALTER TABLE requests ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX requests_started ON requests (started_at_ms);
     CREATE INDEX requests_key ON requests (key, started_at_ms);
     CREATE INDEX requests_route ON requests (route, started_at_ms);
     CREATE INDEX requests_model ON requests (model, started_at_ms);",
    "CREATE TABLE scores (
        request_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        value REAL NOT NULL,
        label TEXT,
        explanation TEXT,
        model TEXT,
        route TEXT
     );
     CREATE INDEX scores_request ON scores (request_id);
     CREATE INDEX scores_at ON scores (at_ms);
     ALTER TABLE requests ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;",
    "ALTER TABLE requests ADD COLUMN cache TEXT;
     ALTER TABLE requests ADD COLUMN cost_saved_usd REAL NOT NULL DEFAULT 0;",
];

struct Inner {
    path: PathBuf,
    write: Mutex<Connection>,
    read: Mutex<Connection>,
}

/// A SQLite request log.
#[derive(Clone)]
pub struct SqliteStore(Arc<Inner>);

fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves the connection usable: SQLite
    // rolls an unfinished transaction back.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Open the file (`create`: creating it and its directory when
    /// missing) and migrate it.
    pub(super) async fn open(path: PathBuf, create: bool) -> anyhow::Result<SqliteStore> {
        tokio::task::spawn_blocking(move || Self::open_blocking(path, create)).await?
    }

    fn open_blocking(path: PathBuf, create: bool) -> anyhow::Result<SqliteStore> {
        let shown = path.display().to_string();
        if !create && !path.exists() {
            anyhow::bail!("no request log at {shown}");
        }
        if create && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the directory of the request log {shown}"))?;
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let open = || -> anyhow::Result<Connection> {
            let c = Connection::open_with_flags(&path, flags)?;
            c.busy_timeout(std::time::Duration::from_secs(5))?;
            Ok(c)
        };
        let ctx = || format!("opening the request log at {shown}");
        let mut write = open().with_context(ctx)?;
        migrate(&mut write, &shown, create).with_context(ctx)?;
        let read = open().with_context(ctx)?;
        Ok(SqliteStore(Arc::new(Inner {
            path,
            write: Mutex::new(write),
            read: Mutex::new(read),
        })))
    }

    /// The file.
    pub(super) fn path(&self) -> &Path {
        &self.0.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        reader: bool,
        f: impl FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = lock(if reader { &inner.read } else { &inner.write });
            f(&mut c)
        })
        .await?
    }

    pub(super) async fn write(&self, batch: Vec<Record>) -> anyhow::Result<()> {
        self.blocking(false, move |c| {
            let tx = c.transaction()?;
            {
                let placeholders: Vec<String> =
                    (1..=COLUMNS.len()).map(|i| format!("?{i}")).collect();
                let mut st = tx.prepare_cached(&format!(
                    "INSERT INTO requests ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
                    COLUMNS.join(", "),
                    placeholders.join(", ")
                ))?;
                for r in &batch {
                    let [labels, plan, attempts] = json_columns(r)?;
                    st.execute(rusqlite::params![
                        r.id,
                        r.started_at_ms,
                        r.duration_ms,
                        r.key,
                        r.dialect,
                        r.requested,
                        r.route,
                        r.policy,
                        r.model,
                        r.provider,
                        r.status,
                        r.outcome.name(),
                        r.error,
                        r.stream,
                        to_i64(r.prompt_tokens),
                        to_i64(r.completion_tokens),
                        to_i64(r.cached_tokens),
                        r.tokens_estimated,
                        r.cost_usd,
                        r.cost_known,
                        to_i64(r.bytes_in),
                        to_i64(r.bytes_out),
                        r.ttft_ms,
                        r.upstream_ms,
                        r.overhead_ms,
                        r.failovers,
                        labels,
                        plan,
                        attempts,
                        r.prompt,
                        r.answer,
                        r.shadow,
                        r.cache,
                        r.cost_saved_usd,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(super) async fn write_scores(&self, scores: Vec<Score>) -> anyhow::Result<()> {
        self.blocking(false, move |c| {
            let tx = c.transaction()?;
            {
                let mut st = tx.prepare_cached(&format!(
                    "INSERT INTO scores ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    SCORE_COLUMNS.join(", ")
                ))?;
                for s in &scores {
                    st.execute(rusqlite::params![
                        s.request_id,
                        s.at_ms,
                        s.source,
                        s.name,
                        s.value,
                        s.label,
                        s.explanation,
                        s.model,
                        s.route,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(super) async fn scores(&self, request_id: String) -> anyhow::Result<Vec<Score>> {
        self.blocking(true, move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM scores WHERE request_id = ?1 ORDER BY at_ms, name",
                SCORE_COLUMNS.join(", ")
            ))?;
            let rows = st.query_map([request_id], |r| {
                Ok(Score {
                    request_id: r.get(0)?,
                    at_ms: r.get(1)?,
                    source: r.get(2)?,
                    name: r.get(3)?,
                    value: r.get(4)?,
                    label: r.get(5)?,
                    explanation: r.get(6)?,
                    model: r.get(7)?,
                    route: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    pub(super) async fn list(
        &self,
        filters: Vec<Filter>,
        limit: usize,
    ) -> anyhow::Result<Vec<Record>> {
        self.blocking(true, move |c| {
            let sql = format!(
                "SELECT {} FROM requests{} ORDER BY started_at_ms DESC, id DESC LIMIT {}",
                COLUMNS.join(", "),
                where_clause(&filters, |i| format!("?{i}")),
                limit.min(i64::MAX as usize)
            );
            let mut st = c.prepare(&sql)?;
            let mut rows = st.query(params_from_iter(filters.iter().map(|f| match &f.value {
                Param::Int(i) => rusqlite::types::Value::Integer(*i),
                Param::Text(s) => rusqlite::types::Value::Text(s.clone()),
            })))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(record(row)?);
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn spend(&self, by: SpendBy, since_ms: i64) -> anyhow::Result<Vec<SpendRow>> {
        self.blocking(true, move |c| {
            let group = match by {
                SpendBy::Key => "COALESCE(key, '-')",
                SpendBy::Model => "COALESCE(model, '-')",
                SpendBy::Route => "COALESCE(route, '-')",
                SpendBy::Day => "strftime('%Y-%m-%d', started_at_ms / 1000, 'unixepoch')",
            };
            // SQLite has no percentile: every duration of a group is read,
            // in group order, and folded here.
            let mut st = c.prepare(&format!(
                "SELECT {group} AS g, duration_ms, prompt_tokens, completion_tokens, cost_usd,
                        failovers, outcome
                 FROM requests WHERE started_at_ms >= ?1 ORDER BY g"
            ))?;
            let mut rows = st.query([since_ms])?;
            let mut fold = SpendFold::default();
            while let Some(row) = rows.next()? {
                fold.push(SpendItem {
                    group: row.get(0)?,
                    duration_ms: row.get(1)?,
                    prompt_tokens: to_u64(row.get(2)?),
                    completion_tokens: to_u64(row.get(3)?),
                    cost_usd: row.get(4)?,
                    failovers: to_u64(row.get(5)?),
                    error: row.get::<_, String>(6)? != "ok",
                });
            }
            Ok(fold.finish())
        })
        .await
    }

    pub(super) async fn purge(&self, before_ms: i64) -> anyhow::Result<u64> {
        self.blocking(false, move |c| {
            let n = c.execute("DELETE FROM requests WHERE started_at_ms < ?1", [before_ms])?;
            c.execute("DELETE FROM scores WHERE at_ms < ?1", [before_ms])?;
            Ok(n as u64)
        })
        .await
    }
}

/// Bring the schema to [`SCHEMA_VERSION`] in one transaction; refuse a
/// newer one. `writer`: set WAL mode, and take the write lock even when
/// nothing is to be done, so that a read-only file is found out now.
fn migrate(c: &mut Connection, shown: &str, writer: bool) -> anyhow::Result<()> {
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .context("reading the schema version (is it a SQLite database?)")?;
    if version > SCHEMA_VERSION {
        return Err(error_for_newer(shown, version));
    }
    if writer {
        let mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            anyhow::bail!("cannot use WAL mode (journal mode is {mode})");
        }
    }
    c.execute_batch("PRAGMA synchronous = NORMAL")?;
    if version == SCHEMA_VERSION && !writer {
        return Ok(());
    }
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Read again under the lock: another process may have migrated.
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(error_for_newer(shown, version));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.execute_batch(sql)
            .with_context(|| format!("migrating the schema from version {from}"))?;
    }
    // Takes the write lock, so a read-only file fails here.
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    tx.commit()?;
    Ok(())
}

fn record(row: &rusqlite::Row<'_>) -> anyhow::Result<Record> {
    let outcome: String = row.get(11)?;
    let (labels, plan, attempts) = parse_json(
        &row.get::<_, String>(26)?,
        &row.get::<_, String>(27)?,
        &row.get::<_, String>(28)?,
    )?;
    Ok(Record {
        id: row.get(0)?,
        started_at_ms: row.get(1)?,
        duration_ms: row.get(2)?,
        key: row.get(3)?,
        dialect: row.get(4)?,
        requested: row.get(5)?,
        route: row.get(6)?,
        policy: row.get(7)?,
        model: row.get(8)?,
        provider: row.get(9)?,
        status: row.get(10)?,
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Error),
        error: row.get(12)?,
        stream: row.get(13)?,
        prompt_tokens: to_u64(row.get(14)?),
        completion_tokens: to_u64(row.get(15)?),
        cached_tokens: to_u64(row.get(16)?),
        tokens_estimated: row.get(17)?,
        cost_usd: row.get(18)?,
        cost_known: row.get(19)?,
        bytes_in: to_u64(row.get(20)?),
        bytes_out: to_u64(row.get(21)?),
        ttft_ms: row.get(22)?,
        upstream_ms: row.get(23)?,
        overhead_ms: row.get(24)?,
        failovers: row.get(25)?,
        labels,
        plan,
        attempts,
        prompt: row.get(29)?,
        answer: row.get(30)?,
        shadow: row.get(31)?,
        cache: row.get(32)?,
        cost_saved_usd: row.get(33)?,
        scores: vec![],
    })
}
