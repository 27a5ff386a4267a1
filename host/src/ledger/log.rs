//! The request log: a bounded queue, a batching writer, and the stores
//! (SQLite, PostgreSQL) with their migrations and queries.
//!
//! [`RequestLog`] is the writer the serving path submits records to: a
//! submission never waits (a full queue drops the record and counts it); a
//! background task writes batches, one transaction each, and purges rows
//! past the retention. [`Store`] is the database behind it, and what the
//! admin endpoints and `switchyard logs` query.
//!
//! Schema versions (both stores): v1 is the `requests` table; v2 adds the
//! `prompt`, `answer` and `cached_tokens` columns and the query indexes. A
//! store is migrated when opened; one newer than this build is refused.

mod postgres;
mod sqlite;
mod writer;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::log::{Backend, LogConfig};
use crate::record::{Attempt, Outcome, Record, Score};

pub use writer::RequestLog;

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 4;

/// A request log's database.
#[derive(Clone)]
pub enum Store {
    /// A SQLite file.
    Sqlite(sqlite::SqliteStore),
    /// A PostgreSQL database.
    Postgres(postgres::PgStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.describe())
    }
}

/// Which rows [`Store::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// At most this many rows.
    pub limit: usize,
    /// Requests that started at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Of this client key.
    pub key: Option<String>,
    /// Of this route.
    pub route: Option<String>,
    /// Served by this model.
    pub model: Option<String>,
    /// `error` (any outcome but ok), `ok`, an outcome name (`broken`,
    /// `client_closed`), or an HTTP status number.
    pub status: Option<String>,
}

/// How [`Store::spend`] groups requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendBy {
    /// By client key.
    Key,
    /// By serving model.
    Model,
    /// By route.
    Route,
    /// By UTC day (`YYYY-MM-DD`).
    Day,
}

impl std::str::FromStr for SpendBy {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<SpendBy> {
        Ok(match s {
            "key" => SpendBy::Key,
            "model" => SpendBy::Model,
            "route" => SpendBy::Route,
            "day" => SpendBy::Day,
            _ => anyhow::bail!("`{s}`: group by key, model, route or day"),
        })
    }
}

/// One group's figures from [`Store::spend`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpendRow {
    /// The key, model, route (`-` for none) or day.
    pub group: String,
    /// Requests.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost, USD.
    pub cost_usd: f64,
    /// Failovers.
    pub failovers: u64,
    /// Requests whose outcome was not ok.
    pub errors: u64,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Median duration, ms.
    pub p50_ms: f64,
    /// 95th percentile of the duration, ms.
    pub p95_ms: f64,
}

impl Store {
    /// Open (SQLite: create if missing) or connect, and migrate.
    pub async fn open(cfg: &LogConfig) -> anyhow::Result<Store> {
        match cfg.backend {
            Backend::Sqlite => Ok(Store::Sqlite(
                sqlite::SqliteStore::open(cfg.sqlite_path()?, true).await?,
            )),
            Backend::Postgres => {
                let s = postgres::PgStore::new(cfg)?;
                s.connect_writer().await?;
                Ok(Store::Postgres(s))
            }
            Backend::Off => anyhow::bail!("the request log is off ([log] backend = \"off\")"),
        }
    }

    /// Where the log is, for messages (never a password).
    pub fn describe(&self) -> String {
        match self {
            Store::Sqlite(s) => s.path().display().to_string(),
            Store::Postgres(p) => p.describe().to_owned(),
        }
    }

