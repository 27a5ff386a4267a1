//! `switchyard bench --from-log`: a shadow comparison run offline. Requests
//! the gateway served (the request log, with `[log] bodies = true`) are
//! replayed onto candidate models through the same request path, and each
//! candidate's answer is scored against the answer that was served:
//!
//! - with `--judge MODEL`, head to head by the `judge` evaluator in pair
//!   mode, asked twice with the answers swapped (which cancels a preference
//!   for a position): the candidate's score on a request is its win share
//!   (1 a win, 0.5 a tie, 0 a loss), and the served answer is the reference
//!   at 0.5 — so the paired difference is the candidate's edge;
//! - otherwise by the route's evaluators (`[routes.R] evaluate`, the first
//!   one's first score), both answers scored alike.
//!
//! Logged requests of either client dialect (OpenAI or Anthropic) replay;
//! a body the log cut short (`[log] body_max_bytes`) cannot, and is counted.
//! The sample is the `--sample` requests with the lowest hash of `--seed`
//! and id among the matching ones: the same log gives the same sample.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use serde_json::json;

use super::cache::Answer;
use super::dataset::{EvalSpec, Task};
use super::exec::{Bench, Spend, Stop, Target};
use super::session::Measured;
use super::{BenchArgs, decide};
use crate::config::{Config, EvaluatorConfig};
use crate::generation::Evaluator;
use crate::ledger::log::Query;
use crate::record::Record;

/// The rubric of the pairwise judge.
const PAIR_RUBRIC: &str =
    "Which answer serves the user's request better: correct, complete, and direct?";
/// The name of the pairwise judge's evaluator.
const PAIR: &str = "bench-pair-judge";
/// Logged requests looked at, at most.
const SCAN: usize = 50_000;

