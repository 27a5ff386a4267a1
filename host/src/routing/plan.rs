//! The attempt plan: the route's policy is called with the usable candidates
//! and their live figures, and its decision becomes an ordered list of
//! targets with per-attempt overrides. A policy that fails in any way (an
//! error value, a trap, a deadline, a candidate that does not exist, no
//! attempts) is counted against it and the route's static fallback order
//! stands in, labelled `fallback=REASON`. Turning a decision into a plan
//! ([`from_decision`], [`fallback_order`]) is pure and tested below; this
//! module never sends anything.

use std::sync::Arc;
use std::time::Duration;

use super::Router;
use super::complete::ModelCalls;
use crate::canonical::ChatRequest;
use crate::generation::{Generation, ModelTarget, Route};
use crate::runtime::{Attempt, Candidate, Completer, PluginFault, RequestView};

/// Per-attempt changes a policy asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Overrides {
    /// The attempt's first-byte timeout.
    pub timeout: Option<Duration>,
    /// `max_tokens` (or `max_completion_tokens` when the request used it).
    pub max_tokens: Option<u32>,
    /// `temperature`.
    pub temperature: Option<f64>,
}

/// The request as one attempt sends it, with the policy's overrides.
pub fn apply_overrides(req: &ChatRequest, o: &Overrides) -> ChatRequest {
    let mut r = req.clone();
    if let Some(m) = o.max_tokens {
        if r.max_completion_tokens.is_some() {
            r.max_completion_tokens = Some(m);
        } else {
            r.max_tokens = Some(m);
        }
    }
    if let Some(t) = o.temperature {
        r.temperature = Some(t);
    }
    r
}

/// Targets in attempt order, each with the overrides of its attempt.
pub type Plan = Vec<(Arc<ModelTarget>, Option<Overrides>)>;

/// Why a decision cannot be used as a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadDecision {
    /// An attempt names a candidate index past the end of the list.
    NoSuchCandidate {
        /// The index the policy chose.
        chosen: u32,
        /// How many candidates it was given.
        of: usize,
    },
    /// The decision has no attempts.
    Empty,
}

/// A decision's attempts as a plan over `usable`: each candidate once, in
/// the order the policy named them (retries of a target are the route's
/// business, `attempts_per_target`, so a policy naming one candidate a
/// million times must not make the router try it a million times).
pub fn from_decision<T: Clone>(
    usable: &[T],
    attempts: &[Attempt],
) -> Result<Vec<(T, Option<Overrides>)>, BadDecision> {
    let mut plan = Vec::with_capacity(usable.len());
    let mut planned = vec![false; usable.len()];
    for a in attempts {
        let i = a.candidate as usize;
        let Some(m) = usable.get(i) else {
            return Err(BadDecision::NoSuchCandidate {
                chosen: a.candidate,
                of: usable.len(),
            });
        };
        if std::mem::replace(&mut planned[i], true) {
            continue;
        }
        let o = (a.timeout_ms.is_some() || a.max_tokens.is_some() || a.temperature.is_some()).then(
            || Overrides {
                timeout: a.timeout_ms.map(|ms| Duration::from_millis(ms.into())),
                max_tokens: a.max_tokens,
                temperature: a.temperature,
            },
        );
        plan.push((m.clone(), o));
    }
    if plan.is_empty() {
        return Err(BadDecision::Empty);
    }
    Ok(plan)
}

/// The route's static order restricted to the usable candidates; all usable
/// candidates in their order when none of the fallback list is usable.
pub fn fallback_order<T: Clone>(
    fallback: &[T],
    usable: &[T],
    same: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    let p: Vec<T> = fallback
        .iter()
        .filter(|m| usable.iter().any(|u| same(u, m)))
        .cloned()
        .collect();
    if p.is_empty() { usable.to_vec() } else { p }
}

