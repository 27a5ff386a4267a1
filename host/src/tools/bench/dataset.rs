//! The dataset of `switchyard bench`: JSON Lines, one task per line, read as
//! a stream (a file of any length runs in bounded memory). A first pass
//! checks every line and reports the bad ones by line number before anything
//! is sent; the second pass hands out the tasks.
//!
//! A line: `{"task": "classify", "messages": [...] | "prompt": "...",
//! "expected": …, "eval": {...}, "metadata": {...}, "params": {...}}`.
//! `params` are further fields of the chat-completions body (`max_tokens`,
//! `temperature`, `response_format`, `tools`, …). `eval` says how an answer
//! is scored:
//!
//! | `eval` | evaluator |
//! |---|---|
//! | `{"match": "exact"\|"contains"\|"regex"\|"number"\|"one-of"\|"json"\|"json-fields", …}` | `match` with that mode (other keys are its config: `tolerance`, `fields`, …) |
//! | `{"json": SCHEMA}` (or `true`) | `json`: valid JSON matching the schema |
//! | `{"judge": "RUBRIC", …}` | `judge` asking the `--judge` model (other keys: `scale`, …) |
//! | `{"evaluator": "NAME"}` | the config's `[evaluators.NAME]` |
//!
//! Without `eval`, a task with `expected` is scored by `match` in `exact`
//! mode, and one without either is not scored.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};

/// How many bad lines are reported before the rest are only counted.
const SHOWN_ERRORS: usize = 20;
/// Distinct `eval` specs a dataset may use (each is an evaluator).
const MAX_SPECS: usize = 256;

/// One task of the dataset.
#[derive(Debug, Clone)]
pub struct Task {
    /// Its 1-based line number.
    pub line: u64,
    /// `metadata.id`, else `line-N`.
    pub id: String,
    /// The task type.
    pub task: String,
    /// The chat-completions body without `model`.
    pub body: Map<String, Value>,
    /// The expected answer as text (strings as they are, other values as
    /// JSON).
    pub expected: Option<String>,
    /// How it is scored.
    pub eval: Option<EvalSpec>,
    /// Request metadata: the dataset's, plus `task` and `expected`.
    pub metadata: Vec<(String, String)>,
    /// A request already parsed (a replay's, from any client dialect):
    /// sent instead of `body`, which then only keys the cache.
    pub request: Option<std::sync::Arc<crate::canonical::ChatRequest>>,
}

/// An evaluator for a task: a plugin with its config, or a named
/// `[evaluators.NAME]` of the config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvalSpec {
    /// A built-in evaluator plugin and its config (canonical JSON text).
    Plugin {
        /// `match`, `json` or `judge`.
        plugin: String,
        /// Its config as JSON text.
        config: String,
    },
    /// `[evaluators.NAME]`.
    Named(String),
}

/// What the first pass learned.
#[derive(Debug, Default)]
pub struct Checked {
    /// Tasks read.
    pub tasks: u64,
    /// Task types with their counts, and the first prompt of each.
    pub types: BTreeMap<String, (u64, String)>,
    /// Task types in first-seen order.
    pub order: Vec<String>,
    /// Distinct evaluators used.
    pub specs: Vec<EvalSpec>,
    /// Whether some task asks for a judge.
    pub needs_judge: bool,
}

/// Read and check the whole dataset: all bad lines are reported together.
/// `keep` selects the tasks that will run (by id); others are not counted.
pub fn check(
    path: &Path,
    judge: Option<&str>,
    keep: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Checked> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read the dataset {}: {e}", path.display()))?;
    let mut out = Checked::default();
    let mut errors = Vec::new();
    let mut bad = 0u64;
    let mut ids = std::collections::HashSet::new();
    let mut duplicate_ids = 0u64;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| anyhow::anyhow!("{}: line {n}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse(&line, n, judge) {
            Ok(t) => {
                if !keep(&t.id) {
                    continue;
                }
                // Ids key the paired comparisons and the cache; a repeated
                // id is kept (its line number tells it apart) but counted.
                if ids.len() < 1_000_000 && !ids.insert(t.id.clone()) {
                    duplicate_ids += 1;
                }
                out.tasks += 1;
                let prompt = first_prompt(&t.body);
                let entry = out
                    .types
                    .entry(t.task.clone())
                    .or_insert_with(|| (0, prompt));
                if entry.0 == 0 {
                    out.order.push(t.task.clone());
                }
                entry.0 += 1;
                if let Some(spec) = t.eval {
                    if matches!(&spec, EvalSpec::Plugin { plugin, .. } if plugin == "judge") {
                        out.needs_judge = true;
                    }
                    if !out.specs.contains(&spec) {
                        if out.specs.len() >= MAX_SPECS {
                            anyhow::bail!(
                                "{}: line {n}: more than {MAX_SPECS} distinct `eval` specs; \
                                 name an evaluator of the config ({{\"evaluator\": \"NAME\"}}) instead",
                                path.display()
                            );
                        }
                        out.specs.push(spec);
                    }
                }
            }
            Err(e) => {
                bad += 1;
                if errors.len() < SHOWN_ERRORS {
                    errors.push(format!("line {n}: {e}"));
                }
            }
        }
    }
    if bad > 0 {
        let more = if bad as usize > errors.len() {
            format!("\n  … and {} more", bad as usize - errors.len())
        } else {
            String::new()
        };
        anyhow::bail!(
            "{}: {bad} bad line(s); nothing was sent:\n  {}{more}",
            path.display(),
            errors.join("\n  ")
        );
    }
    if out.tasks == 0 {
        anyhow::bail!("{}: no tasks to run", path.display());
    }
    if duplicate_ids > 0 {
        tracing::warn!(
            duplicate_ids,
            "the dataset repeats task ids; they are told apart by line"
        );
    }
    Ok(out)
}

