//! Per-call plugin cost: a fresh instance per call against a reused
//! instance, for the `ordered` policy and the `openai` adapter (and the
//! adapter's warm pool, what the router uses), and one evaluation (a fresh instance, as the evaluation queue
//! runs them) by the `match` and `refusal` evaluators. Prints median and
//! p99 in microseconds.
//!
//! `cargo bench --bench runtime`

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::canonical::Target;
use switchyard::canonical::{ChatResponse, Choice, Message, Role};
use switchyard::generation::embedded::EMBEDDED;
use switchyard::runtime::{
    AdapterPool, BreakerState, Candidate, EvalInput, ModelStats, PluginSource, RequestView,
    Runtime, RuntimeOptions, Tenant,
};

const N: usize = 5_000;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6
    };
    println!(
        "{name:<44} median {:>7.1} µs   p99 {:>7.1} µs",
        at(0.5),
        at(0.99)
    );
}

fn candidates() -> Vec<Candidate> {
    (0..3)
        .map(|i| Candidate {
            model: format!("model-{i}"),
            provider: "p".into(),
            capabilities: vec!["tools".into()],
            context_window: 128_000,
            input_price: 1.0,
            output_price: 2.0,
            quality: None,
            stats: ModelStats {
                requests: 10,
                latency_ewma_ms: 100.0,
                latency_p95_ms: 0.0,
                ttft_ewma_ms: 20.0,
                error_rate: 0.0,
                in_flight: 1,
                breaker: BreakerState::Closed,
            },
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let runtime = Runtime::new(RuntimeOptions::default())?;
        let bytes = |n: &str| EMBEDDED.iter().find(|(name, _)| *name == n).map(|(_, b)| *b).unwrap_or_default();
        let ordered = runtime.load("ordered", PluginSource::Embedded, bytes("ordered"), None)?;
        let openai = Arc::new(runtime.load("openai", PluginSource::Embedded, bytes("openai"), None)?);
        let body = br#"{"model":"default","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France? Answer in one word."}],"temperature":0.2,"max_tokens":64}"#;
        let req = Arc::new(switchyard::ingress::openai::parse_request(body).map_err(|e| anyhow::anyhow!(e.message))?);
        let view = || RequestView {
            request: req.clone(),
            token_estimate: 20,
            metadata: Arc::new(vec![]),
        };
        let cands = candidates();
        let target = Target {
            provider: "openai".into(),
            base_url: "https://api.openai.com/v1".into(),
            upstream_model: "gpt-4o-mini".into(),
            options_json: None,
        };
        println!("{N} calls each (wasmtime 48, pooling allocator, epoch deadline, memory cap)");

        let mut s = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            runtime.decide(&ordered, None, view(), &cands).await?.map_err(anyhow::Error::msg)?;
            s.push(t.elapsed());
        }
        report("policy ordered: fresh instance + route", s);

        let mut inst = runtime.policy(&ordered, None).await?;
        let mut s = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            inst.decide(view(), &cands).await?.map_err(anyhow::Error::msg)?;
            s.push(t.elapsed());
        }
        report("policy ordered: reused instance, route", s);

        let mut s = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            let mut a = runtime.adapter(&openai, Tenant::Alone).await?;
            a.build_request(&req, &target).await?.map_err(|e| anyhow::anyhow!(e.message))?;
            s.push(t.elapsed());
        }
        report("adapter openai: fresh instance + build", s);

        let mut a = runtime.adapter(&openai, Tenant::Alone).await?;
        let mut s = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            a.build_request(&req, &target).await?.map_err(|e| anyhow::anyhow!(e.message))?;
            s.push(t.elapsed());
        }
        report("adapter openai: reused instance, build", s);

        // What the router does: a warm instance of the tenant's from the
        // model's pool, given back after the call.
        let pool = AdapterPool::new(openai.clone(), 1000);
        let tenant = Tenant::Key("bench".into());
        let mut s = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            let mut a = pool.take(&runtime, &tenant).await?;
            a.build_request(&req, &target).await?.map_err(|e| anyhow::anyhow!(e.message))?;
            pool.give_back(a);
            s.push(t.elapsed());
        }
        report("adapter openai: pooled instance (adapter_reuse = 1000), build", s);

        let mut s = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            let _ = runtime.adapter(&openai, Tenant::Alone).await?;
            s.push(t.elapsed());
        }
        report("adapter openai: instantiate only", s);

        let response = Arc::new(ChatResponse {
            id: "x".into(),
            model: "m".into(),
            created: 0,
            choices: vec![Choice {
                index: 0,
                message: Message::text(Role::Assistant, "Paris."),
                finish_reason: None,
            }],
            usage: None,
            system_fingerprint: None,
        });
        let input = || EvalInput {
            request_id: "r".into(),
            request: req.clone(),
            metadata: Arc::new(vec![("expected".into(), "paris.".into())]),
            route: Some("route".into()),
            model: "m".into(),
            response: response.clone(),
            other: None,
        };
        for name in ["match", "refusal"] {
            let p = runtime.load(name, PluginSource::Embedded, bytes(name), None)?;
            let mut s = Vec::with_capacity(N);
            for _ in 0..N {
                let t = Instant::now();
                let scores = runtime.evaluate(&p, None, input(), None).await?.map_err(anyhow::Error::msg)?;
                anyhow::ensure!(scores.len() == 1 && scores[0].value == 1.0, "{name}: {scores:?}");
                s.push(t.elapsed());
            }
            report(&format!("evaluator {name}: fresh instance + evaluate"), s);
        }
        Ok(())
    })
}