/// Replay logged requests onto `--models`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut cfg = Config::load(&args.config)?;
    if args.models.is_empty() || !args.routes.is_empty() {
        anyhow::bail!(
            "--from-log replays onto candidate models: name them with --models (not --routes)"
        );
    }
    let candidates = super::targets(&cfg, &args)?;
    if let Some(j) = &args.judge {
        if !cfg.models.contains_key(j) {
            anyhow::bail!("--judge `{j}` is not a model of {}", args.config.display());
        }
        let config: toml::Value = toml::from_str(&format!(
            "model = {}\nrubric = {}\nmode = \"pair\"",
            toml::Value::String(j.clone()),
            toml::Value::String(PAIR_RUBRIC.into())
        ))?;
        cfg.evaluators.insert(
            PAIR.into(),
            EvaluatorConfig {
                plugin: "judge".into(),
                config: Some(config),
            },
        );
    }
    let since = crate::ledger::since_ms(&args.since, crate::ledger::now_ms())
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let store = crate::ledger::log::open_for_reading(&cfg.log)
        .await
        .map_err(|e| anyhow::anyhow!("the request log: {e:#}"))?;
    let described = store.describe();
    let query = Query {
        limit: SCAN,
        since_ms: Some(since),
        route: args.route.clone(),
        status: Some("ok".into()),
        ..Query::default()
    };
    let mut records: Vec<Record> = store
        .list(&query)
        .await?
        .into_iter()
        .filter(|r| !r.shadow && r.prompt.is_some() && r.answer.is_some() && r.model.is_some())
        .filter(|r| r.dialect == "openai" || r.dialect == "anthropic")
        .collect();
    if records.is_empty() {
        anyhow::bail!(
            "no logged answers to replay in {described} since {} (the log keeps request bodies only with [log] bodies = true)",
            args.since
        );
    }
    let salt = format!("bench-replay-{}", args.seed.unwrap_or(0));
    records.sort_by_cached_key(|r| hash(&salt, &r.id));
    records.truncate(args.sample.max(1));

    let (router, generation) = super::request_path(cfg)?;
    let pair = generation.evaluators.get(PAIR).cloned();
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let mut evaluators = HashMap::new();
    for r in generation.routes.values() {
        if let Some((ev, _)) = r.evaluate.first() {
            evaluators.insert(EvalSpec::Named(ev.name.clone()), ev.clone());
        }
    }
    let n_targets = candidates.len();
    let bench = Arc::new(Bench {
        router,
        generation: generation.clone(),
        cache: super::cache::Cache::open(&args.out)?,
        targets: candidates,
        evaluators,
        spend: Arc::new(Spend::new(args.budget_usd)),
        stop: Stop::default(),
        in_flight: tokio::sync::Semaphore::new(args.concurrency),
        probes: (0..n_targets)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect(),
        timeout: Duration::from_secs_f64(args.timeout_s),
        seed: None,
        repeat: 1,
        out: args.out.clone(),
        dataset_name: format!("log: {described}"),
        sent: Default::default(),
        cached: Default::default(),
    });

    // Tasks from the records; a record that cannot be scored is counted.
    let mut unusable: HashMap<&'static str, u64> = HashMap::new();
    let mut jobs = Vec::new();
    for rec in records {
        match task_of(&rec, &generation, pair.is_some()) {
            Ok(task) => jobs.push((rec, task)),
            Err(why) => *unusable.entry(why).or_default() += 1,
        }
    }
    for (why, n) in &unusable {
        eprintln!("bench --from-log: {n} logged request(s) skipped: {why}");
    }
    if jobs.is_empty() {
        anyhow::bail!("none of the logged requests can be replayed and scored (see above)");
    }
    let stopper = {
        let bench = bench.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                bench.stop.stop("interrupted");
            }
        })
    };
    let started = SystemTime::now();
    let clock = Instant::now();
    let n = jobs.len() as u64;
    let progress = super::output::Progress::new(n * bench.targets.len() as u64, !args.quiet);
    let served = Target {
        name: "served".into(),
        route: false,
        identity: String::new(),
    };
    let mut targets = vec![served.clone()];
    targets.extend(bench.targets.iter().cloned());
    let results_path = args.out.join("results.jsonl");
    let mut results = std::io::BufWriter::new(std::fs::File::create(&results_path)?);
    let mut m = Measured {
        dataset: bench.dataset_name.clone(),
        started,
        duration: Duration::ZERO,
        tasks: 0,
        planned: n * bench.targets.len() as u64,
        errors: 0,
        order: vec![],
        types: HashMap::new(),
        stopped: None,
    };
    let mut stream = futures_util::stream::iter(jobs.into_iter().map(|(rec, task)| {
        let bench = bench.clone();
        let pair = pair.clone();
        async move { replay_one(&bench, rec, task, pair.as_ref()).await }
    }))
    .buffer_unordered(args.concurrency.max(1));
    let mut done = 0u64;
    while let Some(r) = stream.next().await {
        done += r.candidates.len() as u64;
        for (t, (answer, cost, score)) in std::iter::once(&r.served)
            .chain(r.candidates.iter())
            .enumerate()
        {
            let line = json!({
                "id": r.task.id, "task": r.task.task, "target": targets[t].name,
                "model": answer.as_ref().ok().map(|a| a.model.clone()),
                "answer": answer.as_ref().ok().map(|a| a.text.clone()),
                "error": answer.as_ref().err(), "cost_usd": cost, "score": score,
            });
            writeln!(results, "{line}")?;
        }
        fold(&mut m, &r);
        progress.set(done, bench.spend.spent().0);
    }
    stopper.abort();
    results.flush()?;
    progress.finish(done, bench.spend.spent().0);
    m.duration = clock.elapsed();
    m.stopped = bench.stop.reason();
    let mut order: Vec<String> = m
        .types
        .keys()
        .filter(|k| k.as_str() != decide::ALL)
        .cloned()
        .collect();
    order.sort();
    order.push(decide::ALL.into());
    m.order = order;
    let mut summary = super::output::summarize(&bench, &targets, &args, &m);
    for t in &mut summary.task_types {
        if let Some(row) = t.targets.first_mut() {
            row.kind = "served".into();
        }
    }
    if let Some(first) = summary.targets.first_mut() {
        first.kind = "served".into();
    }
    std::fs::write(
        args.out.join("summary.json"),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    std::fs::write(
        args.out.join("report.html"),
        super::report::render(&summary),
    )?;
    print!("{}", super::output::tables(&summary));
    println!(
        "scored against the served answers by {}",
        if pair.is_some() {
            "a pairwise judge (served = 0.5, a tie)"
        } else {
            "the route's evaluators"
        }
    );
    Ok(())
}

/// A replay's measurements of one record: the served answer's and each
/// candidate's (answer, cost, score).
struct Replayed {
    task: Task,
    served: (Result<Answer, String>, f64, Option<f64>),
    candidates: Vec<(Result<Answer, String>, f64, Option<f64>)>,
}

