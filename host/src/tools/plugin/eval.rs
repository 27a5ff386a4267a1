//! `switchyard plugin eval`: run an evaluator on recorded answers, one
//! evaluation per line, with the gateway's own runtime, limits and request
//! parsing but without a gateway: no listener, no providers, no network.
//!
//! Input: JSON Lines, each `{"request": BODY, "answer": "text" |
//! CHAT_COMPLETION, "metadata": {..}, "name": ".."}` ([`parse_eval_line`]).
//! As in the gateway, every evaluation gets a fresh instance, under the
//! evaluator deadline; `models.complete` answers `--complete-reply`, or
//! fails with [`NO_MODELS`]. Each line prints its scores (or its error) and
//! the time the evaluation took — instantiation and call, what one
//! evaluation costs the gateway — then a summary: the mean of each score
//! name, the labels counted, the errors, and the median time per call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::harness::{Reply, fault, load_plugin, one_line};
use super::recorded::{EvalCase, parse_eval_line, read_config};
use crate::runtime::{
    Completer, EvalInput, Plugin, PluginCaps, PluginKind, Runtime, RuntimeOptions, Score,
};

/// The error `models.complete` answers without `--complete-reply`.
pub const NO_MODELS: &str =
    "no models in plugin eval (give --complete-reply TEXT to answer model calls)";

/// `switchyard plugin eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The evaluator: a `.wasm` component file, or the name of a built-in
    /// plugin (`match`, `refusal`, `json`, `length`, `judge`).
    pub plugin: String,
    /// Cases, JSON Lines: each {"request": BODY, "answer": "text" |
    /// CHAT_COMPLETION, "metadata": {..}, "name": ".."}.
    #[arg(long)]
    pub cases: PathBuf,
    /// The evaluator's config: JSON text, or @FILE (JSON; TOML when the file
    /// name ends in .toml).
    #[arg(long)]
    pub config: Option<String>,
    /// Print one JSON object per case, then one `{"summary": …}` line.
    #[arg(long)]
    pub json: bool,
    /// What `models.complete` answers (by default it fails with "no models
    /// in plugin eval").
    #[arg(long, value_name = "TEXT")]
    pub complete_reply: Option<String>,
    /// Evaluate each case this many times (the scores of the first are
    /// printed; every run is timed), for a steadier time per call.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: u32,
    /// Wall-clock budget of one evaluation, as `[plugins] evaluator_timeout_ms`.
    #[arg(long, default_value_t = 500)]
    pub timeout_ms: u64,
    /// Linear memory cap of the instance, as `[plugins] memory_limit_mb`.
    #[arg(long, default_value_t = 64)]
    pub memory_limit_mb: usize,
}

