//! A record as a row of the `requests` table and back: the typed values
//! bound to an insert, and the record a selected row holds.

use tokio_postgres::types::ToSql;

use super::super::{Record, json_columns, parse_json, to_i64, to_u64};
use crate::record::Outcome;

/// A record's values, typed for the columns.
pub(super) struct Row<'a> {
    r: &'a Record,
    ints: [i64; 6],
    status: i32,
    outcome: &'static str,
    json: [String; 3],
}

impl<'a> Row<'a> {
    pub(super) fn of(r: &'a Record) -> anyhow::Result<Row<'a>> {
        Ok(Row {
            r,
            ints: [
                to_i64(r.prompt_tokens),
                to_i64(r.completion_tokens),
                to_i64(r.cached_tokens),
                to_i64(r.bytes_in),
                to_i64(r.bytes_out),
                i64::from(r.failovers),
            ],
            status: i32::from(r.status),
            outcome: r.outcome.name(),
            json: json_columns(r)?,
        })
    }

    /// In `COLUMNS` order.
    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 34] {
        let r = self.r;
        [
            &r.id,
            &r.started_at_ms,
            &r.duration_ms,
            &r.key,
            &r.dialect,
            &r.requested,
            &r.route,
            &r.policy,
            &r.model,
            &r.provider,
            &self.status,
            &self.outcome,
            &r.error,
            &r.stream,
            &self.ints[0],
            &self.ints[1],
            &self.ints[2],
            &r.tokens_estimated,
            &r.cost_usd,
            &r.cost_known,
            &self.ints[3],
            &self.ints[4],
            &r.ttft_ms,
            &r.upstream_ms,
            &r.overhead_ms,
            &self.ints[5],
            &self.json[0],
            &self.json[1],
            &self.json[2],
            &r.prompt,
            &r.answer,
            &r.shadow,
            &r.cache,
            &r.cost_saved_usd,
        ]
    }
}

pub(super) fn record(row: &tokio_postgres::Row) -> anyhow::Result<Record> {
    let outcome: String = row.try_get(11)?;
    let status: i32 = row.try_get(10)?;
    let failovers: i64 = row.try_get(25)?;
    let (labels, plan, attempts) = parse_json(
        &row.try_get::<_, String>(26)?,
        &row.try_get::<_, String>(27)?,
        &row.try_get::<_, String>(28)?,
    )?;
    Ok(Record {
        id: row.try_get(0)?,
        started_at_ms: row.try_get(1)?,
        duration_ms: row.try_get(2)?,
        key: row.try_get(3)?,
        dialect: row.try_get(4)?,
        requested: row.try_get(5)?,
        route: row.try_get(6)?,
        policy: row.try_get(7)?,
        model: row.try_get(8)?,
        provider: row.try_get(9)?,
        status: u16::try_from(status).unwrap_or(0),
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Error),
        error: row.try_get(12)?,
        stream: row.try_get(13)?,
        prompt_tokens: to_u64(row.try_get(14)?),
        completion_tokens: to_u64(row.try_get(15)?),
        cached_tokens: to_u64(row.try_get(16)?),
        tokens_estimated: row.try_get(17)?,
        cost_usd: row.try_get(18)?,
        cost_known: row.try_get(19)?,
        bytes_in: to_u64(row.try_get(20)?),
        bytes_out: to_u64(row.try_get(21)?),
        ttft_ms: row.try_get(22)?,
        upstream_ms: row.try_get(23)?,
        overhead_ms: row.try_get(24)?,
        failovers: u32::try_from(failovers).unwrap_or(u32::MAX),
        labels,
        plan,
        attempts,
        prompt: row.try_get(29)?,
        answer: row.try_get(30)?,
        shadow: row.try_get(31)?,
        cache: row.try_get(32)?,
        cost_saved_usd: row.try_get(33)?,
        scores: vec![],
    })
}
