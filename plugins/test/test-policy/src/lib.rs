//! A policy for the host's runtime tests. Its plugin config picks a behaviour,
//! including hostile ones: `{"mode":"reverse"}` (a well-behaved policy),
//! `"trap"`, `"loop"` (never returns), `"alloc"` (grows memory without bound),
//! `"bad-index"` (returns a candidate index that does not exist), `"error"`
//! (returns an error value), `"echo-view"` (puts what it read of the request
//! view into labels), `"learn"` (labels how many outcomes `observe` has
//! stored in the route's state, and the last model), `"complete"` (asks the
//! model named by `classifier` through the host's `complete` import and puts
//! the answer, or the error, into labels),
//! and more hostile ones: `"recurse"` (unbounded recursion,
//! a stack overflow), `"huge-string"` (builds a 160 MiB label),
//! `"alias-labels"` (200 000 labels that all point at the same 1 MiB string,
//! so lifting them would cost the host 200 GiB), `"many-attempts"` (a hundred
//! thousand attempts of the first candidate), `"observe"` (puts everything it
//! can observe into labels: its config, the view, the environment, the
//! command line, what it reads of files and directories).

policy_kit::plugin!(TestPolicy);

use exports::switchyard::plugin::policy::{Attempt, Candidate, Decision, Guest};
use switchyard::plugin::request::RequestView;
use switchyard::plugin::{host, models, state};

struct TestPolicy;

fn attempt(i: u32) -> Attempt {
    Attempt {
        candidate: i,
        timeout_ms: None,
        max_tokens: None,
        temperature: None,
    }
}

impl Guest for TestPolicy {
    fn observe(outcome: exports::switchyard::plugin::policy::Outcome) {
        let seen: u64 = state::get("outcomes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let _ = state::set("outcomes", &(seen + 1).to_string());
        let _ = state::set(
            "last",
            &format!(
                "{}:{}",
                outcome.model,
                if outcome.success { "ok" } else { "failed" }
            ),
        );
    }

    fn route(req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let cfg: serde_json::Value = host::config_json()
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default();
        let mode = cfg
            .get("mode")
            .and_then(|m| m.as_str())
            .unwrap_or("reverse");
        host::log(host::LogLevel::Debug, &format!("test-policy mode {mode}"));
        match mode {
            "trap" => panic!("test-policy asked to trap"),
            "loop" => hostile_kit::spin_forever(),
            "alloc" => hostile_kit::hog_memory(),
            "bad-index" => Ok(Decision {
                attempts: vec![attempt(candidates.len() as u32 + 7)],
                labels: vec![],
            }),
            "error" => Err("test-policy refuses".into()),
            "learn" => Ok(Decision {
                attempts: vec![attempt(0)],
                labels: vec![
                    (
                        "seen".into(),
                        state::get("outcomes").unwrap_or_else(|| "0".into()),
                    ),
                    ("last".into(), state::get("last").unwrap_or_default()),
                ],
            }),
            "complete" => {
                let model = cfg
                    .get("classifier")
                    .and_then(|m| m.as_str())
                    .unwrap_or("classifier");
                let asked = models::complete(&models::CompletionRequest {
                    model: model.into(),
                    system: Some("Answer with one word.".into()),
                    prompt: req.last_user_message().unwrap_or_default(),
                    max_tokens: 8,
                    timeout_ms: cfg
                        .get("timeout_ms")
                        .and_then(|t| t.as_u64())
                        .unwrap_or(2000) as u32,
                    cache_ttl_ms: cfg
                        .get("cache_ttl_ms")
                        .and_then(|t| t.as_u64())
                        .unwrap_or(0) as u32,
                });
                let labels = match asked {
                    Ok(c) => vec![
                        ("answer".into(), c.text.chars().take(60).collect()),
                        ("cached".into(), c.cached.to_string()),
                    ],
                    Err(e) => vec![("error".into(), e.chars().take(120).collect())],
                };
                Ok(Decision {
                    attempts: vec![attempt(0)],
                    labels,
                })
            }
            "recurse" => {
                let depth = hostile_kit::recurse(std::hint::black_box(1));
                Ok(Decision {
                    attempts: vec![attempt(0)],
                    labels: vec![("depth".into(), depth.to_string())],
                })
            }
            "huge-string" => Ok(Decision {
                attempts: vec![attempt(0)],
                labels: vec![("huge".into(), "x".repeat(160 << 20))],
            }),
            "alias-labels" => Ok(Decision {
                attempts: vec![attempt(0)],
                labels: hostile_kit::alias_pairs("", 200_000, 1 << 20),
            }),
            "many-attempts" => Ok(Decision {
                attempts: (0..100_000).map(|_| attempt(0)).collect(),
                labels: vec![],
            }),
            "observe" => Ok(Decision {
                attempts: vec![attempt(0)],
                labels: vec![
                    ("config".into(), host::config_json().unwrap_or_default()),
                    (
                        "env".into(),
                        format!("{:?}", std::env::vars().collect::<Vec<_>>()),
                    ),
                    (
                        "args".into(),
                        format!("{:?}", std::env::args().collect::<Vec<_>>()),
                    ),
                    ("files".into(), hostile_kit::probe_files().join("; ")),
                    (
                        "last-user".into(),
                        req.last_user_message().unwrap_or_default(),
                    ),
                    ("meta".into(), format!("{:?}", req.metadata())),
                ],
            }),
            "echo-view" => Ok(Decision {
                attempts: vec![attempt(0)],
                labels: vec![
                    ("model".into(), req.model()),
                    ("messages".into(), req.message_count().to_string()),
                    (
                        "last-user".into(),
                        req.last_user_message().unwrap_or_default(),
                    ),
                    ("tokens".into(), req.token_estimate().to_string()),
                    ("tools".into(), req.has_tools().to_string()),
                    ("images".into(), req.has_images().to_string()),
                    ("stream".into(), req.stream().to_string()),
                    ("meta".into(), format!("{:?}", req.metadata())),
                ],
            }),
            _ => Ok(Decision {
                attempts: (0..candidates.len() as u32).rev().map(attempt).collect(),
                labels: vec![("policy".into(), "reverse".into())],
            }),
        }
    }
}