    /// Insert the records in one transaction; ids already present are
    /// ignored.
    pub async fn write(&self, batch: &[Record]) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        match self {
            Store::Sqlite(s) => s.write(batch.to_vec()).await,
            Store::Postgres(p) => p.write(batch).await,
        }
    }

    /// The matching records, newest first.
    pub async fn list(&self, q: &Query) -> anyhow::Result<Vec<Record>> {
        let filters = filters(q)?;
        match self {
            Store::Sqlite(s) => s.list(filters, q.limit).await,
            Store::Postgres(p) => p.list(&filters, q.limit).await,
        }
    }

    /// The record with this id.
    pub async fn get(&self, id: &str) -> anyhow::Result<Option<Record>> {
        let filters = vec![Filter {
            column: "id",
            op: "=",
            value: Param::Text(id.to_owned()),
        }];
        let mut v = match self {
            Store::Sqlite(s) => s.list(filters, 1).await?,
            Store::Postgres(p) => p.list(&filters, 1).await?,
        };
        let Some(mut r) = v.pop() else {
            return Ok(None);
        };
        r.scores = self.scores(id).await?;
        Ok(Some(r))
    }

    /// Write scores of answers (their requests may not be written yet).
    pub async fn write_scores(&self, scores: Vec<Score>) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(s) => s.write_scores(scores).await,
            Store::Postgres(p) => p.write_scores(&scores).await,
        }
    }

    /// The scores of request `id`, oldest first.
    pub async fn scores(&self, id: &str) -> anyhow::Result<Vec<Score>> {
        match self {
            Store::Sqlite(s) => s.scores(id.to_owned()).await,
            Store::Postgres(p) => p.scores(id).await,
        }
    }

    /// Requests since `since_ms` grouped, most costly group first.
    pub async fn spend(&self, by: SpendBy, since_ms: i64) -> anyhow::Result<Vec<SpendRow>> {
        let mut rows = match self {
            Store::Sqlite(s) => s.spend(by, since_ms).await?,
            Store::Postgres(p) => p.spend(by, since_ms).await?,
        };
        rows.sort_by(|a, b| {
            b.cost_usd
                .total_cmp(&a.cost_usd)
                .then_with(|| a.group.cmp(&b.group))
        });
        Ok(rows)
    }

    /// Delete requests that started before `before_ms`; the number deleted.
    pub async fn purge(&self, before_ms: i64) -> anyhow::Result<u64> {
        match self {
            Store::Sqlite(s) => s.purge(before_ms).await,
            Store::Postgres(p) => p.purge(before_ms).await,
        }
    }
}

/// Open the log of `cfg` to query it, without a writer. A SQLite file is
/// never created: a missing one is an error.
pub async fn open_for_reading(cfg: &LogConfig) -> anyhow::Result<Store> {
    match cfg.backend {
        Backend::Sqlite => Ok(Store::Sqlite(
            sqlite::SqliteStore::open(cfg.sqlite_path()?, false).await?,
        )),
        _ => Store::open(cfg).await,
    }
}

/// The `requests` table's columns, in the order every SELECT and INSERT
/// uses; `labels`, `plan` and `attempts` hold JSON.
const COLUMNS: [&str; 34] = [
    "id",
    "started_at_ms",
    "duration_ms",
    "key",
    "dialect",
    "requested",
    "route",
    "policy",
    "model",
    "provider",
    "status",
    "outcome",
    "error",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "tokens_estimated",
    "cost_usd",
    "cost_known",
    "bytes_in",
    "bytes_out",
    "ttft_ms",
    "upstream_ms",
    "overhead_ms",
    "failovers",
    "labels",
    "plan",
    "attempts",
    "prompt",
    "answer",
    "shadow",
    "cache",
    "cost_saved_usd",
];

/// The `scores` table's columns, in the order every SELECT and INSERT uses.
const SCORE_COLUMNS: [&str; 9] = [
    "request_id",
    "at_ms",
    "source",
    "name",
    "value",
    "label",
    "explanation",
    "model",
    "route",
];

fn error_for_newer(place: &str, found: i64) -> anyhow::Error {
    anyhow::anyhow!(
        "the request log at {place} has schema version {found}; this build knows up to {SCHEMA_VERSION}: upgrade switchyard"
    )
}

/// A bound value of a WHERE clause.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Int(i64),
    Text(String),
}

/// One `column op ?` condition.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    column: &'static str,
    op: &'static str,
    value: Param,
}

