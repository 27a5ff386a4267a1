//! Shared code of the first-party routing policies.
//!
//! The records of the policy contract (`candidate`, `attempt`, `decision`)
//! belong to the `policy` interface that a policy *exports*, and wit-bindgen
//! defines an exported interface's types in the exporting crate (its `with`
//! cannot map them to another crate's, as the adapters do with the imported
//! `types`). So the kit works over the [`Candidate`] trait and plain values,
//! [`plugin!`] generates the policy crate's bindings and exports the policy,
//! and [`wit_glue!`] binds the kit to the crate's own types:
//!
//! ```ignore
//! policy_kit::plugin!(LeastCost);
//! policy_kit::wit_glue!();
//! ```
//!
//! - [`Rng`] and [`seed`]: seeded random draws (`weighted`, `least-latency`);
//! - [`config_value`], [`config_table`], [`config_u32`]: reading a route's
//!   `policy_config`, with errors that name the key (and quote the value as
//!   [`shown`]), and [`refuse_unknown_keys`];
//! - [`config_tiers`], [`tier_models`], [`tier_order`]: tiers of models and
//!   the plan of one (`task-router`, `model-router`);
//! - [`split_open`], [`push_models`]: open circuit breakers last, and the
//!   labels that name them;
//! - [`cost`], [`latency`], [`sort_cheapest`]: pricing a request
//!   (`least-cost`, `cost-aware`);
//! - [`label`]: a label's value, for tests.
//!
//! Nothing here calls a host import, so all of it runs in native tests.

use serde_json::{Map, Value};

/// What the kit reads of a candidate model (the contract's `candidate`, or a
/// policy's own plain form of it).
pub trait Candidate {
    /// The model's name in the config.
    fn model(&self) -> &str;
    /// Its circuit breaker is open.
    fn is_open(&self) -> bool;
}

/// A candidate's live figures and prices.
pub trait Figures: Candidate {
    /// Requests it has served.
    fn requests(&self) -> u64;
    /// Its latency EWMA in milliseconds.
    fn latency_ewma_ms(&self) -> f64;
    /// USD per million input tokens.
    fn input_price(&self) -> f64;
    /// USD per million output tokens.
    fn output_price(&self) -> f64;
}

/// A candidate in plain values, for a policy whose decision runs natively
/// over its own types rather than the contract's (`task-router`,
/// `model-router`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCandidate {
    /// The model's name in the config.
    pub model: String,
    /// Its circuit breaker is open.
    pub open: bool,
}

impl PlainCandidate {
    /// The plain form of a candidate.
    pub fn of(c: &impl Candidate) -> PlainCandidate {
        PlainCandidate {
            model: c.model().to_owned(),
            open: c.is_open(),
        }
    }
}

impl Candidate for PlainCandidate {
    fn model(&self) -> &str {
        &self.model
    }
    fn is_open(&self) -> bool {
        self.open
    }
}

/// A decision in plain values: the attempts (indexes into the candidates,
/// in the order to try them) and the labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Candidate indexes in the order to try them.
    pub order: Vec<usize>,
    /// The decision's labels.
    pub labels: Vec<(String, String)>,
}

/// Generates a policy crate's bindings of the `policy-plugin` world and
/// exports `$policy` (the type implementing its `Guest`) as the component's
/// implementation. Invoke it once, at the root of a policy crate under
/// `plugins/<kind>/` (the WIT path is relative to the crate's manifest):
///
/// ```ignore
/// policy_kit::plugin!(Ordered);
/// ```
///
/// The bindings' `exports` and `switchyard` modules are then in scope at the
/// crate root, where [`wit_glue!`] expects them.
#[macro_export]
macro_rules! plugin {
    ($policy:ident) => {
        /// The `policy-plugin` world's bindings, generated from `wit/`.
        // Generated code, and only it, is exempt from two workspace lints:
        // wit-bindgen gives its items no docs, and `export!` expands to the
        // ABI glue the component model calls (`unsafe extern "C"` functions
        // under `#[unsafe(export_name)]`), which has no safe spelling.
        #[allow(missing_docs, unsafe_code)]
        mod bindings {
            ::wit_bindgen::generate!({ world: "policy-plugin", path: "../../../wit" });

            // The component's exports exist only in the wasm build. Natively
            // (the unit tests) the crate is a plain library: the exported
            // symbols' names (`…/policy@0.2.0#…`) are not valid in a native
            // shared object's version script.
            #[cfg(target_arch = "wasm32")]
            use super::$policy;
            #[cfg(target_arch = "wasm32")]
            export!($policy);
        }

        use bindings::*;
    };
}

