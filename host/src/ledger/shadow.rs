//! Shadow comparisons: a sampled request of a route with `shadow = { model
//! = "candidate", … }` is sent to the candidate too, after the client has
//! its answer (the mirror starts when the request's record is finished, on
//! a task of its own), and the candidate's answer is never returned. Both
//! answers are scored by the route's evaluators (all of them, not sampled),
//! and each pair of scores on the route's quality score counts as a win,
//! tie or loss for the candidate against the model that served, per
//! (route, served model, candidate), with a 95% Wilson interval of the
//! candidate's win share (ties count half) at `GET /admin/shadow`.
//!
//! Shadow spend is the operator's: the candidate's call is recorded in the
//! request log with `shadow = true`, is never counted against a client key,
//! and a route's shadow stops for the rest of the UTC day once its spend
//! reaches `max_shadow_usd_per_day` (checked before each mirror; one call
//! in flight may overshoot by its own cost).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::evaluate::Job;
use super::{Ledger, now_ms};
use crate::canonical::{ChatRequest, ChatResponse};
use crate::generation::Generation;
use crate::record::{Outcome, Record, Score};
use crate::routing::Reply;
use crate::runtime::EvalInput;

/// The served side of a mirrored request.
pub struct Mirror {
    /// The route.
    pub route: Arc<str>,
    /// The model that served the client.
    pub model: Arc<str>,
    /// The client's request id.
    pub request_id: Arc<str>,
    /// The request.
    pub request: Arc<ChatRequest>,
    /// Its metadata.
    pub metadata: Arc<Vec<(String, String)>>,
    /// The answer the client got.
    pub response: Arc<ChatResponse>,
}

/// Wins, ties and losses of a candidate against a served model.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tally {
    /// The candidate scored higher.
    pub wins: u64,
    /// Equal scores.
    pub ties: u64,
    /// The served model scored higher.
    pub losses: u64,
    /// Sum of the served model's scores and of the candidate's.
    pub served_sum: f64,
    /// Sum of the candidate's scores.
    pub candidate_sum: f64,
}

/// The shadow figures of every route.
#[derive(Default)]
pub struct Shadows {
    /// (route, served, candidate, score) → tally.
    tallies: Mutex<HashMap<(String, String, String, String), Tally>>,
    /// Route → (UTC day, USD spent that day).
    spent: Mutex<HashMap<String, (i64, f64)>>,
    /// Route → mirrors skipped because the day's cap was reached.
    capped: Mutex<HashMap<String, u64>>,
    /// Route → mirrors whose candidate call failed.
    failed: Mutex<HashMap<String, u64>>,
}

/// The pair of a mirror waiting for both sides' scores.
struct Pair {
    served: Option<Vec<Score>>,
    candidate: Option<Vec<Score>>,
}

