//! The decision of the `least-cost` policy as a pure function of its config,
//! the request's figures and the candidates, so tests run natively.

use policy_kit::{
    config_table, config_u32, cost, push_models, refuse_unknown_keys, sort_cheapest, split_open,
};
use serde_json::Value;

use crate::decision;
use crate::exports::switchyard::plugin::policy::{Candidate, Decision};

/// Output tokens assumed when neither the request nor the config says.
pub const DEFAULT_EXPECTED_OUTPUT: u32 = 256;

/// The policy's validated configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Output tokens assumed when the request sets no `max_tokens`.
    pub expected_output_tokens: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            expected_output_tokens: DEFAULT_EXPECTED_OUTPUT,
        }
    }
}

impl Config {
    /// Parse and validate the route's `policy_config` (JSON); `None` when the
    /// route has none. Errors name the offending key.
    pub fn parse(json: Option<&str>) -> Result<Config, String> {
        let Some(obj) = config_table("least-cost", json)? else {
            return Ok(Config::default());
        };
        refuse_unknown_keys("least-cost", &obj, &["expected_output_tokens"])?;
        let expected_output_tokens = match obj.get("expected_output_tokens") {
            None | Some(Value::Null) => DEFAULT_EXPECTED_OUTPUT,
            Some(v) => config_u32("least-cost", "expected_output_tokens", v)?,
        };
        Ok(Config {
            expected_output_tokens,
        })
    }
}

/// What the policy reads of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// Estimated prompt tokens.
    pub token_estimate: u32,
    /// The client's output limit, if set.
    pub max_tokens: Option<u32>,
}

impl Request {
    /// The output tokens to price: the client's limit, else the config's guess.
    pub fn expected_output(&self, config: &Config) -> u32 {
        self.max_tokens.unwrap_or(config.expected_output_tokens)
    }
}

