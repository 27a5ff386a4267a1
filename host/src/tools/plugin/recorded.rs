//! The input files of `switchyard plugin test` and `plugin eval`:
//! candidates (with their stats), recorded request lines and evaluation
//! cases (a request and its answer), parsed into what the runtime takes,
//! with errors that name the offending field; and the plugin's config.
//! Parsing only: it never
//! runs a plugin.

use anyhow::{Context as _, anyhow, bail};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::canonical::{
    ChatRequest, ChatResponse, Choice, Content, FinishReason, Message, Role, ToolCall, Usage,
};
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
    let body = if let Some(request) = obj.remove("request") {
        for (k, v) in std::mem::take(&mut obj) {
            match k.as_str() {
                "name" => {
                    name = Some(
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| anyhow!("`name`: expected a string"))?,
                    )
                }
                "metadata" => extra_metadata = parse_metadata(v)?,
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
    let request = parse_body(body)?;
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

/// A request body as the gateway parses it; a body that names no model
/// gets [`DEFAULT_MODEL`] (recorded bodies name one, hand-written ones need
/// not).
fn parse_body(mut body: Map<String, Value>) -> anyhow::Result<ChatRequest> {
    body.entry("model")
        .or_insert_with(|| Value::String(DEFAULT_MODEL.into()));
    let bytes = serde_json::to_vec(&Value::Object(body))?;
    crate::ingress::openai::parse_request(&bytes).map_err(|e| {
        let at = e
            .param
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        anyhow!("request{at}: {}", e.message)
    })
}

/// A line's `metadata`: an object; values other than strings as their JSON.
fn parse_metadata(v: Value) -> anyhow::Result<Vec<(String, String)>> {
    let Value::Object(m) = v else {
        bail!("`metadata`: expected an object of strings");
    };
    Ok(m.into_iter().map(|(k, v)| (k, metadata_value(v))).collect())
}

/// One line of `plugin eval`'s cases file, parsed.
pub struct EvalCase {
    /// The line's `name`.
    pub name: Option<String>,
    /// The parsed request.
    pub request: ChatRequest,
    /// The body's metadata, then the line's.
    pub metadata: Vec<(String, String)>,
    /// The answer.
    pub response: ChatResponse,
}

/// Parse one line of `plugin eval`: `{"request": BODY, "answer": "text" |
/// CHAT_COMPLETION, "metadata": {..}, "name": ".."}` (`request` and
/// `answer` required).
pub fn parse_eval_line(text: &str) -> anyhow::Result<EvalCase> {
    let v: Value = serde_json::from_str(text).map_err(|e| anyhow!("not JSON: {e}"))?;
    let Value::Object(obj) = v else {
        bail!("expected a JSON object {{\"request\": …, \"answer\": …}}");
    };
    let (mut name, mut extra_metadata, mut body, mut answer) = (None, vec![], None, None);
    for (k, v) in obj {
        match k.as_str() {
            "name" => {
                name = Some(
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| anyhow!("`name`: expected a string"))?,
                )
            }
            "metadata" => extra_metadata = parse_metadata(v)?,
            "request" => {
                let Value::Object(b) = v else {
                    bail!("`request`: expected a chat-completions body (an object)");
                };
                body = Some(b);
            }
            "answer" => answer = Some(v),
            other => bail!(
                "unknown key `{other}` (a line is an object of `request`, `answer`, `metadata`, `name`)"
            ),
        }
    }
    let body = body.ok_or_else(|| anyhow!("no `request` (the chat-completions body answered)"))?;
    let answer = answer.ok_or_else(|| {
        anyhow!("no `answer` (the answer's text, or an OpenAI chat.completion body)")
    })?;
    let request = parse_body(body)?;
    let response = parse_answer(answer, &request.model)?;
    let mut metadata = request.metadata.clone();
    metadata.append(&mut extra_metadata);
    Ok(EvalCase {
        name,
        request,
        metadata,
        response,
    })
}

/// An OpenAI chat.completion body, as far as evaluators see it.
#[derive(Debug, Deserialize)]
struct CompletionIn {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    created: Option<u64>,
    choices: Vec<ChoiceIn>,
    #[serde(default)]
    usage: Option<UsageIn>,
}

#[derive(Debug, Deserialize)]
struct ChoiceIn {
    message: MessageIn,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageIn {
    #[serde(default)]
    content: Option<ContentIn>,
    #[serde(default)]
    tool_calls: Vec<ToolCallIn>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ContentIn {
    Text(String),
    Parts(Vec<PartIn>),
}

#[derive(Debug, Deserialize)]
struct PartIn {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ToolCallIn {
    #[serde(default)]
    id: String,
    function: FunctionIn,
}

#[derive(Debug, Deserialize)]
struct FunctionIn {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Debug, Deserialize)]
struct UsageIn {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    #[serde(default)]
    total_tokens: Option<u32>,
}

/// A finish reason in OpenAI's spelling.
fn finish_reason(s: &str) -> FinishReason {
    match s {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// A line's `answer`: its text (finish reason `stop`, no usage), or an
/// OpenAI chat.completion body (its first choice is the answer).
pub fn parse_answer(v: Value, model: &str) -> anyhow::Result<ChatResponse> {
    let (text, tool_calls, finish, usage, id, upstream, created) = match v {
        Value::String(text) => (
            Some(text),
            vec![],
            Some(FinishReason::Stop),
            None,
            None,
            None,
            None,
        ),
        v @ Value::Object(_) => {
            let c: CompletionIn = serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                anyhow!("`answer.{path}`: {}", e.into_inner())
            })?;
            let Some(first) = c.choices.into_iter().next() else {
                bail!("`answer.choices`: no choice");
            };
            let text = match first.message.content {
                None => None,
                Some(ContentIn::Text(t)) => Some(t),
                Some(ContentIn::Parts(parts)) => Some(
                    parts
                        .into_iter()
                        .filter_map(|p| p.text)
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
            };
            let tool_calls = first
                .message
                .tool_calls
                .into_iter()
                .map(|t| ToolCall {
                    id: t.id,
                    name: t.function.name,
                    arguments: t.function.arguments,
                })
                .collect();
            let usage = c.usage.map(|u| Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                total_tokens: u
                    .total_tokens
                    .unwrap_or(u.prompt_tokens.saturating_add(u.completion_tokens)),
                cached_tokens: None,
                reasoning_tokens: None,
            });
            (
                text,
                tool_calls,
                first.finish_reason.as_deref().map(finish_reason),
                usage,
                c.id,
                c.model,
                c.created,
            )
        }
        _ => bail!("`answer`: expected the answer's text or an OpenAI chat.completion body"),
    };
    Ok(ChatResponse {
        id: id.unwrap_or_else(|| "plugin-eval".into()),
        model: upstream.unwrap_or_else(|| model.to_owned()),
        created: created.unwrap_or(0),
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                content: text.map(Content::Text),
                name: None,
                tool_calls,
                tool_call_id: None,
                extra_json: None,
            },
            finish_reason: finish,
        }],
        usage,
        system_fingerprint: None,
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
    fn eval_lines_take_text_or_a_completion() {
        let c = parse_eval_line(
            r#"{"request":{"messages":[{"role":"user","content":"hi"}],"metadata":{"a":"1"}},
                "answer":"hello","metadata":{"expected":"hello"},"name":"n"}"#,
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("n"));
        assert_eq!(crate::canonical::answer_text(&c.response), "hello");
        assert!(matches!(
            c.response.choices[0].finish_reason,
            Some(FinishReason::Stop)
        ));
        assert_eq!(
            c.metadata,
            vec![
                ("a".into(), "1".into()),
                ("expected".into(), "hello".into())
            ]
        );
        let c = parse_eval_line(
            r#"{"request":{"messages":[{"role":"user","content":"hi"}]},
                "answer":{"id":"c1","object":"chat.completion","model":"gpt-x","created":5,
                  "choices":[{"index":0,"message":{"role":"assistant","content":null,
                    "tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},
                    "finish_reason":"tool_calls"}],
                  "usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}}"#,
        )
        .unwrap();
        let choice = &c.response.choices[0];
        assert!(choice.message.content.is_none());
        assert_eq!(choice.message.tool_calls[0].name, "f");
        assert!(matches!(
            choice.finish_reason,
            Some(FinishReason::ToolCalls)
        ));
        assert_eq!(
            c.response.usage.as_ref().map(|u| u.completion_tokens),
            Some(7)
        );
        assert_eq!(c.response.model, "gpt-x");
        let c = parse_eval_line(
            r#"{"request":{"messages":[{"role":"user","content":"hi"}]},
                "answer":{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                  "finish_reason":"content_filter"}]}}"#,
        )
        .unwrap();
        assert_eq!(crate::canonical::answer_text(&c.response), "a\nb");
        assert!(matches!(
            c.response.choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        ));
    }

    #[test]
    fn bad_eval_lines_say_what_is_wrong() {
        let err = |l: &str| {
            parse_eval_line(l)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let req = r#""request":{"messages":[{"role":"user","content":"x"}]}"#;
        assert!(err(&format!("{{{req}}}")).contains("no `answer`"));
        assert!(err(r#"{"answer":"x"}"#).contains("no `request`"));
        assert!(
            err(&format!(r#"{{{req},"answer":"x","candidates":[]}}"#))
                .contains("unknown key `candidates`")
        );
        assert!(err(&format!(r#"{{{req},"answer":3}}"#)).contains("`answer`: expected"));
        assert!(err(&format!(r#"{{{req},"answer":{{"choices":[]}}}}"#)).contains("no choice"));
        assert!(
            err(&format!(
                r#"{{{req},"answer":{{"choices":[{{"message":{{"content":5}}}}]}}}}"#
            ))
            .contains("answer.choices[0].message.content")
        );
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
