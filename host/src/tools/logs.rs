//! `switchyard logs`: the request log from the command line — recent
//! requests as a table or JSON lines, and `logs spend` totals by key,
//! model, route or day. Reads the store the config's `[log]` names (no
//! config: the embedded default's SQLite file); never writes a record.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::config::log::LogConfig;
use crate::ledger::log::{Query, SpendBy, SpendRow, open_for_reading};
use crate::ledger::{now_ms, since_ms};
use crate::limits::windows::civil_from_days;
use crate::record::Record;

/// `switchyard logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Totals instead of requests.
    #[command(subcommand)]
    what: Option<LogsCommand>,
    /// The config whose `[log]` to read (default: the embedded default's
    /// SQLite file).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Requests of the last 90s, 15m, 1h, 7d… (or since a time in ms since
    /// the epoch).
    #[arg(long, default_value = "1h")]
    since: String,
    /// Of this client key.
    #[arg(long)]
    key: Option<String>,
    /// Of this route.
    #[arg(long)]
    route: Option<String>,
    /// Served by this model.
    #[arg(long)]
    model: Option<String>,
    /// `error` (anything but ok), `ok`, `broken`, `client_closed`, or an
    /// HTTP status.
    #[arg(long)]
    status: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// At most this many requests, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Subcommand)]
enum LogsCommand {
    /// Totals: requests, tokens, cost, failovers, error rate, p50/p95 latency.
    Spend {
        /// Group by `key`, `model`, `route` or `day`.
        #[arg(long, default_value = "key")]
        by: String,
        /// Since 30d, 7d, 1h… (or a time in ms since the epoch).
        #[arg(long, default_value = "30d")]
        since: String,
    },
}

/// Run `switchyard logs`.
pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
    let cfg = match &args.config {
        Some(path) => Config::load(path)?.log,
        None => LogConfig::default(),
    };
    let store = open_for_reading(&cfg).await?;
    let now = now_ms();
    match args.what {
        Some(LogsCommand::Spend { by, since }) => {
            let by: SpendBy = by.parse()?;
            let since = since_ms(&since, now).map_err(anyhow::Error::msg)?;
            let rows = store.spend(by, since).await?;
            if args.json {
                for r in &rows {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else {
                print!("{}", spend_table(&rows));
            }
        }
        None => {
            let q = Query {
                limit: args.limit.max(1),
                since_ms: Some(since_ms(&args.since, now).map_err(anyhow::Error::msg)?),
                key: args.key,
                route: args.route,
                model: args.model,
                status: args.status,
            };
            let records = store.list(&q).await?;
            if args.json {
                for r in &records {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else {
                print!("{}", requests_table(&records));
            }
        }
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in ms since the epoch.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Rows as left-aligned columns under a header.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

fn requests_table(records: &[Record]) -> String {
    let rows = records
        .iter()
        .map(|r| {
            vec![
                utc(r.started_at_ms),
                r.id.clone(),
                r.key.clone().unwrap_or_else(|| "-".into()),
                r.requested.clone(),
                r.model.clone().unwrap_or_else(|| "-".into()),
                r.status.to_string(),
                r.outcome.name().to_owned(),
                r.attempts.len().to_string(),
                format!(
                    "{}/{}{}",
                    r.prompt_tokens,
                    r.completion_tokens,
                    if r.tokens_estimated { "~" } else { "" }
                ),
                if r.cost_known {
                    format!("{:.6}", r.cost_usd)
                } else {
                    "?".into()
                },
                format!("{:.1}", r.duration_ms),
            ]
        })
        .collect();
    table(
        &[
            "time (UTC)",
            "id",
            "key",
            "requested",
            "model",
            "status",
            "outcome",
            "attempts",
            "tokens in/out",
            "cost USD",
            "ms",
        ],
        rows,
    )
}

fn spend_table(rows: &[SpendRow]) -> String {
    let body = rows
        .iter()
        .map(|r| {
            vec![
                r.group.clone(),
                r.requests.to_string(),
                r.prompt_tokens.to_string(),
                r.completion_tokens.to_string(),
                format!("{:.6}", r.cost_usd),
                r.failovers.to_string(),
                format!("{:.1}%", r.error_rate * 100.0),
                format!("{:.1}", r.p50_ms),
                format!("{:.1}", r.p95_ms),
            ]
        })
        .collect();
    table(
        &[
            "group",
            "requests",
            "prompt tokens",
            "completion tokens",
            "cost USD",
            "failovers",
            "errors",
            "p50 ms",
            "p95 ms",
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_764_806_400_000 + 3_723_000), "2025-12-04 01:02:03");
    }

    #[test]
    fn tables_align_their_columns() {
        let t = table(
            &["a", "bb"],
            vec![vec!["xxx".into(), "y".into()], vec!["z".into(), "w".into()]],
        );
        assert_eq!(t, "a    bb\nxxx  y\nz    w\n");
    }
}
