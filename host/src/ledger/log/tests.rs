//! Tests of the request log on SQLite (PostgreSQL: `host/tests/log_postgres.rs`).

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::log::{Backend, LogConfig};
use crate::record::{Attempt, Outcome, Record, Score};

fn cfg(path: &Path) -> LogConfig {
    LogConfig {
        backend: Backend::Sqlite,
        path: Some(path.to_owned()),
        retention_days: 0,
        ..LogConfig::default()
    }
}

const DAY: i64 = 86_400_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

fn rec(
    id: &str,
    at: i64,
    key: Option<&str>,
    model: &str,
    status: u16,
    cost: f64,
    dur: f64,
) -> Record {
    Record {
        id: id.into(),
        started_at_ms: at,
        duration_ms: dur,
        key: key.map(Into::into),
        dialect: "openai".into(),
        requested: "auto".into(),
        route: Some("auto".into()),
        policy: Some("ordered".into()),
        labels: [("tier".to_owned(), "small".to_owned())].into(),
        plan: vec![model.into()],
        attempts: vec![Attempt {
            model: model.into(),
            provider: "p".into(),
            outcome: if status == 200 { "ok" } else { "upstream" }.into(),
            status: Some(status),
            latency_ms: dur,
            ..Attempt::default()
        }],
        model: Some(model.into()),
        provider: Some("p".into()),
        status,
        outcome: if status == 200 {
            Outcome::Ok
        } else {
            Outcome::Error
        },
        error: (status != 200).then(|| "bad".into()),
        stream: true,
        prompt_tokens: 10,
        completion_tokens: 5,
        cached_tokens: 2,
        cost_usd: cost,
        cost_known: true,
        bytes_in: 100,
        bytes_out: 200,
        ttft_ms: Some(1.5),
        upstream_ms: dur - 1.0,
        overhead_ms: 1.0,
        ..Record::default()
    }
}

fn sample() -> Vec<Record> {
    vec![
        rec("a", T0, Some("alice"), "m1", 200, 0.5, 10.0),
        rec("b", T0 + 1000, Some("alice"), "m2", 200, 0.25, 20.0),
        rec("c", T0 + DAY, Some("bob"), "m1", 500, 0.0, 30.0),
        Record {
            outcome: Outcome::Broken,
            failovers: 2,
            ..rec("d", T0 + DAY + 5, None, "m1", 200, 1.0, 40.0)
        },
    ]
}

#[tokio::test]
async fn write_list_get_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&cfg(&dir.path().join("sub/requests.db")))
        .await
        .unwrap();
    store.write(&sample()).await.unwrap();
    // An id already there is ignored, not an error.
    let mut again = rec("a", T0, None, "other", 500, 9.0, 1.0);
    again.prompt = Some("p".into());
    store.write(&[again]).await.unwrap();

    let ids = |v: Vec<Record>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = Query {
        limit: 100,
        ..Query::default()
    };
    assert_eq!(ids(store.list(&all).await.unwrap()), ["d", "c", "b", "a"]);
    let q = |f: fn(&mut Query)| {
        let mut q = all.clone();
        f(&mut q);
        q
    };
    let cases: [(Query, &[&str]); 9] = [
        (q(|q| q.limit = 2), &["d", "c"]),
        (q(|q| q.since_ms = Some(T0 + 1000)), &["d", "c", "b"]),
        (q(|q| q.key = Some("alice".into())), &["b", "a"]),
        (q(|q| q.model = Some("m1".into())), &["d", "c", "a"]),
        (q(|q| q.route = Some("none".into())), &[]),
        (q(|q| q.status = Some("error".into())), &["d", "c"]),
        (q(|q| q.status = Some("ok".into())), &["b", "a"]),
        (q(|q| q.status = Some("broken".into())), &["d"]),
        (q(|q| q.status = Some("500".into())), &["c"]),
    ];
    for (query, want) in cases {
        assert_eq!(ids(store.list(&query).await.unwrap()), want, "{query:?}");
    }
    assert!(
        store
            .list(&q(|q| q.status = Some("meh".into())))
            .await
            .is_err()
    );

    let got = store.get("d").await.unwrap().unwrap();
    assert_eq!(got, sample()[3]);
    assert_eq!(store.get("a").await.unwrap().unwrap(), sample()[0]);
    assert_eq!(store.get("zz").await.unwrap(), None);
    // Scores arrive later, in their own table, and come back with the record.
    let scores: Vec<Score> = [("match", 1.0), ("refusal", 0.0)]
        .into_iter()
        .map(|(name, value)| Score {
            request_id: "a".into(),
            at_ms: 7,
            source: format!("evaluator:{name}"),
            name: name.into(),
            value,
            label: None,
            explanation: Some("why".into()),
            model: Some("m".into()),
            route: Some("r".into()),
        })
        .collect();
    store.write_scores(scores.clone()).await.unwrap();
    assert_eq!(store.get("a").await.unwrap().unwrap().scores, scores);
    assert_eq!(store.scores("zz").await.unwrap(), []);
}