/// What one line came to.
enum Verdict {
    Scored(Vec<Score>),
    Failed { kind: &'static str, message: String },
}

/// Evaluate one case once; the time covers instantiation and the call.
async fn evaluate(
    rt: &Runtime,
    plugin: &Plugin,
    config: Option<Arc<str>>,
    case: &EvalCase,
    reply: &Arc<dyn Completer>,
) -> (Verdict, Duration) {
    let input = EvalInput {
        request_id: "plugin-eval".into(),
        request: Arc::new(case.request.clone()),
        metadata: Arc::new(case.metadata.clone()),
        route: None,
        model: case.request.model.as_str().into(),
        response: Arc::new(case.response.clone()),
        other: None,
    };
    let started = Instant::now();
    let result = rt
        .evaluate(plugin, config, input, Some(reply.clone()))
        .await;
    let took = started.elapsed();
    let verdict = match result {
        Ok(Ok(scores)) => Verdict::Scored(scores),
        Ok(Err(message)) => Verdict::Failed {
            kind: "evaluator-error",
            message,
        },
        Err(e) => Verdict::Failed {
            kind: fault(&e),
            message: e.to_string(),
        },
    };
    (verdict, took)
}

fn ms(d: Duration) -> f64 {
    // Microsecond resolution: finer digits are noise.
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn render_text(line: usize, name: Option<&str>, verdict: &Verdict, took: Duration) -> String {
    let head = match name {
        Some(n) => format!("line {line} ({n}):"),
        None => format!("line {line}:"),
    };
    match verdict {
        Verdict::Scored(scores) if scores.is_empty() => {
            format!("{head} (nothing to score)  {:.3} ms", ms(took))
        }
        Verdict::Scored(scores) => {
            let parts: Vec<String> = scores
                .iter()
                .map(|s| {
                    let mut p = format!("{}={}", s.name, round(s.value));
                    if let Some(l) = &s.label {
                        p.push_str(&format!(" [{l}]"));
                    }
                    if let Some(e) = &s.explanation {
                        p.push_str(&format!(" {}", one_line(e)));
                    }
                    p
                })
                .collect();
            format!("{head} {}  {:.3} ms", parts.join("; "), ms(took))
        }
        Verdict::Failed { kind, message } => {
            format!("{head} error ({kind}): {}", one_line(message))
        }
    }
}

/// A score as printed: at most 4 decimals, no trailing zeros.
fn round(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

fn render_json(line: usize, name: Option<&str>, verdict: &Verdict, took: Duration) -> String {
    let mut out = Map::new();
    out.insert("line".into(), json!(line));
    if let Some(n) = name {
        out.insert("name".into(), json!(n));
    }
    match verdict {
        Verdict::Scored(scores) => {
            out.insert("ok".into(), json!(true));
            out.insert(
                "scores".into(),
                Value::Array(
                    scores
                        .iter()
                        .map(|s| {
                            json!({
                                "name": s.name,
                                "value": s.value,
                                "label": s.label,
                                "explanation": s.explanation,
                            })
                        })
                        .collect(),
                ),
            );
        }
        Verdict::Failed { kind, message } => {
            out.insert("ok".into(), json!(false));
            out.insert("error".into(), json!({"kind": kind, "message": message}));
        }
    }
    out.insert("ms".into(), json!(ms(took)));
    Value::Object(out).to_string()
}

/// The figures of one score name over the run.
#[derive(Default)]
struct Tally {
    sum: f64,
    count: usize,
    labels: BTreeMap<String, usize>,
}

/// What the run came to.
#[derive(Default)]
struct Summary {
    cases: usize,
    scored: usize,
    nothing: usize,
    errors: usize,
    scores: BTreeMap<String, Tally>,
    times: Vec<Duration>,
}

impl Summary {
    fn add(&mut self, verdict: &Verdict) {
        self.cases += 1;
        match verdict {
            Verdict::Scored(s) if s.is_empty() => self.nothing += 1,
            Verdict::Scored(scores) => {
                self.scored += 1;
                for s in scores {
                    let t = self.scores.entry(s.name.clone()).or_default();
                    t.sum += s.value;
                    t.count += 1;
                    if let Some(l) = &s.label {
                        *t.labels.entry(l.clone()).or_default() += 1;
                    }
                }
            }
            Verdict::Failed { .. } => self.errors += 1,
        }
    }

    /// The median and 90th percentile of the timed calls.
    fn percentiles(&self) -> Option<(Duration, Duration)> {
        let mut t = self.times.clone();
        if t.is_empty() {
            return None;
        }
        t.sort();
        let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.9)))
    }

    fn text(&self) -> String {
        let mut out = format!(
            "summary: {} cases: {} scored, {} with nothing to score, {} errors\n",
            self.cases, self.scored, self.nothing, self.errors
        );
        for (name, t) in &self.scores {
            let labels: Vec<String> = t.labels.iter().map(|(l, n)| format!("{l}={n}")).collect();
            out.push_str(&format!(
                "  {name}: mean {:.3} over {}{}\n",
                t.sum / t.count as f64,
                t.count,
                if labels.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", labels.join(", "))
                }
            ));
        }
        if let Some((p50, p90)) = self.percentiles() {
            out.push_str(&format!(
                "time per call (a fresh instance + evaluate): median {:.3} ms, p90 {:.3} ms over {} calls",
                ms(p50),
                ms(p90),
                self.times.len()
            ));
        }
        out
    }

    fn json(&self) -> String {
        let scores: Map<String, Value> = self
            .scores
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    json!({"mean": t.sum / t.count as f64, "count": t.count, "labels": t.labels}),
                )
            })
            .collect();
        let (p50, p90) = self.percentiles().unzip();
        json!({"summary": {
            "cases": self.cases,
            "scored": self.scored,
            "nothing_to_score": self.nothing,
            "errors": self.errors,
            "scores": scores,
            "calls": self.times.len(),
            "median_ms": p50.map(ms),
            "p90_ms": p90.map(ms),
        }})
        .to_string()
    }
}

/// Print a line; a closed stdout (`| head`) ends the run with an error
/// rather than a panic.
fn emit(line: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout();
    writeln!(out, "{line}").context("writing to stdout")
}

