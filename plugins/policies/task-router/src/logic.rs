//! The decision of the `task-router` policy over plain Rust values: no
//! wit-bindgen types, no host calls. It is the reference for the Python and
//! JavaScript reimplementations, which are checked against the cases in
//! `testdata/` (see `testdata/README.md`).

use policy_kit::{Tiers, config_tiers, config_value, push_models, shown, tier_models};
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

/// Largest compiled size of one rule's regex; a pattern that needs more is a
/// config error rather than a memory or time hazard at request time.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What the policy reads of the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The text of the last user message, if there is one.
    pub last_user: Option<String>,
    /// Estimated prompt tokens.
    pub token_estimate: u32,
    /// The request offers tools.
    pub has_tools: bool,
    /// The request carries images.
    pub has_images: bool,
    /// The request asks for a JSON answer.
    pub wants_json: bool,
    /// The client asked for a stream.
    pub stream: bool,
    /// Request metadata (body `metadata` and `x-switchyard-meta-*` headers).
    pub metadata: Vec<(String, String)>,
}

/// One candidate as the policy sees it.
pub use policy_kit::PlainCandidate as Candidate;
/// The attempt plan; its labels are `policy`, `tier`, `rule` and, when some
/// candidates were put last for an open breaker, `breaker-open`.
pub use policy_kit::Plan;

/// One condition of a rule.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Every listed metadata key has the listed value.
    Metadata(Vec<(String, String)>),
    /// The last user message matches (anywhere); false without one.
    Regex(Regex),
    /// `token_estimate >= n`.
    MinTokens(u64),
    /// `token_estimate <= n`.
    MaxTokens(u64),
    /// The request does (or does not) offer tools.
    HasTools(bool),
    /// The request does (or does not) carry images.
    HasImages(bool),
    /// The request does (or does not) ask for JSON.
    WantsJson(bool),
    /// The request does (or does not) stream.
    Stream(bool),
}

impl Condition {
    fn holds(&self, r: &Request) -> bool {
        match self {
            Condition::Metadata(want) => want
                .iter()
                .all(|(k, v)| r.metadata.iter().any(|(rk, rv)| rk == k && rv == v)),
            Condition::Regex(re) => r.last_user.as_deref().is_some_and(|t| re.is_match(t)),
            Condition::MinTokens(n) => u64::from(r.token_estimate) >= *n,
            Condition::MaxTokens(n) => u64::from(r.token_estimate) <= *n,
            Condition::HasTools(b) => r.has_tools == *b,
            Condition::HasImages(b) => r.has_images == *b,
            Condition::WantsJson(b) => r.wants_json == *b,
            Condition::Stream(b) => r.stream == *b,
        }
    }
}

/// A rule: when all its conditions hold, its tier serves.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The conditions, all of which must hold (none: always).
    pub conditions: Vec<Condition>,
    /// The tier's name.
    pub tier: String,
}

/// The policy's validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tiers by name: models in preference order.
    pub tiers: Tiers,
    /// The tier when no rule matches.
    pub default: String,
    /// Rules, checked in order.
    pub rules: Vec<Rule>,
}

fn err(key: &str, msg: impl std::fmt::Display) -> String {
    format!("task-router: `{key}` {msg}")
}

const CONDITIONS: [&str; 8] = [
    "metadata",
    "regex",
    "min_tokens",
    "max_tokens",
    "has_tools",
    "has_images",
    "wants_json",
    "stream",
];

fn parse_condition(key: &str, name: &str, v: &Value) -> Result<Condition, String> {
    let boolean = || {
        v.as_bool()
            .ok_or_else(|| err(key, format!("must be true or false, got {}", shown(v))))
    };
    let count = || {
        v.as_u64().ok_or_else(|| {
            err(
                key,
                format!("must be a non-negative integer, got {}", shown(v)),
            )
        })
    };
    Ok(match name {
        "metadata" => {
            let Value::Object(m) = v else {
                return Err(err(
                    key,
                    format!("must be a table of key = value, got {}", shown(v)),
                ));
            };
            let mut pairs = Vec::with_capacity(m.len());
            for (k, val) in m {
                let Some(s) = val.as_str() else {
                    return Err(err(
                        &format!("{key}.{k}"),
                        format!("must be a string, got {}", shown(val)),
                    ));
                };
                pairs.push((k.clone(), s.to_owned()));
            }
            Condition::Metadata(pairs)
        }
        "regex" => {
            let Some(pattern) = v.as_str() else {
                return Err(err(
                    key,
                    format!("must be a regular expression string, got {}", shown(v)),
                ));
            };
            let re = RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| err(key, format!("is not a valid regular expression: {e}")))?;
            Condition::Regex(re)
        }
        "min_tokens" => Condition::MinTokens(count()?),
        "max_tokens" => Condition::MaxTokens(count()?),
        "has_tools" => Condition::HasTools(boolean()?),
        "has_images" => Condition::HasImages(boolean()?),
        "wants_json" => Condition::WantsJson(boolean()?),
        "stream" => Condition::Stream(boolean()?),
        _ => {
            return Err(err(
                key,
                format!(
                    "is not a condition (expected one of {})",
                    CONDITIONS.join(", ")
                ),
            ));
        }
    })
}

