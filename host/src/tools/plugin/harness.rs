//! `switchyard plugin test`: run a policy on recorded requests, one decision
//! per line, with the gateway's own runtime, limits and request parsing but
//! without a gateway: no listener, no providers, no network.
//!
//! Input: JSON Lines, each line an OpenAI chat-completions body, or an object
//! `{"request": BODY, "metadata": {..}, "candidates": [..], "token_estimate":
//! N, "name": ".."}` (all but `request` optional). Candidates come from the
//! line or from `--candidates`; a candidate is an object of the WIT
//! `candidate` record in snake case (only `model` required) or just a model
//! name. What differs from the gateway, on purpose: candidates are handed to
//! the policy as given (no capability filtering), and `models.complete`
//! answers `--complete-reply` or the error "no models in plugin test".
//! One instance serves every line, as a warm instance in the gateway would;
//! after a trap a fresh one takes over. The `state` store is shared by all
//! lines, like a route's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::recorded::{Case, parse_candidates, parse_line, read_config};
use crate::runtime::{
    Candidate, Completer, Completion, CompletionRequest, Decision, KvStore, Plugin, PluginCaps,
    PluginError, PluginKind, PluginSource, PolicyInstance, RequestView, Runtime, RuntimeOptions,
};

/// The error `models.complete` answers without `--complete-reply`.
pub const NO_MODELS: &str = "no models in plugin test";

/// `switchyard plugin test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The policy: a `.wasm` component file, or the name of a built-in plugin.
    pub plugin: String,
    /// Recorded requests, JSON Lines: each line an OpenAI chat-completions
    /// body, or {"request": BODY, "metadata": {..}, "candidates": [..],
    /// "token_estimate": N, "name": ".."}.
    #[arg(long)]
    pub requests: PathBuf,
    /// Candidates for lines that carry none: a JSON list of {model,
    /// provider, capabilities, context_window, input_price, output_price,
    /// stats: {requests, latency_ewma_ms, ttft_ewma_ms, error_rate,
    /// in_flight, breaker}} (only `model` required) or model names.
    #[arg(long)]
    pub candidates: Option<PathBuf>,
    /// The route's policy config: JSON text, or @FILE (JSON; TOML when the
    /// file name ends in .toml).
    #[arg(long)]
    pub config: Option<String>,
    /// Print one JSON object per request instead of text.
    #[arg(long)]
    pub json: bool,
    /// What `models.complete` answers (by default it fails with "no models
    /// in plugin test").
    #[arg(long, value_name = "TEXT")]
    pub complete_reply: Option<String>,
    /// Wall-clock budget of one decision, as `[plugins] policy_timeout_ms`.
    #[arg(long, default_value_t = 50)]
    pub timeout_ms: u64,
    /// Linear memory cap of the instance, as `[plugins] memory_limit_mb`.
    #[arg(long, default_value_t = 64)]
    pub memory_limit_mb: usize,
}

/// `models.complete` in a tool's run: a fixed answer, or a fixed error.
pub(super) struct Reply {
    /// The answer (`--complete-reply`).
    pub text: Option<String>,
    /// The error when there is no answer.
    pub none: &'static str,
}