/// `switchyard plugin eval`. Fails (non-zero exit) when any case failed.
pub async fn eval_plugin(args: EvalArgs) -> anyhow::Result<()> {
    let cases = std::fs::read_to_string(&args.cases)
        .with_context(|| format!("reading --cases {}", args.cases.display()))?;
    let config: Option<Arc<str>> = args
        .config
        .as_deref()
        .map(read_config)
        .transpose()?
        .map(Into::into);
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: crate::tools::cli::default_cache_dir(),
        caps: PluginCaps {
            evaluator_deadline: Duration::from_millis(args.timeout_ms),
            memory_bytes: args.memory_limit_mb << 20,
            ..PluginCaps::default()
        },
    })?;
    let plugin = load_plugin(&rt, &args.plugin, PluginKind::Evaluator, "plugin eval")?;
    let reply: Arc<dyn Completer> = Arc::new(Reply {
        text: args.complete_reply.clone(),
        none: NO_MODELS,
    });
    let mut summary = Summary::default();
    for (i, text) in cases.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let line = i + 1;
        let (name, verdict, took) = match parse_eval_line(text) {
            Err(e) => (
                None,
                Verdict::Failed {
                    kind: "input",
                    message: format!("{e:#}"),
                },
                Duration::ZERO,
            ),
            Ok(case) => {
                let (verdict, took) = evaluate(&rt, &plugin, config.clone(), &case, &reply).await;
                summary.times.push(took);
                for _ in 1..args.repeat {
                    let (_, t) = evaluate(&rt, &plugin, config.clone(), &case, &reply).await;
                    summary.times.push(t);
                }
                (case.name, verdict, took)
            }
        };
        summary.add(&verdict);
        let out = if args.json {
            render_json(line, name.as_deref(), &verdict, took)
        } else {
            render_text(line, name.as_deref(), &verdict, took)
        };
        emit(&out)?;
    }
    if summary.cases == 0 {
        bail!("{}: no cases", args.cases.display());
    }
    if args.json {
        emit(&summary.json())?;
    } else {
        emit(summary.text().trim_end())?;
    }
    if summary.errors > 0 {
        bail!("{} of {} cases failed", summary.errors, summary.cases);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(name: &str, value: f64, label: &str) -> Score {
        Score {
            name: name.into(),
            value,
            label: Some(label.into()),
            explanation: None,
        }
    }

    #[test]
    fn the_summary_counts_and_averages() {
        let mut s = Summary::default();
        s.add(&Verdict::Scored(vec![score("m", 1.0, "pass")]));
        s.add(&Verdict::Scored(vec![score("m", 0.0, "fail")]));
        s.add(&Verdict::Scored(vec![score("m", 1.0, "pass")]));
        s.add(&Verdict::Scored(vec![]));
        s.add(&Verdict::Failed {
            kind: "input",
            message: "x".into(),
        });
        s.times = [3, 1, 2, 5, 4].map(Duration::from_millis).to_vec();
        let text = s.text();
        assert!(
            text.starts_with(
                "summary: 5 cases: 3 scored, 1 with nothing to score, 1 errors\n  m: mean 0.667 over 3 (fail=1, pass=2)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("median 3.000 ms, p90 5.000 ms over 5 calls"),
            "{text}"
        );
        let j: Value = serde_json::from_str(&s.json()).unwrap();
        assert_eq!(j["summary"]["scores"]["m"]["count"], 3);
        assert_eq!(j["summary"]["median_ms"], 3.0);
        assert_eq!(j["summary"]["errors"], 1);
    }

    #[test]
    fn lines_print_scores_labels_and_explanations() {
        let mut s = score("match", 0.0, "fail");
        s.explanation = Some("expected \"a\",\ngot \"b\"".into());
        let t = render_text(
            2,
            Some("n"),
            &Verdict::Scored(vec![s, score("judge", 0.75, "4")]),
            Duration::from_micros(1500),
        );
        assert_eq!(
            t,
            "line 2 (n): match=0 [fail] expected \"a\", got \"b\"; judge=0.75 [4]  1.500 ms"
        );
        assert_eq!(
            render_text(1, None, &Verdict::Scored(vec![]), Duration::ZERO),
            "line 1: (nothing to score)  0.000 ms"
        );
        assert_eq!(round(1.0 / 3.0), "0.3333");
        assert_eq!(round(1.0), "1");
    }
}
