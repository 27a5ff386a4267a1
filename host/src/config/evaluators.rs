//! `[evaluators.NAME]` (an evaluator plugin with its config), `[evaluation]`
//! (the queue evaluations run on), and what a route says about them: which
//! evaluators score a sample of its answers (`evaluate`), the score its
//! quality is judged by (`quality_score`), and a shadow model compared on
//! mirrored traffic (`shadow`). Plain data; the ledger runs evaluations and
//! never writes back.

use serde::Deserialize;

/// `[evaluators."NAME"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorConfig {
    /// The evaluator plugin: a built-in (`json`, `match`, `refusal`,
    /// `length`, `judge`) or a file of the plugin directory.
    pub plugin: String,
    /// The evaluator's configuration, handed to it as JSON.
    pub config: Option<toml::Value>,
}

/// `[evaluation]`: how evaluations run, off the request path.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Evaluations waiting to run; when full, new ones are dropped and
    /// counted (`switchyard_evaluations_dropped_total`).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Evaluations running at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_queue() -> usize {
    10_000
}
fn default_concurrency() -> usize {
    4
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            queue: default_queue(),
            concurrency: default_concurrency(),
        }
    }
}

/// One entry of a route's `evaluate` list.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRule {
    /// The name of an `[evaluators.NAME]` table.
    pub evaluator: String,
    /// The share of answers scored, 0–1. Deterministic by request id: a
    /// replay of the same ids samples the same requests.
    #[serde(default = "one")]
    pub sample: f64,
}

fn one() -> f64 {
    1.0
}

/// A route's `shadow`: a candidate model that also answers a sample of the
/// route's requests after the client has its answer; its answers are only
/// scored and compared, never returned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowConfig {
    /// The candidate: a model of the config.
    pub model: String,
    /// The share of the route's requests mirrored, 0–1 (deterministic by
    /// request id).
    #[serde(default = "default_shadow_sample")]
    pub sample: f64,
    /// An `[evaluators.NAME]` whose plugin compares two answers (it reads
    /// `other-answer`): the served answer and the candidate's are judged
    /// head to head, in both orders.
    pub compare: Option<String>,
    /// The most the route's shadow traffic may spend per UTC day, USD.
    #[serde(default = "default_shadow_usd")]
    pub max_shadow_usd_per_day: f64,
}

fn default_shadow_sample() -> f64 {
    0.05
}
fn default_shadow_usd() -> f64 {
    1.0
}

/// Whether request `id` falls in a sample of `rate` for `salt` (an
/// evaluator's or the shadow's name): a hash of both mapped to [0, 1), so
/// the same ids always sample the same way and different evaluators sample
/// independently.
pub fn sampled(id: &str, salt: &str, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes().chain([0]).chain(id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Finalize (splitmix64) so nearby ids spread over the whole range.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    ((h >> 11) as f64 / (1u64 << 53) as f64) < rate
}

#[cfg(test)]
mod tests {
    use super::sampled;

    #[test]
    fn sampling_is_deterministic_and_close_to_the_rate() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("req-{i:08x}")).collect();
        for rate in [0.05, 0.1, 0.5] {
            let n = ids.iter().filter(|id| sampled(id, "match", rate)).count();
            let share = n as f64 / ids.len() as f64;
            assert!((share - rate).abs() < 0.01, "{rate}: {share}");
        }
        assert!(ids.iter().all(|id| sampled(id, "x", 1.0)));
        assert!(!ids.iter().any(|id| sampled(id, "x", 0.0)));
        // The same id, the same answer; another salt, an independent draw.
        let a: Vec<bool> = ids.iter().map(|id| sampled(id, "a", 0.5)).collect();
        let again: Vec<bool> = ids.iter().map(|id| sampled(id, "a", 0.5)).collect();
        let b: Vec<bool> = ids.iter().map(|id| sampled(id, "b", 0.5)).collect();
        assert_eq!(a, again);
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64;
        assert!((same / ids.len() as f64 - 0.5).abs() < 0.02);
    }
}
