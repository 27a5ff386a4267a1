//! The decision of the `weighted` policy as a pure function of its config,
//! the candidates and a seed, so tests run natively without the host.

use policy_kit::{Candidate as _, Rng, config_value, push_models, refuse_unknown_keys};
use serde_json::Value;

use crate::decision;
use crate::exports::switchyard::plugin::policy::{Candidate, Decision};

/// The policy's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Weight by model name.
    pub weights: Vec<(String, f64)>,
}

impl Config {
    /// Parse and validate the route's `policy_config` (JSON); `None` when the
    /// route has none. Errors name the offending key.
    pub fn parse(json: Option<&str>) -> Result<Config, String> {
        let obj = match config_value("weighted", json)? {
            Value::Object(o) => o,
            Value::Null => {
                return Err("weighted: policy_config needs `weights`, e.g. \
                     { weights = { \"model-a\" = 90, \"model-b\" = 10 } }"
                    .into());
            }
            other => {
                return Err(format!(
                    "weighted: policy_config must be a table, got {}",
                    kind(&other)
                ));
            }
        };
        refuse_unknown_keys("weighted", &obj, &["weights"])?;
        let weights = match obj.get("weights") {
            Some(Value::Object(w)) => w,
            Some(other) => {
                return Err(format!(
                    "weighted: `weights` must be a table of model name = weight, got {}",
                    kind(other)
                ));
            }
            None => return Err("weighted: policy_config needs `weights`".into()),
        };
        let mut out = Vec::with_capacity(weights.len());
        for (model, w) in weights {
            let n = w.as_f64().filter(|n| n.is_finite() && *n >= 0.0);
            let Some(n) = n else {
                return Err(format!(
                    "weighted: `weights.{model}` must be a non-negative number, got {w}"
                ));
            };
            out.push((model.clone(), n));
        }
        if !out.iter().any(|(_, w)| *w > 0.0) {
            return Err(
                "weighted: `weights` are all zero or empty; give at least one model a positive weight"
                    .into(),
            );
        }
        Ok(Config { weights: out })
    }