/// Implements [`Candidate`] and [`Figures`] for the policy crate's
/// `Candidate` and defines,
/// where it is invoked (the crate root, where [`plugin!`] put `exports`):
///
/// - `decision(order, labels)`: the `Decision` trying the candidates of
///   `order` (indexes) in turn, without per-attempt overrides;
/// - in tests, `testing::candidate(model)` (provider `p`, no capabilities,
///   8192-token window, free, no requests yet, breaker closed),
///   `testing::order(decision, candidates)` (the attempts' models) and
///   `testing::label(decision, key)`.
#[macro_export]
// `crate` is meant: the types are the calling policy's.
#[allow(clippy::crate_in_macro_def)]
macro_rules! wit_glue {
    () => {
        impl $crate::Candidate for crate::exports::switchyard::plugin::policy::Candidate {
            fn model(&self) -> &str {
                &self.model
            }
            fn is_open(&self) -> bool {
                self.stats.breaker == crate::exports::switchyard::plugin::policy::BreakerState::Open
            }
        }

        impl $crate::Figures for crate::exports::switchyard::plugin::policy::Candidate {
            fn requests(&self) -> u64 {
                self.stats.requests
            }
            fn latency_ewma_ms(&self) -> f64 {
                self.stats.latency_ewma_ms
            }
            fn input_price(&self) -> f64 {
                self.input_price
            }
            fn output_price(&self) -> f64 {
                self.output_price
            }
        }

        /// The decision trying the candidates of `order` (indexes) in turn,
        /// without per-attempt overrides.
        pub fn decision(
            order: impl ::std::iter::IntoIterator<Item = usize>,
            labels: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
        ) -> crate::exports::switchyard::plugin::policy::Decision {
            crate::exports::switchyard::plugin::policy::Decision {
                attempts: order
                    .into_iter()
                    .map(|i| crate::exports::switchyard::plugin::policy::Attempt {
                        candidate: i as u32,
                        timeout_ms: None,
                        max_tokens: None,
                        temperature: None,
                    })
                    .collect(),
                labels,
            }
        }

        /// Helpers for the policy's tests.
        #[cfg(test)]
        pub mod testing {
            use crate::exports::switchyard::plugin::policy::{
                BreakerState, Candidate, Decision, ModelStats,
            };

            /// A candidate named `model`: provider `p`, no capabilities,
            /// 8192-token window, free, no requests yet, breaker closed.
            pub fn candidate(model: &str) -> Candidate {
                Candidate {
                    model: model.into(),
                    provider: "p".into(),
                    capabilities: vec![],
                    context_window: 8192,
                    input_price: 0.0,
                    output_price: 0.0,
                    quality: None,
                    stats: ModelStats {
                        requests: 0,
                        latency_ewma_ms: 0.0,
                        latency_p95_ms: 0.0,
                        ttft_ewma_ms: 0.0,
                        error_rate: 0.0,
                        in_flight: 0,
                        breaker: BreakerState::Closed,
                    },
                }
            }

            /// The models of a decision's attempts, in order.
            pub fn order(d: &Decision, c: &[Candidate]) -> Vec<String> {
                d.attempts
                    .iter()
                    .map(|a| c[a.candidate as usize].model.clone())
                    .collect()
            }

            /// The value of a decision's label.
            pub fn label<'a>(d: &'a Decision, key: &str) -> Option<&'a str> {
                $crate::label(&d.labels, key)
            }
        }
    };
}

/// SplitMix64: a small, fast, well-mixed generator; plenty for routing.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A number in `0..n` (`n > 0`); the modulo bias is negligible for
    /// candidate counts.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The seed of one decision: the clock mixed with an FNV-1a hash of the
