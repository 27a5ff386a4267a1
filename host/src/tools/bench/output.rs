//! What a bench run leaves: `summary.json`, `report.html`, `routing.toml`
//! in the output directory, and per task type a table on stdout — quality
//! with its interval, cost per 1,000 requests, latency p50/p95, errors, the
//! chosen model marked — with the paired comparisons and the decision. Also
//! the progress display of a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::BenchArgs;
use super::decide::{self, ALL, Measured as TypeMeasured};
use super::exec::{Bench, Target};
use super::session::Measured;
use super::summary::{Requests, Summary, TargetRef, TaskType};

/// Progress: an indicatif bar on a terminal, else a plain line every 10%
/// (at most every 5 s).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    last: std::sync::Mutex<(Instant, u64)>,
    started: Instant,
    show: bool,
}

impl Progress {
    /// A display of `total` requests (`show` false: none).
    pub fn new(total: u64, show: bool) -> Progress {
        let term = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = (show && term).then(|| {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} requests · {msg} · ETA {eta}",
            ) {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            total,
            last: std::sync::Mutex::new((Instant::now(), 0)),
            started: Instant::now(),
            show,
        }
    }

    /// `done` requests so far, `spent` USD.
    pub fn set(&self, done: u64, spent: f64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            b.set_message(format!("${spent:.4} spent"));
            return;
        }
        if !self.show {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let step = (self.total / 10).max(1);
        if done >= last.1 + step || last.0.elapsed() >= Duration::from_secs(5) {
            *last = (Instant::now(), done);
            let eta = if done > 0 && done < self.total {
                let per = self.started.elapsed().as_secs_f64() / done as f64;
                format!(", ETA {:.0} s", per * (self.total - done) as f64)
            } else {
                String::new()
            };
            eprintln!(
                "bench: {done}/{} requests, ${spent:.4} spent{eta}",
                self.total
            );
        }
    }

    /// The run is over.
    pub fn finish(&self, done: u64, spent: f64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
            b.finish_with_message(format!("${spent:.4} spent"));
        } else if self.show && self.last.lock().map_or(true, |l| l.1 != done) {
            eprintln!("bench: {done}/{} requests, ${spent:.4} spent", self.total);
        }
    }
}

/// Write the outputs and print the tables.
pub fn finish(
    bench: &Bench,
    args: &BenchArgs,
    m: &Measured,
    descriptions: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let summary = summarize(bench, &bench.targets, args, m);
    write_outputs(&summary, args, bench, descriptions)?;
    print!("{}", tables(&summary));
    if let Some(why) = &summary.stopped {
        println!(
            "stopped early ({why}): the figures cover the {} requests that ran; {} were not sent",
            summary.requests.sent + summary.requests.cached,
            summary.requests.skipped
        );
        if why == "interrupted" {
            std::process::exit(130);
        }
    }
    Ok(())
}

/// The summary of a run over `targets` (the bench's, or a replay's with
/// the served answers first).
pub fn summarize(bench: &Bench, targets: &[Target], args: &BenchArgs, m: &Measured) -> Summary {
    let (spent, judge) = bench.spend.spent();
    let sent = bench.sent.load(std::sync::atomic::Ordering::Relaxed);
    let cached = bench.cached.load(std::sync::atomic::Ordering::Relaxed);
    let empty = super::session::TypeAcc::default();
    let mut task_types: Vec<TaskType> = m
        .order
        .iter()
        .map(|name| {
            let t = m.types.get(name).unwrap_or(&empty);
            decide::task_type(
                &TypeMeasured {
                    task: name,
                    tasks: t.tasks,
                    scored: t.scored,
                    accs: &t.accs,
                    pairs: &t.pairs,
                },
                targets,
                args.margin,
            )
        })
        .collect();
    decide::against_baseline(&mut task_types);
    Summary {
        dataset: m.dataset.clone(),
        tasks: m.tasks,
        repeat: args.repeat,
        margin: args.margin,
        started_at: rfc3339(m.started),
        duration_s: m.duration.as_secs_f64(),
        spend_usd: spent,
        judge_usd: judge,
        stopped: m.stopped.map(str::to_owned),
        requests: Requests {
            sent,
            cached,
            errors: m.errors,
            skipped: m.planned.saturating_sub(sent + cached),
        },
        targets: targets
            .iter()
            .map(|t| TargetRef {
                name: t.name.clone(),
                kind: if t.route { "route" } else { "model" }.to_owned(),
            })
            .collect(),
        task_types,
    }
}

/// `summary.json`, `report.html` and `routing.toml`.
pub fn write_outputs(
    summary: &Summary,
    args: &BenchArgs,
    bench: &Bench,
    descriptions: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let write = |name: &str, body: &[u8]| -> anyhow::Result<()> {
        let p = args.out.join(name);
        std::fs::write(&p, body).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))
    };
    write("summary.json", &serde_json::to_vec_pretty(summary)?)?;
    write("report.html", super::report::render(summary).as_bytes())?;
    let models: Vec<String> = bench
        .targets
        .iter()
        .filter(|t| !t.route)
        .map(|t| t.name.clone())
        .collect();
    if models.is_empty() {
        return Ok(());
    }
    let classifier = if args.emit == "model-router" {
        let cheapest = summary
            .task_types
            .iter()
            .find(|t| t.task == ALL)
            .and_then(|t| {
                t.targets
                    .iter()
                    .filter(|r| r.kind == "model")
                    .min_by(|a, b| a.cost_per_1k.total_cmp(&b.cost_per_1k))
            })
            .map(|r| r.name.clone());
        Some(args.classifier.clone().or(cheapest).unwrap_or_default())
    } else {
        None
    };
    let header = header(summary, args);
    match decide::routing_toml(
        &summary.task_types,
        &args.route_name,
        &models,
        classifier.as_deref().map(|c| (c, descriptions)),
        &header,
    ) {
        Ok(toml) => write("routing.toml", toml.as_bytes()),
        Err(e) => {
            eprintln!("switchyard bench: no routing.toml: {e}");
            Ok(())
        }
    }
}

