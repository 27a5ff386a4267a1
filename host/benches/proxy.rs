//! The gateway's added latency and throughput, measured side by side against
//! `mock-upstream` directly in one run: the same load driver, the same body,
//! alternating rounds so machine noise hits both alike.
//!
//! `cargo bench --bench proxy` (env `BENCH_SECS`, default 5, sets the length
//! of each throughput round). With `BENCH_BASELINE_BIN=PATH` (another build of
//! `switchyard`, e.g. of the previous commit) a second gateway from that
//! binary, on the same config, runs in the same alternating rounds, so a
//! change is measured before and after in one run.
//!
//! Two routes measure answer quality's cost to the client: `scored` (every
//! answer queued for the `refusal` evaluator) and `shadowed` (scored, and
//! every request mirrored to a shadow model), beside the plain route.
//!
//! The gateway runs with its request log off and on SQLite (a file in a
//! temporary directory), and on PostgreSQL when `BENCH_POSTGRES_URL` names a
//! database, all in the same alternating rounds: what the log costs a
//! request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const BODY: &str = r#"{"model":"MODEL","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France? Answer in one word."}],"max_tokens":16}"#;
const STREAM_BODY: &str = r#"{"model":"MODEL","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Tell me about the capital of France in a few words please."}]}"#;

#[path = "common/procs.rs"]
mod procs;
use procs::{spawn, spawn_bin};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    let mut conn = hyper_util::client::legacy::connect::HttpConnector::new();
    conn.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(conn)
}

async fn one(client: &HttpClient, url: &str, body: &Bytes) -> anyhow::Result<usize> {
    let req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(bytes.len())
}

fn pct(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6
}

async fn latency(
    client: &HttpClient,
    url: &str,
    body: &Bytes,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        one(client, url, body).await?;
        out.push(t.elapsed());
    }
    Ok(out)
}

async fn throughput(url: &str, body: &Bytes, conns: usize, secs: f64) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        // One client per task: one keep-alive connection each.
        let client = client();
        let (url, body, done, stop) = (url.to_owned(), body.clone(), done.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                one(&client, &url, &body).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let elapsed = t.elapsed().as_secs_f64();
    for task in tasks {
        task.await??;
    }
    Ok(n as f64 / elapsed)
}

