//! The first-party routing policies, end to end: a gateway built from a TOML
//! config over in-process mock upstreams, each labelled, so which upstream
//! answered (`[a] You said: …`) shows the policy's choice, next to the
//! decision's labels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ask, mock, mock_with, send, test_plugin, user};
use serde_json::json;
use switchyard::gateway::Gateway;
use switchyard::routing::Served;
use switchyard::runtime::PluginCaps;
use switchyard::tools::mock::MockOptions;

/// Three providers `pa`, `pb`, `pc` (mocks labelled a, b, c) and one model on
/// each: `ma` dear and able, `mb` cheap with tools only, `mc` in between with
/// JSON only; then `routes`.
async fn gateway(routes: &str) -> std::sync::Arc<Gateway> {
    let (a, b, c) = (mock("a").await, mock("b").await, mock("c").await);
    let text = format!(
        r#"
        [providers.pa]
        adapter = "openai"
        base_url = "{a}"
        [providers.pb]
        adapter = "openai"
        base_url = "{b}"
        [providers.pc]
        adapter = "openai"
        base_url = "{c}"
        [models.ma]
        provider = "pa"
        capabilities = ["vision", "tools", "json"]
        input_price = 10.0
        output_price = 30.0
        [models.mb]
        provider = "pb"
        capabilities = ["tools"]
        input_price = 0.1
        output_price = 0.4
        [models.mc]
        provider = "pc"
        capabilities = ["json"]
        input_price = 1.0
        output_price = 2.0
        {routes}
        "#
    );
    build(&text)
}

fn build(text: &str) -> Arc<Gateway> {
    common::gateway(
        text,
        PluginCaps {
            memory_bytes: 32 << 20,
            ..PluginCaps::default()
        },
    )
}

fn has(served: &Served, k: &str, v: &str) -> bool {
    served.labels.iter().any(|(n, x)| n == k && x == v)
}