fn filters(q: &Query) -> anyhow::Result<Vec<Filter>> {
    let mut f = Vec::new();
    let mut add = |column, op, value| f.push(Filter { column, op, value });
    if let Some(s) = q.since_ms {
        add("started_at_ms", ">=", Param::Int(s));
    }
    for (column, v) in [("key", &q.key), ("route", &q.route), ("model", &q.model)] {
        if let Some(v) = v {
            add(column, "=", Param::Text(v.clone()));
        }
    }
    if let Some(s) = &q.status {
        let ok = Param::Text("ok".into());
        match s.as_str() {
            "error" => add("outcome", "<>", ok),
            _ => {
                if let Some(o) = Outcome::parse(s) {
                    add("outcome", "=", Param::Text(o.name().into()));
                } else if let Ok(n) = s.parse::<u16>() {
                    add("status", "=", Param::Int(n.into()));
                } else {
                    anyhow::bail!(
                        "status `{s}`: use error, ok, broken, client_closed or an HTTP status"
                    );
                }
            }
        }
    }
    Ok(f)
}

/// A WHERE clause for the filters, placeholders written by `ph(n)` (1-based).
fn where_clause(filters: &[Filter], ph: impl Fn(usize) -> String) -> String {
    if filters.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = filters
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} {} {}", f.column, f.op, ph(i + 1)))
        .collect();
    format!(" WHERE {}", parts.join(" AND "))
}

/// A record's values for the columns that are JSON.
fn json_columns(r: &Record) -> anyhow::Result<[String; 3]> {
    Ok([
        serde_json::to_string(&r.labels)?,
        serde_json::to_string(&r.plan)?,
        serde_json::to_string(&r.attempts)?,
    ])
}

/// The record's JSON columns parsed back.
type Json = (BTreeMap<String, String>, Vec<String>, Vec<Attempt>);

fn parse_json(labels: &str, plan: &str, attempts: &str) -> anyhow::Result<Json> {
    Ok((
        serde_json::from_str(labels)?,
        serde_json::from_str(plan)?,
        serde_json::from_str(attempts)?,
    ))
}

/// u64 into a signed 64-bit column (saturating; no real count comes close).
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A signed column back into u64 (negative values are 0).
fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The `p` quantile (0..=1) of sorted values, interpolated linearly
/// between the closest ranks (PostgreSQL's `percentile_cont`).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let pos = p * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// `s` cut to at most `max` bytes, at a char boundary.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Folds rows of (group, duration, …) sorted by group into [`SpendRow`]s.
#[derive(Default)]
struct SpendFold {
    rows: Vec<SpendRow>,
    durations: Vec<f64>,
}

/// One request's figures for [`SpendFold`].
struct SpendItem {
    group: String,
    duration_ms: f64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: f64,
    failovers: u64,
    error: bool,
}

impl SpendFold {
    fn push(&mut self, it: SpendItem) {
        if self.rows.last().is_none_or(|r| r.group != it.group) {
            self.close();
            self.rows.push(SpendRow {
                group: it.group,
                requests: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
                cost_usd: 0.0,
                failovers: 0,
                errors: 0,
                error_rate: 0.0,
                p50_ms: 0.0,
                p95_ms: 0.0,
            });
        }
        if let Some(r) = self.rows.last_mut() {
            r.requests += 1;
            r.prompt_tokens += it.prompt_tokens;
            r.completion_tokens += it.completion_tokens;
            r.cost_usd += it.cost_usd;
            r.failovers += it.failovers;
            r.errors += u64::from(it.error);
        }
        self.durations.push(it.duration_ms);
    }

    fn close(&mut self) {
        if let Some(r) = self.rows.last_mut() {
            self.durations.sort_by(f64::total_cmp);
            r.p50_ms = percentile(&self.durations, 0.5);
            r.p95_ms = percentile(&self.durations, 0.95);
            r.error_rate = r.errors as f64 / r.requests.max(1) as f64;
        }
        self.durations.clear();
    }

    fn finish(mut self) -> Vec<SpendRow> {
        self.close();
        self.rows
    }
}

#[cfg(test)]
mod tests;
