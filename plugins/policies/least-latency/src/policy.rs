//! The decision of the `least-latency` policy as a pure function of the
//! metric, the candidates and a seed, so tests run natively without the host.

use std::cmp::Ordering;

use policy_kit::{Rng, config_table, latency_figure, push_models, refuse_unknown_keys, split_open};
use serde_json::Value;

use crate::decision;
use crate::exports::switchyard::plugin::policy::{Candidate, Decision};

/// Which EWMA the policy compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Total latency of an answer.
    Latency,
    /// Time to first token.
    Ttft,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::Latency => "latency",
            Metric::Ttft => "ttft",
        }
    }
}

/// The policy's validated configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// The metric the config asks for; `None` lets the request decide.
    pub metric: Option<Metric>,
}

impl Config {
    /// Parse and validate the route's `policy_config` (JSON); `None` when the
    /// route has none. Errors name the offending key.
    pub fn parse(json: Option<&str>) -> Result<Config, String> {
        let Some(obj) = config_table("least-latency", json)? else {
            return Ok(Config::default());
        };
        refuse_unknown_keys("least-latency", &obj, &["use"])?;
        let metric = match obj.get("use") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "latency" => Some(Metric::Latency),
            Some(Value::String(s)) if s == "ttft" => Some(Metric::Ttft),
            Some(other) => {
                return Err(format!(
                    "least-latency: `use` must be \"latency\" or \"ttft\", got {other}"
                ));
            }
        };
        Ok(Config { metric })
    }

    /// The metric for a request: the configured one, else TTFT for streams
    /// and total latency otherwise.
    pub fn metric(&self, stream: bool) -> Metric {
        self.metric.unwrap_or(if stream {
            Metric::Ttft
        } else {
            Metric::Latency
        })
    }
}

/// A candidate's figure for `metric`: 0 before its first request, so new
/// models get tried; a NaN (never expected) counts as slowest.
pub fn figure(c: &Candidate, metric: Metric) -> f64 {
    let ewma = match metric {
        Metric::Latency => c.stats.latency_ewma_ms,
        Metric::Ttft => c.stats.ttft_ewma_ms,
    };
    latency_figure(c.stats.requests, ewma)
}

/// Faster first: lower figure, then fewer in flight, then route order.
fn compare(candidates: &[Candidate], metric: Metric, a: usize, b: usize) -> Ordering {
    let (ca, cb) = (&candidates[a], &candidates[b]);
    figure(ca, metric)
        .total_cmp(&figure(cb, metric))
        .then(ca.stats.in_flight.cmp(&cb.stats.in_flight))
        .then(a.cmp(&b))
}