/// request's message count and last user message.
pub fn seed(now_ms: u64, message_count: u32, last_user: Option<&str>) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let bytes = message_count
        .to_le_bytes()
        .into_iter()
        .chain(last_user.unwrap_or("").bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    Rng::new(h ^ now_ms).next_u64()
}

/// A route's `policy_config` (JSON) as a value, `Null` when the route has
/// none; invalid JSON is an error of `policy`.
pub fn config_value(policy: &str, json: Option<&str>) -> Result<Value, String> {
    match json {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("{policy}: policy_config is not valid JSON: {e}")),
        None => Ok(Value::Null),
    }
}

/// A route's `policy_config` as a table: `None` when the route has none (or
/// it is `null`), an error when it is not JSON or not a table.
pub fn config_table(
    policy: &str,
    json: Option<&str>,
) -> Result<Option<Map<String, Value>>, String> {
    match config_value(policy, json)? {
        Value::Null => Ok(None),
        Value::Object(o) => Ok(Some(o)),
        _ => Err(format!("{policy}: policy_config must be a table")),
    }
}

/// The config value of `key` as a `u32`; an error naming the key otherwise.
pub fn config_u32(policy: &str, key: &str, v: &Value) -> Result<u32, String> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("{policy}: `{key}` must be a non-negative integer, got {v}"))
}

/// An error naming the first key of a `policy_config` table that is not one
/// of `known`.
pub fn refuse_unknown_keys(
    policy: &str,
    table: &Map<String, Value>,
    known: &[&str],
) -> Result<(), String> {
    let Some(k) = table.keys().find(|k| !known.contains(&k.as_str())) else {
        return Ok(());
    };
    let expected = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let expected = if known.len() == 1 {
        expected
    } else {
        format!("one of {expected}")
    };
    Err(format!(
        "{policy}: unknown key `{k}` in policy_config (expected {expected})"
    ))
}

/// A config value as an error message shows it: its JSON, cut after 60
/// characters.
pub fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Tiers of models: each tier's name and its models in preference order,
/// the tiers by name (a JSON table keeps no order).
pub type Tiers = Vec<(String, Vec<String>)>;

/// A config's `tiers` table (`tier name = [models]`, as `task-router` and
/// `model-router` take it); errors name the key (`tiers`, `tiers.NAME`,
/// `tiers.NAME[i]`).
pub fn config_tiers(policy: &str, v: &Value) -> Result<Tiers, String> {
    let Value::Object(tiers) = v else {
        return Err(format!(
            "{policy}: `tiers` must be a table of tier name = [models], got {}",
            shown(v)
        ));
    };
    let mut out = Vec::with_capacity(tiers.len());
    for (name, models) in tiers {
        let Value::Array(list) = models else {
            return Err(format!(
                "{policy}: `tiers.{name}` must be a list of model names, got {}",
                shown(models)
            ));
        };
        let mut names = Vec::with_capacity(list.len());
        for (i, m) in list.iter().enumerate() {
            let Some(m) = m.as_str() else {
                return Err(format!(
                    "{policy}: `tiers.{name}[{i}]` must be a model name, got {}",
                    shown(m)
                ));
            };
            names.push(m.to_owned());
        }
        out.push((name.clone(), names));
    }
    Ok(out)
}

/// The models of the tier `name`; none when there is no such tier.
pub fn tier_models<'a>(tiers: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    tiers
        .iter()
        .find(|(n, _)| n == name)
        .map_or(&[], |(_, m)| m.as_slice())
}

/// The candidates' indexes, split into those usable and those whose circuit
/// breaker is open, each in route order.
pub fn split_open<C: Candidate>(candidates: &[C]) -> (Vec<usize>, Vec<usize>) {
    (0..candidates.len()).partition(|i| !candidates[*i].is_open())
}

