//! A hostile or broken policy never fails a request: the router falls back to
//! the route's static order. And a plugin file in the plugin directory
//! overrides the embedded plugin of the same name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use switchyard::config::Config;
use switchyard::gateway::Gateway;
use switchyard::gateway::embedded::TEST_PLUGINS;
use switchyard::mock::{self, MockOptions};
use switchyard::router::{self, Reply};
use switchyard::runtime::{Limits, Runtime, RuntimeOptions};

async fn mock(label: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = MockOptions {
        label: Some(label.into()),
        ..MockOptions::default()
    };
    tokio::spawn(mock::serve(listener, opts));
    format!("http://{addr}/v1")
}

fn hostile_bytes() -> Vec<u8> {
    let path = TEST_PLUGINS
        .iter()
        .find(|(n, _)| *n == "test-policy")
        .unwrap()
        .1;
    std::fs::read(path).unwrap()
}

async fn gateway(plugin_dir: &std::path::Path, extra_routes: &str) -> std::sync::Arc<Gateway> {
    let a = mock("a").await;
    let b = mock("b").await;
    let text = format!(
        r#"
        [plugins]
        dir = "{dir}"
        [providers.pa]
        adapter = "openai"
        base_url = "{a}"
        [providers.pb]
        adapter = "openai"
        base_url = "{b}"
        [models.ma]
        provider = "pa"
        [models.mb]
        provider = "pb"
        {extra_routes}
        "#,
        dir = plugin_dir.display()
    );
    let cfg = Config::parse(&text).unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: None,
        limits: Limits {
            memory_bytes: 16 << 20,
            ..Limits::default()
        },
    })
    .unwrap();
    Arc::new(Gateway::new(Arc::new(rt), cfg).unwrap())
}

async fn ask(gw: &std::sync::Arc<Gateway>, model: &str) -> (String, Vec<(String, String)>) {
    let body = format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#);
    let req = switchyard::proxy::openai::parse_request(body.as_bytes()).unwrap();
    let current = gw.current();
    match router::chat(gw, &current, req, vec![]).await {
        Ok(Reply::Complete(resp, served)) => {
            let text = match &resp.choices[0].message.content {
                Some(switchyard::runtime::types::Content::Text(t)) => t.clone(),
                other => panic!("unexpected content {other:?}"),
            };
            (text, served.labels)
        }
        Ok(Reply::Stream(..)) => panic!("asked for no stream"),
        Err(e) => panic!("request failed: {}", e.message),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_fault_falls_back_to_the_static_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hostile.wasm"), hostile_bytes()).unwrap();
    let mut routes = String::new();
    for mode in ["reverse", "trap", "loop", "alloc", "bad-index", "error"] {
        routes.push_str(&format!(
            "[routes.{mode}]\npolicy = \"hostile\"\nmodels = [\"ma\", \"mb\"]\npolicy_config = {{ mode = \"{mode}\" }}\n"
        ));
    }
    let gw = gateway(dir.path(), &routes).await;

    // The policy is really in charge: `reverse` sends the request to `mb`.
    let (text, labels) = ask(&gw, "reverse").await;
    assert_eq!(text, "[b] You said: hi");
    assert!(labels.contains(&("policy".into(), "reverse".into())));

    for (mode, why) in [
        ("trap", "policy-fault"),
        ("loop", "policy-fault"),
        ("alloc", "policy-fault"),
        ("bad-index", "policy-bad-return"),
        ("error", "policy-error"),
    ] {
        let (text, labels) = ask(&gw, mode).await;
        assert_eq!(text, "[a] You said: hi", "mode {mode}");
        assert!(
            labels.contains(&("fallback".into(), why.into())),
            "mode {mode}: {labels:?}"
        );
    }
    // And the gateway still serves the well-behaved route afterwards.
    assert_eq!(ask(&gw, "reverse").await.0, "[b] You said: hi");
}

#[tokio::test]
async fn a_plugin_file_overrides_the_embedded_plugin_of_that_name() {
    let routes = "[routes.main]\npolicy = \"ordered\"\nmodels = [\"ma\", \"mb\"]\n";
    let empty = tempfile::tempdir().unwrap();
    let gw = gateway(empty.path(), routes).await;
    assert_eq!(ask(&gw, "main").await.0, "[a] You said: hi");

    // `ordered.wasm` in the plugin directory replaces the embedded `ordered`
    // (here with the test policy, whose default mode reverses the order).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ordered.wasm"), hostile_bytes()).unwrap();
    let gw = gateway(dir.path(), routes).await;
    assert_eq!(ask(&gw, "main").await.0, "[b] You said: hi");
    let p = &gw.current().plugins["ordered"];
    assert!(matches!(
        p.source,
        switchyard::runtime::PluginSource::File(_)
    ));
}
