//! The decision of the `cost-aware` policy as a pure function of its config,
//! the request's figures and the candidates, so tests run natively.

use policy_kit::{
    Candidate as _, config_table, config_u32, cost, push_models, refuse_unknown_keys, sort_cheapest,
};
use serde_json::{Map, Value};

use crate::decision;
use crate::exports::switchyard::plugin::policy::{Candidate, Decision};

/// Output tokens assumed when neither the request nor the config says.
pub const DEFAULT_EXPECTED_OUTPUT: u32 = 256;

const KEYS: [&str; 5] = [
    "require",
    "min_quality",
    "quality",
    "max_error_rate",
    "expected_output_tokens",
];

/// The policy's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Capabilities every plan member must have.
    pub require: Vec<String>,
    /// The quality floor, if any.
    pub min_quality: Option<f64>,
    /// Quality by model name.
    pub quality: Vec<(String, f64)>,
    /// The highest acceptable error rate, if any.
    pub max_error_rate: Option<f64>,
    /// Output tokens assumed when the request sets no `max_tokens`.
    pub expected_output_tokens: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            require: vec![],
            min_quality: None,
            quality: vec![],
            max_error_rate: None,
            expected_output_tokens: DEFAULT_EXPECTED_OUTPUT,
        }
    }
}

fn number(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64().filter(|n| n.is_finite() && *n >= 0.0) {
            Some(n) => Ok(Some(n)),
            None => Err(format!(
                "cost-aware: `{key}` must be a non-negative number, got {v}"
            )),
        },
    }
}

impl Config {
    /// Parse and validate the route's `policy_config` (JSON); `None` when the
    /// route has none. Errors name the offending key.
    pub fn parse(json: Option<&str>) -> Result<Config, String> {
        let Some(obj) = config_table("cost-aware", json)? else {
            return Ok(Config::default());
        };
        refuse_unknown_keys("cost-aware", &obj, &KEYS)?;
        let mut cfg = Config::default();
        match obj.get("require") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let Some(cap) = item.as_str() else {
                        return Err(format!(
                            "cost-aware: `require[{i}]` must be a capability name string, got {item}"
                        ));
                    };
                    if !cfg.require.iter().any(|c| c == cap) {
                        cfg.require.push(cap.to_owned());
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "cost-aware: `require` must be a list of capability names, got {other}"
                ));
            }
        }
        cfg.min_quality = number(&obj, "min_quality")?;
        cfg.max_error_rate = number(&obj, "max_error_rate")?;
        if let Some(r) = cfg.max_error_rate
            && r > 1.0
        {
            return Err(format!(
                "cost-aware: `max_error_rate` is a fraction between 0 and 1, got {r}"
            ));
        }
        match obj.get("quality") {
            None | Some(Value::Null) => {}
            Some(Value::Object(q)) => {
                for (model, v) in q {
                    match v.as_f64().filter(|n| n.is_finite()) {
                        Some(n) => cfg.quality.push((model.clone(), n)),
                        None => {
                            return Err(format!(
                                "cost-aware: `quality.{model}` must be a number, got {v}"
                            ));
                        }
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "cost-aware: `quality` must be a table of model name = quality, got {other}"
                ));
            }
        }
        if let Some(v) = obj.get("expected_output_tokens").filter(|v| !v.is_null()) {
            cfg.expected_output_tokens = config_u32("cost-aware", "expected_output_tokens", v)?;
        }
        Ok(cfg)
    }

    fn quality(&self, model: &str) -> Option<f64> {
        self.quality
            .iter()
            .find(|(m, _)| m == model)
            .map(|(_, q)| *q)
    }
}

/// What the policy reads of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// Estimated prompt tokens.
    pub token_estimate: u32,
    /// The client's output limit, if set.
    pub max_tokens: Option<u32>,
    /// The request offers tools.
    pub has_tools: bool,
    /// The request carries images.
    pub has_images: bool,
    /// The request asks for a JSON answer.
    pub wants_json: bool,
}

/// The capabilities a request needs: the config's, then those the request
/// implies.
pub fn required(config: &Config, request: &Request) -> Vec<String> {
    let mut caps = config.require.clone();
    for (need, cap) in [
        (request.has_tools, "tools"),
        (request.has_images, "vision"),
        (request.wants_json, "json"),
    ] {
        if need && !caps.iter().any(|c| c.eq_ignore_ascii_case(cap)) {
            caps.push(cap.to_owned());
        }
    }
    caps
}