impl Completer for Reply {
    fn complete(
        &self,
        _req: CompletionRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Completion, String>> + Send>>
    {
        let answer = match &self.text {
            Some(text) => Ok(Completion {
                text: text.clone(),
                cached: false,
            }),
            None => Err(self.none.to_owned()),
        };
        Box::pin(std::future::ready(answer))
    }
}

/// Load the plugin, a file or else a built-in, and check that it is of the
/// kind `command` runs.
pub(super) fn load_plugin(
    rt: &Runtime,
    arg: &str,
    kind: PluginKind,
    command: &str,
) -> anyhow::Result<Plugin> {
    use crate::generation::embedded::EMBEDDED;
    let path = Path::new(arg);
    let (name, source, bytes) = if path.is_file() {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin")
            .to_owned();
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        (name, PluginSource::File(path.to_path_buf()), bytes)
    } else if let Some((n, b)) = EMBEDDED.iter().find(|(n, _)| *n == arg) {
        ((*n).to_owned(), PluginSource::Embedded, b.to_vec())
    } else if arg.ends_with(".wasm") || arg.contains('/') {
        bail!("{arg}: no such file");
    } else {
        bail!("no file `{arg}` and no built-in plugin of that name (see `switchyard plugin list`)");
    };
    let plugin = rt.load(&name, source, &bytes, None)?;
    if plugin.kind != kind {
        let runs = match kind {
            PluginKind::Policy => "policies",
            PluginKind::Adapter => "adapters",
            PluginKind::Evaluator => "evaluators",
        };
        let other = match plugin.kind {
            PluginKind::Policy => "; `plugin test` runs policies",
            PluginKind::Evaluator => "; `plugin eval` runs evaluators",
            PluginKind::Adapter => "",
        };
        bail!(
            "`{name}` is {} plugin; `{command}` runs {runs}{other}",
            match plugin.kind {
                PluginKind::Policy => "a policy",
                PluginKind::Adapter => "an adapter",
                PluginKind::Evaluator => "an evaluator",
            }
        );
    }
    Ok(plugin)
}

/// What one line came to.
enum Verdict {
    Decided(Decision),
    Failed { kind: &'static str, message: String },
}

/// The kind of a plugin fault, as the tools print it.
pub(super) fn fault(e: &PluginError) -> &'static str {
    match e {
        PluginError::Deadline { .. } => "deadline",
        PluginError::MemoryLimit { .. } => "memory-limit",
        PluginError::Trap { .. } => "trap",
        PluginError::BadReturn { .. } => "bad-return",
    }
}

struct Harness {
    rt: Runtime,
    plugin: Plugin,
    config: Option<Arc<str>>,
    kv: Arc<KvStore>,
    completer: Arc<dyn Completer>,
    instance: Option<PolicyInstance>,
}

impl Harness {
    /// Decide one case; the time covers the `route` call only.
    async fn decide(&mut self, case: Case, candidates: &[Candidate]) -> (Verdict, Duration) {
        let mut inst = match self.instance.take() {
            Some(i) if i.usable() => i,
            _ => match self.rt.policy(&self.plugin, self.config.clone()).await {
                Ok(mut i) => {
                    i.set_state(Some(self.kv.clone()));
                    i
                }
                Err(e) => {
                    return (
                        Verdict::Failed {
                            kind: fault(&e),
                            message: format!("instantiating: {e}"),
                        },
                        Duration::ZERO,
                    );
                }
            },
        };
        let smallest = candidates
            .iter()
            .map(|c| c.context_window)
            .min()
            .unwrap_or(u32::MAX);
        let token_estimate = case
            .token_estimate
            .unwrap_or_else(|| crate::routing::filter::prompt_tokens(&case.request, smallest));
        let view = RequestView {
            request: Arc::new(case.request),
            token_estimate,
            metadata: Arc::new(case.metadata),
        };
        let started = Instant::now();
        let result = inst
            .decide_with(
                view,
                candidates,
                Some(self.completer.clone()),
                Arc::default(),
            )
            .await;
        let took = started.elapsed();
        self.instance = Some(inst);
        let verdict = match result {
            Ok(Ok(d)) => match d
                .attempts
                .iter()
                .find(|a| a.candidate as usize >= candidates.len())
            {
                Some(a) => Verdict::Failed {
                    kind: "bad-return",
                    message: format!(
                        "the policy chose candidate {} of {} (the gateway would use the route's static order)",
                        a.candidate,
                        candidates.len()
                    ),
                },
                None => Verdict::Decided(d),
            },
            Ok(Err(msg)) => Verdict::Failed {
                kind: "policy-error",
                message: msg,
            },
            Err(e) => Verdict::Failed {
                kind: fault(&e),
                message: e.to_string(),
            },
        };
        (verdict, took)
    }
}

fn render_text(
    line: usize,
    name: Option<&str>,
    verdict: &Verdict,
    cands: &[Candidate],
    took: Duration,
) -> String {
    let head = match name {
        Some(n) => format!("line {line} ({n}):"),
        None => format!("line {line}:"),
    };
    match verdict {
        Verdict::Decided(d) => {
            let models: Vec<&str> = d
                .attempts
                .iter()
                .map(|a| model_of(cands, a.candidate))
                .collect();
            let labels: Vec<String> = d.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "{head} {}  [{}]  {:.3} ms",
                if models.is_empty() {
                    "(no attempts)".to_owned()
                } else {
                    models.join(", ")
                },
                labels.join(" "),
                took.as_secs_f64() * 1e3
            )
        }
        Verdict::Failed { kind, message } => {
            format!("{head} error ({kind}): {}", one_line(message))
        }
    }
}

/// The model of a chosen candidate (indices were checked in `decide`).
fn model_of(cands: &[Candidate], i: u32) -> &str {
    cands.get(i as usize).map_or("?", |c| c.model.as_str())
}