#[tokio::test]
async fn spend_groups_and_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&cfg(&dir.path().join("r.db"))).await.unwrap();
    store.write(&sample()).await.unwrap();

    let by_key = store.spend(SpendBy::Key, 0).await.unwrap();
    let groups: Vec<&str> = by_key.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, ["-", "alice", "bob"], "by cost, descending");
    let alice = &by_key[1];
    assert_eq!(
        (alice.requests, alice.prompt_tokens, alice.completion_tokens),
        (2, 20, 10)
    );
    assert_eq!(
        (alice.cost_usd, alice.errors, alice.error_rate),
        (0.75, 0, 0.0)
    );
    assert_eq!((alice.p50_ms, alice.p95_ms), (15.0, 19.5));

    let by_model = store.spend(SpendBy::Model, 0).await.unwrap();
    let m1 = by_model.iter().find(|r| r.group == "m1").unwrap();
    assert_eq!((m1.requests, m1.errors, m1.failovers), (3, 2, 2));
    assert!((m1.error_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!((m1.p50_ms, m1.p95_ms), (30.0, 39.0));

    let by_day = store.spend(SpendBy::Day, 0).await.unwrap();
    let days: Vec<(&str, u64)> = by_day
        .iter()
        .map(|r| (r.group.as_str(), r.requests))
        .collect();
    assert_eq!(days, [("2024-01-02", 2), ("2024-01-01", 2)]);

    let since = store.spend(SpendBy::Route, T0 + DAY).await.unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!((since[0].group.as_str(), since[0].requests), ("auto", 2));
    assert_eq!("day".parse::<SpendBy>().unwrap(), SpendBy::Day);
    assert!("week".parse::<SpendBy>().is_err());

    assert_eq!(store.purge(T0 + DAY).await.unwrap(), 2);
    assert_eq!(store.spend(SpendBy::Key, 0).await.unwrap().len(), 2);
}

#[test]
fn percentiles_interpolate_like_percentile_cont() {
    assert_eq!(percentile(&[], 0.5), 0.0);
    assert_eq!(percentile(&[7.0], 0.95), 7.0);
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert!((percentile(&v, 0.95) - 95.05).abs() < 1e-9);
}

/// The first schema, as a build of that version made it.
const V1_ROW: &str = "INSERT INTO requests VALUES ('old', 1704067200000, 12.5, 'alice',
    'openai', 'auto', 'auto', 'ordered', 'm1', 'p', 200, 'ok', NULL, 0, 10, 5, 0, 0.5, 1,
    100, 200, NULL, 11.0, 1.5, 0, '{}', '[\"m1\"]', '[]')";

#[tokio::test]
async fn a_v1_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(sqlite::MIGRATIONS[0]).unwrap();
        c.execute_batch(V1_ROW).unwrap();
        c.execute_batch("PRAGMA user_version = 1").unwrap();
    }
    let store = Store::open(&cfg(&path)).await.unwrap();
    let old = store.get("old").await.unwrap().unwrap();
    assert_eq!(
        (
            old.key.as_deref(),
            old.cost_usd,
            old.cached_tokens,
            old.prompt
        ),
        (Some("alice"), 0.5, 0, None)
    );
    assert_eq!(old.plan, ["m1"]);
    let mut new = rec("new", T0 + 1, None, "m1", 200, 0.1, 1.0);
    new.prompt = Some("hi".into());
    store.write(std::slice::from_ref(&new)).await.unwrap();
    assert_eq!(store.get("new").await.unwrap().unwrap(), new);
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'requests_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 4);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 7")
        .unwrap();
    let e = format!("{:#}", Store::open(&cfg(&path)).await.unwrap_err());
    let want = format!(
        "the request log at {} has schema version 7; this build knows up to {SCHEMA_VERSION}: upgrade switchyard",
        path.display()
    );
    assert!(e.contains(&want), "{e}");
    let e = format!("{:#}", RequestLog::start(&cfg(&path)).await.unwrap_err());
    assert!(e.contains("upgrade switchyard"), "{e}");
}