/// Decide the attempt plan: cheapest first, ties to lower latency, then route
/// order; open breakers last.
pub fn decide(config: &Config, request: &Request, candidates: &[Candidate]) -> Decision {
    let output = request.expected_output(config);
    let costs: Vec<f64> = candidates
        .iter()
        .map(|c| cost(c, request.token_estimate, output))
        .collect();
    let (mut usable, mut open) = split_open(candidates);
    sort_cheapest(&mut usable, candidates, &costs);
    sort_cheapest(&mut open, candidates, &costs);

    let mut labels = vec![("policy".to_owned(), "least-cost".to_owned())];
    if let Some(&first) = usable.first() {
        labels.push(("pick".into(), candidates[first].model.clone()));
        labels.push(("estimated-cost-usd".into(), format!("{:.8}", costs[first])));
    }
    labels.push(("output-tokens".into(), output.to_string()));
    push_models(&mut labels, "breaker-open", candidates, &open);
    decision(usable.into_iter().chain(open), labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::switchyard::plugin::policy::BreakerState;
    use crate::testing::{candidate, label, order};

    fn cand(model: &str, input: f64, output: f64) -> Candidate {
        Candidate {
            input_price: input,
            output_price: output,
            ..candidate(model)
        }
    }

    fn req(tokens: u32, max: Option<u32>) -> Request {
        Request {
            token_estimate: tokens,
            max_tokens: max,
        }
    }

    #[test]
    fn cheapest_first_for_this_request() {
        // Input-heavy: a long prompt with a short answer favours cheap input.
        let c = vec![
            cand("cheap-out", 10.0, 1.0),
            cand("cheap-in", 1.0, 10.0),
            cand("mid", 5.0, 5.0),
        ];
        let cfg = Config::default();
        let d = decide(&cfg, &req(10_000, Some(10)), &c);
        assert_eq!(order(&d, &c), ["cheap-in", "mid", "cheap-out"]);
        assert_eq!(label(&d, "pick"), Some("cheap-in"));
        // 10_000 × 1 + 10 × 10 = 10_100 per million.
        assert_eq!(label(&d, "estimated-cost-usd"), Some("0.01010000"));
        assert_eq!(label(&d, "output-tokens"), Some("10"));
        // Output-heavy: the reverse.
        let d = decide(&cfg, &req(10, Some(10_000)), &c);
        assert_eq!(order(&d, &c), ["cheap-out", "mid", "cheap-in"]);
    }

    #[test]
    fn expected_output_comes_from_the_request_then_config_then_256() {
        let c = vec![cand("a", 1.0, 3.0), cand("b", 2.0, 1.0)];
        // a: 100 + 3x, b: 200 + x  →  a is cheaper while x < 50.
        let default = Config::default();
        let d = decide(&default, &req(100, None), &c);
        assert_eq!(label(&d, "output-tokens"), Some("256"));
        assert_eq!(order(&d, &c), ["b", "a"]);
        let short = Config::parse(Some(r#"{"expected_output_tokens": 10}"#)).unwrap();
        let d = decide(&short, &req(100, None), &c);
        assert_eq!(label(&d, "output-tokens"), Some("10"));
        assert_eq!(order(&d, &c), ["a", "b"]);
        // The request's own limit wins over the config.
        let d = decide(&short, &req(100, Some(1000)), &c);
        assert_eq!(order(&d, &c), ["b", "a"]);
    }

    #[test]
    fn ties_go_to_lower_latency_then_route_order() {
        let mut c = vec![
            cand("slow", 1.0, 1.0),
            cand("fast", 1.0, 1.0),
            cand("same", 1.0, 1.0),
            cand("pricey", 9.0, 9.0),
        ];
        c[0].stats.requests = 4;
        c[0].stats.latency_ewma_ms = 800.0;
        c[1].stats.requests = 4;
        c[1].stats.latency_ewma_ms = 80.0;
        c[2].stats.requests = 4;
        c[2].stats.latency_ewma_ms = 80.0;
        let d = decide(&Config::default(), &req(50, None), &c);
        assert_eq!(order(&d, &c), ["fast", "same", "slow", "pricey"]);
        // A model without requests counts as 0 ms.
        c[3].input_price = 1.0;
        c[3].output_price = 1.0;
        let d = decide(&Config::default(), &req(50, None), &c);
        assert_eq!(order(&d, &c), ["pricey", "fast", "same", "slow"]);
    }

    #[test]
    fn free_models_and_zero_tokens() {
        let c = vec![cand("paid", 0.1, 0.1), cand("free", 0.0, 0.0)];
        let d = decide(&Config::default(), &req(0, Some(0)), &c);
        // Both cost 0: equal latency, route order.
        assert_eq!(order(&d, &c), ["paid", "free"]);
        let d = decide(&Config::default(), &req(1, None), &c);
        assert_eq!(order(&d, &c), ["free", "paid"]);
        assert_eq!(label(&d, "estimated-cost-usd"), Some("0.00000000"));
    }

    #[test]
    fn open_breakers_go_last_even_when_cheapest() {
        let mut c = vec![
            cand("cheapest", 0.1, 0.1),
            cand("dear", 10.0, 10.0),
            cand("cheap", 1.0, 1.0),
            cand("open-dear", 20.0, 20.0),
        ];
        c[0].stats.breaker = BreakerState::Open;
        c[3].stats.breaker = BreakerState::Open;
        c[2].stats.breaker = BreakerState::HalfOpen;
        let d = decide(&Config::default(), &req(100, None), &c);
        assert_eq!(order(&d, &c), ["cheap", "dear", "cheapest", "open-dear"]);
        assert_eq!(label(&d, "pick"), Some("cheap"));
        assert_eq!(label(&d, "breaker-open"), Some("cheapest,open-dear"));
        // All open: still every candidate, cheapest first, and no pick label.
        for x in &mut c {
            x.stats.breaker = BreakerState::Open;
        }
        let d = decide(&Config::default(), &req(100, None), &c);
        assert_eq!(order(&d, &c), ["cheapest", "cheap", "dear", "open-dear"]);
        assert_eq!(label(&d, "pick"), None);
    }

    #[test]
    fn nan_price_is_most_expensive() {
        let c = vec![cand("nan", f64::NAN, 1.0), cand("dear", 1e6, 1e6)];
        let d = decide(&Config::default(), &req(10, None), &c);
        assert_eq!(order(&d, &c), ["dear", "nan"]);
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |j: &str| Config::parse(Some(j)).unwrap_err();
        assert!(err(r#"{"expected_output_tokens": -1}"#).contains("`expected_output_tokens`"));
        assert!(err(r#"{"expected_output_tokens": 2.5}"#).contains("`expected_output_tokens`"));
        assert!(err(r#"{"expected_output_tokens": "lots"}"#).contains("`expected_output_tokens`"));
        assert!(
            err(r#"{"expected_output_tokens": 5000000000}"#).contains("`expected_output_tokens`")
        );
        assert!(err(r#"{"expected_tokens": 5}"#).contains("`expected_tokens`"));
        assert!(err("7").contains("must be a table"));
        assert!(err("{").contains("not valid JSON"));
        assert_eq!(Config::parse(None).unwrap(), Config::default());
        assert_eq!(Config::parse(Some("{}")).unwrap(), Config::default());
    }
}
