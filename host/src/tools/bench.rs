//! `switchyard bench`: benchmark models (and whole routes) on a dataset of
//! the user's own tasks through the gateway's own request path, score every
//! answer with the evaluators, and conclude per task type: quality with its
//! interval, cost per 1,000 requests, latency, errors, paired comparisons,
//! and the routing table that serves each task type by the cheapest model
//! within `--margin` of the best. `--from-log` replays logged traffic onto
//! candidate models instead ([`replay`]).
//!
//! The run streams the dataset (bounded memory for any length), keeps at
//! most `--concurrency` requests in flight, caches answers in the output
//! directory, stops cleanly at `--budget-usd` or on Ctrl-C with what it has
//! written, and writes `results.jsonl`, `summary.json`, `report.html` and
//! `routing.toml`.

pub mod cache;
pub mod dataset;
pub mod decide;
pub mod exec;
mod output;
pub mod replay;
pub mod report;
mod session;
pub mod stats;
pub mod summary;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use self::dataset::EvalSpec;
use self::exec::{Bench, Spend, Stop, Target};
use crate::config::Config;
use crate::config::evaluators::EvaluatorConfig;

/// `switchyard bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The gateway config: its providers, models, routes and evaluators.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The tasks: JSON Lines (see the README's bench section).
    #[arg(long, required_unless_present = "from_log")]
    pub dataset: Option<PathBuf>,
    /// Models to benchmark, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Routes to benchmark as a whole, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub routes: Vec<String>,
    /// Where the results, the cache and the report go.
    #[arg(long, default_value = "bench-out")]
    pub out: PathBuf,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Ask each task this many times per target.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Sent as the requests' `seed` (unless a task sets one), and picks the
    /// `--holdout` split.
    #[arg(long)]
    pub seed: Option<u64>,
    /// A model may be this far below the best (on a 0–1 score) and still be
    /// chosen, judged on the 95% interval of their paired difference.
    #[arg(long, default_value_t = 0.02)]
    pub margin: f64,
    /// Stop sending once this much is spent (USD); answers already in the
    /// cache cost nothing.
    #[arg(long)]
    pub budget_usd: Option<f64>,
    /// The model that grades answers of tasks with `eval.judge`.
    #[arg(long)]
    pub judge: Option<String>,
    /// Hold out this share of the tasks (by a hash of `--seed` and the task
    /// id): they are left out of the run, or with `--on-holdout` they are
    /// the run.
    #[arg(long)]
    pub holdout: Option<f64>,
    /// Run only the held-out tasks (to measure an emitted route on tasks
    /// its decision never saw).
    #[arg(long, requires = "holdout")]
    pub on_holdout: bool,
    /// Run at most this many tasks.
    #[arg(long)]
    pub limit: Option<u64>,
    /// The emitted route's name.
    #[arg(long, default_value = "bench")]
    pub route_name: String,
    /// The policy of the emitted route: `task-router` (by request metadata
    /// `task`) or `model-router` (a classifier model names the task type).
    #[arg(long, default_value = "task-router")]
    pub emit: String,
    /// `--emit model-router`: the classifier model (default: the cheapest
    /// benchmarked model).
    #[arg(long)]
    pub classifier: Option<String>,
    /// A request's time limit, seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout_s: f64,
    /// Replay logged requests (the request log with `[log] bodies = true`)
    /// onto `--models`, instead of a dataset.
    #[arg(long)]
    pub from_log: bool,
    /// `--from-log`: requests since (`24h`, `30m`, `7d`).
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// `--from-log`: requests of this route only.
    #[arg(long)]
    pub route: Option<String>,
    /// `--from-log`: how many requests to replay.
    #[arg(long, default_value_t = 200)]
    pub sample: usize,
    /// Print no progress.
    #[arg(long)]
    pub quiet: bool,
}

/// Run `switchyard bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    check_args(&args)?;
    if args.from_log {
        return replay::run(args).await;
    }
    let Some(dataset) = args.dataset.clone() else {
        anyhow::bail!("--dataset is required (or --from-log)");
    };
    let mut cfg = Config::load(&args.config)?;
    let targets = targets(&cfg, &args)?;
    let keep = keeper(&args);
    let checked = dataset::check(&dataset, args.judge.as_deref(), &keep)?;
    if checked.needs_judge {
        let j = args.judge.as_deref().unwrap_or_default();
        if !cfg.models.contains_key(j) {
            anyhow::bail!("--judge `{j}` is not a model of {}", args.config.display());
        }
    }
    let mut names = HashMap::new();
    for (i, spec) in checked.specs.iter().enumerate() {
        let name = match spec {
            EvalSpec::Named(n) => {
                if !cfg.evaluators.contains_key(n) {
                    anyhow::bail!(
                        "the dataset names evaluator `{n}`, which {} does not define",
                        args.config.display()
                    );
                }
                n.clone()
            }
            EvalSpec::Plugin { plugin, config } => {
                let json: serde_json::Value = serde_json::from_str(config)?;
                let name = format!("bench-eval-{i}");
                let config = toml::Value::try_from(json).map_err(|e| {
                    anyhow::anyhow!("an `eval` spec cannot be an evaluator config: {e}")
                })?;
                cfg.evaluators.insert(
                    name.clone(),
                    EvaluatorConfig {
                        plugin: plugin.clone(),
                        config: Some(config),
                    },
                );
                name
            }
        };
        names.insert(spec.clone(), name);
    }
    let (router, generation) = request_path(cfg)?;
    let evaluators = names
        .into_iter()
        .filter_map(|(spec, name)| generation.evaluators.get(&name).map(|e| (spec, e.clone())))
        .collect();
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let cache = cache::Cache::open(&args.out)?;
    let n_targets = targets.len();
    let bench = Arc::new(Bench {
        router,
        generation,
        cache,
        targets,
        evaluators,
        spend: Arc::new(Spend::new(args.budget_usd)),
        stop: Stop::default(),
        in_flight: tokio::sync::Semaphore::new(args.concurrency),
        probes: (0..n_targets)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect(),
        timeout: Duration::from_secs_f64(args.timeout_s),
        seed: args.seed,
        repeat: args.repeat,
        out: args.out.clone(),
        dataset_name: dataset.display().to_string(),
        sent: Default::default(),
        cached: Default::default(),
    });
    let tasks = args.limit.map_or(checked.tasks, |l| l.min(checked.tasks));
    let mut descriptions = BTreeMap::new();
    for (t, (_, prompt)) in &checked.types {
        descriptions.insert(t.clone(), format!("{t} tasks, like: {prompt}"));
    }
    let plan = session::Plan {
        dataset,
        judge: args.judge.clone(),
        keep: Box::new(keep),
        limit: tasks,
        order: checked.order.clone(),
    };
    let measured = session::execute(bench.clone(), plan, !args.quiet).await?;
    output::finish(&bench, &args, &measured, &descriptions)
}

fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if args.budget_usd.is_some_and(|b| !positive(b)) {
        anyhow::bail!("--budget-usd must be more than 0 (with 0 nothing could be sent)");
    }
    if args.concurrency == 0 || args.concurrency > 4096 {
        anyhow::bail!("--concurrency must be 1 to 4096");
    }
    if args.repeat == 0 || args.repeat > 100 {
        anyhow::bail!("--repeat must be 1 to 100");
    }
    if !(0.0..=1.0).contains(&args.margin) {
        anyhow::bail!("--margin is a share of a 0-1 score: 0 to 1");
    }
    if args.holdout.is_some_and(|h| !(positive(h) && h < 1.0)) {
        anyhow::bail!("--holdout must be between 0 and 1 (exclusive)");
    }
    if !positive(args.timeout_s) {
        anyhow::bail!("--timeout-s must be more than 0");
    }
    if args.emit != "task-router" && args.emit != "model-router" {
        anyhow::bail!("--emit must be task-router or model-router");
    }
    if args.models.is_empty() && args.routes.is_empty() {
        anyhow::bail!("name what to benchmark: --models a,b and/or --routes r");
    }
    Ok(())
}

/// The gateway's request path for `cfg`, as `serve` builds it: the
/// runtime, the router and the config's generation.
fn request_path(
    cfg: Config,
) -> anyhow::Result<(
    Arc<crate::routing::Router>,
    Arc<crate::generation::Generation>,
)> {
    let runtime = Arc::new(crate::runtime::Runtime::new(
        crate::tools::cli::runtime_options(&cfg),
    )?);
    let quality = Arc::new(crate::monitor::quality::Quality::new(cfg.quality.clone()));
    let router = Arc::new(crate::routing::Router::new(runtime, quality)?);
    let generation = Arc::new(crate::generation::build_generation(
        &router.runtime,
        &router.stats,
        cfg,
        1,
    )?);
    Ok((router, generation))
}

/// A finite number above 0.
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// The targets, checked against the config.
fn targets(cfg: &Config, args: &BenchArgs) -> anyhow::Result<Vec<Target>> {
    let mut out: Vec<Target> = Vec::new();
    for m in &args.models {
        let Some(mc) = cfg.models.get(m) else {
            let known: Vec<&str> = cfg.models.keys().map(String::as_str).collect();
            anyhow::bail!(
                "unknown model `{m}`: {} has {}",
                args.config.display(),
                known.join(", ")
            );
        };
        out.push(Target {
            name: m.clone(),
            route: false,
            identity: model_identity(cfg, m, mc),
        });
    }
    for r in &args.routes {
        let Some(rc) = cfg.routes.get(r) else {
            let known: Vec<&str> = cfg.routes.keys().map(String::as_str).collect();
            anyhow::bail!(
                "unknown route `{r}`: {} has {}",
                args.config.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        };
        let mut identity = format!("route:{r}|{rc:?}");
        for m in rc.models.iter().chain(rc.fallback.iter().flatten()) {
            if let Some(mc) = cfg.models.get(m) {
                identity.push('|');
                identity.push_str(&model_identity(cfg, m, mc));
            }
        }
        out.push(Target {
            name: r.clone(),
            route: true,
            identity,
        });
    }
    for (i, t) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.name == t.name) {
            anyhow::bail!("`{}` is named twice", t.name);
        }
    }
    Ok(out)
}

/// What a model's answers depend on: its provider and upstream model (not
/// its prices: cost is worked out with the prices in use).
fn model_identity(cfg: &Config, name: &str, mc: &crate::config::ModelConfig) -> String {
    let provider = cfg
        .providers
        .get(&mc.provider)
        .map(|p| format!("{p:?}"))
        .unwrap_or_default();
    format!("model:{name}|{}|{:?}|{provider}", mc.provider, mc.upstream)
}

/// Which tasks run, by `--holdout`/`--on-holdout`.
fn keeper(args: &BenchArgs) -> impl Fn(&str) -> bool + Send + Sync + 'static {
    let seed = args.seed.unwrap_or(0);
    let holdout = args.holdout;
    let on = args.on_holdout;
    move |id: &str| match holdout {
        None => true,
        Some(h) => crate::config::sampled(id, &format!("bench-holdout-{seed}"), h) == on,
    }
}
