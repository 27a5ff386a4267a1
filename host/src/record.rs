//! One request's record: what happened to it and what it cost, filled in
//! along the request path (ingress, routing) and handed once, when the
//! request is finished, to the ledger's sinks (metrics, key accounting, the
//! request log). Plain data with its JSON form — the shape of
//! `/admin/requests` and of `switchyard logs --json`; it never does I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a request ended, for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A complete answer (a stream: ended cleanly).
    #[default]
    Ok,
    /// An error answer (refused, unknown model, every attempt failed, …).
    Error,
    /// A stream that broke after its first content; it ended with an error
    /// event, never a clean end.
    Broken,
    /// The client went away before the answer was complete.
    ClientClosed,
}

impl Outcome {
    /// The name stored and printed.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Broken => "broken",
            Outcome::ClientClosed => "client_closed",
        }
    }

    /// The outcome named `s`.
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "ok" => Outcome::Ok,
            "error" => Outcome::Error,
            "broken" => Outcome::Broken,
            "client_closed" => Outcome::ClientClosed,
            _ => return None,
        })
    }
}

/// One upstream attempt of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Attempt {
    /// The config's model name.
    pub model: String,
    /// The provider's name.
    pub provider: String,
    /// `ok`, or the failure kind (`rate_limited`, `timeout`, `upstream`,
    /// `plugin`, …), or `breaker_open` for a target skipped by its breaker.
    pub outcome: String,
    /// The upstream's HTTP status, when one answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// From the attempt's start to its answer or failure (a committed
    /// stream: to its end), milliseconds.
    pub latency_ms: f64,
    /// From the attempt's start to its first content event (streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// What went wrong, for a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Attempt {
    /// Whether the attempt served the request.
    pub fn ok(&self) -> bool {
        self.outcome == "ok"
    }
}

/// One request, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Record {
    /// The request id (`x-switchyard-request-id`).
    pub id: String,
    /// When the request arrived, milliseconds since the Unix epoch (UTC).
    pub started_at_ms: i64,
    /// From arrival to the last byte of the answer (or the client leaving),
    /// milliseconds.
    pub duration_ms: f64,
    /// The client key's name, when keys are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `openai`, `anthropic` or `responses`.
    pub dialect: String,
    /// The `model` the client asked for (a model or a route name).
    pub requested: String,
    /// The route, when `requested` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The route's policy plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The policy's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The planned models in attempt order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<String>,
    /// Every attempt, in order.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Times the request moved on to another model after a failure.
    pub failovers: u32,
    /// The model that served the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Its provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The HTTP status the client got.
    pub status: u16,
    /// How it ended.
    pub outcome: Outcome,
    /// The error the client saw (or the stream's break), when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Prompt tokens, cached ones included.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Prompt tokens the provider served from its cache.
    pub cached_tokens: u64,
    /// Whether the tokens are the gateway's estimate (the upstream reported
    /// none).
    pub tokens_estimated: bool,
    /// What the request cost, USD.
    pub cost_usd: f64,
    /// Whether the serving model has a price (configured or in the
    /// catalog); an unknown one costs 0.
    pub cost_known: bool,
    /// The response cache's part: `hit` (served from it: no upstream call,
    /// cost 0), `miss` (looked up, not found), `bypass` (the client said
    /// `Cache-Control: no-cache` or `no-store`); none when the route or
    /// model does not cache the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// What a cache hit saved: the answer's tokens at the model's prices,
    /// USD.
    #[serde(default)]
    pub cost_saved_usd: f64,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Answer body bytes sent to the client.
    pub bytes_out: u64,
    /// Time to the first content sent to the client (streams), ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Time spent waiting on upstreams, ms.
    pub upstream_ms: f64,
    /// The gateway's own time: `duration_ms` less upstream waits (streams:
    /// less the time spent waiting for the upstream and the client), ms.
    pub overhead_ms: f64,
    /// The prompt's text, when the log keeps bodies (`[log] bodies`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The answer's text, when the log keeps bodies (a stored answer of
    /// the Responses API: its `output` items as JSON, to continue from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Scores of the answer: evaluators' and the application's feedback.
    /// They arrive after the record is written (evaluations run off the
    /// request path), so the log keeps them apart and joins them on read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Score>,
    /// A shadow request: the operator's comparison traffic, not a client's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

/// One score of a request's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Score {
    /// The request scored.
    pub request_id: String,
    /// When it was scored, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// `evaluator:NAME`, or `feedback`.
    pub source: String,
    /// What was scored (`match`, `json`, `judge`, a feedback name, …).
    pub name: String,
    /// 0 (worst) to 1 (best).
    pub value: f64,
    /// A short verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The model that gave the answer scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The route it was served by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

impl Record {
    /// Why the request moved on to another model, once per move: the
    /// outcome of the last attempt on the model it left.
    pub fn failover_reasons(&self) -> impl Iterator<Item = &str> {
        self.attempts
            .windows(2)
            .filter(|w| !w[0].ok() && w[0].model != w[1].model)
            .map(|w| w[0].outcome.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_by_name() {
        for o in [
            Outcome::Ok,
            Outcome::Error,
            Outcome::Broken,
            Outcome::ClientClosed,
        ] {
            assert_eq!(Outcome::parse(o.name()), Some(o));
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::Value::String(o.name().into())
            );
        }
        assert_eq!(Outcome::parse("fine"), None);
    }

    #[test]
    fn a_record_round_trips_through_json() {
        let r = Record {
            id: "r1".into(),
            started_at_ms: 1_700_000_000_000,
            duration_ms: 12.5,
            dialect: "openai".into(),
            requested: "auto".into(),
            route: Some("auto".into()),
            labels: [("tier".to_owned(), "small".to_owned())].into(),
            plan: vec!["a".into(), "b".into()],
            attempts: vec![
                Attempt {
                    model: "a".into(),
                    provider: "p".into(),
                    outcome: "rate_limited".into(),
                    status: Some(429),
                    latency_ms: 3.0,
                    ..Attempt::default()
                },
                Attempt {
                    model: "b".into(),
                    provider: "p".into(),
                    outcome: "ok".into(),
                    status: Some(200),
                    latency_ms: 8.0,
                    ..Attempt::default()
                },
            ],
            failovers: 1,
            model: Some("b".into()),
            status: 200,
            cost_usd: 0.001,
            cost_known: true,
            ..Record::default()
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), r);
        assert!(r.attempts[1].ok() && !r.attempts[0].ok());
        assert_eq!(r.failover_reasons().collect::<Vec<_>>(), ["rate_limited"]);
    }
}
