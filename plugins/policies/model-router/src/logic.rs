//! The model-router's decisions over plain Rust values, so they can be tested
//! natively: config parsing, the classifier prompt, reading its answer, and
//! the plan of the chosen tier.

use policy_kit::{
    Tiers, config_table, config_tiers, config_u32, push_models, tier_models, tier_order,
};
use serde_json::Value;

const POLICY: &str = "model-router";

/// The route's `policy_config`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The model asked to classify (a model of the config, not a route).
    pub classifier: String,
    /// Tier name → models, the tiers by name.
    pub tiers: Tiers,
    /// What each tier is for, told to the classifier.
    pub descriptions: Vec<(String, String)>,
    /// The tier used when the classifier fails or answers no tier.
    pub default: String,
    /// The classifier's time budget.
    pub timeout_ms: u32,
    /// How long an answer for the same prompt is reused.
    pub cache_ttl_ms: u32,
    /// How much of the last user message the classifier sees.
    pub max_prompt_chars: usize,
    /// A system prompt replacing the built-in one.
    pub system: Option<String>,
}

impl Config {
    /// Parse and check the config JSON; errors name the key.
    pub fn parse(json: Option<&str>) -> Result<Config, String> {
        let Some(table) = config_table(POLICY, json)? else {
            return Err(format!(
                "{POLICY}: the route needs a policy_config with `classifier` and `tiers`"
            ));
        };
        let mut classifier = None;
        let mut tiers = Vec::new();
        let mut descriptions = Vec::new();
        let mut default = None;
        let mut timeout_ms = 1500;
        let mut cache_ttl_ms = 300_000;
        let mut max_prompt_chars = 2000;
        let mut system = None;
        for (key, v) in &table {
            match key.as_str() {
                "classifier" => classifier = Some(string(key, v)?),
                "tiers" => tiers = config_tiers(POLICY, v)?,
                "descriptions" => descriptions = parse_descriptions(v)?,
                "default" => default = Some(string(key, v)?),
                "timeout_ms" => timeout_ms = config_u32(POLICY, key, v)?,
                "cache_ttl_ms" => cache_ttl_ms = config_u32(POLICY, key, v)?,
                "max_prompt_chars" => max_prompt_chars = config_u32(POLICY, key, v)? as usize,
                "system" => system = Some(string(key, v)?),
                other => return Err(format!("{POLICY}: unknown key `{other}`")),
            }
        }
        let classifier = classifier.ok_or_else(|| format!("{POLICY}: `classifier` is missing"))?;
        if tiers.is_empty() {
            return Err(format!("{POLICY}: `tiers` is missing or empty"));
        }
        let default = default.unwrap_or_else(|| tiers[0].0.clone());
        if !tiers.iter().any(|(t, _)| *t == default) {
            return Err(format!("{POLICY}: `default`: no tier named `{default}`"));
        }
        for (t, _) in &descriptions {
            if !tiers.iter().any(|(name, _)| name == t) {
                return Err(format!(
                    "{POLICY}: `descriptions.{t}`: no tier of that name"
                ));
            }
        }
        Ok(Config {
            classifier,
            tiers,
            descriptions,
            default,
            timeout_ms,
            cache_ttl_ms,
            max_prompt_chars,
            system,
        })
    }

    /// The models of a tier.
    pub fn tier(&self, name: &str) -> &[String] {
        tier_models(&self.tiers, name)
    }

    /// The classifier's system prompt.
    pub fn system_prompt(&self) -> String {
        if let Some(s) = &self.system {
            return s.clone();
        }
        let names: Vec<&str> = self.tiers.iter().map(|(t, _)| t.as_str()).collect();
        let mut s = format!(
            "You route requests to language models. Read the user's request and reply with \
             exactly one word, the tier it needs: {}.",
            names.join(", ")
        );
        for (t, d) in &self.descriptions {
            s.push_str(&format!("\n{t}: {d}"));
        }
        s
    }

    /// The part of the user's message the classifier sees.
    pub fn prompt(&self, last_user: &str) -> String {
        last_user.chars().take(self.max_prompt_chars).collect()
    }

    /// The tier an answer names: the tier name found earliest in it as a
    /// whole word (case-insensitive), if any.
    pub fn read_answer(&self, answer: &str) -> Option<&str> {
        let lower = answer.to_lowercase();
        let words: Vec<(usize, &str)> = word_spans(&lower);
        words.iter().find_map(|(_, w)| {
            self.tiers
                .iter()
                .find(|(t, _)| t.to_lowercase() == *w)
                .map(|(t, _)| t.as_str())
        })
    }
}

