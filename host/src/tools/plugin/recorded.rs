//! The input files of `switchyard plugin test`: candidates (with their
//! stats) and recorded request lines, parsed into what the runtime takes,
//! with errors that name the offending field; and the policy config.
//! Parsing only: it never
//! runs a plugin.

use anyhow::{Context as _, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::canonical::ChatRequest;
use crate::runtime::{BreakerState, Candidate, ModelStats};

/// The model name given to request bodies that name none.
pub const DEFAULT_MODEL: &str = "plugin-test";

/// A candidate as written in the input files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateIn {
    model: String,
    #[serde(default = "default_provider")]
    provider: String,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default = "default_context_window")]
    context_window: u32,
    #[serde(default)]
    input_price: f64,
    #[serde(default)]
    output_price: f64,
    #[serde(default)]
    quality: Option<f64>,
    #[serde(default)]
    stats: StatsIn,
}

fn default_provider() -> String {
    "plugin-test".into()
}

fn default_context_window() -> u32 {
    128_000
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StatsIn {
    requests: u64,
    latency_ewma_ms: f64,
    latency_p95_ms: f64,
    ttft_ewma_ms: f64,
    error_rate: f64,
    in_flight: u32,
    breaker: BreakerIn,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum BreakerIn {
    #[default]
    Closed,
    Open,
    #[serde(alias = "half_open")]
    HalfOpen,
}

impl From<CandidateIn> for Candidate {
    fn from(c: CandidateIn) -> Candidate {
        Candidate {
            model: c.model,
            provider: c.provider,
            capabilities: c.capabilities,
            context_window: c.context_window,
            input_price: c.input_price,
            output_price: c.output_price,
            quality: c.quality,
            stats: ModelStats {
                requests: c.stats.requests,
                latency_ewma_ms: c.stats.latency_ewma_ms,
                latency_p95_ms: c.stats.latency_p95_ms,
                ttft_ewma_ms: c.stats.ttft_ewma_ms,
                error_rate: c.stats.error_rate,
                in_flight: c.stats.in_flight,
                breaker: match c.stats.breaker {
                    BreakerIn::Closed => BreakerState::Closed,
                    BreakerIn::Open => BreakerState::Open,
                    BreakerIn::HalfOpen => BreakerState::HalfOpen,
                },
            },
        }
    }
}

/// Candidates from a JSON list; `what` names the list in errors.
pub fn parse_candidates(v: Value, what: &str) -> anyhow::Result<Vec<Candidate>> {
    let Value::Array(items) = v else {
        bail!("{what}: expected a JSON list of candidates");
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(model) => Ok(Candidate::from(CandidateIn {
                model,
                provider: default_provider(),
                capabilities: vec![],
                context_window: default_context_window(),
                input_price: 0.0,
                output_price: 0.0,
                quality: None,
                stats: StatsIn::default(),
            })),
            other => serde_path_to_error::deserialize::<_, CandidateIn>(other)
                .map(Candidate::from)
                .map_err(|e| {
                    let path = e.path().to_string();
                    let at = if path == "." {
                        format!("{what}[{i}]")
                    } else {
                        format!("{what}[{i}].{path}")
                    };
                    anyhow!("{at}: {}", e.into_inner())
                }),
        })
        .collect()
}

/// One line of the requests file, parsed.
pub struct Case {
    /// The line's `name`.
    pub name: Option<String>,
    /// The parsed request.
    pub request: ChatRequest,
    /// The body's metadata, then the line's.
    pub metadata: Vec<(String, String)>,
    /// The line's own candidates.
    pub candidates: Option<Vec<Candidate>>,
    /// The line's token estimate, replacing the host's.
    pub token_estimate: Option<u32>,
}

fn metadata_value(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Parse one line: a chat-completions body, or `{"request": BODY, …}`.
pub fn parse_line(text: &str) -> anyhow::Result<Case> {
    let v: Value = serde_json::from_str(text).map_err(|e| anyhow!("not JSON: {e}"))?;
    let Value::Object(mut obj) = v else {
        bail!("expected a JSON object (a chat-completions body, or {{\"request\": …}})");
    };
    let (mut name, mut extra_metadata, mut candidates, mut token_estimate) =
        (None, vec![], None, None);
    let mut body = if let Some(request) = obj.remove("request") {
        for (k, v) in std::mem::take(&mut obj) {
            match k.as_str() {
                "name" => {
                    name = Some(
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| anyhow!("`name`: expected a string"))?,
                    )
                }
                "metadata" => {
                    let Value::Object(m) = v else {
                        bail!("`metadata`: expected an object of strings");
                    };
                    extra_metadata = m.into_iter().map(|(k, v)| (k, metadata_value(v))).collect();
                }
                "candidates" => candidates = Some(parse_candidates(v, "candidates")?),
                "token_estimate" => {
                    token_estimate = Some(
                        v.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| anyhow!("`token_estimate`: expected a whole number"))?,
                    )
                }
                other => bail!(
                    "unknown key `{other}` (a line is a request body, or an object of `request`, \
                     `metadata`, `candidates`, `token_estimate`, `name`)"
                ),
            }
        }
        let Value::Object(body) = request else {
            bail!("`request`: expected a chat-completions body (an object)");
        };
        body
    } else {
        obj
    };
    // Recorded bodies name a model; hand-written ones need not.
    body.entry("model")
        .or_insert_with(|| Value::String(DEFAULT_MODEL.into()));
    let bytes = serde_json::to_vec(&Value::Object(body))?;
    let request = crate::ingress::openai::parse_request(&bytes).map_err(|e| {
        let at = e
            .param
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        anyhow!("request{at}: {}", e.message)
    })?;
    // Body metadata first, then the line's (which play the headers' part).
    let mut metadata = request.metadata.clone();
    metadata.append(&mut extra_metadata);
    Ok(Case {
        name,
        request,
        metadata,
        candidates,
        token_estimate,
    })
}

