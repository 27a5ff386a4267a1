//! Rows per second the request log's writer sustains into each store: one
//! burst of realistic records (two attempts, labels, a plan) submitted as
//! fast as a loop can, then timed until the writer has written them all.
//!
//! `cargo bench --bench log_writer` (env `BENCH_ROWS`, default 100000;
//! `BENCH_POSTGRES_URL` adds a PostgreSQL database).

use std::time::{Duration, Instant};

use switchyard::config::log::{Backend, LogConfig};
use switchyard::ledger::log::RequestLog;
use switchyard::record::{Attempt, Record};

fn record(i: usize) -> Record {
    Record {
        id: format!("bench-{i:09}"),
        started_at_ms: 1_764_806_400_000 + i as i64,
        duration_ms: 12.5,
        key: Some(format!("team-{}", i % 7)),
        dialect: "openai".into(),
        requested: "auto".into(),
        route: Some("auto".into()),
        policy: Some("ordered".into()),
        labels: [("tier".to_owned(), "small".to_owned())].into(),
        plan: vec!["gpt-4o-mini".into(), "claude-3-5-haiku".into()],
        attempts: vec![
            Attempt {
                model: "gpt-4o-mini".into(),
                provider: "openai".into(),
                outcome: "rate_limited".into(),
                status: Some(429),
                latency_ms: 3.2,
                error: Some("429 ratelimited: slow down".into()),
                ..Attempt::default()
            },
            Attempt {
                model: "claude-3-5-haiku".into(),
                provider: "anthropic".into(),
                outcome: "ok".into(),
                status: Some(200),
                latency_ms: 9.1,
                ..Attempt::default()
            },
        ],
        failovers: 1,
        model: Some("claude-3-5-haiku".into()),
        provider: Some("anthropic".into()),
        status: 200,
        prompt_tokens: 420,
        completion_tokens: 96,
        cost_usd: 0.000_72,
        cost_known: true,
        bytes_in: 1800,
        bytes_out: 900,
        upstream_ms: 12.3,
        overhead_ms: 0.2,
        ..Record::default()
    }
}

fn main() -> anyhow::Result<()> {
    let rows: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let mut stores = vec![(
        "sqlite",
        LogConfig {
            path: Some(dir.path().join("requests.db")),
            ..LogConfig::default()
        },
    )];
    if let Ok(url) = std::env::var("BENCH_POSTGRES_URL")
        && !url.is_empty()
    {
        stores.push((
            "postgres",
            LogConfig {
                backend: Backend::Postgres,
                url: Some(url),
                ..LogConfig::default()
            },
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        println!("{rows} records, submitted in one burst, queue sized to hold them all");
        for (name, mut cfg) in stores {
            cfg.queue = rows;
            RequestLog::check(&cfg).await?;
            let log = RequestLog::start(&cfg)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the log is off"))?;
            // Let a PostgreSQL writer connect before the clock starts.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = log.written();
            let t = Instant::now();
            for i in 0..rows {
                log.submit(record(i));
            }
            let submitted = t.elapsed();
            let all = log.flush(Duration::from_secs(600)).await;
            let secs = t.elapsed().as_secs_f64();
            let written = log.written() - before;
            println!(
                "  {name:<9} {written} rows in {secs:.2} s = {:>8.0} rows/s (submit: {:.2} µs a record; dropped {}; all settled: {all})",
                written as f64 / secs,
                submitted.as_secs_f64() * 1e6 / rows as f64,
                log.dropped(),
            );
        }
        anyhow::Ok(())
    })
}