async fn replay_one(
    bench: &Arc<Bench>,
    rec: Record,
    task: Task,
    pair: Option<&Arc<Evaluator>>,
) -> Replayed {
    let served_answer = Answer {
        text: rec.answer.clone().unwrap_or_default(),
        tool_calls: vec![],
        finish: None,
        model: rec.model.clone().unwrap_or_default(),
        prompt_tokens: rec.prompt_tokens,
        completion_tokens: rec.completion_tokens,
        cached_tokens: rec.cached_tokens,
        tokens_estimated: rec.tokens_estimated,
        latency_ms: rec.duration_ms,
    };
    let served_target = Target {
        name: served_answer.model.clone(),
        route: false,
        identity: String::new(),
    };
    let body = serde_json::Value::Object(task.body.clone()).to_string();
    let mut served_score = None;
    if pair.is_some() {
        served_score = Some(0.5);
    } else if let Some(spec) = &task.eval
        && let Some(ev) = bench.evaluators.get(spec)
    {
        served_score = bench
            .score(ev, &task, &served_target, &body, &served_answer, None)
            .await
            .ok()
            .flatten()
            .map(|s| s.value);
    }
    let mut candidates = Vec::new();
    for t in 0..bench.targets.len() {
        let o = bench.run(&task, t, 0).await;
        let score = match (pair, &o.answer) {
            (Some(ev), Ok(a)) => {
                head_to_head(
                    bench,
                    ev,
                    &task,
                    &bench.targets[t],
                    &body,
                    a,
                    &served_target,
                    &served_answer,
                )
                .await
            }
            (Some(_), Err(_)) => Some(0.0),
            (None, Ok(_)) => o.score.as_ref().map(|s| s.value),
            (None, Err(_)) => Some(0.0),
        };
        if o.skipped {
            candidates.push((Err("skipped".to_owned()), 0.0, None));
        } else {
            candidates.push((o.answer, o.cost_usd, score));
        }
    }
    Replayed {
        task,
        served: (Ok(served_answer), rec.cost_usd, served_score),
        candidates,
    }
}

/// The candidate's win share against the served answer, judged twice with
/// the answers swapped; `None` when the judge could not say.
#[allow(clippy::too_many_arguments)]
async fn head_to_head(
    bench: &Arc<Bench>,
    ev: &Arc<Evaluator>,
    task: &Task,
    cand: &Target,
    body: &str,
    a: &Answer,
    served: &Target,
    s: &Answer,
) -> Option<f64> {
    let first = bench
        .score(ev, task, cand, body, a, Some(s.text.as_str().into()))
        .await
        .ok()??;
    let second = bench
        .score(ev, task, served, body, s, Some(a.text.as_str().into()))
        .await
        .ok()??;
    Some((first.value + (1.0 - second.value)) / 2.0)
}

fn fold(m: &mut Measured, r: &Replayed) {
    let targets = 1 + r.candidates.len();
    let rows: Vec<&(Result<Answer, String>, f64, Option<f64>)> = std::iter::once(&r.served)
        .chain(r.candidates.iter())
        .collect();
    if r.candidates
        .iter()
        .all(|c| matches!(&c.0, Err(e) if e == "skipped"))
    {
        return;
    }
    m.tasks += 1;
    for name in [r.task.task.as_str(), decide::ALL] {
        let ty = m.types.entry(name.to_owned()).or_default();
        ty.tasks += 1;
        ty.scored = true;
        for (t, (answer, cost, score)) in rows.iter().enumerate() {
            if matches!(answer, Err(e) if e == "skipped") {
                continue;
            }
            let acc = ty.accs.entry(t).or_default();
            acc.requests += 1;
            acc.cost_usd += cost;
            match answer {
                Ok(a) => {
                    acc.latency.add(a.latency_ms);
                    acc.prompt_tokens += a.prompt_tokens;
                    acc.completion_tokens += a.completion_tokens;
                }
                Err(_) => acc.errors += 1,
            }
            if let Some(q) = score {
                acc.quality.add(*q);
            }
        }
        for a in 0..targets {
            for b in a + 1..targets {
                if let (Some(x), Some(y)) = (rows[a].2, rows[b].2) {
                    ty.pairs.entry((a, b)).or_default().add(x, y);
                }
            }
        }
    }
    m.errors += r
        .candidates
        .iter()
        .filter(|c| matches!(&c.0, Err(e) if e != "skipped"))
        .count() as u64;
}

/// The task of a logged request, or why it cannot be replayed.
fn task_of(
    rec: &Record,
    g: &crate::generation::Generation,
    pair: bool,
) -> Result<Task, &'static str> {
    let body = rec.prompt.as_deref().unwrap_or_default();
    let req = match rec.dialect.as_str() {
        "anthropic" => crate::ingress::anthropic::parse_request(body.as_bytes()),
        _ => crate::ingress::openai::parse_request(body.as_bytes()),
    }
    .map_err(|_| "its logged body does not parse (cut at [log] body_max_bytes?)")?;
    let eval = if pair {
        None
    } else {
        let route = rec.route.as_deref().and_then(|r| g.routes.get(r)).ok_or(
            "it was not served by a route with evaluators (pass --judge MODEL to compare head to head)",
        )?;
        let (ev, _) = route
            .evaluate
            .first()
            .ok_or("its route has no evaluators (pass --judge MODEL to compare head to head)")?;
        Some(EvalSpec::Named(ev.name.clone()))
    };
    let body_json: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(body).unwrap_or_default();
    Ok(Task {
        line: 0,
        id: rec.id.clone(),
        task: rec.route.clone().unwrap_or_else(|| rec.requested.clone()),
        body: body_json,
        expected: None,
        eval,
        metadata: req.metadata.clone(),
        request: Some(Arc::new(req)),
    })
}

fn hash(salt: &str, id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::new().chain_update(salt).chain_update(id).finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_le_bytes(b)
}