    /// The weight of a model; 0 when the map does not name it.
    pub fn weight(&self, model: &str) -> f64 {
        self.weights
            .iter()
            .find(|(m, _)| m == model)
            .map_or(0.0, |(_, w)| *w)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// Decide the attempt plan: the first attempt drawn by weight, the other
/// weighted models by descending weight, the unweighted ones in route order,
/// open breakers last.
pub fn decide(config: &Config, candidates: &[Candidate], seed: u64) -> Decision {
    let mut weighted: Vec<(usize, f64)> = Vec::new();
    let mut unweighted: Vec<usize> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let w = config.weight(&c.model);
        if c.is_open() {
            open.push(i);
        } else if w > 0.0 {
            weighted.push((i, w));
        } else {
            unweighted.push(i);
        }
    }

    let mut labels = vec![("policy".to_owned(), "weighted".to_owned())];
    let mut order: Vec<usize> = Vec::with_capacity(candidates.len());
    if weighted.is_empty() {
        labels.push(("pick".into(), "unweighted".into()));
    } else {
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let r = Rng::new(seed).next_f64() * total;
        let mut acc = 0.0;
        // Rounding can leave `r` just past the last sum: the last one wins then.
        let mut pick = weighted.len() - 1;
        for (k, (_, w)) in weighted.iter().enumerate() {
            acc += w;
            if r < acc {
                pick = k;
                break;
            }
        }
        let (first, w) = weighted.remove(pick);
        labels.push(("pick".into(), candidates[first].model.clone()));
        labels.push(("weight".into(), w.to_string()));
        order.push(first);
        // Stable: equal weights keep their route order.
        weighted.sort_by(|a, b| b.1.total_cmp(&a.1));
        order.extend(weighted.iter().map(|(i, _)| *i));
    }
    order.extend(unweighted);
    push_models(&mut labels, "breaker-open", candidates, &open);
    order.extend(open);
    decision(order, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::switchyard::plugin::policy::BreakerState;
    use crate::testing::{candidate, label, order};

    fn cands(models: &[&str]) -> Vec<Candidate> {
        models.iter().map(|m| candidate(m)).collect()
    }

    fn config(json: &str) -> Config {
        Config::parse(Some(json)).unwrap()
    }

    /// Fraction of `draws` decisions whose first attempt is each model.
    fn shares(cfg: &Config, c: &[Candidate], draws: u64) -> Vec<(String, f64)> {
        let mut counts = vec![0u64; c.len()];
        let mut rng = Rng::new(42);
        for _ in 0..draws {
            let d = decide(cfg, c, rng.next_u64());
            counts[d.attempts[0].candidate as usize] += 1;
        }
        c.iter()
            .zip(counts)
            .map(|(c, n)| (c.model.clone(), n as f64 / draws as f64))
            .collect()
    }

    #[test]
    fn split_follows_the_weights_within_two_percent() {
        let c = cands(&["model-a", "model-b"]);
        let cfg = config(r#"{"weights": {"model-a": 90, "model-b": 10}}"#);
        let s = shares(&cfg, &c, 10_000);
        assert!((s[0].1 - 0.90).abs() <= 0.02, "{s:?}");
        assert!((s[1].1 - 0.10).abs() <= 0.02, "{s:?}");
    }

    #[test]
    fn three_way_split_with_fractional_weights() {
        let c = cands(&["a", "b", "c", "unlisted"]);
        let cfg = config(r#"{"weights": {"a": 0.5, "b": 0.3, "c": 0.2}}"#);
        let s = shares(&cfg, &c, 10_000);
        for (got, want) in s.iter().zip([0.5, 0.3, 0.2, 0.0]) {
            assert!((got.1 - want).abs() <= 0.02, "{s:?}");
        }
    }

    #[test]
    fn the_rest_follow_by_descending_weight_then_unweighted_in_route_order() {
        let c = cands(&["x", "low", "y", "mid", "high"]);
        let cfg = config(r#"{"weights": {"low": 1, "mid": 5, "high": 10, "x": 0}}"#);
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let d = decide(&cfg, &c, rng.next_u64());
            let o = order(&d, &c);
            assert_eq!(o.len(), 5);
            let rest: Vec<&str> = o[1..]
                .iter()
                .filter(|m| *m != "x" && *m != "y")
                .map(String::as_str)
                .collect();
            let mut want: Vec<&str> = vec!["high", "mid", "low"];
            want.retain(|m| *m != o[0]);
            assert_eq!(rest, want, "{o:?}");
            assert_eq!(&o[o.len() - 2..], ["x", "y"], "{o:?}");
            assert_eq!(label(&d, "pick"), Some(o[0].as_str()));
        }
    }

    #[test]
    fn a_zero_weight_model_is_never_picked_first() {
        let c = cands(&["a", "b"]);
        let cfg = config(r#"{"weights": {"a": 0, "b": 3}}"#);
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let d = decide(&cfg, &c, rng.next_u64());
            assert_eq!(order(&d, &c), ["b", "a"]);
            assert_eq!(label(&d, "weight"), Some("3"));
        }
    }

    #[test]
    fn open_breakers_are_never_drawn_and_go_last() {
        let mut c = cands(&["a", "b", "c"]);
        c[0].stats.breaker = BreakerState::Open;
        c[1].stats.breaker = BreakerState::HalfOpen;
        let cfg = config(r#"{"weights": {"a": 99, "b": 1}}"#);
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let d = decide(&cfg, &c, rng.next_u64());
            assert_eq!(order(&d, &c), ["b", "c", "a"]);
            assert_eq!(label(&d, "breaker-open"), Some("a"));
        }
    }

    #[test]
    fn when_no_weighted_model_is_usable_the_route_order_stands() {
        let mut c = cands(&["a", "b", "c"]);
        c[1].stats.breaker = BreakerState::Open;
        let cfg = config(r#"{"weights": {"b": 1, "elsewhere": 4}}"#);
        let d = decide(&cfg, &c, 0);
        assert_eq!(order(&d, &c), ["a", "c", "b"]);
        assert_eq!(label(&d, "pick"), Some("unweighted"));
        assert_eq!(label(&d, "policy"), Some("weighted"));
    }

    #[test]
    fn no_candidates_no_attempts() {
        let cfg = config(r#"{"weights": {"a": 1}}"#);
        assert!(decide(&cfg, &[], 5).attempts.is_empty());
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |j: Option<&str>| Config::parse(j).unwrap_err();
        assert!(err(None).contains("`weights`"));
        assert!(err(Some("null")).contains("`weights`"));
        assert!(err(Some("{")).contains("not valid JSON"));
        assert!(err(Some("[1]")).contains("must be a table"));
        assert!(err(Some("{}")).contains("`weights`"));
        assert!(err(Some(r#"{"weights": {"a": 1}, "wieghts": 2}"#)).contains("`wieghts`"));
        assert!(err(Some(r#"{"weights": [1, 2]}"#)).contains("`weights` must be a table"));
        assert!(err(Some(r#"{"weights": {"a": -1}}"#)).contains("`weights.a`"));
        assert!(err(Some(r#"{"weights": {"a": 1, "b": "ten"}}"#)).contains("`weights.b`"));
        assert!(err(Some(r#"{"weights": {"a": 0, "b": 0}}"#)).contains("all zero"));
        assert!(err(Some(r#"{"weights": {}}"#)).contains("all zero"));
    }

    #[test]
    fn integer_and_float_weights_parse() {
        let cfg = config(r#"{"weights": {"a": 90, "b": 2.5}}"#);
        assert_eq!(cfg.weight("a"), 90.0);
        assert_eq!(cfg.weight("b"), 2.5);
        assert_eq!(cfg.weight("c"), 0.0);
    }
}