/// A message on one line: a trap's wasm backtrace is left out (`--json`
/// keeps it), other line breaks become spaces.
pub(super) fn one_line(message: &str) -> String {
    if !message.contains('\n') {
        return message.to_owned();
    }
    if let (Some(first), Some(at)) = (message.lines().next(), message.rfind("wasm trap:")) {
        let first = first.trim_end_matches("error while executing at wasm backtrace:");
        return format!("{}{}", first, &message[at..]);
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render_json(
    line: usize,
    name: Option<&str>,
    verdict: &Verdict,
    cands: &[Candidate],
    took: Duration,
) -> String {
    let mut out = Map::new();
    out.insert("line".into(), json!(line));
    if let Some(n) = name {
        out.insert("name".into(), json!(n));
    }
    match verdict {
        Verdict::Decided(d) => {
            out.insert("ok".into(), json!(true));
            let models: Vec<&str> = d
                .attempts
                .iter()
                .map(|a| model_of(cands, a.candidate))
                .collect();
            out.insert("models".into(), json!(models));
            out.insert(
                "attempts".into(),
                Value::Array(
                    d.attempts
                        .iter()
                        .map(|a| {
                            json!({
                                "candidate": a.candidate,
                                "model": model_of(cands, a.candidate),
                                "timeout_ms": a.timeout_ms,
                                "max_tokens": a.max_tokens,
                                "temperature": a.temperature,
                            })
                        })
                        .collect(),
                ),
            );
            out.insert("labels".into(), json!(d.labels));
        }
        Verdict::Failed { kind, message } => {
            out.insert("ok".into(), json!(false));
            out.insert("error".into(), json!({"kind": kind, "message": message}));
        }
    }
    // Microsecond resolution: finer digits are noise.
    out.insert("ms".into(), json!((took.as_secs_f64() * 1e6).round() / 1e3));
    Value::Object(out).to_string()
}

/// `switchyard plugin test`. Fails (non-zero exit) when any line failed.
pub async fn test_plugin(args: TestArgs) -> anyhow::Result<()> {
    let requests = std::fs::read_to_string(&args.requests)
        .with_context(|| format!("reading --requests {}", args.requests.display()))?;
    let shared: Option<Vec<Candidate>> = match &args.candidates {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --candidates {}", path.display()))?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("--candidates {}: invalid JSON", path.display()))?;
            Some(parse_candidates(v, &path.display().to_string())?)
        }
        None => None,
    };
    let config: Option<Arc<str>> = args
        .config
        .as_deref()
        .map(read_config)
        .transpose()?
        .map(Into::into);
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: crate::tools::cli::default_cache_dir(),
        caps: PluginCaps {
            policy_deadline: Duration::from_millis(args.timeout_ms),
            memory_bytes: args.memory_limit_mb << 20,
            ..PluginCaps::default()
        },
    })?;
    let plugin = load_plugin(&rt, &args.plugin, PluginKind::Policy, "plugin test")?;
    let mut harness = Harness {
        rt,
        plugin,
        config,
        kv: Arc::new(KvStore::default()),
        completer: Arc::new(Reply {
            text: args.complete_reply.clone(),
            none: NO_MODELS,
        }),
        instance: None,
    };
    let (mut total, mut failed) = (0usize, 0usize);
    for (i, text) in requests.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let line = i + 1;
        total += 1;
        let (name, verdict, cands, took) = match parse_line(text) {
            Err(e) => (
                None,
                Verdict::Failed {
                    kind: "input",
                    message: format!("{e:#}"),
                },
                vec![],
                Duration::ZERO,
            ),
            Ok(mut case) => {
                let name = case.name.take();
                match case.candidates.take().or_else(|| shared.clone()) {
                    None => (
                        name,
                        Verdict::Failed {
                            kind: "input",
                            message:
                                "no candidates: give --candidates FILE or `candidates` on the line"
                                    .into(),
                        },
                        vec![],
                        Duration::ZERO,
                    ),
                    Some(cands) => {
                        let (verdict, took) = harness.decide(case, &cands).await;
                        (name, verdict, cands, took)
                    }
                }
            }
        };
        if matches!(verdict, Verdict::Failed { .. }) {
            failed += 1;
        }
        let out = if args.json {
            render_json(line, name.as_deref(), &verdict, &cands, took)
        } else {
            render_text(line, name.as_deref(), &verdict, &cands, took)
        };
        println!("{out}");
    }
    if total == 0 {
        bail!("{}: no requests", args.requests.display());
    }
    if failed > 0 {
        bail!("{failed} of {total} requests failed");
    }
    eprintln!("{total} requests decided");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_messages_fit_on_one_line() {
        let m = "plugin `p` trapped: error while executing at wasm backtrace:\n    0: 0x1 - f\n    1: 0x2 - g: wasm trap: wasm `unreachable` instruction executed";
        assert_eq!(
            one_line(m),
            "plugin `p` trapped: wasm trap: wasm `unreachable` instruction executed"
        );
        assert_eq!(one_line("a\nb"), "a b");
    }
}