impl Shadows {
    /// Mirror a sampled request to its route's shadow model; returns where
    /// the served answer's scores must be handed (`None` when the mirror
    /// does not run: no shadow, or the day's cap is reached).
    pub(super) fn start(
        self: &Arc<Self>,
        ledger: &Arc<Ledger>,
        generation: &Arc<Generation>,
        m: Mirror,
    ) -> Option<Box<dyn FnOnce(Vec<Score>) + Send>> {
        let route = generation.routes.get(&*m.route)?.clone();
        let cfg = route.shadow.clone()?;
        let day = now_ms().div_euclid(86_400_000);
        {
            let spent = self.spent.lock().ok()?;
            if let Some((d, usd)) = spent.get(&*m.route)
                && *d == day
                && *usd >= cfg.max_shadow_usd_per_day
            {
                drop(spent);
                if let Ok(mut c) = self.capped.lock() {
                    *c.entry(m.route.to_string()).or_default() += 1;
                }
                return None;
            }
        }
        let pair = Arc::new(Mutex::new(Pair {
            served: None,
            candidate: None,
        }));
        let shadows = self.clone();
        let ledger = ledger.clone();
        let generation = generation.clone();
        let served_model = m.model.to_string();
        let route_name = m.route.to_string();
        let pair2 = pair.clone();
        let shadows2 = self.clone();
        let (route2, served2, cand2, configured) = (
            route_name.clone(),
            served_model.clone(),
            cfg.model.clone(),
            route.quality_score.clone(),
        );
        let ledger2 = ledger.clone();
        let spawner = ledger.clone();
        spawner
            .evaluations
            .spawn(&spawner, &spawner.router, async move {
                let mut req = (*m.request).clone();
                req.model.clone_from(&cfg.model);
                req.stream = false;
                req.include_usage = false;
                let mut rec = Record {
                    id: format!("{}.shadow", m.request_id),
                    started_at_ms: now_ms(),
                    dialect: "shadow".into(),
                    requested: cfg.model.clone(),
                    shadow: true,
                    ..Record::default()
                };
                let started = std::time::Instant::now();
                let reply = crate::routing::chat(
                    &ledger.router,
                    &generation,
                    req,
                    m.metadata.as_ref().clone(),
                    &mut rec,
                )
                .await;
                rec.duration_ms = started.elapsed().as_secs_f64() * 1e3;
                // Routing sets the labels of its plan; these are the mirror's.
                rec.labels
                    .insert("shadow_of".into(), m.request_id.to_string());
                rec.labels.insert("route".into(), route_name.clone());
                let answer = match reply {
                    Ok(Reply::Complete(resp, served)) => {
                        rec.model = Some(served.model.clone());
                        rec.provider = Some(served.provider.clone());
                        if let (Some(t), Some(u)) =
                            (generation.models.get(&served.model), resp.usage)
                        {
                            let (p, c) =
                                (u64::from(u.prompt_tokens), u64::from(u.completion_tokens));
                            let cached = u.cached_tokens.map_or(0, u64::from);
                            rec.prompt_tokens = p;
                            rec.completion_tokens = c;
                            rec.cost_usd = t.prices.cost(p, cached, c);
                            rec.cost_known = t.prices.known;
                            t.stats.count_usage(p, c, rec.cost_usd);
                        }
                        Some(resp)
                    }
                    Ok(Reply::Stream(..)) => None,
                    Err(e) => {
                        rec.outcome = Outcome::Error;
                        rec.status = e.status.as_u16();
                        rec.error = Some(e.message.clone());
                        None
                    }
                };
                if let Ok(mut spent) = shadows.spent.lock() {
                    let e = spent.entry(route_name.clone()).or_insert((day, 0.0));
                    if e.0 != day {
                        *e = (day, 0.0);
                    }
                    e.1 += rec.cost_usd;
                }
                ledger.record_internal(rec);
                let Some(resp) = answer else {
                    if let Ok(mut f) = shadows.failed.lock() {
                        *f.entry(route_name).or_default() += 1;
                    }
                    return;
                };
                let resp = Arc::new(resp);
                if let Some(compare) = cfg
                    .compare
                    .as_ref()
                    .and_then(|c| generation.evaluators.get(c))
                {
                    shadows
                        .head_to_head(&ledger, &generation, &m, &resp, compare, &cfg.model)
                        .await;
                }
                let evaluators: Vec<_> = route.evaluate.iter().map(|(e, _)| e.clone()).collect();
                if evaluators.is_empty() {
                    return;
                }
                let pair3 = pair.clone();
                let shadows3 = shadows.clone();
                let (r3, s3, c3, q3) = (
                    route_name.clone(),
                    served_model.clone(),
                    cfg.model.clone(),
                    route.quality_score.clone(),
                );
                let ledger3 = ledger.clone();
                let job = Job {
                    generation: generation.clone(),
                    route: m.route.clone(),
                    model: cfg.model.as_str().into(),
                    request_id: format!("{}.shadow", m.request_id).into(),
                    request: m.request.clone(),
                    metadata: m.metadata.clone(),
                    response: resp,
                    evaluators,
                    shadow: true,
                    on_scores: Some(Box::new(move |scores| {
                        shadows3.side(&ledger3, &pair3, false, scores, &r3, &s3, &c3, q3);
                    })),
                };
                ledger.evaluations.submit(&ledger, &ledger.router, job);
            });
        Some(Box::new(move |scores| {
            shadows2.side(
                &ledger2, &pair2, true, scores, &route2, &served2, &cand2, configured,
            );
        }))
    }

    /// Judge the served answer and the candidate's head to head with the
    /// pairwise evaluator `compare`, asked twice with the answers swapped:
    /// the candidate wins when, over both orders, it was preferred more
    /// often than not.
    async fn head_to_head(
        &self,
        ledger: &Arc<Ledger>,
        generation: &Arc<Generation>,
        m: &Mirror,
        candidate: &Arc<ChatResponse>,
        compare: &Arc<crate::generation::Evaluator>,
        candidate_model: &str,
    ) {
        let text = |r: &ChatResponse| -> Arc<str> { crate::canonical::answer_text(r).into() };
        let mut prefs = Vec::with_capacity(2);
        for (first, second, model, candidate_first) in [
            (&m.response, candidate, m.model.clone(), false),
            (candidate, &m.response, Arc::from(candidate_model), true),
        ] {
            let input = EvalInput {
                request_id: m.request_id.clone(),
                request: m.request.clone(),
                metadata: m.metadata.clone(),
                route: Some(m.route.clone()),
                model,
                response: first.clone(),
                other: Some(text(second)),
            };
            let r = ledger
                .router
                .runtime
                .evaluate(
                    &compare.plugin,
                    compare.config.clone(),
                    input,
                    Some(super::evaluate::judge_calls(
                        &ledger.router,
                        generation,
                        ledger,
                        &compare.name,
                        &m.request_id,
                    )),
                )
                .await;
            match r {
                Ok(Ok(scores)) if !scores.is_empty() => {
                    ledger.evaluations.count(&compare.name, "scored");
                    let v = scores[0].value;
                    // The candidate's preference in this order.
                    prefs.push(if candidate_first { v } else { 1.0 - v });
                }
                Ok(Ok(_)) => ledger.evaluations.count(&compare.name, "skipped"),
                Ok(Err(why)) => {
                    ledger.evaluations.count(&compare.name, "error");
                    tracing::debug!(evaluator = %compare.name, "pairwise evaluator could not compare: {why}");
                }
                Err(e) => {
                    ledger.evaluations.count(&compare.name, "fault");
                    ledger
                        .router
                        .stats
                        .plugin_fault(&compare.plugin.name, e.fault());
                }
            }
        }
        if prefs.len() == 2 {
            let share = (prefs[0] + prefs[1]) / 2.0;
            self.tally(
                &m.route,
                &m.model,
                candidate_model,
                format!("compare:{}", compare.name),
                0.5,
                share,
            );
        }
    }