#[tokio::test]
async fn a_corrupt_or_unwritable_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let noise: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, noise).unwrap();
    let e = format!("{:#}", RequestLog::start(&cfg(&path)).await.unwrap_err());
    assert!(
        e.contains(&format!("opening the request log at {}", path.display()))
            && e.contains("not a database"),
        "{e}"
    );

    // A directory no one may create files in (root included).
    let e = format!(
        "{:#}",
        RequestLog::start(&cfg(Path::new("/proc/switchyard/requests.db")))
            .await
            .unwrap_err()
    );
    assert!(e.contains("/proc/switchyard"), "{e}");

    // A read-only file: refused at start, not at the first write. Root
    // writes whatever the mode says, so that part needs another user.
    let ro = dir.path().join("ro.db");
    drop(Store::open(&cfg(&ro)).await.unwrap());
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&ro, perm).unwrap();
    let root = std::fs::File::options().append(true).open(&ro).is_ok();
    let r = RequestLog::start(&cfg(&ro)).await;
    if !root {
        let e = format!("{:#}", r.unwrap_err());
        assert!(e.contains("readonly") || e.contains("read-only"), "{e}");
    }
}

#[tokio::test]
async fn reading_never_creates_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let e = open_for_reading(&cfg(&path)).await.unwrap_err().to_string();
    assert_eq!(e, format!("no request log at {}", path.display()));
    assert!(!path.exists());
    Store::open(&cfg(&path)).await.unwrap();
    open_for_reading(&cfg(&path)).await.unwrap();
}

#[tokio::test]
async fn the_writer_batches_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let c = LogConfig {
        batch: 7,
        ..cfg(&dir.path().join("r.db"))
    };
    let log = RequestLog::start(&c).await.unwrap().unwrap();
    for i in 0..100 {
        log.submit(rec(&format!("r{i:03}"), T0 + i, None, "m1", 200, 0.01, 1.0));
    }
    assert!(log.flush(Duration::from_secs(10)).await);
    assert_eq!(
        (log.written(), log.dropped(), log.queue_depth()),
        (100, 0, 0)
    );
    let all = Query {
        limit: 1000,
        ..Query::default()
    };
    assert_eq!(log.store().list(&all).await.unwrap().len(), 100);
    assert!(
        RequestLog::start(&LogConfig {
            backend: Backend::Off,
            ..c
        })
        .await
        .unwrap()
        .is_none()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let c = LogConfig {
        queue: 5,
        ..cfg(&dir.path().join("r.db"))
    };
    let log = RequestLog::start(&c).await.unwrap().unwrap();
    // On this single-threaded runtime the writer cannot run before this
    // test awaits: the queue holds 5, the rest are dropped at once.
    for i in 0..12 {
        log.submit(rec(&format!("r{i}"), T0 + i, None, "m1", 200, 0.01, 1.0));
    }
    assert_eq!((log.queue_depth(), log.dropped()), (5, 7));
    assert!(log.flush(Duration::from_secs(10)).await);
    assert_eq!((log.written(), log.dropped(), log.queue_depth()), (5, 7, 0));
}

#[tokio::test]
async fn bodies_are_cut_at_a_char_boundary_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let on = LogConfig {
        bodies: true,
        body_max_bytes: 5,
        ..cfg(&dir.path().join("on.db"))
    };
    let log = RequestLog::start(&on).await.unwrap().unwrap();
    let mut r = rec("x", T0, None, "m1", 200, 0.0, 1.0);
    r.prompt = Some("abcdéfg".into()); // é is bytes 4..6
    r.answer = Some("hey".into());
    log.submit(r.clone());
    assert!(log.flush(Duration::from_secs(10)).await);
    let got = log.store().get("x").await.unwrap().unwrap();
    assert_eq!(
        (got.prompt.as_deref(), got.answer.as_deref()),
        (Some("abcd"), Some("hey"))
    );

    let off = cfg(&dir.path().join("off.db"));
    let log = RequestLog::start(&off).await.unwrap().unwrap();
    log.submit(r);
    assert!(log.flush(Duration::from_secs(10)).await);
    let got = log.store().get("x").await.unwrap().unwrap();
    assert_eq!((got.prompt, got.answer), (None, None));

    let mut s = String::from("ééé");
    truncate(&mut s, 3);
    assert_eq!(s, "é");
}
