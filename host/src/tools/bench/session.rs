//! The run loop of `switchyard bench`: tasks are read from the dataset one
//! at a time, each runs on every target (× `--repeat`) as a unit, and a
//! unit's outcomes are folded into the statistics as soon as it completes —
//! so memory holds the units in flight, not the dataset. Every outcome is
//! written to `results.jsonl` as it arrives (a stopped run keeps them). A
//! progress bar (plain lines when stderr is not a terminal) shows
//! done/total, spend and the time left. Ctrl-C stops sending and waits for
//! the requests in flight; a second Ctrl-C quits at once.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tokio::sync::{Semaphore, mpsc};

use super::dataset::{self, Task};
use super::decide::ALL;
use super::exec::{Bench, Outcome};
use super::stats::{Acc, PairAcc};

/// What to run.
pub struct Plan {
    /// The dataset file.
    pub dataset: PathBuf,
    /// `--judge`.
    pub judge: Option<String>,
    /// Which tasks run.
    pub keep: Box<dyn Fn(&str) -> bool + Send + Sync>,
    /// Run at most this many tasks.
    pub limit: u64,
    /// Task types in the dataset's order (the order of the tables).
    pub order: Vec<String>,
}

/// One task type's measurements.
#[derive(Default)]
pub struct TypeAcc {
    /// Tasks that ran.
    pub tasks: u64,
    /// Whether its tasks are scored.
    pub scored: bool,
    /// Per target index.
    pub accs: HashMap<usize, Acc>,
    /// Per target pair (a < b).
    pub pairs: HashMap<(usize, usize), PairAcc>,
}

/// What a run measured.
pub struct Measured {
    /// The dataset file.
    pub dataset: String,
    /// When it started.
    pub started: SystemTime,
    /// How long it ran.
    pub duration: Duration,
    /// Tasks run.
    pub tasks: u64,
    /// Requests planned (tasks × targets × repeat).
    pub planned: u64,
    /// Failed requests.
    pub errors: u64,
    /// Task types in first-seen order, then `all`.
    pub order: Vec<String>,
    /// Per task type.
    pub types: HashMap<String, TypeAcc>,
    /// Why the run stopped early.
    pub stopped: Option<&'static str>,
}

struct Unit {
    task: Task,
    outcomes: Vec<Outcome>,
}

/// Run the plan; results go to `DIR/results.jsonl`.
pub async fn execute(
    bench: Arc<Bench>,
    mut plan: Plan,
    show_progress: bool,
) -> anyhow::Result<Measured> {
    let started = SystemTime::now();
    let clock = Instant::now();
    let repeat = bench.repeat;
    let per_task = bench.targets.len() as u64 * u64::from(repeat);
    let planned = plan.limit * per_task;
    let out_dir = bench.out.clone();
    let results_path = out_dir.join("results.jsonl");
    let file = std::fs::File::create(&results_path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", results_path.display()))?;
    let mut results = std::io::BufWriter::new(file);
    let progress = super::output::Progress::new(planned, show_progress);

    let stopper = {
        let bench = bench.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                bench.stop.stop("interrupted");
                eprintln!(
                    "\nswitchyard bench: stopping — waiting for the requests in flight (Ctrl-C again quits at once)"
                );
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        })
    };

    let order = std::mem::take(&mut plan.order);
    let (tx, mut rx) = mpsc::channel::<Unit>(64);
    let units_in_flight = Arc::new(Semaphore::new(
        bench.in_flight.available_permits().max(1) * 2,
    ));
    let reader = {
        let bench = bench.clone();
        tokio::spawn(async move {
            let tasks = dataset::tasks(&plan.dataset, plan.judge.as_deref())?;
            let mut n = 0u64;
            for task in tasks {
                let task = task?;
                if !(plan.keep)(&task.id) {
                    continue;
                }
                if n >= plan.limit || bench.stop.is_stopped() {
                    break;
                }
                n += 1;
                let permit = units_in_flight.clone().acquire_owned().await?;
                let bench = bench.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut runs = Vec::new();
                    for t in 0..bench.targets.len() {
                        for r in 0..repeat {
                            runs.push(bench.run(&task, t, r));
                        }
                    }
                    let outcomes = futures_util::future::join_all(runs).await;
                    let _ = tx.send(Unit { task, outcomes }).await;
                    drop(permit);
                });
            }
            anyhow::Ok(())
        })
    };

    let mut m = Measured {
        dataset: bench.dataset_name.clone(),
        started,
        duration: Duration::ZERO,
        tasks: 0,
        planned,
        errors: 0,
        order: Vec::new(),
        types: HashMap::new(),
        stopped: None,
    };
    let mut done = 0u64;
    while let Some(unit) = rx.recv().await {
        for o in &unit.outcomes {
            if o.skipped {
                continue;
            }
            done += 1;
            if o.answer.is_err() {
                m.errors += 1;
            }
            let line = result_line(&bench, &unit.task, o);
            writeln!(results, "{line}")
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", results_path.display()))?;
        }
        // Whole units reach the file as they complete (readable while the
        // run goes on, and after a crash).
        results
            .flush()
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", results_path.display()))?;
        fold(&mut m, &unit, repeat, bench.targets.len());
        progress.set(done, bench.spend.spent().0);
    }
    let read = reader.await;
    stopper.abort();
    results.flush()?;
    match read {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) => anyhow::bail!("the dataset reader failed: {e}"),
    }
    progress.finish(done, bench.spend.spent().0);
    m.duration = clock.elapsed();
    m.stopped = bench.stop.reason();
    let mut order: Vec<String> = order
        .into_iter()
        .filter(|t| m.types.contains_key(t))
        .collect();
    order.push(ALL.to_owned());
    m.order = order;
    Ok(m)
}