#[track_caller]
fn assert_label(served: &Served, k: &str, v: &str) {
    assert!(has(served, k, v), "want {k}={v} in {:?}", served.labels);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_draws_by_weight() {
    let gw = gateway(
        r#"
        [routes.canary]
        policy = "weighted"
        models = ["ma", "mb"]
        policy_config = { weights = { mb = 100 } }
        [routes.split]
        policy = "weighted"
        models = ["ma", "mb", "mc"]
        policy_config = { weights = { ma = 50, mb = 50 } }
        [routes.broken]
        policy = "weighted"
        models = ["ma", "mb"]
        policy_config = { weights = { mb = -1 } }
        "#,
    )
    .await;

    // All the weight on mb: it serves every request, ma is only the fallback.
    for i in 0..5 {
        let (text, served) = ask(&gw, "canary", &format!("hi {i}")).await;
        assert_eq!(text, format!("[b] You said: hi {i}"));
        assert_label(&served, "policy", "weighted");
        assert_label(&served, "pick", "mb");
        assert_label(&served, "weight", "100");
    }

    // 50/50: both serve over 40 requests (all one side: p = 2⁻³⁹), never mc.
    let (mut a, mut b) = (0, 0);
    for i in 0..40 {
        let (text, served) = ask(&gw, "split", &format!("q{i}")).await;
        match &text[..3] {
            "[a]" => a += 1,
            "[b]" => b += 1,
            _ => panic!("unexpected answer {text}"),
        }
        assert!(has(&served, "pick", "ma") || has(&served, "pick", "mb"));
    }
    assert!(a > 0 && b > 0, "a {a}, b {b}");

    // A bad config: the host falls back to the static order.
    let (text, served) = ask(&gw, "broken", "hi").await;
    assert_eq!(text, "[a] You said: hi");
    assert_label(&served, "fallback", "policy-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_latency_prefers_the_faster_model() {
    let gw = gateway(
        r#"
        [routes.fast]
        policy = "least-latency"
        models = ["ma", "mb"]
        [routes.fast-ttft]
        policy = "least-latency"
        models = ["ma", "mb"]
        policy_config = { use = "ttft" }
        "#,
    )
    .await;
    // ma: slow answers but a quick first token; mb: the reverse.
    let current = gw.current();
    for _ in 0..3 {
        current.models["ma"].stats.record(
            true,
            Duration::from_millis(900),
            Some(Duration::from_millis(5)),
        );
        current.models["mb"].stats.record(
            true,
            Duration::from_millis(20),
            Some(Duration::from_millis(300)),
        );
    }

    let (text, served) = ask(&gw, "fast", "hi").await;
    assert_eq!(text, "[b] You said: hi");
    assert_label(&served, "policy", "least-latency");
    assert_label(&served, "metric", "latency");
    assert_label(&served, "pick", "mb");
    assert_label(&served, "versus", "ma");

    let (text, served) = ask(&gw, "fast-ttft", "hi").await;
    assert_eq!(text, "[a] You said: hi");
    assert_label(&served, "metric", "ttft");
    assert_label(&served, "pick", "ma");

    // A stream compares time to first token without being told.
    let body = json!({"model": "fast", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let (_, served) = send(&gw, body, &[]).await;
    assert_eq!(served.model, "ma");
    assert_label(&served, "metric", "ttft");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_cost_prefers_the_cheapest_and_avoids_open_breakers() {
    let failing = mock_with(
        "x",
        MockOptions {
            fail_status: Some(500),
            fail_rate: 1.0,
            ..MockOptions::default()
        },
    )
    .await;
    let gw = gateway(&format!(
        r#"
        [providers.px]
        adapter = "openai"
        base_url = "{failing}"
        [models.mx]
        provider = "px"
        input_price = 0.01
        output_price = 0.01
        [routes.cheap]
        policy = "least-cost"
        models = ["ma", "mc", "mb"]
        [routes.cheap-flaky]
        policy = "least-cost"
        models = ["mc", "mx"]
        policy_config = {{ expected_output_tokens = 100 }}
        "#
    ))
    .await;

    let (text, served) = ask(&gw, "cheap", "hi").await;
    assert_eq!(text, "[b] You said: hi");
    assert_label(&served, "policy", "least-cost");
    assert_label(&served, "pick", "mb");
    assert_label(&served, "output-tokens", "256");

    // mx is the cheapest but fails: mc answers after it, until mx's breaker
    // opens; then the policy puts mx last and mc answers first time.
    let mut opened = false;
    for i in 0..30 {
        let (text, served) = ask(&gw, "cheap-flaky", &format!("hi {i}")).await;
        assert_eq!(text, format!("[c] You said: hi {i}"));
        assert_label(&served, "output-tokens", "100");
        if has(&served, "breaker-open", "mx") {
            assert_label(&served, "pick", "mc");
            assert_eq!(served.attempts, 1);
            opened = true;
            break;
        }
        assert_label(&served, "pick", "mx");
    }
    assert!(opened, "mx's breaker never showed as open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_aware_takes_the_cheapest_model_above_the_floor() {
    let gw = gateway(
        r#"
        [routes.floor]
        policy = "cost-aware"
        models = ["ma", "mb", "mc"]
        [routes.floor.policy_config]
        min_quality = 0.8
        quality = { ma = 0.95, mb = 0.6, mc = 0.85 }
        [routes.too-high]
        policy = "cost-aware"
        models = ["ma", "mb", "mc"]
        policy_config = { min_quality = 0.99, quality = { ma = 0.95 } }
        [routes.vision]
        policy = "cost-aware"
        models = ["mb", "mc", "ma"]
        policy_config = { require = ["vision"] }
        [routes.plain]
        policy = "cost-aware"
        models = ["ma", "mb", "mc"]
        "#,
    )
    .await;

    // mb is cheapest but below the floor: mc, and mb is dropped.
    let (text, served) = ask(&gw, "floor", "hi").await;
    assert_eq!(text, "[c] You said: hi");
    assert_label(&served, "policy", "cost-aware");
    assert_label(&served, "floor", "met");
    assert_label(&served, "pick", "mc");
    assert_label(&served, "dropped", "mb");

    // Nobody meets it: relaxed to the cheapest of all.
    let (text, served) = ask(&gw, "too-high", "hi").await;
    assert_eq!(text, "[b] You said: hi");
    assert_label(&served, "floor", "relaxed");

    // A required capability only ma has.
    let (text, served) = ask(&gw, "vision", "hi").await;
    assert_eq!(text, "[a] You said: hi");
    assert_label(&served, "require", "vision");
    assert_label(&served, "dropped", "mb,mc");

    // The request asks for JSON: mb cannot, mc is the cheapest that can.
    let body = json!({"model": "plain", "response_format": {"type": "json_object"},
                      "messages": [{"role": "user", "content": "hi"}]});
    let (text, served) = send(&gw, body, &[]).await;
    assert_eq!(text, "[c] You said: hi");
    assert_label(&served, "require", "json");
    assert_label(&served, "pick", "mc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_router_sends_each_task_to_its_tier() {
    let gw = gateway(
        r#"
        [routes.tasks]
        policy = "task-router"
        models = ["ma", "mb", "mc"]
        [routes.tasks.policy_config]
        tiers = { cheap = ["mb"], strong = ["ma", "mc"] }
        default = "cheap"
        rules = [
          { if = { metadata = { task = "code" } }, tier = "strong" },
          { if = { regex = '(?i)\b(prove|derive|step by step)\b' }, tier = "strong" },
          { if = { min_tokens = 2000 }, tier = "strong" },
          { if = { has_tools = true }, tier = "strong" },
          { if = { has_images = true }, tier = "strong" },
        ]
        [routes.misconfigured]
        policy = "task-router"
        models = ["mc", "mb"]
        policy_config = { tiers = { cheap = ["mb"] }, default = "cheap", rules = [{ if = {}, tier = "premium" }] }
        "#,
    )
    .await;

    let (text, served) = ask(&gw, "tasks", "hi").await;
    assert_eq!(text, "[b] You said: hi");
    assert_label(&served, "policy", "task-router");
    assert_label(&served, "tier", "cheap");
    assert_label(&served, "rule", "default");

    let (text, served) = ask(&gw, "tasks", "Please prove it, step by step").await;
    assert_eq!(text, "[a] You said: Please prove it, step by step");
    assert_label(&served, "tier", "strong");
    assert_label(&served, "rule", "1");

    // Metadata (as from `x-switchyard-meta-task: code`).
    let (text, served) = send(&gw, user("tasks", "hi"), &[("task", "code")]).await;
    assert_eq!(text, "[a] You said: hi");
    assert_label(&served, "rule", "0");

    // A long prompt.
    let long = "word ".repeat(2000);
    let (text, served) = ask(&gw, "tasks", &long).await;
    assert!(text.starts_with("[a] "), "{}", &text[..20]);
    assert_label(&served, "rule", "2");

    // An unknown tier is a config error: the static order serves.
    let (text, served) = ask(&gw, "misconfigured", "hi").await;
    assert_eq!(text, "[c] You said: hi");
    assert_label(&served, "fallback", "policy-error");
}

#[tokio::test]
async fn a_plugin_file_overrides_the_embedded_plugin_of_that_name() {
    let (a, b) = (mock("a").await, mock("b").await);
    let config = |dir: &std::path::Path| {
        format!(
            "[plugins]\ndir = \"{}\"\n\
             [providers.pa]\nadapter = \"openai\"\nbase_url = \"{a}\"\n\
             [providers.pb]\nadapter = \"openai\"\nbase_url = \"{b}\"\n\
             [models.ma]\nprovider = \"pa\"\n[models.mb]\nprovider = \"pb\"\n\
             [routes.main]\npolicy = \"ordered\"\nmodels = [\"ma\", \"mb\"]\n",
            dir.display()
        )
    };
    let empty = tempfile::tempdir().unwrap();
    let gw = build(&config(empty.path()));
    assert_eq!(ask(&gw, "main", "hi").await.0, "[a] You said: hi");

    // `ordered.wasm` in the plugin directory replaces the embedded `ordered`
    // (here with the test policy, whose default mode reverses the order).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ordered.wasm"), test_plugin("test-policy")).unwrap();
    let gw = build(&config(dir.path()));
    assert_eq!(ask(&gw, "main", "hi").await.0, "[b] You said: hi");
    let p = &gw.current().plugins["ordered"];
    assert!(matches!(
        p.source,
        switchyard::runtime::PluginSource::File(_)
    ));
}
