//! The request log on a real PostgreSQL server, started here on a free
//! port in a temporary directory (`initdb`, `pg_ctl`; installed by
//! `scripts/setup.sh --test`): migrations, writes and queries, the errors
//! of a wrong password and of a newer schema, and a writer that outlives a
//! server stopped and started again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use switchyard::config::log::{Backend, LogConfig};
use switchyard::ledger::log::{Query, RequestLog, SCHEMA_VERSION, SpendBy, Store};
use switchyard::record::{Outcome, Record, Score};

const PASSWORD: &str = "s3cret";

/// A throwaway PostgreSQL server, stopped when dropped.
struct Pg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// initdb refuses to run as root: then the server runs as `postgres`.
    as_postgres: bool,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
             run scripts/setup.sh --test"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

impl Pg {
    fn start() -> Pg {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("switchyard-pg")
            .tempdir()
            .unwrap();
        let as_postgres = id(&["-u"]) == 0;
        std::fs::write(dir.path().join("pw"), PASSWORD).unwrap();
        if as_postgres {
            let (uid, gid) = (id(&["-u", "postgres"]), id(&["-g", "postgres"]));
            for p in [dir.path().to_owned(), dir.path().join("pw")] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
            }
        }
        let pg = Pg {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = pg.data();
        let pw = format!("--pwfile={}", pg.dir.path().join("pw").display());
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "switchyard",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                &pw,
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    }