    /// Count one comparison: a win for the candidate when its value is the
    /// higher.
    fn tally(
        &self,
        route: &str,
        served: &str,
        candidate: &str,
        score: String,
        served_value: f64,
        candidate_value: f64,
    ) {
        if let Ok(mut t) = self.tallies.lock() {
            let t = t
                .entry((route.into(), served.into(), candidate.into(), score))
                .or_default();
            if (candidate_value - served_value).abs() < 1e-9 {
                t.ties += 1;
            } else if candidate_value > served_value {
                t.wins += 1;
            } else {
                t.losses += 1;
            }
            t.served_sum += served_value;
            t.candidate_sum += candidate_value;
        }
    }

    /// One side's scores arrived; with both, compare them.
    #[allow(clippy::too_many_arguments)]
    fn side(
        &self,
        ledger: &Ledger,
        pair: &Mutex<Pair>,
        served_side: bool,
        scores: Vec<Score>,
        route: &str,
        served: &str,
        candidate: &str,
        configured: Option<String>,
    ) {
        let (a, b) = {
            let Ok(mut p) = pair.lock() else {
                return;
            };
            if served_side {
                p.served = Some(scores);
            } else {
                p.candidate = Some(scores);
            }
            match (&p.served, &p.candidate) {
                (Some(a), Some(b)) => (a.clone(), b.clone()),
                _ => return,
            }
        };
        let Some(name) = ledger
            .router
            .primary_score(route, configured.as_deref())
            .or_else(|| a.first().map(|s| s.name.clone()))
        else {
            return;
        };
        let (Some(x), Some(y)) = (
            a.iter().find(|s| s.name == name),
            b.iter().find(|s| s.name == name),
        ) else {
            return;
        };
        self.tally(route, served, candidate, name, x.value, y.value);
    }

    /// Every comparison: route, served, candidate, score, tally, and the
    /// candidate's win share (ties half) with its 95% Wilson interval.
    pub fn report(&self) -> serde_json::Value {
        let tallies = self.tallies.lock().map(|t| t.clone()).unwrap_or_default();
        let spent = self.spent.lock().map(|s| s.clone()).unwrap_or_default();
        let capped = self.capped.lock().map(|s| s.clone()).unwrap_or_default();
        let failed = self.failed.lock().map(|s| s.clone()).unwrap_or_default();
        let mut rows: Vec<_> = tallies
            .into_iter()
            .map(|((route, served, candidate, score), t)| {
                let n = t.wins + t.ties + t.losses;
                let share = if n == 0 {
                    0.0
                } else {
                    (t.wins as f64 + 0.5 * t.ties as f64) / n as f64
                };
                let (lo, hi) = wilson(share, n);
                serde_json::json!({
                    "route": route,
                    "served": served,
                    "candidate": candidate,
                    "score": score,
                    "comparisons": n,
                    "wins": t.wins,
                    "ties": t.ties,
                    "losses": t.losses,
                    "candidate_win_share": share,
                    "ci95": [lo, hi],
                    "served_mean": if n == 0 { 0.0 } else { t.served_sum / n as f64 },
                    "candidate_mean": if n == 0 { 0.0 } else { t.candidate_sum / n as f64 },
                })
            })
            .collect();
        rows.sort_by_key(|a| a.to_string());
        let day = now_ms().div_euclid(86_400_000);
        let routes: serde_json::Map<String, serde_json::Value> = spent
            .iter()
            .map(|(r, (d, usd))| {
                (
                    r.clone(),
                    serde_json::json!({
                        "spent_today_usd": if *d == day { *usd } else { 0.0 },
                        "capped": capped.get(r).copied().unwrap_or(0),
                        "failed": failed.get(r).copied().unwrap_or(0),
                    }),
                )
            })
            .collect();
        serde_json::json!({ "comparisons": rows, "routes": routes })
    }
}

/// The 95% Wilson score interval of a share `p` over `n` trials.
fn wilson(p: f64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.96_f64;
    let n = n as f64;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n) + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::wilson;

    #[test]
    fn wilson_interval_brackets_the_share() {
        let (lo, hi) = wilson(0.5, 100);
        assert!(
            (lo - 0.404).abs() < 0.005 && (hi - 0.596).abs() < 0.005,
            "{lo} {hi}"
        );
        assert_eq!(wilson(0.0, 0), (0.0, 1.0));
        let (lo, hi) = wilson(1.0, 10);
        assert!(lo > 0.65 && (hi - 1.0).abs() < 1e-9);
    }
}
