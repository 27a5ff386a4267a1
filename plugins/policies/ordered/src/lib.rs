//! The `ordered` routing policy: try the route's models in their configured
//! order. Models whose circuit breaker is open go last rather than first, so a
//! known-bad target is only tried when nothing else is left. This is also the
//! host's static fallback when another policy fails.

policy_kit::plugin!(Ordered);

use exports::switchyard::plugin::policy::{Attempt, BreakerState, Candidate, Decision, Guest};
use switchyard::plugin::request::RequestView;

struct Ordered;

impl Guest for Ordered {
    fn observe(_outcome: exports::switchyard::plugin::policy::Outcome) {}

    fn route(_req: RequestView, candidates: Vec<Candidate>) -> Result<Decision, String> {
        let (healthy, open): (Vec<_>, Vec<_>) = candidates
            .iter()
            .enumerate()
            .partition(|(_, c)| c.stats.breaker != BreakerState::Open);
        let attempts = healthy
            .into_iter()
            .chain(open)
            .map(|(i, _)| Attempt {
                candidate: i as u32,
                timeout_ms: None,
                max_tokens: None,
                temperature: None,
            })
            .collect();
        Ok(Decision {
            attempts,
            labels: vec![("policy".into(), "ordered".into())],
        })
    }
}