/// The tasks of a checked dataset, in file order.
pub fn tasks(
    path: &Path,
    judge: Option<&str>,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Task>>> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read the dataset {}: {e}", path.display()))?;
    let judge = judge.map(str::to_owned);
    let lines = std::io::BufReader::new(file).lines().enumerate();
    Ok(lines.filter_map(move |(i, line)| {
        let n = i as u64 + 1;
        match line {
            Err(e) => Some(Err(anyhow::anyhow!("line {n}: {e}"))),
            Ok(l) if l.trim().is_empty() => None,
            Ok(l) => {
                Some(parse(&l, n, judge.as_deref()).map_err(|e| anyhow::anyhow!("line {n}: {e}")))
            }
        }
    }))
}

/// The fields a line may have.
const FIELDS: &[&str] = &[
    "task", "messages", "prompt", "expected", "eval", "metadata", "params", "id",
];

/// Parse one line.
pub fn parse(line: &str, n: u64, judge: Option<&str>) -> Result<Task, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut o) = v else {
        return Err("a task is a JSON object".into());
    };
    if let Some(k) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `{k}` (expected one of {})",
            FIELDS.join(", ")
        ));
    }
    let task = match o.remove("task") {
        None => "default".to_owned(),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => s,
        Some(_) => return Err("`task` must be a non-empty string of at most 64 bytes".into()),
    };
    let mut body = match o.remove("params") {
        None => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err("`params` must be an object of chat-completions fields".into()),
    };
    for k in ["model", "messages", "stream", "metadata"] {
        if body.contains_key(k) {
            return Err(format!("`params.{k}` is set by bench; leave it out"));
        }
    }
    let messages = match (o.remove("messages"), o.remove("prompt")) {
        (Some(m @ Value::Array(_)), None) => m,
        (Some(_), None) => return Err("`messages` must be an array of chat messages".into()),
        (None, Some(Value::String(p))) => {
            serde_json::json!([{"role": "user", "content": p}])
        }
        (None, Some(_)) => return Err("`prompt` must be a string".into()),
        (Some(_), Some(_)) => return Err("give `messages` or `prompt`, not both".into()),
        (None, None) => return Err("missing `messages` (or `prompt`)".into()),
    };
    body.insert("messages".into(), messages);
    // The same parser as the gateway's ingress: a task the gateway would
    // refuse is refused here, with the same words.
    let mut probe = body.clone();
    probe.insert("model".into(), Value::String("bench".into()));
    let bytes = serde_json::to_vec(&probe).map_err(|e| e.to_string())?;
    crate::ingress::openai::parse_request(&bytes).map_err(|e| e.message)?;
    let expected = match o.remove("expected") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v) => Some(v.to_string()),
    };
    let mut metadata = Vec::new();
    let mut id = None;
    match o.remove("metadata") {
        None => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s,
                    v => v.to_string(),
                };
                if k == "id" {
                    id = Some(v.clone());
                }
                if k != "task" && k != "expected" {
                    metadata.push((k, v));
                }
            }
        }
        Some(_) => return Err("`metadata` must be an object".into()),
    }
    match o.remove("id") {
        None => {}
        Some(Value::String(s)) => id = Some(s),
        Some(Value::Number(x)) => id = Some(x.to_string()),
        Some(_) => return Err("`id` must be a string or a number".into()),
    }
    let eval = match o.remove("eval") {
        None => expected.as_ref().map(|_| EvalSpec::Plugin {
            plugin: "match".into(),
            config: r#"{"mode":"exact"}"#.into(),
        }),
        Some(v) => Some(eval_spec(v, judge)?),
    };
    if let Some(EvalSpec::Plugin { plugin, .. }) = &eval
        && plugin == "match"
        && expected.is_none()
    {
        return Err("`eval.match` needs `expected`".into());
    }
    metadata.push(("task".into(), task.clone()));
    if let Some(e) = &expected {
        metadata.push(("expected".into(), e.clone()));
    }
    Ok(Task {
        line: n,
        id: id.unwrap_or_else(|| format!("line-{n}")),
        task,
        body,
        expected,
        eval,
        metadata,
        request: None,
    })
}