fn parse_rule(i: usize, v: &Value, tiers: &[(String, Vec<String>)]) -> Result<Rule, String> {
    let key = format!("rules[{i}]");
    let Value::Object(rule) = v else {
        return Err(err(
            &key,
            format!("must be a table with `if` and `tier`, got {}", shown(v)),
        ));
    };
    if let Some(k) = rule.keys().find(|k| *k != "if" && *k != "tier") {
        return Err(err(
            &format!("{key}.{k}"),
            "is not a rule key (expected `if` and `tier`)",
        ));
    }
    let tier = match rule.get("tier") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            return Err(err(
                &format!("{key}.tier"),
                format!("must be a tier name, got {}", shown(other)),
            ));
        }
        None => return Err(err(&format!("{key}.tier"), "is missing")),
    };
    if !tiers.iter().any(|(n, _)| *n == tier) {
        return Err(err(
            &format!("{key}.tier"),
            format!("names no tier: `{tier}` is not in `tiers`"),
        ));
    }
    let conds = match rule.get("if") {
        Some(Value::Object(c)) => c,
        Some(other) => {
            return Err(err(
                &format!("{key}.if"),
                format!("must be a table of conditions, got {}", shown(other)),
            ));
        }
        None => return Err(err(&format!("{key}.if"), "is missing")),
    };
    let conditions = conds
        .iter()
        .map(|(name, v)| parse_condition(&format!("{key}.if.{name}"), name, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule { conditions, tier })
}

impl Config {
    /// Parse and validate the route's `policy_config` (JSON); `None` when the
    /// route has none. Errors name the offending key.
    pub fn parse(json: Option<&str>) -> Result<Config, String> {
        let obj: Map<String, Value> = match config_value("task-router", json)? {
            Value::Object(o) => o,
            Value::Null => {
                return Err("task-router: policy_config needs `tiers` and `default`".into());
            }
            other => {
                return Err(format!(
                    "task-router: policy_config must be a table, got {}",
                    shown(&other)
                ));
            }
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !["tiers", "default", "rules"].contains(&k.as_str()))
        {
            return Err(err(
                k,
                "is not a key of the policy config (expected `tiers`, `default`, `rules`)",
            ));
        }
        let tiers = match obj.get("tiers") {
            Some(v) => config_tiers("task-router", v)?,
            None => return Err(err("tiers", "is missing")),
        };
        let default = match obj.get("default") {
            Some(Value::String(d)) => d.clone(),
            Some(other) => {
                return Err(err(
                    "default",
                    format!("must be a tier name, got {}", shown(other)),
                ));
            }
            None => return Err(err("default", "is missing")),
        };
        if !tiers.iter().any(|(n, _)| *n == default) {
            return Err(err(
                "default",
                format!("names no tier: `{default}` is not in `tiers`"),
            ));
        }
        let rules = match obj.get("rules") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(rules)) => rules
                .iter()
                .enumerate()
                .map(|(i, r)| parse_rule(i, r, &tiers))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(err(
                    "rules",
                    format!("must be a list of rules, got {}", shown(other)),
                ));
            }
        };
        Ok(Config {
            tiers,
            default,
            rules,
        })
    }

    /// Whether any rule reads the last user message (so the host need not
    /// copy it otherwise).
    pub fn reads_text(&self) -> bool {
        self.conditions().any(|c| matches!(c, Condition::Regex(_)))
    }

    /// Whether any rule reads the metadata.
    pub fn reads_metadata(&self) -> bool {
        self.conditions()
            .any(|c| matches!(c, Condition::Metadata(_)))
    }

    fn conditions(&self) -> impl Iterator<Item = &Condition> {
        self.rules.iter().flat_map(|r| r.conditions.iter())
    }

    fn tier(&self, name: &str) -> &[String] {
        tier_models(&self.tiers, name)
    }

    /// The first rule whose conditions all hold, as (rule index, tier).
    pub fn matching_rule(&self, request: &Request) -> Option<(usize, &str)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.conditions.iter().all(|c| c.holds(request)))
            .map(|(i, r)| (i, r.tier.as_str()))
    }
}

