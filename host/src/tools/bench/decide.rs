//! From measurements to conclusions: the per-task-type rows of the summary,
//! the Pareto front of cost against quality, and the routing decision — the
//! cheapest model whose quality is within `--margin` of the best, judged on
//! the 95% interval of their paired difference (so a model is only chosen
//! when the data show it is no worse than the margin, not when its mean
//! happens to look close) — written as a `task-router` (or `model-router`)
//! route.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::exec::Target;
use super::stats::{Acc, PairAcc};
use super::summary::{Decision, Pair, TargetResult, TaskType};

/// The task type of every task together.
pub const ALL: &str = "all";

/// Measurements of one task type.
pub struct Measured<'a> {
    /// The task type.
    pub task: &'a str,
    /// Tasks that ran.
    pub tasks: u64,
    /// Whether its tasks are scored.
    pub scored: bool,
    /// Per target index.
    pub accs: &'a HashMap<usize, Acc>,
    /// Per (a, b) target indexes, a < b.
    pub pairs: &'a HashMap<(usize, usize), PairAcc>,
}

/// One task type's rows, pairs and decision.
pub fn task_type(m: &Measured, targets: &[Target], margin: f64) -> TaskType {
    let mut rows: Vec<TargetResult> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| row(t, m.accs.get(&i), m.scored))
        .collect();
    front(&mut rows);
    let mut pairs = Vec::new();
    for a in 0..targets.len() {
        for b in a + 1..targets.len() {
            if let Some(p) = m.pairs.get(&(a, b))
                && let Some(diff) = p.diff.diff_interval()
            {
                pairs.push(Pair {
                    a: targets[a].name.clone(),
                    b: targets[b].name.clone(),
                    n: p.diff.n,
                    diff,
                    a_better: p.a_better,
                    b_better: p.b_better,
                });
            }
        }
    }
    let decision = if m.scored {
        decide(&mut rows, targets, m.pairs, margin)
    } else {
        None
    };
    TaskType {
        task: m.task.to_owned(),
        tasks: m.tasks,
        scored: m.scored,
        targets: rows,
        pairs,
        decision,
    }
}

fn row(t: &Target, acc: Option<&Acc>, scored: bool) -> TargetResult {
    let empty = Acc::default();
    let a = acc.unwrap_or(&empty);
    let answered = a.requests.saturating_sub(a.errors).max(1) as f64;
    TargetResult {
        name: t.name.clone(),
        kind: if t.route { "route" } else { "model" }.to_owned(),
        requests: a.requests,
        errors: a.errors,
        error_rate: if a.requests == 0 {
            0.0
        } else {
            a.errors as f64 / a.requests as f64
        },
        quality: if scored {
            a.quality.interval(0.0, 1.0)
        } else {
            None
        },
        scored: a.quality.n,
        cost_per_1k: if a.requests == 0 {
            0.0
        } else {
            a.cost_usd / a.requests as f64 * 1000.0
        },
        cost_usd: a.cost_usd,
        latency_ms: a.latency.latency(),
        mean_prompt_tokens: a.prompt_tokens as f64 / answered,
        mean_completion_tokens: a.completion_tokens as f64 / answered,
        pareto: false,
        within_margin: false,
        chosen: false,
    }
}

/// Mark the rows no other row beats on both cost and quality.
fn front(rows: &mut [TargetResult]) {
    let points: Vec<Option<(f64, f64)>> = rows
        .iter()
        .map(|r| r.quality.as_ref().map(|q| (r.cost_per_1k, q.mean)))
        .collect();
    for (i, r) in rows.iter_mut().enumerate() {
        let Some((c, q)) = points[i] else { continue };
        r.pareto = !points.iter().enumerate().any(|(j, p)| {
            j != i && p.is_some_and(|(c2, q2)| c2 <= c && q2 >= q && (c2 < c || q2 > q))
        });
    }
}

