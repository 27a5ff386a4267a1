//! The answer cache of `switchyard bench`, a SQLite file in the output
//! directory (`cache.sqlite`): a re-run, or a run with a model added, pays
//! only for what it has not asked before. The key is a SHA-256 of the
//! target's identity (a model's provider and upstream model, a route's
//! config and its models'), the request body, its metadata and the repeat
//! index. Only answers are kept (a failed request is asked again), with
//! their tokens, not their cost: cost is worked out with the prices of the
//! config in use.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::{
    ChatResponse, Choice, Content, FinishReason, Message, Role, ToolCall, Usage,
};

/// An answer as the cache keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    /// The answer's text.
    pub text: String,
    /// Tool calls: (id, name, arguments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<(String, String, String)>,
    /// `stop`, `length`, `tool_calls`, `content_filter` or another reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<String>,
    /// The config model that answered.
    pub model: String,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Prompt tokens from the provider's cache.
    pub cached_tokens: u64,
    /// Whether the tokens are estimates (the upstream reported none).
    pub tokens_estimated: bool,
    /// How long it took, ms.
    pub latency_ms: f64,
}

impl Answer {
    /// Keep what a response said.
    pub fn of(resp: &ChatResponse, model: &str, latency_ms: f64, prompt_estimate: u64) -> Answer {
        let text = crate::canonical::answer_text(resp);
        let choice = resp.choices.first();
        let tool_calls = choice
            .map(|c| {
                c.message
                    .tool_calls
                    .iter()
                    .map(|t| (t.id.clone(), t.name.clone(), t.arguments.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let finish = choice
            .and_then(|c| c.finish_reason.as_ref())
            .map(|f| match f {
                FinishReason::Stop => "stop".to_owned(),
                FinishReason::Length => "length".to_owned(),
                FinishReason::ToolCalls => "tool_calls".to_owned(),
                FinishReason::ContentFilter => "content_filter".to_owned(),
                FinishReason::Other(o) => o.clone(),
            });
        let (prompt, completion, cached, estimated) = match resp.usage {
            Some(u) => (
                u64::from(u.prompt_tokens),
                u64::from(u.completion_tokens),
                u.cached_tokens.map_or(0, u64::from),
                false,
            ),
            None => (
                prompt_estimate,
                crate::canonical::tokens_from_bytes(text.len()),
                0,
                true,
            ),
        };
        Answer {
            text,
            tool_calls,
            finish,
            model: model.to_owned(),
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
            tokens_estimated: estimated,
            latency_ms,
        }
    }

    /// The answer as a canonical response (what evaluators read).
    pub fn response(&self) -> ChatResponse {
        let finish = self.finish.as_deref().map(|f| match f {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        });
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        ChatResponse {
            id: String::new(),
            model: self.model.clone(),
            created: 0,
            choices: vec![Choice {
                index: 0,
                message: Message {
                    role: Role::Assistant,
                    content: (!self.text.is_empty()).then(|| Content::Text(self.text.clone())),
                    name: None,
                    tool_calls: self
                        .tool_calls
                        .iter()
                        .map(|(id, name, arguments)| ToolCall {
                            id: id.clone(),
                            name: name.clone(),
                            arguments: arguments.clone(),
                        })
                        .collect(),
                    tool_call_id: None,
                    extra_json: None,
                },
                finish_reason: finish,
            }],
            usage: (!self.tokens_estimated).then(|| Usage {
                prompt_tokens: clamp(self.prompt_tokens),
                completion_tokens: clamp(self.completion_tokens),
                total_tokens: clamp(self.prompt_tokens + self.completion_tokens),
                cached_tokens: (self.cached_tokens > 0).then(|| clamp(self.cached_tokens)),
                reasoning_tokens: None,
            }),
            system_fingerprint: None,
        }
    }
}

/// A cache key.
pub fn key(identity: &str, body: &str, metadata: &[(String, String)], repeat: u32) -> String {
    let mut h = Sha256::new();
    for part in [identity.as_bytes(), body.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    for (k, v) in metadata {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_le_bytes());
        h.update(v.as_bytes());
    }
    h.update(repeat.to_le_bytes());
    hex::encode(h.finalize())
}

/// The cache file.
pub struct Cache {
    conn: Mutex<Connection>,
}

impl Cache {
    /// Open (or create) `DIR/cache.sqlite`.
    pub fn open(dir: &Path) -> anyhow::Result<Cache> {
        let path = dir.join("cache.sqlite");
        let conn = Connection::open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open the bench cache {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS answers (
                 key TEXT PRIMARY KEY,
                 target TEXT NOT NULL,
                 answer TEXT NOT NULL,
                 at_ms INTEGER NOT NULL
             );",
        )
        .map_err(|e| anyhow::anyhow!("cannot use the bench cache {}: {e}", path.display()))?;
        Ok(Cache {
            conn: Mutex::new(conn),
        })
    }

    /// The cached answer of `key`, if any (an unreadable entry is a miss).
    pub fn get(&self, key: &str) -> Option<Answer> {
        let conn = self.conn.lock().ok()?;
        let text: Option<String> = conn
            .query_row("SELECT answer FROM answers WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .ok()
            .flatten();
        serde_json::from_str(&text?).ok()
    }

    /// Keep an answer (failures to write are logged: the run goes on).
    pub fn put(&self, key: &str, target: &str, answer: &Answer) {
        let Ok(json) = serde_json::to_string(answer) else {
            return;
        };
        let Ok(conn) = self.conn.lock() else {
            return;
        };
        if let Err(e) = conn.execute(
            "INSERT OR REPLACE INTO answers (key, target, answer, at_ms) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![key, target, json, crate::ledger::now_ms()],
        ) {
            tracing::warn!("bench cache: cannot store an answer: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let a = Answer {
            text: "42".into(),
            tool_calls: vec![("c1".into(), "f".into(), "{}".into())],
            finish: Some("stop".into()),
            model: "m".into(),
            prompt_tokens: 10,
            completion_tokens: 1,
            cached_tokens: 0,
            tokens_estimated: false,
            latency_ms: 12.5,
        };
        let k = key("model:m", "{}", &[("task".into(), "t".into())], 0);
        assert_ne!(k, key("model:m", "{}", &[("task".into(), "t".into())], 1));
        assert!(cache.get(&k).is_none());
        cache.put(&k, "m", &a);
        let b = cache.get(&k).unwrap();
        assert_eq!(b.text, "42");
        assert_eq!(crate::canonical::answer_text(&b.response()), "42");
        assert_eq!(b.response().usage.unwrap().prompt_tokens, 10);
    }
}