fn eval_spec(v: Value, judge: Option<&str>) -> Result<EvalSpec, String> {
    let Value::Object(mut o) = v else {
        return Err("`eval` must be an object: {\"match\": MODE}, {\"json\": SCHEMA}, {\"judge\": RUBRIC} or {\"evaluator\": NAME}".into());
    };
    let plugin = |name: &str, config: Map<String, Value>| -> Result<EvalSpec, String> {
        if config.values().any(Value::is_null) {
            return Err(format!("`eval` for `{name}` has a null value"));
        }
        Ok(EvalSpec::Plugin {
            plugin: name.into(),
            config: Value::Object(config).to_string(),
        })
    };
    if let Some(mode) = o.remove("match") {
        let Value::String(mode) = mode else {
            return Err("`eval.match` must be a mode name".into());
        };
        if ![
            "exact",
            "contains",
            "regex",
            "number",
            "one-of",
            "json",
            "json-fields",
        ]
        .contains(&mode.as_str())
        {
            return Err(format!(
                "`eval.match`: unknown mode `{mode}` (exact, contains, regex, number, one-of, json, json-fields)"
            ));
        }
        o.insert("mode".into(), Value::String(mode));
        return plugin("match", o);
    }
    if let Some(schema) = o.remove("json") {
        if !o.is_empty() {
            return Err("`eval.json` takes no other keys".into());
        }
        let mut c = Map::new();
        match schema {
            Value::Bool(true) => {}
            Value::Object(s) => {
                c.insert("schema".into(), Value::Object(s));
            }
            _ => return Err("`eval.json` must be a JSON Schema object (or true)".into()),
        }
        return plugin("json", c);
    }
    if let Some(rubric) = o.remove("judge") {
        let Value::String(rubric) = rubric else {
            return Err("`eval.judge` must be the rubric, a string".into());
        };
        let Some(model) = judge else {
            return Err("`eval.judge` needs a judge model: pass --judge MODEL".into());
        };
        o.insert("rubric".into(), Value::String(rubric));
        o.insert("model".into(), Value::String(model.into()));
        return plugin("judge", o);
    }
    if let Some(name) = o.remove("evaluator") {
        let Value::String(name) = name else {
            return Err("`eval.evaluator` must be the name of an [evaluators.NAME] table".into());
        };
        if !o.is_empty() {
            return Err("`eval.evaluator` takes no other keys".into());
        }
        return Ok(EvalSpec::Named(name));
    }
    Err("`eval` must have one of `match`, `json`, `judge`, `evaluator`".into())
}

/// The last user message's text (for a task type's description).
fn first_prompt(body: &Map<String, Value>) -> String {
    let text = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_line_parses() {
        let t = parse(
            r#"{"task": "arith", "messages": [{"role": "user", "content": "1+1?"}], "expected": "2", "eval": {"match": "number"}, "metadata": {"id": "a-1", "n": 2}}"#,
            1,
            None,
        )
        .unwrap();
        assert_eq!(t.id, "a-1");
        assert_eq!(t.task, "arith");
        assert_eq!(t.expected.as_deref(), Some("2"));
        assert!(t.metadata.contains(&("task".into(), "arith".into())));
        assert!(t.metadata.contains(&("n".into(), "2".into())));
        assert_eq!(
            t.eval,
            Some(EvalSpec::Plugin {
                plugin: "match".into(),
                config: r#"{"mode":"number"}"#.into()
            })
        );
    }

    #[test]
    fn bad_lines_name_the_problem() {
        let err = |l: &str| parse(l, 1, None).unwrap_err();
        assert!(err("{").starts_with("not JSON"));
        assert!(err(r#"{"prompt": 1}"#).contains("`prompt` must be a string"));
        assert!(err(r#"{"promt": "x"}"#).contains("unknown field `promt`"));
        assert!(err(r#"{"prompt": "x", "eval": {"judge": "good?"}}"#).contains("--judge"));
        assert!(err(r#"{"prompt": "x", "eval": {"match": "exact"}}"#).contains("needs `expected`"));
        assert!(
            err(r#"{"prompt": "x", "eval": {"match": "fuzzy"}, "expected": "y"}"#)
                .contains("unknown mode")
        );
        assert!(err(r#"{"messages": [{"role": "wizard", "content": "x"}]}"#).contains("role"));
        assert!(err(r#"{"prompt": "x", "params": {"model": "m"}}"#).contains("params.model"));
    }

    #[test]
    fn expected_without_eval_is_an_exact_match() {
        let t = parse(r#"{"prompt": "x", "expected": {"a": 1}}"#, 7, None).unwrap();
        assert_eq!(t.id, "line-7");
        assert_eq!(t.task, "default");
        assert_eq!(t.expected.as_deref(), Some(r#"{"a":1}"#));
        assert!(matches!(t.eval, Some(EvalSpec::Plugin { ref plugin, .. }) if plugin == "match"));
    }
}