/// Decide the plan: the matching tier's models (those among the candidates,
/// in the tier's order), then the other candidates in route order; open
/// breakers last.
pub fn decide(config: &Config, request: &Request, candidates: &[Candidate]) -> Plan {
    let (rule, tier) = match config.matching_rule(request) {
        Some((i, tier)) => (i.to_string(), tier),
        None => ("default".to_owned(), config.default.as_str()),
    };
    let mut order: Vec<usize> = Vec::with_capacity(candidates.len());
    for model in config.tier(tier) {
        for (i, c) in candidates.iter().enumerate() {
            if c.model == *model && !order.contains(&i) {
                order.push(i);
            }
        }
    }
    for i in 0..candidates.len() {
        if !order.contains(&i) {
            order.push(i);
        }
    }
    let (mut order, open): (Vec<usize>, Vec<usize>) =
        order.into_iter().partition(|i| !candidates[*i].open);
    let mut labels = vec![
        ("policy".to_owned(), "task-router".to_owned()),
        ("tier".to_owned(), tier.to_owned()),
        ("rule".to_owned(), rule),
    ];
    push_models(&mut labels, "breaker-open", candidates, &open);
    order.extend(open);
    Plan { order, labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The brief's example config.
    const EXAMPLE: &str = r#"{
        "tiers": {"cheap": ["small"], "strong": ["big", "big-backup"]},
        "default": "cheap",
        "rules": [
          {"if": {"metadata": {"task": "code"}}, "tier": "strong"},
          {"if": {"regex": "(?i)\\b(prove|derive|step by step)\\b"}, "tier": "strong"},
          {"if": {"min_tokens": 2000}, "tier": "strong"},
          {"if": {"has_tools": true}, "tier": "strong"},
          {"if": {"has_images": true}, "tier": "strong"}
        ]}"#;

    fn cands(models: &[&str]) -> Vec<Candidate> {
        models
            .iter()
            .map(|m| Candidate {
                model: (*m).to_owned(),
                open: false,
            })
            .collect()
    }

    fn names(plan: &Plan, c: &[Candidate]) -> Vec<String> {
        plan.order.iter().map(|i| c[*i].model.clone()).collect()
    }

    fn label<'a>(plan: &'a Plan, k: &str) -> Option<&'a str> {
        policy_kit::label(&plan.labels, k)
    }

    fn text(t: &str) -> Request {
        Request {
            last_user: Some(t.to_owned()),
            token_estimate: 10,
            ..Request::default()
        }
    }

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        config: Value,
        request: CaseRequest,
        candidates: Vec<String>,
        expected: Vec<String>,
        labels: std::collections::BTreeMap<String, String>,
    }

    #[derive(serde::Deserialize)]
    struct CaseRequest {
        last_user: Option<String>,
        token_estimate: u32,
        has_tools: bool,
        has_images: bool,
        wants_json: bool,
        stream: bool,
        metadata: std::collections::BTreeMap<String, String>,
    }

    #[derive(serde::Deserialize)]
    struct ErrorCase {
        name: String,
        config: Value,
        key: String,
    }

    #[test]
    fn every_shared_case_decides_as_expected() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("../testdata/cases.json")).unwrap();
        assert!(cases.len() >= 30, "{} cases", cases.len());
        for case in cases {
            let config = Config::parse(Some(&case.config.to_string()))
                .unwrap_or_else(|e| panic!("case {}: {e}", case.name));
            let r = case.request;
            let request = Request {
                last_user: r.last_user,
                token_estimate: r.token_estimate,
                has_tools: r.has_tools,
                has_images: r.has_images,
                wants_json: r.wants_json,
                stream: r.stream,
                metadata: r.metadata.into_iter().collect(),
            };
            let c: Vec<Candidate> = case
                .candidates
                .iter()
                .map(|m| Candidate {
                    model: m.clone(),
                    open: false,
                })
                .collect();
            let plan = decide(&config, &request, &c);
            assert_eq!(names(&plan, &c), case.expected, "case {}", case.name);
            let labels: std::collections::BTreeMap<String, String> =
                plan.labels.iter().cloned().collect();
            assert_eq!(labels, case.labels, "case {}", case.name);
        }
    }

    #[test]
    fn every_shared_config_error_names_its_key() {
        let cases: Vec<ErrorCase> =
            serde_json::from_str(include_str!("../testdata/config_errors.json")).unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let e = Config::parse(Some(&case.config.to_string()))
                .err()
                .unwrap_or_else(|| panic!("case {}: config accepted", case.name));
            assert!(
                e.contains(&format!("`{}`", case.key)),
                "case {}: {e:?} does not name `{}`",
                case.name,
                case.key
            );
        }
    }

    #[test]
    fn example_routes_by_rule() {
        let cfg = Config::parse(Some(EXAMPLE)).unwrap();
        let c = cands(&["small", "big", "big-backup"]);
        let plan = decide(&cfg, &text("hello"), &c);
        assert_eq!(names(&plan, &c), ["small", "big", "big-backup"]);
        assert_eq!(label(&plan, "tier"), Some("cheap"));
        assert_eq!(label(&plan, "rule"), Some("default"));
        let plan = decide(&cfg, &text("Derive the formula"), &c);
        assert_eq!(names(&plan, &c), ["big", "big-backup", "small"]);
        assert_eq!(label(&plan, "rule"), Some("1"));
        assert_eq!(label(&plan, "policy"), Some("task-router"));
    }

    #[test]
    fn open_breakers_go_last_and_are_labelled() {
        let cfg = Config::parse(Some(EXAMPLE)).unwrap();
        let mut c = cands(&["small", "big", "big-backup", "other"]);
        c[1].open = true;
        c[3].open = true;
        let plan = decide(&cfg, &text("prove it"), &c);
        assert_eq!(names(&plan, &c), ["big-backup", "small", "big", "other"]);
        assert_eq!(label(&plan, "tier"), Some("strong"));
        assert_eq!(label(&plan, "breaker-open"), Some("big,other"));
        let plan = decide(&cfg, &text("hi"), &c);
        assert_eq!(names(&plan, &c), ["small", "big-backup", "big", "other"]);
    }

    #[test]
    fn duplicate_candidates_each_appear_once() {
        let cfg = Config::parse(Some(EXAMPLE)).unwrap();
        let c = cands(&["small", "big", "small"]);
        let plan = decide(&cfg, &text("hi"), &c);
        assert_eq!(plan.order, [0, 2, 1]);
    }

    #[test]
    fn metadata_matches_any_entry_of_a_repeated_key() {
        let cfg = Config::parse(Some(EXAMPLE)).unwrap();
        let c = cands(&["small", "big"]);
        let r = Request {
            metadata: vec![
                ("task".into(), "chat".into()),
                ("task".into(), "code".into()),
            ],
            ..text("hi")
        };
        assert_eq!(label(&decide(&cfg, &r, &c), "rule"), Some("0"));
    }

    #[test]
    fn regex_on_non_ascii_text_and_no_text() {
        let cfg = Config::parse(Some(EXAMPLE)).unwrap();
        let c = cands(&["small", "big"]);
        let plan = decide(&cfg, &text("Beweise bitte — prove ∀x: x² ≥ 0"), &c);
        assert_eq!(label(&plan, "rule"), Some("1"));
        // Unicode word characters count for \b: "éprove" is one word.
        let plan = decide(&cfg, &text("éprove"), &c);
        assert_eq!(label(&plan, "rule"), Some("default"));
        let none = Request {
            last_user: None,
            ..text("")
        };
        assert_eq!(label(&decide(&cfg, &none, &c), "rule"), Some("default"));
    }

    #[test]
    fn reads_only_what_rules_need() {
        let cfg = Config::parse(Some(EXAMPLE)).unwrap();
        assert!(cfg.reads_text() && cfg.reads_metadata());
        let cfg =
            Config::parse(Some(r#"{"tiers": {"a": []}, "default": "a", "rules": [{"if": {"stream": true}, "tier": "a"}]}"#))
                .unwrap();
        assert!(!cfg.reads_text() && !cfg.reads_metadata());
    }

    #[test]
    fn missing_or_non_table_config_is_an_error() {
        assert!(Config::parse(None).unwrap_err().contains("`tiers`"));
        assert!(Config::parse(Some("null")).unwrap_err().contains("`tiers`"));
        assert!(
            Config::parse(Some("[]"))
                .unwrap_err()
                .contains("must be a table")
        );
        assert!(
            Config::parse(Some("{"))
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn unicode_classes_beyond_perl_ones_are_config_errors() {
        // Built without those tables to keep the component small.
        let cfg = r#"{"tiers": {"a": []}, "default": "a", "rules": [{"if": {"regex": "\\p{Greek}"}, "tier": "a"}]}"#;
        let e = Config::parse(Some(cfg)).unwrap_err();
        assert!(e.contains("`rules[0].if.regex`"), "{e}");
        // \w, \d, \s, \b and (?i) work on Unicode text.
        let cfg = r#"{"tiers": {"a": []}, "default": "a", "rules": [{"if": {"regex": "(?i)^\\w+\\s\\d\\b"}, "tier": "a"}]}"#;
        let cfg = Config::parse(Some(cfg)).unwrap();
        assert!(cfg.matching_rule(&text("ÉTÉ ٣")).is_some());
    }

    #[test]
    fn an_oversized_regex_is_a_config_error() {
        let cfg = r#"{"tiers": {"a": []}, "default": "a", "rules": [{"if": {"regex": "\\w{1000}\\w{1000}\\w{1000}"}, "tier": "a"}]}"#;
        let e = Config::parse(Some(cfg)).unwrap_err();
        assert!(e.contains("`rules[0].if.regex`"), "{e}");
    }
}