/// The mean difference `score(a) − score(b)` and its interval's lower
/// bound, from the pair table (which holds each pair once, a < b).
fn paired(
    pairs: &HashMap<(usize, usize), PairAcc>,
    a: usize,
    b: usize,
) -> Option<(f64, f64, f64, u64)> {
    if a == b {
        return Some((0.0, 0.0, 0.0, 0));
    }
    let (lo_i, hi_i, flip) = if a < b { (a, b, false) } else { (b, a, true) };
    let p = pairs.get(&(lo_i, hi_i))?;
    let d = p.diff.diff_interval()?;
    Some(if flip {
        (-d.mean, -d.hi, -d.lo, p.diff.n)
    } else {
        (d.mean, d.lo, d.hi, p.diff.n)
    })
}

fn decide(
    rows: &mut [TargetResult],
    targets: &[Target],
    pairs: &HashMap<(usize, usize), PairAcc>,
    margin: f64,
) -> Option<Decision> {
    let models: Vec<usize> = (0..rows.len())
        .filter(|&i| !targets[i].route && rows[i].quality.is_some())
        .collect();
    let means: Vec<f64> = rows
        .iter()
        .map(|r| r.quality.as_ref().map_or(0.0, |q| q.mean))
        .collect();
    let q = |i: usize| means[i];
    let costs: Vec<f64> = rows.iter().map(|r| r.cost_per_1k).collect();
    let best = *models
        .iter()
        .max_by(|&&a, &&b| q(a).total_cmp(&q(b)).then(costs[b].total_cmp(&costs[a])))?;
    let mut within: Vec<usize> = Vec::new();
    for &i in &models {
        let ok = paired(pairs, i, best).is_some_and(|(_, lo, _, _)| lo >= -margin - 1e-12);
        rows[i].within_margin = ok;
        if ok {
            within.push(i);
        }
    }
    let chosen = *within
        .iter()
        .min_by(|&&a, &&b| costs[a].total_cmp(&costs[b]).then(q(b).total_cmp(&q(a))))?;
    rows[chosen].chosen = true;
    let mut rest: Vec<usize> = models.iter().copied().filter(|&i| i != chosen).collect();
    let within_flags: Vec<bool> = rows.iter().map(|r| r.within_margin).collect();
    rest.sort_by(|&a, &b| {
        within_flags[b]
            .cmp(&within_flags[a])
            .then(q(b).total_cmp(&q(a)))
            .then(costs[a].total_cmp(&costs[b]))
    });
    let (c_cost, b_cost) = (rows[chosen].cost_per_1k, rows[best].cost_per_1k);
    let reason = if chosen == best {
        let closest = models
            .iter()
            .filter(|&&i| i != best && rows[i].cost_per_1k < b_cost)
            .filter_map(|&i| paired(pairs, i, best).map(|p| (i, p)))
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1));
        match closest {
            Some((i, (m, lo, hi, n))) => format!(
                "{} has the best quality; no cheaper model is within {margin} of it by its 95% interval \
                 (closest: {}, {m:+.3} [{lo:+.3}, {hi:+.3}] over {n} tasks)",
                rows[best].name, rows[i].name
            ),
            None => format!(
                "{} has the best quality and no cheaper model was measured",
                rows[best].name
            ),
        }
    } else {
        let (m, lo, hi, n) = paired(pairs, chosen, best).unwrap_or_default();
        format!(
            "{} is the cheapest model within {margin} of {} (the best): paired difference {m:+.3} \
             [{lo:+.3}, {hi:+.3}] over {n} tasks",
            rows[chosen].name, rows[best].name
        )
    };
    Some(Decision {
        model: rows[chosen].name.clone(),
        fallbacks: rest.iter().map(|&i| rows[i].name.clone()).collect(),
        best: rows[best].name.clone(),
        cost_per_1k: c_cost,
        best_cost_per_1k: b_cost,
        baseline: rows[best].name.clone(),
        baseline_cost_per_1k: b_cost,
        savings: savings(c_cost, b_cost),
        reason,
    })
}

/// The share of `baseline` that `cost` saves.
fn savings(cost: f64, baseline: f64) -> f64 {
    if baseline > 0.0 {
        (baseline - cost) / baseline
    } else {
        0.0
    }
}

