//! Per-decision cost of the task-router policy in Rust (embedded), Python
//! (componentize-py) and JavaScript (componentize-qjs): through a route's warm
//! instance pool (what the router does, default reuse), with a fresh instance
//! per call (`policy_reuse = 1`), and on one reused instance. Prints median
//! and p99 in microseconds, with load (compile) times.
//!
//! `examples/policies/build.sh` first (it prints the component paths), then
//! `TASK_ROUTER_PY=… TASK_ROUTER_JS=… cargo bench --bench policies`; without
//! the variables the newest `task-router-{py,js}-*.wasm` of
//! ~/.cache/switchyard/policies is used.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::generation::embedded::EMBEDDED;
use switchyard::runtime::{
    BreakerState, Candidate, KvStore, ModelStats, PluginSource, PolicyPool, RequestView, Runtime,
    RuntimeOptions,
};

const CONFIG: &str = r#"{"tiers": {"cheap": ["small"], "strong": ["big", "big-backup"]}, "default": "cheap",
  "rules": [{"if": {"metadata": {"task": "code"}}, "tier": "strong"},
            {"if": {"regex": "(?i)\\b(prove|derive|step by step)\\b"}, "tier": "strong"},
            {"if": {"min_tokens": 2000}, "tier": "strong"},
            {"if": {"has_tools": true}, "tier": "strong"}]}"#;

/// Print median and p99; `faults` counts calls that trapped or ran past the
/// policy deadline (a loaded machine can push a fresh Python/JS instance over
/// it).
fn report(name: &str, mut samples: Vec<Duration>, faults: u32) {
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6
    };
    println!(
        "{name:<40} median {:>8.1} µs   p99 {:>8.1} µs   faults {faults}",
        at(0.5),
        at(0.99)
    );
}

fn component(var: &str, prefix: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let dir = dirs::home_dir()?.join(".cache/switchyard/policies");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let runtime = Runtime::new(RuntimeOptions::default())?;
        let body = br#"{"model":"main","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Can you prove that the sum of two even numbers is even?"}],"max_tokens":64}"#;
        let req = Arc::new(switchyard::ingress::openai::parse_request(body).map_err(|e| anyhow::anyhow!(e.message))?);
        let view = || RequestView { request: req.clone(), token_estimate: 20, metadata: Arc::new(vec![("team".into(), "x".into())]) };
        let cands: Vec<Candidate> = ["small", "big", "big-backup"]
            .iter()
            .map(|m| Candidate {
                model: (*m).into(),
                provider: "p".into(),
                capabilities: vec![],
                context_window: 128_000,
                input_price: 1.0,
                output_price: 2.0,
                quality: None,
                stats: ModelStats { requests: 0, latency_ewma_ms: 0.0, latency_p95_ms: 0.0, ttft_ewma_ms: 0.0, error_rate: 0.0, in_flight: 0, breaker: BreakerState::Closed },
            })
            .collect();
        let config: Arc<str> = CONFIG.into();
        let mut plugins = vec![];
        let rust = EMBEDDED.iter().find(|(n, _)| *n == "task-router").map(|(_, b)| b.to_vec()).unwrap_or_default();
        plugins.push(("rust", rust, PluginSource::Embedded));
        for (lang, var, prefix) in [("python", "TASK_ROUTER_PY", "task-router-py-"), ("javascript", "TASK_ROUTER_JS", "task-router-js-")] {
            match component(var, prefix) {
                Some(p) => plugins.push((lang, std::fs::read(&p)?, PluginSource::File(p))),
                None => println!("{lang}: no component (run examples/policies/build.sh or set {var})"),
            }
        }
        for (lang, bytes, source) in plugins {
            let n = if lang == "rust" { 5000 } else { 1000 };
            let t = Instant::now();
            let plugin = Arc::new(runtime.load(lang, source, &bytes, None)?);
            println!("{lang}: {:.1} MB component, compiled in {:.2} s", bytes.len() as f64 / 1e6, t.elapsed().as_secs_f64());
            let check = runtime.decide(&plugin, Some(config.clone()), view(), &cands).await;
            match check {
                Ok(Ok(d)) => println!("  decision: {:?} {:?}", d.attempts.iter().map(|a| a.candidate).collect::<Vec<_>>(), d.labels),
                Ok(Err(e)) => { println!("  policy error: {e}"); continue; }
                Err(e) => { println!("  fault: {e}"); continue; }
            }
            let mut faults = 0u32;
            let pool = PolicyPool::new(plugin.clone(), Some(config.clone()), Arc::new(KvStore::default()), 1000, 16);
            let mut s = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                faults += u32::from(pool.decide(&runtime, view(), &cands, None, Arc::default()).await.is_err());
                s.push(t.elapsed());
            }
            report(&format!("{lang}: route's pool (reuse 1000)"), s, std::mem::take(&mut faults));
            let mut s = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                faults += u32::from(runtime.decide(&plugin, Some(config.clone()), view(), &cands).await.is_err());
                s.push(t.elapsed());
            }
            report(&format!("{lang}: fresh instance + route"), s, std::mem::take(&mut faults));
            let mut inst = runtime.policy(&plugin, Some(config.clone())).await?;
            let mut s = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                faults += u32::from(inst.decide(view(), &cands).await.is_err());
                s.push(t.elapsed());
            }
            report(&format!("{lang}: reused instance, route"), s, std::mem::take(&mut faults));
        }
        Ok(())
    })
}
