//! The PostgreSQL store: a connection for the writer and one for readers,
//! each made on first use and made again after an error, every operation
//! under a timeout (a server that stops answering must not hang the
//! writer). The schema version is in the `switchyard_schema` table.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::try_join_all;
use tokio::sync::Mutex;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    COLUMNS, Filter, Param, Record, SCHEMA_VERSION, SCORE_COLUMNS, Score, SpendBy, SpendRow,
    error_for_newer, to_u64, where_clause,
};
use crate::config::files::{CA_FILE_MAX, read_capped};
use crate::config::log::LogConfig;

mod rows;

use self::rows::{Row, record};

/// Longest wait for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for a connection with its handshake, or for one operation
/// (a batch's transaction, a query, a migration).
pub(super) const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations: `MIGRATIONS[i]` takes the schema from version i to i + 1.
pub(super) const MIGRATIONS: [&str; 4] = [
    "CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        started_at_ms BIGINT NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL,
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
        stream BOOLEAN NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        tokens_estimated BOOLEAN NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        cost_known BOOLEAN NOT NULL,
        bytes_in BIGINT NOT NULL,
        bytes_out BIGINT NOT NULL,
        ttft_ms DOUBLE PRECISION,
        upstream_ms DOUBLE PRECISION NOT NULL,
        overhead_ms DOUBLE PRECISION NOT NULL,
        failovers BIGINT NOT NULL,
        labels JSONB NOT NULL,
        plan JSONB NOT NULL,
        attempts JSONB NOT NULL
    )",
    "ALTER TABLE requests ADD COLUMN prompt TEXT;
     ALTER TABLE requests ADD COLUMN answer TEXT;
     ALTER TABLE requests ADD COLUMN cached_tokens BIGINT NOT NULL DEFAULT 0;
     CREATE INDEX requests_started ON requests (started_at_ms);
     CREATE INDEX requests_key ON requests (key, started_at_ms);
     CREATE INDEX requests_route ON requests (route, started_at_ms);
     CREATE INDEX requests_model ON requests (model, started_at_ms);",
    "CREATE TABLE scores (
        request_id TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        label TEXT,
        explanation TEXT,
        model TEXT,
        route TEXT
     );
     CREATE INDEX scores_request ON scores (request_id);
     CREATE INDEX scores_at ON scores (at_ms);
     ALTER TABLE requests ADD COLUMN shadow BOOLEAN NOT NULL DEFAULT FALSE;",
    "ALTER TABLE requests ADD COLUMN cache TEXT;
     ALTER TABLE requests ADD COLUMN cost_saved_usd DOUBLE PRECISION NOT NULL DEFAULT 0;",
];

/// Serializes migrations of replicas starting together.
const MIGRATION_LOCK: i64 = 0x5357_4c4f_4731; // "SWLOG1"

const JSON_COLUMNS: [&str; 3] = ["labels", "plan", "attempts"];

struct Inner {
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    describe: String,
    write: Mutex<Option<Client>>,
    read: Mutex<Option<Client>>,
}

/// A PostgreSQL request log.
#[derive(Clone)]
pub struct PgStore(Arc<Inner>);