/// Fold a completed unit into its task type's and `all`'s figures.
fn fold(m: &mut Measured, unit: &Unit, repeat: u32, targets: usize) {
    if unit.outcomes.iter().all(|o| o.skipped) {
        return;
    }
    m.tasks += 1;
    let scored = unit.task.eval.is_some();
    // Per target: the mean score over repeats, when every repeat ran.
    let mut means: Vec<Option<f64>> = vec![None; targets];
    for (t, slot) in means.iter_mut().enumerate() {
        let mine: Vec<&Outcome> = unit.outcomes.iter().filter(|o| o.target == t).collect();
        if !scored || mine.len() != repeat as usize || mine.iter().any(|o| o.skipped) {
            continue;
        }
        let vals: Vec<f64> = mine.iter().filter_map(|o| quality(o)).collect();
        if vals.len() == mine.len() && !vals.is_empty() {
            *slot = Some(vals.iter().sum::<f64>() / vals.len() as f64);
        }
    }
    for name in [unit.task.task.as_str(), ALL] {
        let ty = m.types.entry(name.to_owned()).or_default();
        ty.tasks += 1;
        ty.scored |= scored;
        for o in unit.outcomes.iter().filter(|o| !o.skipped) {
            let acc = ty.accs.entry(o.target).or_default();
            acc.requests += 1;
            acc.cost_usd += o.cost_usd;
            match &o.answer {
                Ok(a) => {
                    acc.latency.add(a.latency_ms);
                    acc.prompt_tokens += a.prompt_tokens;
                    acc.completion_tokens += a.completion_tokens;
                }
                Err(_) => acc.errors += 1,
            }
            if scored && let Some(q) = quality(o) {
                acc.quality.add(q);
            }
        }
        for a in 0..targets {
            for b in a + 1..targets {
                if let (Some(x), Some(y)) = (means[a], means[b]) {
                    ty.pairs.entry((a, b)).or_default().add(x, y);
                }
            }
        }
    }
}

/// An outcome's quality: its score; a failed request scores 0; an answer
/// the evaluator could not score has none.
fn quality(o: &Outcome) -> Option<f64> {
    match (&o.answer, &o.score) {
        (Err(_), _) => Some(0.0),
        (Ok(_), Some(s)) => Some(s.value),
        (Ok(_), None) => None,
    }
}

fn result_line(bench: &Bench, task: &Task, o: &Outcome) -> serde_json::Value {
    let target = bench.targets.get(o.target);
    let mut v = json!({
        "id": task.id,
        "line": task.line,
        "task": task.task,
        "target": target.map(|t| t.name.as_str()),
        "kind": target.map(|t| if t.route { "route" } else { "model" }),
        "repeat": o.repeat,
        "cached": o.cached,
        "cost_usd": o.cost_usd,
    });
    if let Some(e) = &task.expected {
        v["expected"] = json!(e);
    }
    match &o.answer {
        Ok(a) => {
            v["model"] = json!(a.model);
            v["answer"] = json!(a.text);
            if !a.tool_calls.is_empty() {
                v["tool_calls"] = json!(a.tool_calls);
            }
            v["prompt_tokens"] = json!(a.prompt_tokens);
            v["completion_tokens"] = json!(a.completion_tokens);
            v["tokens_estimated"] = json!(a.tokens_estimated);
            v["latency_ms"] = json!((a.latency_ms * 1000.0).round() / 1000.0);
        }
        Err(e) => v["error"] = json!(e),
    }
    if let Some(s) = &o.score {
        v["score"] = json!({"name": s.name, "value": s.value, "label": s.label, "explanation": s.explanation});
    }
    if let Some(e) = &o.eval_error {
        v["eval_error"] = json!(e);
    }
    v
}