/// Measure every decision against one baseline: the best model over all
/// tasks (the `all` decision's best), what one would use without routing.
pub fn against_baseline(types: &mut [TaskType]) {
    let Some(baseline) = types
        .iter()
        .find(|t| t.task == ALL)
        .and_then(|t| t.decision.as_ref())
        .map(|d| d.best.clone())
    else {
        return;
    };
    for t in types.iter_mut() {
        let cost = t
            .targets
            .iter()
            .find(|r| r.name == baseline)
            .map(|r| r.cost_per_1k);
        if let (Some(d), Some(cost)) = (&mut t.decision, cost) {
            d.baseline.clone_from(&baseline);
            d.baseline_cost_per_1k = cost;
            d.savings = savings(d.cost_per_1k, cost);
        }
    }
}

/// The routing table: a route named `route` over the benchmarked models,
/// one tier per decided task type (chosen model, then fallbacks) and a
/// `default` tier (the decision over all tasks) for requests with no or an
/// unknown task. `classifier` (a model and each task type's description):
/// write a `model-router` route asking that model instead of a
/// `task-router` matching metadata `task`.
pub fn routing_toml(
    types: &[TaskType],
    route: &str,
    models: &[String],
    classifier: Option<(&str, &BTreeMap<String, String>)>,
    header: &str,
) -> anyhow::Result<String> {
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let list = |v: &[String]| {
        format!(
            "[{}]",
            v.iter().map(|m| q(m)).collect::<Vec<_>>().join(", ")
        )
    };
    let mut tiers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut order = Vec::new();
    let mut default = None;
    for t in types {
        let Some(d) = &t.decision else { continue };
        let plan: Vec<String> = std::iter::once(d.model.clone())
            .chain(d.fallbacks.iter().cloned())
            .collect();
        if t.task == ALL {
            default = Some(plan);
        } else {
            order.push(t.task.clone());
            tiers.insert(t.task.clone(), plan);
        }
    }
    let Some(default) = default else {
        anyhow::bail!("no task type was scored: there is nothing to route by");
    };
    let default_name = if tiers.contains_key("default") {
        "any"
    } else {
        "default"
    };
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let key = q(route);
    let _ = writeln!(out, "[routes.{key}]");
    match classifier {
        None => {
            let _ = writeln!(out, "policy = \"task-router\"");
        }
        Some(_) => {
            let _ = writeln!(out, "policy = \"model-router\"");
        }
    }
    let _ = writeln!(out, "models = {}", list(models));
    let _ = writeln!(out, "[routes.{key}.policy_config]");
    let _ = writeln!(out, "default = {}", q(default_name));
    match classifier {
        None => {
            let _ = writeln!(out, "rules = [");
            for t in &order {
                let _ = writeln!(
                    out,
                    "  {{ if = {{ metadata = {{ task = {} }} }}, tier = {} }},",
                    q(t),
                    q(t)
                );
            }
            let _ = writeln!(out, "]");
        }
        Some((c, descriptions)) => {
            let _ = writeln!(out, "classifier = {}", q(c));
            let _ = writeln!(out, "[routes.{key}.policy_config.descriptions]");
            for t in &order {
                let d = descriptions
                    .get(t)
                    .cloned()
                    .unwrap_or_else(|| format!("{t} tasks"));
                let _ = writeln!(out, "{} = {}", q(t), q(&d));
            }
            let _ = writeln!(out, "{} = {}", q(default_name), q("anything else"));
        }
    }
    let _ = writeln!(out, "[routes.{key}.policy_config.tiers]");
    for t in &order {
        let _ = writeln!(out, "{} = {}", q(t), list(&tiers[t]));
    }
    let _ = writeln!(out, "{} = {}", q(default_name), list(&default));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target {
            name: name.into(),
            route: false,
            identity: String::new(),
        }
    }

    /// Targets scoring `scores[t][task]` (0/1) at `cost[t]` per request.
    fn measure(
        scores: &[Vec<f64>],
        cost: &[f64],
    ) -> (HashMap<usize, Acc>, HashMap<(usize, usize), PairAcc>) {
        let mut accs: HashMap<usize, Acc> = HashMap::new();
        let mut pairs: HashMap<(usize, usize), PairAcc> = HashMap::new();
        for (t, s) in scores.iter().enumerate() {
            let a = accs.entry(t).or_default();
            for v in s {
                a.requests += 1;
                a.quality.add(*v);
                a.cost_usd += cost[t];
                a.latency.add(10.0);
            }
        }
        for a in 0..scores.len() {
            for b in a + 1..scores.len() {
                for (x, y) in scores[a].iter().zip(&scores[b]) {
                    pairs.entry((a, b)).or_default().add(*x, *y);
                }
            }
        }
        (accs, pairs)
    }

    fn decided(scores: &[Vec<f64>], cost: &[f64], margin: f64) -> TaskType {
        let targets: Vec<Target> = ["cheap", "mid", "dear"].iter().map(|n| target(n)).collect();
        let (accs, pairs) = measure(scores, cost);
        task_type(
            &Measured {
                task: "t",
                tasks: scores[0].len() as u64,
                scored: true,
                accs: &accs,
                pairs: &pairs,
            },
            &targets[..scores.len()],
            margin,
        )
    }

    #[test]
    fn the_cheapest_model_as_good_as_the_best_is_chosen() {
        // cheap answers exactly what dear answers; mid misses 20 of 100.
        let dear: Vec<f64> = (0..100)
            .map(|i| if i % 10 == 0 { 0.0 } else { 1.0 })
            .collect();
        let mid: Vec<f64> = (0..100)
            .map(|i| if i % 5 == 0 { 0.0 } else { 1.0 })
            .collect();
        let t = decided(&[dear.clone(), mid, dear], &[0.1, 1.0, 10.0], 0.02);
        let d = t.decision.unwrap();
        assert_eq!(d.model, "cheap");
        assert_eq!(d.best, "cheap", "equal quality: the cheaper is the best");
        assert!(t.targets[0].chosen && t.targets[0].pareto);
        assert!(!t.targets[1].within_margin);
        assert_eq!(d.fallbacks, vec!["dear".to_owned(), "mid".to_owned()]);
    }

    #[test]
    fn a_cheaper_model_close_by_its_mean_but_not_by_its_interval_is_not_chosen() {
        // cheap misses 3 more tasks of 100 than dear: mean −0.03, and the
        // interval of the difference reaches well below −0.02.
        let dear: Vec<f64> = (0..100).map(|i| if i < 5 { 0.0 } else { 1.0 }).collect();
        let cheap: Vec<f64> = (0..100).map(|i| if i < 8 { 0.0 } else { 1.0 }).collect();
        let t = decided(&[cheap.clone(), dear.clone()], &[0.1, 10.0], 0.02);
        let d = t.decision.unwrap();
        assert_eq!(d.model, "mid", "{}", d.reason);
        assert!(
            d.reason.contains("no cheaper model is within 0.02"),
            "{}",
            d.reason
        );
        // With a margin of 0.1, cheap qualifies.
        let t = decided(&[cheap, dear], &[0.1, 10.0], 0.1);
        assert_eq!(t.decision.unwrap().model, "cheap");
    }

    #[test]
    fn the_routing_table_is_a_task_router_route() {
        let all = (0..50).map(|_| 1.0).collect::<Vec<_>>();
        let mut a = decided(&[all.clone(), all.clone(), all], &[0.1, 1.0, 10.0], 0.02);
        a.task = "classify \"quoted\"".into();
        let mut every = a.clone();
        every.task = ALL.into();
        let toml_text = routing_toml(
            &[a, every],
            "bench",
            &["cheap".into(), "mid".into(), "dear".into()],
            None,
            "line one\nline two",
        )
        .unwrap();
        assert!(toml_text.starts_with("# line one\n# line two\n"));
        let v: toml::Value = toml::from_str(&toml_text).unwrap();
        let route = &v["routes"]["bench"];
        assert_eq!(route["policy"].as_str(), Some("task-router"));
        let pc = &route["policy_config"];
        assert_eq!(pc["default"].as_str(), Some("default"));
        assert_eq!(
            pc["tiers"]["classify \"quoted\""][0].as_str(),
            Some("cheap")
        );
        assert_eq!(
            pc["rules"][0]["if"]["metadata"]["task"].as_str(),
            Some("classify \"quoted\"")
        );
    }
}