impl PgStore {
    /// The store of `cfg`, not yet connected.
    pub(super) fn new(cfg: &LogConfig) -> anyhow::Result<PgStore> {
        let url = cfg.url.as_deref().context("log.url: not set")?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("log.url: not a usable PostgreSQL URL: {e}"))?;
        if let Some(var) = &cfg.password_env {
            let pw = std::env::var(var).map_err(|_| {
                anyhow::anyhow!("log.password_env: the environment variable {var} is not set")
            })?;
            config.password(pw);
        }
        config.connect_timeout(CONNECT_TIMEOUT);
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("switchyard");
        // The server gives up on a statement by itself too.
        config.options(format!("-c statement_timeout={}", OP_TIMEOUT.as_millis()));
        let tls = if cfg.ca_file.is_some() || config.get_ssl_mode() == SslMode::Require {
            config.ssl_mode(SslMode::Require);
            Some(tls(cfg)?)
        } else {
            None
        };
        let describe = describe(&config);
        Ok(PgStore(Arc::new(Inner {
            config,
            tls,
            describe,
            write: Mutex::new(None),
            read: Mutex::new(None),
        })))
    }

    /// `postgres://user@host:port/db`, never the password.
    pub(super) fn describe(&self) -> &str {
        &self.0.describe
    }

    async fn connect(&self) -> anyhow::Result<Client> {
        let connect = async {
            let c = &self.0.config;
            Ok::<_, tokio_postgres::Error>(match &self.0.tls {
                None => {
                    let (client, conn) = c.connect(NoTls).await?;
                    tokio::spawn(conn);
                    client
                }
                Some(tls) => {
                    let (client, conn) = c.connect(tls.clone()).await?;
                    tokio::spawn(conn);
                    client
                }
            })
        };
        let ctx = || format!("connecting to the request log at {}", self.0.describe);
        match tokio::time::timeout(OP_TIMEOUT, connect).await {
            Ok(r) => r.map_err(pg_error).with_context(ctx),
            Err(_) => Err(anyhow::anyhow!("no answer within {OP_TIMEOUT:?}")).with_context(ctx),
        }
    }

    /// Connect the writer's connection and migrate, unless connected.
    pub(super) async fn connect_writer(&self) -> anyhow::Result<()> {
        let mut slot = self.0.write.lock().await;
        self.writer(&mut slot).await.map(|_| ())
    }

    async fn writer<'a>(&self, slot: &'a mut Option<Client>) -> anyhow::Result<&'a mut Client> {
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            let mut c = self.connect().await?;
            timed(migrate(&mut c, &self.0.describe)).await?;
            *slot = Some(c);
        }
        slot.as_mut().context("no connection")
    }

    /// Run `f` on the writer's connection (connecting first when needed);
    /// after an error or a timeout the connection is dropped, to be made
    /// again by the next call.
    async fn on_writer<T>(
        &self,
        f: impl AsyncFnOnce(&mut Client) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut slot = self.0.write.lock().await;
        let r = match self.writer(&mut slot).await {
            Ok(c) => timed(f(c)).await,
            Err(e) => Err(e),
        };
        if r.is_err() {
            *slot = None;
        }
        r
    }

    async fn on_reader<T>(
        &self,
        f: impl AsyncFnOnce(&Client) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut slot = self.0.read.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(self.connect().await?);
        }
        let r = match slot.as_ref() {
            Some(c) => timed(f(c)).await,
            None => Err(anyhow::anyhow!("no connection")),
        };
        if r.is_err() {
            *slot = None;
        }
        r
    }

    pub(super) async fn write(&self, batch: &[Record]) -> anyhow::Result<()> {
        let placeholders: Vec<String> = COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if JSON_COLUMNS.contains(c) {
                    format!("${}::text::jsonb", i + 1)
                } else {
                    format!("${}", i + 1)
                }
            })
            .collect();
        let sql = format!(
            "INSERT INTO requests ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
            COLUMNS.join(", "),
            placeholders.join(", ")
        );
        let rows: Vec<Row> = batch.iter().map(Row::of).collect::<anyhow::Result<_>>()?;
        self.on_writer(async |c| {
            let tx = c.transaction().await?;
            let st = tx.prepare(&sql).await?;
            let params: Vec<_> = rows.iter().map(Row::params).collect();
            // Sent together: the connection pipelines them.
            try_join_all(params.iter().map(|p| tx.execute(&st, p))).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn write_scores(&self, scores: &[Score]) -> anyhow::Result<()> {
        let sql = format!(
            "INSERT INTO scores ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            SCORE_COLUMNS.join(", ")
        );
        self.on_writer(async |c| {
            let tx = c.transaction().await?;
            let st = tx.prepare(&sql).await?;
            for s in scores {
                tx.execute(
                    &st,
                    &[
                        &s.request_id,
                        &s.at_ms,
                        &s.source,
                        &s.name,
                        &s.value,
                        &s.label,
                        &s.explanation,
                        &s.model,
                        &s.route,
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn scores(&self, request_id: &str) -> anyhow::Result<Vec<Score>> {
        let sql = format!(
            "SELECT {} FROM scores WHERE request_id = $1 ORDER BY at_ms, name",
            SCORE_COLUMNS.join(", ")
        );
        self.on_reader(async |c| {
            let rows = c.query(&sql, &[&request_id]).await?;
            rows.iter()
                .map(|r| {
                    Ok(Score {
                        request_id: r.try_get(0)?,
                        at_ms: r.try_get(1)?,
                        source: r.try_get(2)?,
                        name: r.try_get(3)?,
                        value: r.try_get(4)?,
                        label: r.try_get(5)?,
                        explanation: r.try_get(6)?,
                        model: r.try_get(7)?,
                        route: r.try_get(8)?,
                    })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn list(
        &self,
        filters: &[Filter],
        limit: usize,
    ) -> anyhow::Result<Vec<Record>> {
        let select: Vec<String> = COLUMNS
            .iter()
            .map(|c| {
                if JSON_COLUMNS.contains(c) {
                    format!("{c}::text")
                } else {
                    (*c).to_owned()
                }
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM requests{} ORDER BY started_at_ms DESC, id DESC LIMIT {}",
            select.join(", "),
            where_clause(filters, |i| format!("${i}")),
            limit.min(i64::MAX as usize)
        );
        let params: Vec<Box<dyn ToSql + Sync + Send>> = filters
            .iter()
            .map(|f| -> Box<dyn ToSql + Sync + Send> {
                match &f.value {
                    Param::Int(i) if f.column == "status" => Box::new(*i as i32),
                    Param::Int(i) => Box::new(*i),
                    Param::Text(s) => Box::new(s.clone()),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .on_reader(async |c| Ok(c.query(&sql, &refs).await?))
            .await?;
        rows.iter().map(record).collect()
    }

    pub(super) async fn spend(&self, by: SpendBy, since_ms: i64) -> anyhow::Result<Vec<SpendRow>> {
        let group = match by {
            SpendBy::Key => "COALESCE(key, '-')",
            SpendBy::Model => "COALESCE(model, '-')",
            SpendBy::Route => "COALESCE(route, '-')",
            SpendBy::Day => {
                "to_char(to_timestamp(started_at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            }
        };
        let sql = format!(
            "SELECT {group} AS g, count(*), sum(prompt_tokens)::bigint,
                    sum(completion_tokens)::bigint, sum(cost_usd), sum(failovers)::bigint,
                    count(*) FILTER (WHERE outcome <> 'ok'),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms),
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
             FROM requests WHERE started_at_ms >= $1 GROUP BY g"
        );
        let rows = self
            .on_reader(async |c| Ok(c.query(&sql, &[&since_ms]).await?))
            .await?;
        rows.iter()
            .map(|r| {
                let requests = to_u64(r.try_get(1)?);
                let errors = to_u64(r.try_get(6)?);
                Ok(SpendRow {
                    group: r.try_get(0)?,
                    requests,
                    prompt_tokens: to_u64(r.try_get(2)?),
                    completion_tokens: to_u64(r.try_get(3)?),
                    cost_usd: r.try_get(4)?,
                    failovers: to_u64(r.try_get(5)?),
                    errors,
                    error_rate: errors as f64 / requests.max(1) as f64,
                    p50_ms: r.try_get(7)?,
                    p95_ms: r.try_get(8)?,
                })
            })
            .collect()
    }

    pub(super) async fn purge(&self, before_ms: i64) -> anyhow::Result<u64> {
        self.on_writer(async |c| {
            let n = c
                .execute(
                    "DELETE FROM requests WHERE started_at_ms < $1",
                    &[&before_ms],
                )
                .await?;
            c.execute("DELETE FROM scores WHERE at_ms < $1", &[&before_ms])
                .await?;
            Ok(n)
        })
        .await
    }
}

/// `f`, or an error after [`OP_TIMEOUT`].
async fn timed<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!(
            "the database did not answer within {OP_TIMEOUT:?}"
        )),
    }
}

/// The server's message with the error (tokio-postgres prints only
/// "db error" for the server's own errors).
fn pg_error(e: tokio_postgres::Error) -> anyhow::Error {
    match e.as_db_error() {
        Some(db) => anyhow::anyhow!("{}: {}", db.severity(), db.message()),
        None => e.into(),
    }
}

/// Bring the schema to [`SCHEMA_VERSION`] in one transaction; refuse a
/// newer one.
async fn migrate(c: &mut Client, describe: &str) -> anyhow::Result<()> {
    let tx = c.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('switchyard_schema') IS NOT NULL", &[])
        .await
        .map_err(pg_error)?
        .try_get(0)?;
    if !exists {
        tx.batch_execute("CREATE TABLE switchyard_schema (version INTEGER NOT NULL)")
            .await
            .map_err(pg_error)
            .context("creating the schema version table")?;
    }
    let version: Option<i32> = tx
        .query_one("SELECT max(version) FROM switchyard_schema", &[])
        .await
        .map_err(pg_error)?
        .try_get(0)?;
    let version = i64::from(version.unwrap_or(0));
    if version > SCHEMA_VERSION {
        return Err(error_for_newer(describe, version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.batch_execute(sql)
            .await
            .map_err(pg_error)
            .with_context(|| format!("migrating the schema from version {from}"))?;
    }
    tx.execute("DELETE FROM switchyard_schema", &[])
        .await
        .map_err(pg_error)?;
    tx.execute(
        "INSERT INTO switchyard_schema (version) VALUES ($1)",
        &[&(SCHEMA_VERSION as i32)],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok(())
}

/// The rustls connector: the server's certificate must chain to `ca_file`
/// when given, else to the system's trust store.
fn tls(cfg: &LogConfig) -> anyhow::Result<MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    use rustls_platform_verifier::BuilderVerifierExt as _;

    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?;
    let config = match &cfg.ca_file {
        Some(f) => {
            let pem = read_capped(f, CA_FILE_MAX)
                .with_context(|| format!("log.ca_file: reading {}", f.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.with_context(|| format!("log.ca_file: {}", f.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("log.ca_file: {}", f.display()))?;
            }
            if roots.is_empty() {
                anyhow::bail!("log.ca_file: {} holds no PEM certificate", f.display());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder.with_platform_verifier()?.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn describe(c: &tokio_postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => String::new(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}