fn header(s: &Summary, args: &BenchArgs) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "Written by `switchyard bench` at {} from {} ({} tasks, margin {}).",
        s.started_at, s.dataset, s.tasks, s.margin
    );
    let _ = writeln!(
        h,
        "Per task type: the cheapest model whose quality is within the margin of the best (95% paired interval), then fallbacks."
    );
    for t in &s.task_types {
        if let Some(d) = &t.decision {
            let q = t
                .targets
                .iter()
                .find(|r| r.name == d.model)
                .and_then(|r| r.quality.as_ref())
                .map(|q| format!("quality {:.3} [{:.3}, {:.3}]", q.mean, q.lo, q.hi))
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "  {}: {} — {q}, ${:.4} per 1k requests; saves {:.1}% against always {}",
                t.task,
                d.model,
                d.cost_per_1k,
                d.savings * 100.0,
                d.baseline
            );
        }
    }
    if args.emit == "model-router" {
        let _ = writeln!(
            h,
            "A classifier model names the task type of each request (model-router)."
        );
    } else {
        let _ = writeln!(
            h,
            "Requests name their task type in metadata `task` (body `metadata` or an x-switchyard-meta-task header)."
        );
    }
    let _ = writeln!(
        h,
        "Include it: append this file to the gateway config, e.g. `cat routing.toml >> config.toml`."
    );
    h
}

/// The printed tables.
pub fn tables(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} tasks × {} targets × {} repeat(s) in {:.1} s; spent ${:.4} (judges ${:.4}); {} sent, {} cached, {} failed",
        s.tasks,
        s.targets.len(),
        s.repeat,
        s.duration_s,
        s.spend_usd,
        s.judge_usd,
        s.requests.sent,
        s.requests.cached,
        s.requests.errors
    );
    for t in &s.task_types {
        let _ = writeln!(
            out,
            "\n{} ({} tasks){}",
            t.task,
            t.tasks,
            if t.scored { "" } else { ", not scored" }
        );
        let _ = writeln!(
            out,
            "  {:<2}{:<22} {:>8} {:>17} {:>11} {:>9} {:>9} {:>8}",
            "", "target", "quality", "95% interval", "$ / 1k req", "p50 ms", "p95 ms", "errors"
        );
        for r in &t.targets {
            let mark = if r.chosen {
                "*"
            } else if r.within_margin {
                "~"
            } else {
                ""
            };
            let (q, ci) = match &r.quality {
                Some(q) => (
                    format!("{:.3}", q.mean),
                    format!("[{:.3}, {:.3}]", q.lo, q.hi),
                ),
                None => ("-".to_owned(), "-".to_owned()),
            };
            let name = if r.kind == "route" {
                format!("{} (route)", r.name)
            } else {
                r.name.clone()
            };
            let _ = writeln!(
                out,
                "  {mark:<2}{name:<22} {q:>8} {ci:>17} {:>11.4} {:>9.1} {:>9.1} {:>8}",
                r.cost_per_1k, r.latency_ms.p50, r.latency_ms.p95, r.errors
            );
        }
        for p in &t.pairs {
            let _ = writeln!(
                out,
                "     {} − {}: {:+.3} [{:+.3}, {:+.3}] over {} tasks ({} better, {} worse)",
                p.a, p.b, p.diff.mean, p.diff.lo, p.diff.hi, p.n, p.a_better, p.b_better
            );
        }
        if let Some(d) = &t.decision {
            routes_against(&mut out, t, &d.baseline);
            let _ = writeln!(
                out,
                "  → {}{}; saves {:.1}% against always {}. {}",
                d.model,
                if d.fallbacks.is_empty() {
                    String::new()
                } else {
                    format!(", then {}", d.fallbacks.join(", "))
                },
                d.savings * 100.0,
                d.baseline,
                d.reason
            );
        }
    }
    let _ = writeln!(out, "\n* chosen   ~ within the margin of the best");
    out
}

/// Each benchmarked route against the baseline model: its paired quality
/// difference and its cost as a multiple of the baseline's.
fn routes_against(out: &mut String, t: &TaskType, baseline: &str) {
    let Some(base) = t.targets.iter().find(|r| r.name == baseline) else {
        return;
    };
    for r in t.targets.iter().filter(|r| r.kind == "route") {
        let diff = t.pairs.iter().find_map(|p| {
            if p.a == r.name && p.b == baseline {
                Some((p.diff.mean, p.diff.lo, p.diff.hi))
            } else if p.b == r.name && p.a == baseline {
                Some((-p.diff.mean, -p.diff.hi, -p.diff.lo))
            } else {
                None
            }
        });
        let cost = if base.cost_per_1k > 0.0 {
            format!("{:.2}×", r.cost_per_1k / base.cost_per_1k)
        } else {
            "-".to_owned()
        };
        if let Some((m, lo, hi)) = diff {
            let _ = writeln!(
                out,
                "  route {} against {baseline}: quality {m:+.3} [{lo:+.3}, {hi:+.3}], cost {cost}",
                r.name
            );
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (y, mo, d) = crate::limits::windows::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}