/// Decide the attempt plan: the faster of two random usable candidates, the
/// rest by ascending figure, open breakers last.
pub fn decide(metric: Metric, candidates: &[Candidate], seed: u64) -> Decision {
    let (mut usable, open) = split_open(candidates);
    let mut labels = vec![
        ("policy".to_owned(), "least-latency".to_owned()),
        ("metric".to_owned(), metric.name().to_owned()),
    ];
    let mut order = Vec::with_capacity(candidates.len());
    if !usable.is_empty() {
        let mut rng = Rng::new(seed);
        let a = rng.below(usable.len());
        let first = if usable.len() >= 2 {
            let mut b = rng.below(usable.len() - 1);
            if b >= a {
                b += 1;
            }
            let (x, y) = (usable[a], usable[b]);
            let (win, lose) = if compare(candidates, metric, x, y).is_le() {
                (x, y)
            } else {
                (y, x)
            };
            labels.push(("pick".into(), candidates[win].model.clone()));
            labels.push(("versus".into(), candidates[lose].model.clone()));
            win
        } else {
            labels.push(("pick".into(), candidates[usable[a]].model.clone()));
            usable[a]
        };
        labels.push((
            "pick-ms".into(),
            format!("{:.1}", figure(&candidates[first], metric)),
        ));
        usable.retain(|i| *i != first);
        usable.sort_by(|x, y| compare(candidates, metric, *x, *y));
        order.push(first);
        order.extend(usable);
    }
    push_models(&mut labels, "breaker-open", candidates, &open);
    order.extend(open);
    decision(order, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::switchyard::plugin::policy::BreakerState;
    use crate::testing::{candidate, label, order};

    /// A candidate with `requests` served at `latency` / `ttft` ms.
    fn cand(model: &str, requests: u64, latency: f64, ttft: f64) -> Candidate {
        let mut c = candidate(model);
        c.stats.requests = requests;
        c.stats.latency_ewma_ms = latency;
        c.stats.ttft_ewma_ms = ttft;
        c
    }

    #[test]
    fn of_two_the_faster_always_wins() {
        let c = vec![
            cand("slow", 10, 900.0, 50.0),
            cand("fast", 10, 100.0, 400.0),
        ];
        let mut rng = Rng::new(9);
        for _ in 0..200 {
            let d = decide(Metric::Latency, &c, rng.next_u64());
            assert_eq!(order(&d, &c), ["fast", "slow"]);
            assert_eq!(label(&d, "pick"), Some("fast"));
            assert_eq!(label(&d, "versus"), Some("slow"));
            assert_eq!(label(&d, "pick-ms"), Some("100.0"));
            assert_eq!(label(&d, "metric"), Some("latency"));
        }
    }

    #[test]
    fn ttft_compares_time_to_first_token() {
        let c = vec![
            cand("slow", 10, 900.0, 50.0),
            cand("fast", 10, 100.0, 400.0),
        ];
        let d = decide(Metric::Ttft, &c, 1);
        assert_eq!(order(&d, &c), ["slow", "fast"]);
        assert_eq!(label(&d, "metric"), Some("ttft"));
    }

    #[test]
    fn two_choices_spread_load_and_never_pick_the_slowest_first() {
        // With four models, the slowest can only come first if it was drawn
        // twice, which two distinct draws never do; the fastest wins whenever
        // it is drawn (half the time), the others share the rest.
        let c = vec![
            cand("a", 5, 10.0, 0.0),
            cand("b", 5, 20.0, 0.0),
            cand("c", 5, 30.0, 0.0),
            cand("d", 5, 40.0, 0.0),
        ];
        let mut counts = [0u32; 4];
        let mut rng = Rng::new(11);
        let draws = 10_000;
        for _ in 0..draws {
            let d = decide(Metric::Latency, &c, rng.next_u64());
            counts[d.attempts[0].candidate as usize] += 1;
            // The rest ascend.
            let rest: Vec<u32> = d.attempts[1..].iter().map(|a| a.candidate).collect();
            let mut sorted = rest.clone();
            sorted.sort();
            assert_eq!(rest, sorted);
        }
        assert_eq!(counts[3], 0);
        // P(a first) = 3/6, P(b) = 2/6, P(c) = 1/6.
        for (got, want) in counts.iter().zip([0.5, 1.0 / 3.0, 1.0 / 6.0]) {
            let share = f64::from(*got) / f64::from(draws);
            assert!((share - want).abs() < 0.02, "{counts:?}");
        }
    }

    #[test]
    fn a_model_without_requests_counts_as_zero_and_gets_tried() {
        let c = vec![cand("old", 100, 50.0, 20.0), cand("new", 0, 0.0, 0.0)];
        let d = decide(Metric::Latency, &c, 4);
        assert_eq!(order(&d, &c), ["new", "old"]);
        assert_eq!(label(&d, "pick-ms"), Some("0.0"));
        // Even when stale figures linger from before a reset.
        let c = vec![cand("old", 100, 50.0, 20.0), cand("new", 0, 999.0, 999.0)];
        assert_eq!(order(&decide(Metric::Ttft, &c, 4), &c), ["new", "old"]);
    }

    #[test]
    fn a_tie_goes_to_fewer_in_flight() {
        let mut c = vec![cand("busy", 3, 100.0, 10.0), cand("idle", 3, 100.0, 10.0)];
        c[0].stats.in_flight = 7;
        c[1].stats.in_flight = 1;
        let mut rng = Rng::new(2);
        for _ in 0..50 {
            assert_eq!(
                order(&decide(Metric::Latency, &c, rng.next_u64()), &c),
                ["idle", "busy"]
            );
        }
    }

    #[test]
    fn open_breakers_are_never_sampled_and_go_last() {
        let mut c = vec![
            cand("open-fast", 9, 1.0, 1.0),
            cand("slow", 9, 500.0, 50.0),
            cand("mid", 9, 200.0, 20.0),
            cand("open-2", 9, 2.0, 2.0),
        ];
        c[0].stats.breaker = BreakerState::Open;
        c[3].stats.breaker = BreakerState::Open;
        let mut rng = Rng::new(5);
        for _ in 0..200 {
            let d = decide(Metric::Latency, &c, rng.next_u64());
            assert_eq!(order(&d, &c), ["mid", "slow", "open-fast", "open-2"]);
            assert_eq!(label(&d, "breaker-open"), Some("open-fast,open-2"));
        }
    }

    #[test]
    fn one_usable_candidate_or_none() {
        let mut c = vec![cand("a", 1, 1.0, 1.0), cand("b", 1, 9.0, 9.0)];
        c[0].stats.breaker = BreakerState::Open;
        let d = decide(Metric::Latency, &c, 0);
        assert_eq!(order(&d, &c), ["b", "a"]);
        assert_eq!(label(&d, "versus"), None);
        c[1].stats.breaker = BreakerState::Open;
        let d = decide(Metric::Latency, &c, 0);
        assert_eq!(order(&d, &c), ["a", "b"]);
        assert_eq!(label(&d, "pick"), None);
        assert!(decide(Metric::Latency, &[], 0).attempts.is_empty());
    }

    #[test]
    fn nan_counts_as_slowest() {
        let c = vec![cand("nan", 3, f64::NAN, 0.0), cand("ok", 3, 1e9, 0.0)];
        assert_eq!(order(&decide(Metric::Latency, &c, 0), &c), ["ok", "nan"]);
    }

    #[test]
    fn metric_follows_config_then_stream() {
        let none = Config::parse(None).unwrap();
        assert_eq!(none.metric(true), Metric::Ttft);
        assert_eq!(none.metric(false), Metric::Latency);
        assert_eq!(Config::parse(Some("{}")).unwrap(), none);
        assert_eq!(Config::parse(Some("null")).unwrap(), none);
        let ttft = Config::parse(Some(r#"{"use":"ttft"}"#)).unwrap();
        assert_eq!(ttft.metric(false), Metric::Ttft);
        let lat = Config::parse(Some(r#"{"use":"latency"}"#)).unwrap();
        assert_eq!(lat.metric(true), Metric::Latency);
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = |j: &str| Config::parse(Some(j)).unwrap_err();
        assert!(err(r#"{"use":"p99"}"#).contains("`use`"));
        assert!(err(r#"{"use":1}"#).contains("`use`"));
        assert!(err(r#"{"metric":"ttft"}"#).contains("`metric`"));
        assert!(err("[]").contains("must be a table"));
        assert!(err("{").contains("not valid JSON"));
    }
}