/// The plan of a tier: the candidates named in `tier` (in the tier's order),
/// then the other candidates in route order; candidates whose circuit breaker
/// is open go last. Returns the order and the open ones.
pub fn tier_order<C: Candidate>(tier: &[String], candidates: &[C]) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = Vec::with_capacity(candidates.len());
    for model in tier {
        for (i, c) in candidates.iter().enumerate() {
            if c.model() == model && !order.contains(&i) {
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
        order.into_iter().partition(|i| !candidates[*i].is_open());
    order.extend(open.iter().copied());
    (order, open)
}

/// Push the label `key=<models of idx, comma-separated>`, unless `idx` is
/// empty.
pub fn push_models<C: Candidate>(
    labels: &mut Vec<(String, String)>,
    key: &str,
    candidates: &[C],
    idx: &[usize],
) {
    if !idx.is_empty() {
        let names: Vec<&str> = idx.iter().map(|i| candidates[*i].model()).collect();
        labels.push((key.to_owned(), names.join(",")));
    }
}

/// The estimated cost in USD of a request on a candidate: prompt tokens at
/// its input price plus output tokens at its output price (per million). A
/// NaN price (never expected) counts as the most expensive.
pub fn cost<C: Figures>(c: &C, prompt_tokens: u32, output_tokens: u32) -> f64 {
    let usd = (f64::from(prompt_tokens) * c.input_price()
        + f64::from(output_tokens) * c.output_price())
        / 1e6;
    if usd.is_nan() { f64::INFINITY } else { usd }
}

/// A candidate's latency EWMA as the policies compare it: 0 before its first
/// request, so new models get tried; a NaN (never expected) as the slowest.
pub fn latency<C: Figures>(c: &C) -> f64 {
    latency_figure(c.requests(), c.latency_ewma_ms())
}

/// An EWMA of a candidate with `requests` served, as [`latency`] counts it.
pub fn latency_figure(requests: u64, ewma_ms: f64) -> f64 {
    match requests {
        0 => 0.0,
        _ if ewma_ms.is_nan() => f64::INFINITY,
        _ => ewma_ms,
    }
}

/// Sort candidate indexes cheapest first (`costs` by candidate index), equal
/// costs to the lower [`latency`], then in route order.
pub fn sort_cheapest<C: Figures>(idx: &mut [usize], candidates: &[C], costs: &[f64]) {
    idx.sort_by(|a, b| {
        costs[*a]
            .total_cmp(&costs[*b])
            .then(latency(&candidates[*a]).total_cmp(&latency(&candidates[*b])))
            .then(a.cmp(b))
    });
}

/// The value of the label `key`.
pub fn label<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Model {
        name: &'static str,
        open: bool,
        requests: u64,
        latency: f64,
        price: f64,
    }

    impl Candidate for Model {
        fn model(&self) -> &str {
            self.name
        }
        fn is_open(&self) -> bool {
            self.open
        }
    }

    impl Figures for Model {
        fn requests(&self) -> u64 {
            self.requests
        }
        fn latency_ewma_ms(&self) -> f64 {
            self.latency
        }
        fn input_price(&self) -> f64 {
            self.price
        }
        fn output_price(&self) -> f64 {
            self.price * 2.0
        }
    }

    fn model(name: &'static str, price: f64) -> Model {
        Model {
            name,
            open: false,
            requests: 0,
            latency: 0.0,
            price,
        }
    }

    #[test]
    fn seed_mixes_clock_and_request() {
        let a = seed(1_000, 1, Some("hi"));
        assert_eq!(a, seed(1_000, 1, Some("hi")));
        assert_ne!(a, seed(1_001, 1, Some("hi")));
        assert_ne!(a, seed(1_000, 2, Some("hi")));
        assert_ne!(a, seed(1_000, 1, Some("ho")));
        assert_ne!(a, seed(1_000, 1, None));
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = Rng::new(7);
        for n in 1..50 {
            assert!(rng.below(n) < n);
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(Rng::new(3).next_u64(), Rng::new(3).next_u64());
    }

    #[test]
    fn config_errors_name_the_policy_and_key() {
        assert_eq!(config_value("p", None), Ok(Value::Null));
        assert!(
            config_value("p", Some("{"))
                .unwrap_err()
                .starts_with("p: policy_config is not valid JSON")
        );
        assert_eq!(config_table("p", Some("null")), Ok(None));
        assert_eq!(
            config_table("p", Some("[]")).unwrap_err(),
            "p: policy_config must be a table"
        );
        assert_eq!(
            config_table("p", Some(r#"{"a":1}"#)).unwrap().unwrap()["a"],
            1
        );
        assert_eq!(config_u32("p", "k", &Value::from(5)), Ok(5));
        let e = config_u32("p", "k", &Value::from(-1)).unwrap_err();
        assert_eq!(e, "p: `k` must be a non-negative integer, got -1");
        assert!(config_u32("p", "k", &Value::from(5_000_000_000u64)).is_err());
    }

    #[test]
    fn open_breakers_split_and_labelled() {
        let mut c = vec![model("a", 1.0), model("b", 1.0), model("c", 1.0)];
        c[1].open = true;
        let (usable, open) = split_open(&c);
        assert_eq!(
            (usable.as_slice(), open.as_slice()),
            (&[0, 2][..], &[1][..])
        );
        let mut labels = vec![];
        push_models(&mut labels, "breaker-open", &c, &[]);
        assert!(labels.is_empty());
        push_models(&mut labels, "breaker-open", &c, &[1, 2]);
        assert_eq!(label(&labels, "breaker-open"), Some("b,c"));
        assert_eq!(label(&labels, "pick"), None);
    }

    #[test]
    fn cheapest_first_then_latency_then_route_order() {
        let mut c = vec![
            model("dear", 3.0),
            model("slow", 1.0),
            model("fast", 1.0),
            model("nan", f64::NAN),
            model("same", 1.0),
        ];
        c[1].requests = 2;
        c[1].latency = 90.0;
        c[2].requests = 2;
        c[2].latency = 10.0;
        // 100 in at p, 10 out at 2p: 120p per million.
        assert_eq!(cost(&c[0], 100, 10), 360.0 / 1e6);
        assert_eq!(cost(&c[3], 100, 10), f64::INFINITY);
        let costs: Vec<f64> = c.iter().map(|m| cost(m, 100, 10)).collect();
        let mut idx: Vec<usize> = (0..c.len()).collect();
        sort_cheapest(&mut idx, &c, &costs);
        // `same` has no requests: 0 ms, ahead of `fast`.
        assert_eq!(idx, [4, 2, 1, 0, 3]);
        assert_eq!(latency_figure(0, 50.0), 0.0);
        assert_eq!(latency_figure(1, f64::NAN), f64::INFINITY);
    }

    #[test]
    fn tiers_are_read_by_name_and_errors_name_the_key() {
        let v = serde_json::json!({"strong": ["big", "big-2"], "cheap": ["small"]});
        let tiers = config_tiers("p", &v).unwrap();
        let names: Vec<&str> = tiers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["cheap", "strong"]);
        assert_eq!(tier_models(&tiers, "strong"), ["big", "big-2"]);
        assert!(tier_models(&tiers, "none").is_empty());
        for (v, want) in [
            (serde_json::json!(["small"]), "p: `tiers` must be a table"),
            (serde_json::json!({"a": "x"}), "p: `tiers.a` must be a list"),
            (
                serde_json::json!({"a": ["x", 1]}),
                "p: `tiers.a[1]` must be a model name, got 1",
            ),
        ] {
            let e = config_tiers("p", &v).unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(shown(&serde_json::json!([1, 2])), "[1,2]");
        let long = serde_json::json!("é".repeat(100));
        assert_eq!(shown(&long).chars().count(), 61);
        assert!(shown(&long).ends_with('…'));
    }

    #[test]
    fn unknown_keys_are_named_with_the_expected_ones() {
        let table = |j: serde_json::Value| j.as_object().cloned().unwrap();
        assert_eq!(
            refuse_unknown_keys("p", &table(serde_json::json!({"a": 1})), &["a"]),
            Ok(())
        );
        assert_eq!(
            refuse_unknown_keys("p", &table(serde_json::json!({"b": 1})), &["a"]),
            Err("p: unknown key `b` in policy_config (expected `a`)".into())
        );
        assert_eq!(
            refuse_unknown_keys("p", &table(serde_json::json!({"c": 1})), &["a", "b"]),
            Err("p: unknown key `c` in policy_config (expected one of `a`, `b`)".into())
        );
    }
}