/// The policy config as JSON text.
pub fn read_config(arg: &str) -> anyhow::Result<String> {
    let (text, toml) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("reading --config {path}"))?,
            path.ends_with(".toml"),
        ),
        None => (arg.to_owned(), false),
    };
    let value: Value = if toml {
        let t: toml::Value = toml::from_str(&text).context("--config: invalid TOML")?;
        serde_json::to_value(t)?
    } else {
        serde_json::from_str(&text).context("--config: invalid JSON")?
    };
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_or_a_wrapped_line() {
        let c = parse_line(r#"{"messages":[{"role":"user","content":"hi"}],"metadata":{"a":"1"}}"#)
            .unwrap();
        assert_eq!(c.request.model, DEFAULT_MODEL);
        assert_eq!(c.metadata, vec![("a".to_owned(), "1".to_owned())]);
        assert!(c.candidates.is_none());
        let c = parse_line(
            r#"{"request":{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"a":"1"}},
                "metadata":{"b":2},"candidates":["x",{"model":"y","stats":{"breaker":"half-open"}}],
                "token_estimate":7,"name":"n"}"#,
        )
        .unwrap();
        assert_eq!(c.request.model, "m");
        assert_eq!(c.name.as_deref(), Some("n"));
        assert_eq!(c.token_estimate, Some(7));
        assert_eq!(
            c.metadata,
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        let cands = c.candidates.unwrap();
        assert_eq!(cands[0].model, "x");
        assert_eq!(cands[1].stats.breaker, BreakerState::HalfOpen);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let err = |l: &str| {
            parse_line(l)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(r#"{"request":{"messages":[]},"extra":1}"#).contains("unknown key `extra`"));
        assert!(err(r#"[1]"#).contains("expected a JSON object"));
        assert!(err(r#"{"messages":"hi"}"#).contains("messages"));
        assert!(
            err(r#"{"request":{"messages":[{"role":"user","content":"x"}]},"candidates":[{"model":"a","stats":{"breaker":"ajar"}}]}"#)
                .contains("candidates[0].stats.breaker")
        );
    }
}