    /// Start (again) on the same port.
    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -h 127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stop as a crash would.
    fn down(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self, password: &str, db: &str) -> String {
        format!(
            "postgres://switchyard:{password}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    fn cfg(&self, password: &str, db: &str) -> LogConfig {
        LogConfig {
            backend: Backend::Postgres,
            url: Some(self.url(password, db)),
            retention_days: 0,
            ..LogConfig::default()
        }
    }

    async fn client(&self, db: &str) -> tokio_postgres::Client {
        let (c, conn) = tokio_postgres::connect(&self.url(PASSWORD, db), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if Path::new(&self.data()).join("postmaster.pid").exists() {
            let exe = self.bin.join("pg_ctl");
            let args = ["-D", &self.data(), "-m", "immediate", "-w", "stop"];
            let _ = if self.as_postgres {
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .arg(&exe)
                    .args(args)
                    .output()
            } else {
                Command::new(&exe).args(args).output()
            };
        }
    }
}

fn rec(id: &str, at: i64, key: &str, model: &str, ok: bool, cost: f64, dur: f64) -> Record {
    Record {
        id: id.into(),
        started_at_ms: at,
        duration_ms: dur,
        key: Some(key.into()),
        dialect: "openai".into(),
        requested: model.into(),
        labels: [("tier".to_owned(), "x".to_owned())].into(),
        plan: vec![model.into()],
        model: Some(model.into()),
        provider: Some("p".into()),
        status: if ok { 200 } else { 502 },
        outcome: if ok { Outcome::Ok } else { Outcome::Error },
        prompt_tokens: 10,
        completion_tokens: 5,
        cached_tokens: 3,
        cost_usd: cost,
        cost_known: true,
        ttft_ms: Some(2.0),
        ..Record::default()
    }
}

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

async fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_on_postgres() {
    let pg = Pg::start();
    let cfg = pg.cfg(PASSWORD, "postgres");

    // Migrations: a fresh database gets the current schema.
    RequestLog::check(&cfg).await.unwrap();
    let store = Store::open(&cfg).await.unwrap();
    let admin = pg.client("postgres").await;
    let v: i32 = admin
        .query_one("SELECT version FROM switchyard_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(i64::from(v), SCHEMA_VERSION);

    // Writes and queries.
    let rows = vec![
        rec("a", T0, "alice", "m1", true, 0.5, 10.0),
        rec("b", T0 + 1, "alice", "m2", true, 0.25, 20.0),
        rec("c", T0 + 86_400_000, "bob", "m1", false, 0.0, 30.0),
    ];
    store.write(&rows).await.unwrap();
    store.write(&rows[..1]).await.unwrap(); // ids already there: ignored
    let all = Query {
        limit: 10,
        ..Query::default()
    };
    let got = store.list(&all).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["c", "b", "a"]
    );
    assert_eq!(store.get("b").await.unwrap().unwrap(), rows[1]);
    // Scores arrive later, in their own table, and come back with the record.
    let score = Score {
        request_id: "b".into(),
        at_ms: T0 + 5,
        source: "feedback".into(),
        name: "thumbs".into(),
        value: 1.0,
        label: Some("up".into()),
        explanation: None,
        model: Some("m2".into()),
        route: None,
    };
    store.write_scores(vec![score.clone()]).await.unwrap();
    assert_eq!(store.get("b").await.unwrap().unwrap().scores, [score]);
    let errors = Query {
        status: Some("error".into()),
        ..all.clone()
    };
    assert_eq!(store.list(&errors).await.unwrap()[0].id, "c");
    let s502 = Query {
        status: Some("502".into()),
        key: Some("bob".into()),
        ..all.clone()
    };
    assert_eq!(store.list(&s502).await.unwrap().len(), 1);
    let by_key = store.spend(SpendBy::Key, 0).await.unwrap();
    assert_eq!(by_key[0].group, "alice");
    assert_eq!(
        (
            by_key[0].requests,
            by_key[0].prompt_tokens,
            by_key[0].cost_usd
        ),
        (2, 20, 0.75)
    );
    assert_eq!((by_key[0].p50_ms, by_key[0].p95_ms), (15.0, 19.5));
    assert_eq!((by_key[1].errors, by_key[1].error_rate), (1, 1.0));
    let by_day = store.spend(SpendBy::Day, 0).await.unwrap();
    let mut days: Vec<&str> = by_day.iter().map(|r| r.group.as_str()).collect();
    days.sort();
    assert_eq!(days, ["2024-01-01", "2024-01-02"]);
    assert_eq!(store.purge(T0 + 86_400_000).await.unwrap(), 2);

    // A wrong password: a clear error from check.
    let e = format!(
        "{:#}",
        RequestLog::check(&pg.cfg("wrong", "postgres"))
            .await
            .unwrap_err()
    );
    assert!(
        e.contains("password authentication failed") && e.contains("connecting to the request log"),
        "{e}"
    );
    assert!(!e.contains("wrong"), "the password is never shown: {e}");

    // A newer schema: refused.
    admin.batch_execute("CREATE DATABASE newer").await.unwrap();
    let newer = pg.client("newer").await;
    newer
        .batch_execute(
            "CREATE TABLE switchyard_schema (version INTEGER NOT NULL);
             INSERT INTO switchyard_schema VALUES (9)",
        )
        .await
        .unwrap();
    let e = format!(
        "{:#}",
        RequestLog::check(&pg.cfg(PASSWORD, "newer"))
            .await
            .unwrap_err()
    );
    assert!(
        e.contains(&format!(
            "the request log at postgres://switchyard@127.0.0.1:{}/newer has schema version 9; \
             this build knows up to {SCHEMA_VERSION}: upgrade switchyard",
            pg.port
        )),
        "{e}"
    );
    drop((admin, newer));

    // The writer: writes, keeps going while the server is down (dropping
    // and counting), and resumes by itself when it is back on its port.
    let log = RequestLog::start(&cfg).await.unwrap().unwrap();
    for i in 0..10 {
        log.submit(rec(&format!("w{i}"), T0 + 10 + i, "k", "m", true, 0.0, 1.0));
    }
    assert!(log.flush(Duration::from_secs(10)).await);
    assert_eq!((log.written(), log.dropped()), (10, 0));

    pg.down();
    assert!(RequestLog::check(&cfg).await.is_err());
    // A replica starts without its database.
    let other = RequestLog::start(&cfg).await.unwrap().unwrap();
    for i in 0..5 {
        log.submit(rec(
            &format!("x{i}"),
            T0 + 100 + i,
            "k",
            "m",
            true,
            0.0,
            1.0,
        ));
    }
    assert!(log.flush(Duration::from_secs(20)).await);
    assert_eq!((log.written(), log.dropped()), (10, 5));

    pg.up();
    let mut i = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.written() == 10 {
        assert!(Instant::now() < deadline, "no write after the restart");
        log.submit(rec(
            &format!("y{i}"),
            T0 + 200 + i,
            "k",
            "m",
            true,
            0.0,
            1.0,
        ));
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    other.submit(rec("z", T0 + 300, "k", "m", true, 0.0, 1.0));
    wait_for(
        "the replica started without its database writes",
        30,
        || other.written() == 1,
    )
    .await;
    assert!(log.flush(Duration::from_secs(10)).await);
    let everything = Query {
        limit: 1000,
        ..Query::default()
    };
    let got = log.store().list(&everything).await.unwrap();
    assert!(got.iter().any(|r| r.id == "z"));
    assert!(got.iter().any(|r| r.id.starts_with('y')));
    assert!(!got.iter().any(|r| r.id.starts_with('x')));
}