/// Whether a candidate meets the floor.
pub fn meets_floor(config: &Config, caps: &[String], c: &Candidate) -> bool {
    // A model that declares no capabilities has unknown ones: like the host's
    // own capability filter, do not drop it for them.
    let has_caps = c.capabilities.is_empty()
        || caps
            .iter()
            .all(|need| c.capabilities.iter().any(|h| h.eq_ignore_ascii_case(need)));
    let quality_ok = match config.min_quality {
        Some(min) => config
            .quality(&c.model)
            .or(c.quality)
            .is_some_and(|q| q >= min),
        None => true,
    };
    // A NaN error rate (never expected) fails a set ceiling.
    let errors_ok = match config.max_error_rate {
        Some(max) => c.stats.error_rate <= max,
        None => true,
    };
    has_caps && quality_ok && errors_ok
}

/// Decide the attempt plan: the candidates meeting the floor (all of them if
/// none does), cheapest first, open breakers last.
pub fn decide(config: &Config, request: &Request, candidates: &[Candidate]) -> Decision {
    let caps = required(config, request);
    let output = request.max_tokens.unwrap_or(config.expected_output_tokens);
    let costs: Vec<f64> = candidates
        .iter()
        .map(|c| cost(c, request.token_estimate, output))
        .collect();
    let (pass, fail): (Vec<usize>, Vec<usize>) =
        (0..candidates.len()).partition(|i| meets_floor(config, &caps, &candidates[*i]));
    let relaxed = pass.is_empty();
    let (kept, dropped) = if relaxed {
        ((0..candidates.len()).collect::<Vec<_>>(), vec![])
    } else {
        (pass, fail)
    };
    let (mut usable, mut open): (Vec<usize>, Vec<usize>) =
        kept.into_iter().partition(|i| !candidates[*i].is_open());
    sort_cheapest(&mut usable, candidates, &costs);
    sort_cheapest(&mut open, candidates, &costs);

    let mut labels = vec![
        ("policy".to_owned(), "cost-aware".to_owned()),
        (
            "floor".to_owned(),
            if relaxed { "relaxed" } else { "met" }.to_owned(),
        ),
    ];
    if !caps.is_empty() {
        labels.push(("require".into(), caps.join(",")));
    }
    if let Some(&first) = usable.first().or(open.first()) {
        labels.push(("pick".into(), candidates[first].model.clone()));
        labels.push(("estimated-cost-usd".into(), format!("{:.8}", costs[first])));
    }
    push_models(&mut labels, "dropped", candidates, &dropped);
    push_models(&mut labels, "breaker-open", candidates, &open);
    decision(usable.into_iter().chain(open), labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::switchyard::plugin::policy::BreakerState;
    use crate::testing::{candidate, label, order};

    fn cand(model: &str, price: f64, caps: &[&str]) -> Candidate {
        Candidate {
            capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
            input_price: price,
            output_price: price,
            ..candidate(model)
        }
    }

    #[test]
    fn the_models_own_quality_counts_when_the_map_does_not_name_it() {
        let cfg = config(r#"{"min_quality": 0.8, "quality": {"a": 0.5}}"#);
        let caps = vec![];
        let mut a = cand("a", 1.0, &[]);
        a.quality = Some(0.95);
        let mut b = cand("b", 1.0, &[]);
        b.quality = Some(0.9);
        let c = cand("c", 1.0, &[]);
        // The map wins for `a`; `b` has its own score; `c` has none.
        assert!(!meets_floor(&cfg, &caps, &a));
        assert!(meets_floor(&cfg, &caps, &b));
        assert!(!meets_floor(&cfg, &caps, &c));
    }

    fn config(j: &str) -> Config {
        Config::parse(Some(j)).unwrap()
    }

    fn plain() -> Request {
        Request {
            token_estimate: 100,
            ..Request::default()
        }
    }

    /// The brief's example: tools required, quality ≥ 0.8, errors ≤ 50%.
    const EXAMPLE: &str = r#"{"require": ["tools"], "min_quality": 0.8,
        "quality": {"model-a": 0.9, "model-b": 0.7, "model-c": 0.95},
        "max_error_rate": 0.5}"#;

    #[test]
    fn cheapest_meeting_the_floor() {
        let c = vec![
            cand("model-c", 5.0, &["tools"]),
            cand("model-b", 0.1, &["tools"]),
            cand("model-a", 1.0, &["tools", "vision"]),
            cand("model-x", 0.01, &["tools"]),
        ];
        let d = decide(&config(EXAMPLE), &plain(), &c);
        // b is too weak, x has no known quality: both dropped.
        assert_eq!(order(&d, &c), ["model-a", "model-c"]);
        assert_eq!(label(&d, "floor"), Some("met"));
        assert_eq!(label(&d, "pick"), Some("model-a"));
        assert_eq!(label(&d, "require"), Some("tools"));
        assert_eq!(label(&d, "dropped"), Some("model-b,model-x"));
    }

    #[test]
    fn missing_capability_drops_the_candidate() {
        let c = vec![
            cand("model-a", 0.1, &["vision"]),
            cand("model-c", 5.0, &["tools"]),
        ];
        let d = decide(&config(EXAMPLE), &plain(), &c);
        assert_eq!(order(&d, &c), ["model-c"]);
    }

    #[test]
    fn the_request_adds_tools_vision_and_json() {
        let c = vec![
            cand("bare", 0.1, &["chat"]),
            cand("tools", 0.2, &["tools"]),
            cand("vision", 0.3, &["vision", "tools"]),
            cand("all", 0.4, &["json", "vision", "tools"]),
        ];
        let cfg = Config::default();
        assert_eq!(
            order(&decide(&cfg, &plain(), &c), &c),
            ["bare", "tools", "vision", "all"]
        );
        let tools = Request {
            has_tools: true,
            ..plain()
        };
        let d = decide(&cfg, &tools, &c);
        assert_eq!(order(&d, &c), ["tools", "vision", "all"]);
        assert_eq!(label(&d, "require"), Some("tools"));
        let images = Request {
            has_images: true,
            ..tools
        };
        let d = decide(&cfg, &images, &c);
        assert_eq!(order(&d, &c), ["vision", "all"]);
        assert_eq!(label(&d, "require"), Some("tools,vision"));
        let json = Request {
            wants_json: true,
            ..images
        };
        let d = decide(&cfg, &json, &c);
        assert_eq!(order(&d, &c), ["all"]);
        assert_eq!(label(&d, "dropped"), Some("bare,tools,vision"));
        // Config and request asking for the same capability count it once;
        // capability names compare without regard to ASCII case.
        let cfg = config(r#"{"require": ["JSON", "JSON"]}"#);
        let d = decide(&cfg, &json, &c);
        assert_eq!(label(&d, "require"), Some("JSON,tools,vision"));
        assert_eq!(order(&d, &c), ["all"]);
    }

    #[test]
    fn undeclared_capabilities_are_not_held_against_a_model() {
        let c = vec![
            cand("undeclared", 0.1, &[]),
            cand("declared", 1.0, &["tools"]),
            cand("other", 0.5, &["vision"]),
        ];
        let tools = Request {
            has_tools: true,
            ..plain()
        };
        let cfg = config(r#"{"require": ["json"]}"#);
        let d = decide(&cfg, &tools, &c);
        assert_eq!(order(&d, &c), ["undeclared"]);
        assert_eq!(label(&d, "dropped"), Some("declared,other"));
        // The quality floor still applies to it.
        let cfg = config(r#"{"min_quality": 0.5, "quality": {"declared": 0.9}}"#);
        let d = decide(&cfg, &tools, &c);
        assert_eq!(order(&d, &c), ["declared"]);
    }

    #[test]
    fn error_rate_above_the_ceiling_fails() {
        let mut c = vec![cand("flaky", 0.1, &[]), cand("steady", 1.0, &[])];
        c[0].stats.error_rate = 0.6;
        c[1].stats.error_rate = 0.5;
        let d = decide(&config(r#"{"max_error_rate": 0.5}"#), &plain(), &c);
        assert_eq!(order(&d, &c), ["steady"]);
        assert_eq!(label(&d, "dropped"), Some("flaky"));
        // Without a ceiling the error rate does not matter.
        let d = decide(&Config::default(), &plain(), &c);
        assert_eq!(order(&d, &c), ["flaky", "steady"]);
        assert_eq!(label(&d, "dropped"), None);
    }

    #[test]
    fn nobody_passes_the_floor_is_relaxed_to_all_cheapest_first() {
        let c = vec![
            cand("b", 2.0, &[]),
            cand("a", 1.0, &[]),
            cand("c", 3.0, &["tools"]),
        ];
        let cfg = config(r#"{"require": ["vision"], "min_quality": 0.5}"#);
        let d = decide(&cfg, &plain(), &c);
        assert_eq!(order(&d, &c), ["a", "b", "c"]);
        assert_eq!(label(&d, "floor"), Some("relaxed"));
        assert_eq!(label(&d, "dropped"), None);
        assert_eq!(label(&d, "pick"), Some("a"));
    }

    #[test]
    fn open_breakers_go_last_among_the_kept() {
        let mut c = vec![
            cand("cheap-open", 0.1, &["tools"]),
            cand("mid", 1.0, &["tools"]),
            cand("dear", 5.0, &["tools"]),
            cand("no-tools", 0.01, &["vision"]),
        ];
        c[0].stats.breaker = BreakerState::Open;
        let tools = Request {
            has_tools: true,
            ..plain()
        };
        let d = decide(&Config::default(), &tools, &c);
        assert_eq!(order(&d, &c), ["mid", "dear", "cheap-open"]);
        assert_eq!(label(&d, "breaker-open"), Some("cheap-open"));
        assert_eq!(label(&d, "dropped"), Some("no-tools"));
        // Relaxed plans put open breakers last too.
        c[3].stats.breaker = BreakerState::Open;
        let cfg = config(r#"{"require": ["json"]}"#);
        let d = decide(&cfg, &plain(), &c);
        assert_eq!(order(&d, &c), ["mid", "dear", "no-tools", "cheap-open"]);
        assert_eq!(label(&d, "floor"), Some("relaxed"));
    }

    #[test]
    fn equal_cost_goes_to_lower_latency() {
        let mut c = vec![cand("slow", 1.0, &[]), cand("fast", 1.0, &[])];
        c[0].stats.requests = 2;
        c[0].stats.latency_ewma_ms = 300.0;
        c[1].stats.requests = 2;
        c[1].stats.latency_ewma_ms = 30.0;
        assert_eq!(
            order(&decide(&Config::default(), &plain(), &c), &c),
            ["fast", "slow"]
        );
    }

    #[test]
    fn cost_uses_max_tokens_then_expected_output() {
        let mut c = vec![cand("in-cheap", 1.0, &[]), cand("out-cheap", 1.0, &[])];
        c[0].output_price = 10.0;
        c[1].input_price = 10.0;
        // in-cheap: 100 + 10x, out-cheap: 1000 + x  →  in-cheap while x < 100.
        let cfg = config(r#"{"expected_output_tokens": 50}"#);
        assert_eq!(order(&decide(&cfg, &plain(), &c), &c)[0], "in-cheap");
        let long = Request {
            max_tokens: Some(500),
            ..plain()
        };
        assert_eq!(order(&decide(&cfg, &long, &c), &c)[0], "out-cheap");
        // The default of 256 favours out-cheap.
        assert_eq!(
            order(&decide(&Config::default(), &plain(), &c), &c)[0],
            "out-cheap"
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |j: &str| Config::parse(Some(j)).unwrap_err();
        assert!(err(r#"{"require": "tools"}"#).contains("`require`"));
        assert!(err(r#"{"require": ["tools", 3]}"#).contains("`require[1]`"));
        assert!(err(r#"{"min_quality": "high"}"#).contains("`min_quality`"));
        assert!(err(r#"{"min_quality": -0.1}"#).contains("`min_quality`"));
        assert!(err(r#"{"max_error_rate": 1.5}"#).contains("`max_error_rate`"));
        assert!(err(r#"{"max_error_rate": true}"#).contains("`max_error_rate`"));
        assert!(err(r#"{"quality": [0.9]}"#).contains("`quality`"));
        assert!(err(r#"{"quality": {"m": "good"}}"#).contains("`quality.m`"));
        assert!(err(r#"{"expected_output_tokens": -5}"#).contains("`expected_output_tokens`"));
        assert!(err(r#"{"min_qualty": 0.5}"#).contains("`min_qualty`"));
        assert!(err("[]").contains("must be a table"));
        assert!(err("{").contains("not valid JSON"));
        assert_eq!(Config::parse(None).unwrap(), Config::default());
        assert_eq!(config(EXAMPLE).min_quality, Some(0.8));
    }
}