fn main() -> anyhow::Result<()> {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let (_mock, mock_addr) = spawn(&["mock-upstream", "--reply", "Paris."])?;
    let (_bad, bad_addr) = spawn(&["mock-upstream", "--fail-status", "500"])?;
    let dir = tempfile::tempdir()?;
    let base = format!(
        r#"listen = "127.0.0.1:0"
[providers.mock]
adapter = "openai"
base_url = "http://{mock_addr}/v1"
[models.direct]
provider = "mock"
[models.backup]
provider = "mock"
[providers.bad]
adapter = "openai"
base_url = "http://{bad_addr}/v1"
[models.failing]
provider = "bad"
[routes.routed]
policy = "ordered"
models = ["direct", "backup"]
[routes.failover]
policy = "ordered"
models = ["failing", "direct"]
[breaker]
enabled = false
"#
    );
    // Evaluation and the shadow, on the first gateway: what scoring every
    // answer, or mirroring every request, costs the client.
    let scored = r#"
[evaluators.refusal]
plugin = "refusal"
[routes.scored]
policy = "ordered"
models = ["direct", "backup"]
evaluate = [{ evaluator = "refusal", sample = 1.0 }]
[routes.shadowed]
policy = "ordered"
models = ["direct", "backup"]
evaluate = [{ evaluator = "refusal", sample = 1.0 }]
shadow = { model = "backup", sample = 1.0, max_shadow_usd_per_day = 1000000.0 }
"#;
    let mut variants = vec![
        ("log off", format!("[log]\nbackend = \"off\"\n{scored}")),
        (
            "log sqlite",
            format!(
                "[log]\npath = \"{}\"\n",
                dir.path().join("requests.db").display()
            ),
        ),
    ];
    if let Ok(url) = std::env::var("BENCH_POSTGRES_URL")
        && !url.is_empty()
    {
        variants.push((
            "log postgres",
            format!("[log]\nbackend = \"postgres\"\nurl = \"{url}\"\n"),
        ));
    }
    let mut gateways = Vec::new();
    for (i, (label, log)) in variants.iter().enumerate() {
        let path = dir.path().join(format!("bench-{i}.toml"));
        std::fs::write(&path, format!("{base}{log}"))?;
        let (proc, addr) = spawn(&["serve", "--config", &path.to_string_lossy()])?;
        gateways.push((*label, proc, addr));
    }
    let gw_addr = gateways[0].2.clone();
    // A baseline build may predate `[log]`: it gets the config without it.
    let base_path = dir.path().join("bench-base.toml");
    std::fs::write(&base_path, &base)?;
    let baseline = match std::env::var("BENCH_BASELINE_BIN") {
        Ok(bin) if !bin.is_empty() => Some(spawn_bin(
            &bin,
            &["serve", "--config", &base_path.to_string_lossy()],
        )?),
        _ => None,
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = client();
        let direct_url = format!("http://{mock_addr}/v1/chat/completions");
        let gw_url = format!("http://{gw_addr}/v1/chat/completions");
        let body = |m: &str| Bytes::from(BODY.replace("MODEL", m));
        let sbody = |m: &str| Bytes::from(STREAM_BODY.replace("MODEL", m));
        let mut cases: Vec<(String, String, Bytes)> = vec![
            ("mock-upstream directly".into(), direct_url.clone(), body("direct")),
            ("gateway, model (adapter only)".into(), gw_url.clone(), body("direct")),
            ("gateway, route (policy + adapter)".into(), gw_url.clone(), body("routed")),
            ("gateway, route, first attempt 500".into(), gw_url.clone(), body("failover")),
        ];
        // Throughput rounds run the first `rated` cases.
        let mut rated = vec![0, 1, 2];
        rated.extend([cases.len(), cases.len() + 1]);
        cases.push(("gateway, route, every answer scored".into(), gw_url.clone(), body("scored")));
        cases.push(("gateway, route, scored + shadow".into(), gw_url.clone(), body("shadowed")));
        // The other log variants, after the baseline's cases.
        let first_variant = cases.len() + if baseline.is_some() { 2 } else { 0 };
        if let Some((_, addr)) = &baseline {
            let url = format!("http://{addr}/v1/chat/completions");
            cases.push(("baseline binary, model".into(), url.clone(), body("direct")));
            cases.push(("baseline binary, route".into(), url, body("routed")));
            rated.extend([first_variant - 2, first_variant - 1]);
        }
        for (label, _, addr) in &gateways[1..] {
            let url = format!("http://{addr}/v1/chat/completions");
            rated.extend([cases.len(), cases.len() + 1]);
            cases.push((format!("gateway, model, {label}"), url.clone(), body("direct")));
            cases.push((format!("gateway, route, {label}"), url, body("routed")));
        }
        let stream_cases = [
            ("stream: mock-upstream directly".to_owned(), direct_url.clone(), sbody("direct")),
            ("stream: gateway, route".to_owned(), gw_url.clone(), sbody("routed")),
        ];
        println!("gateway cases without a label: {}", gateways[0].0);
        // Warm up connections, caches and the allocator.
        for (_, url, b) in cases.iter().chain(stream_cases.iter()) {
            latency(&c, url, b, 300).await?;
        }

        println!("concurrency 1, keep-alive, 5 alternating rounds of 1000 requests");
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cases.len() + stream_cases.len()];
        for _ in 0..5 {
            for (i, (_, url, b)) in cases.iter().chain(stream_cases.iter()).enumerate() {
                samples[i].extend(latency(&c, url, b, 1000).await?);
            }
        }
        let mut medians = Vec::new();
        for (i, (name, _, _)) in cases.iter().chain(stream_cases.iter()).enumerate() {
            let s = &mut samples[i];
            let (p50, p99) = (pct(s, 0.5), pct(s, 0.99));
            medians.push(p50);
            println!("  {name:<36} median {p50:>8.1} µs   p99 {p99:>8.1} µs");
        }
        let (sd, sr) = (cases.len(), cases.len() + 1);
        println!(
            "  added by the gateway (median): model {:.1} µs, route {:.1} µs, stream route {:.1} µs",
            medians[1] - medians[0],
            medians[2] - medians[0],
            medians[sr] - medians[sd]
        );
        if baseline.is_some() {
            println!(
                "  added by the baseline binary (median): model {:.1} µs, route {:.1} µs",
                medians[4] - medians[0],
                medians[5] - medians[0]
            );
        }
        println!(
            "  failover overhead (500 from the first target, then success): {:.1} µs over the same route without it",
            medians[3] - medians[2]
        );
        for (v, (label, _, _)) in gateways[1..].iter().enumerate() {
            let i = first_variant + 2 * v;
            println!(
                "  added by the request log ({label}, median): model {:+.1} µs, route {:+.1} µs",
                medians[i] - medians[1],
                medians[i + 1] - medians[2]
            );
        }

        println!("concurrency 64, keep-alive, {secs} s per round, 2 alternating rounds");
        let mut rates = vec![0.0; cases.len()];
        for _ in 0..2 {
            for &i in &rated {
                let (_, url, b) = &cases[i];
                rates[i] += throughput(url, b, 64, secs).await? / 2.0;
            }
        }
        for &i in &rated {
            let name = &cases[i].0;
            println!("  {name:<36} {:>9.0} req/s  ({:.2}x direct)", rates[i], rates[i] / rates[0]);
        }
        for (v, (label, _, _)) in gateways[1..].iter().enumerate() {
            let i = first_variant + 2 * v;
            println!(
                "  {label} vs log off: model {:.3}x, route {:.3}x",
                rates[i] / rates[1],
                rates[i + 1] / rates[2]
            );
        }
        anyhow::Ok(())
    })
}