/// Ask the route's policy for the attempt plan; fall back to the static order
/// if it fails in any way.
pub(super) async fn plan(
    router: &Arc<Router>,
    generation: &Arc<Generation>,
    route: &Route,
    usable: Vec<Arc<ModelTarget>>,
    req: &Arc<ChatRequest>,
    token_estimate: u32,
    metadata: Vec<(String, String)>,
) -> (Plan, Vec<(String, String)>) {
    let fallback = |reason: &str| -> (Plan, Vec<(String, String)>) {
        let order = fallback_order(&route.fallback, &usable, Arc::ptr_eq);
        (
            order.into_iter().map(|m| (m, None)).collect(),
            vec![("fallback".into(), reason.into())],
        )
    };
    let breaker = &generation.config.breaker;
    let candidates: Vec<Candidate> = usable
        .iter()
        .map(|m| Candidate {
            model: m.name.clone(),
            provider: m.provider_name.clone(),
            capabilities: m.capabilities.clone(),
            context_window: m.context_window,
            input_price: m.prices.input,
            output_price: m.prices.output,
            quality: m.quality,
            stats: m.stats.snapshot(breaker),
        })
        .collect();
    let view = RequestView {
        request: req.clone(),
        token_estimate,
        metadata: Arc::new(metadata),
    };
    let policy = &route.policy;
    let calls: Arc<dyn Completer> = Arc::new(ModelCalls::new(router.clone(), generation.clone()));
    let decision = match route
        .pool
        .decide(
            &router.runtime,
            view,
            &candidates,
            Some(calls),
            Arc::default(),
        )
        .await
    {
        Ok(Ok(d)) => d,
        Ok(Err(msg)) => {
            router
                .stats
                .plugin_fault(&policy.name, PluginFault::ErrorValue);
            tracing::warn!(route = %route.name, policy = %policy.name, "policy returned an error, using the fallback order: {msg}");
            return fallback("policy-error");
        }
        Err(e) => {
            router.stats.plugin_fault(&policy.name, e.fault());
            tracing::warn!(route = %route.name, "{e}; using the fallback order");
            return fallback("policy-fault");
        }
    };
    match from_decision(&usable, &decision.attempts) {
        Ok(plan) => (plan, decision.labels),
        Err(BadDecision::NoSuchCandidate { chosen, of }) => {
            router
                .stats
                .plugin_fault(&policy.name, PluginFault::BadReturn);
            tracing::warn!(
                route = %route.name, policy = %policy.name,
                "policy chose candidate {chosen} of {of}; using the fallback order"
            );
            fallback("policy-bad-return")
        }
        Err(BadDecision::Empty) => {
            router
                .stats
                .plugin_fault(&policy.name, PluginFault::BadReturn);
            tracing::warn!(route = %route.name, policy = %policy.name, "policy returned no attempts; using the fallback order");
            fallback("policy-empty")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(candidate: u32) -> Attempt {
        Attempt {
            candidate,
            timeout_ms: None,
            max_tokens: None,
            temperature: None,
        }
    }

    fn names(plan: &[(&'static str, Option<Overrides>)]) -> Vec<&'static str> {
        plan.iter().map(|(m, _)| *m).collect()
    }

    #[test]
    fn decisions_become_plans() {
        let usable = ["a", "b", "c"];
        // (policy's attempts, plan or why not)
        type Case = (&'static [u32], Result<&'static [&'static str], BadDecision>);
        let cases: &[Case] = &[
            (&[0, 1, 2], Ok(&["a", "b", "c"])),
            (&[2, 0], Ok(&["c", "a"])),
            // Each candidate once, in the order first named.
            (&[1, 1, 0, 1], Ok(&["b", "a"])),
            (&[], Err(BadDecision::Empty)),
            (
                &[0, 3],
                Err(BadDecision::NoSuchCandidate { chosen: 3, of: 3 }),
            ),
            (
                &[u32::MAX],
                Err(BadDecision::NoSuchCandidate {
                    chosen: u32::MAX,
                    of: 3,
                }),
            ),
        ];
        for (attempts, want) in cases {
            let attempts: Vec<Attempt> = attempts.iter().map(|&c| at(c)).collect();
            let got = from_decision(&usable, &attempts);
            match want {
                Ok(w) => assert_eq!(names(&got.unwrap()), w.to_vec(), "{attempts:?}"),
                Err(e) => assert_eq!(got.unwrap_err(), *e, "{attempts:?}"),
            }
        }
    }

    #[test]
    fn overrides_only_when_asked() {
        let attempts = [
            Attempt {
                timeout_ms: Some(250),
                ..at(1)
            },
            at(0),
            Attempt {
                max_tokens: Some(64),
                temperature: Some(0.5),
                ..at(2)
            },
        ];
        let plan = from_decision(&["a", "b", "c"], &attempts).unwrap();
        assert_eq!(
            plan[0].1,
            Some(Overrides {
                timeout: Some(Duration::from_millis(250)),
                max_tokens: None,
                temperature: None
            })
        );
        assert_eq!(plan[1].1, None);
        assert_eq!(
            plan[2].1,
            Some(Overrides {
                timeout: None,
                max_tokens: Some(64),
                temperature: Some(0.5)
            })
        );
    }

    #[test]
    fn overrides_change_the_field_the_request_used() {
        let mut req = ChatRequest::new("m", vec![]);
        let o = Overrides {
            timeout: None,
            max_tokens: Some(10),
            temperature: Some(0.0),
        };
        let r = apply_overrides(&req, &o);
        assert_eq!((r.max_tokens, r.max_completion_tokens), (Some(10), None));
        assert_eq!(r.temperature, Some(0.0));
        req.max_completion_tokens = Some(500);
        let r = apply_overrides(&req, &o);
        assert_eq!((r.max_tokens, r.max_completion_tokens), (None, Some(10)));
    }

    #[test]
    fn fallback_keeps_the_static_order_of_usable_models() {
        let eq = |a: &&str, b: &&str| a == b;
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            // (fallback, usable, plan)
            (&["c", "a", "b"], &["a", "b", "c"], &["c", "a", "b"]),
            (&["c", "x", "a"], &["a", "c"], &["c", "a"]),
            // Nothing of the fallback list is usable: every usable model.
            (&["x", "y"], &["b", "a"], &["b", "a"]),
            (&[], &["a"], &["a"]),
        ];
        for (fallback, usable, want) in cases {
            assert_eq!(fallback_order(fallback, usable, eq), want.to_vec());
        }
    }
}