/// Words (runs of alphanumerics, `-` and `_`) with their offsets.
fn word_spans(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in s.char_indices() {
        let inside = ch.is_alphanumeric() || ch == '-' || ch == '_';
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                out.push((b, &s[b..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b, &s[b..]));
    }
    out
}

fn string(key: &str, v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{POLICY}: `{key}` must be a string, got {v}"))
}

fn parse_descriptions(v: &Value) -> Result<Vec<(String, String)>, String> {
    let table = v
        .as_object()
        .ok_or_else(|| format!("{POLICY}: `descriptions` must be a table of strings"))?;
    table
        .iter()
        .map(|(k, d)| Ok((k.clone(), string(&format!("descriptions.{k}"), d)?)))
        .collect()
}

/// A candidate as the decision sees it.
pub use policy_kit::PlainCandidate as Candidate;
/// The decision: indexes into the candidates, and labels.
pub use policy_kit::Plan;

/// What the classifier said.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It answered (maybe from the host's cache).
    Answer {
        /// The text.
        text: String,
        /// Served from the cache.
        cached: bool,
    },
    /// The call failed (timeout, upstream error, unknown model).
    Failed(String),
    /// No user text to classify.
    NoText,
}

/// Pick the tier from the verdict and plan its models first.
pub fn decide(config: &Config, verdict: &Verdict, candidates: &[Candidate]) -> Plan {
    let (tier, how) = match verdict {
        Verdict::Answer { text, cached } => match config.read_answer(text) {
            Some(t) => (t, if *cached { "cached" } else { "answered" }),
            None => (config.default.as_str(), "unparsed"),
        },
        Verdict::Failed(_) => (config.default.as_str(), "failed"),
        Verdict::NoText => (config.default.as_str(), "no-text"),
    };
    let (order, open) = tier_order(config.tier(tier), candidates);
    let mut labels = vec![
        ("policy".to_owned(), POLICY.to_owned()),
        ("tier".to_owned(), tier.to_owned()),
        ("classifier".to_owned(), how.to_owned()),
    ];
    push_models(&mut labels, "breaker-open", candidates, &open);
    Plan { order, labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
        "classifier": "tiny",
        "tiers": {"simple": ["small"], "complex": ["big", "big-backup"]},
        "descriptions": {"simple": "greetings, short facts", "complex": "reasoning, code, math"},
        "default": "simple",
        "timeout_ms": 800
    }"#;

    fn cands(names: &[&str]) -> Vec<Candidate> {
        names
            .iter()
            .map(|n| Candidate {
                model: (*n).into(),
                open: false,
            })
            .collect()
    }

    fn models(p: &Plan, c: &[Candidate]) -> Vec<String> {
        p.order.iter().map(|i| c[*i].model.clone()).collect()
    }

    fn label<'a>(p: &'a Plan, k: &str) -> Option<&'a str> {
        policy_kit::label(&p.labels, k)
    }

    #[test]
    fn parses_the_example() -> Result<(), String> {
        let c = Config::parse(Some(EXAMPLE))?;
        assert_eq!(c.classifier, "tiny");
        assert_eq!(c.timeout_ms, 800);
        assert_eq!(c.cache_ttl_ms, 300_000);
        assert_eq!(c.tier("complex"), ["big", "big-backup"]);
        let sys = c.system_prompt();
        assert!(
            sys.contains("simple, complex") || sys.contains("complex, simple"),
            "{sys}"
        );
        assert!(sys.contains("complex: reasoning, code, math"), "{sys}");
        Ok(())
    }

    #[test]
    fn config_errors_name_the_key() {
        let cases = [
            (None, "needs a policy_config"),
            (
                Some(r#"{"tiers": {"a": ["x"]}}"#),
                "`classifier` is missing",
            ),
            (Some(r#"{"classifier": "t"}"#), "`tiers` is missing"),
            (
                Some(r#"{"classifier": "t", "tiers": {"a": "x"}}"#),
                "`tiers.a` must be a list",
            ),
            (
                Some(r#"{"classifier": "t", "tiers": {"a": [1]}}"#),
                "`tiers.a[0]` must be a model name",
            ),
            (
                Some(r#"{"classifier": "t", "tiers": {"a": ["x"]}, "default": "b"}"#),
                "no tier named `b`",
            ),
            (
                Some(r#"{"classifier": "t", "tiers": {"a": ["x"]}, "timeout_ms": -1}"#),
                "`timeout_ms`",
            ),
            (
                Some(r#"{"classifier": "t", "tiers": {"a": ["x"]}, "typo": 1}"#),
                "unknown key `typo`",
            ),
            (
                Some(r#"{"classifier": "t", "tiers": {"a": ["x"]}, "descriptions": {"b": "?"}}"#),
                "`descriptions.b`",
            ),
            (Some("[1]"), "must be a table"),
            (Some("{"), "not valid JSON"),
        ];
        for (json, want) in cases {
            match Config::parse(json) {
                Ok(c) => panic!("{json:?} parsed as {c:?}"),
                Err(e) => assert!(e.contains(want), "{json:?}: {e}"),
            }
        }
    }

    #[test]
    fn reads_the_tier_from_free_text() -> Result<(), String> {
        let c = Config::parse(Some(EXAMPLE))?;
        assert_eq!(c.read_answer("complex"), Some("complex"));
        assert_eq!(c.read_answer("  Complex.\n"), Some("complex"));
        assert_eq!(c.read_answer("Tier: SIMPLE"), Some("simple"));
        // The first tier named wins.
        assert_eq!(c.read_answer("simple, not complex"), Some("simple"));
        // Whole words only.
        assert_eq!(c.read_answer("simpleton"), None);
        assert_eq!(c.read_answer("I cannot tell"), None);
        assert_eq!(c.read_answer(""), None);
        Ok(())
    }

    #[test]
    fn the_answer_picks_the_tier_then_the_rest_follow() -> Result<(), String> {
        let c = Config::parse(Some(EXAMPLE))?;
        let cs = cands(&["small", "big", "big-backup"]);
        let p = decide(
            &c,
            &Verdict::Answer {
                text: "complex".into(),
                cached: false,
            },
            &cs,
        );
        assert_eq!(models(&p, &cs), ["big", "big-backup", "small"]);
        assert_eq!(label(&p, "tier"), Some("complex"));
        assert_eq!(label(&p, "classifier"), Some("answered"));
        let p = decide(
            &c,
            &Verdict::Answer {
                text: "simple".into(),
                cached: true,
            },
            &cs,
        );
        assert_eq!(models(&p, &cs), ["small", "big", "big-backup"]);
        assert_eq!(label(&p, "classifier"), Some("cached"));
        Ok(())
    }

    #[test]
    fn failures_fall_back_to_the_default_tier() -> Result<(), String> {
        let c = Config::parse(Some(
            EXAMPLE
                .replace("\"default\": \"simple\"", "\"default\": \"complex\"")
                .as_str(),
        ))?;
        let cs = cands(&["small", "big", "big-backup"]);
        for (v, how) in [
            (Verdict::Failed("timed out".into()), "failed"),
            (Verdict::NoText, "no-text"),
            (
                Verdict::Answer {
                    text: "dunno".into(),
                    cached: false,
                },
                "unparsed",
            ),
        ] {
            let p = decide(&c, &v, &cs);
            assert_eq!(models(&p, &cs), ["big", "big-backup", "small"], "{v:?}");
            assert_eq!(label(&p, "tier"), Some("complex"));
            assert_eq!(label(&p, "classifier"), Some(how));
        }
        Ok(())
    }

    #[test]
    fn open_breakers_go_last() -> Result<(), String> {
        let c = Config::parse(Some(EXAMPLE))?;
        let mut cs = cands(&["small", "big", "big-backup"]);
        cs[1].open = true;
        let p = decide(
            &c,
            &Verdict::Answer {
                text: "complex".into(),
                cached: false,
            },
            &cs,
        );
        assert_eq!(models(&p, &cs), ["big-backup", "small", "big"]);
        assert_eq!(label(&p, "breaker-open"), Some("big"));
        Ok(())
    }

    #[test]
    fn the_prompt_is_capped() -> Result<(), String> {
        let c = Config::parse(Some(
            r#"{"classifier": "t", "tiers": {"a": ["x"]}, "max_prompt_chars": 3}"#,
        ))?;
        assert_eq!(c.prompt("héllo"), "hél");
        Ok(())
    }
}
