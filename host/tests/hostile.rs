//! Hostile plugins: policies and adapters that loop, exhaust memory or
//! stack, panic, return more than the host will copy, name candidates that do
//! not exist, or send requests where their provider may not go. For each the
//! host keeps serving, the request falls back (policy → the route's static
//! order; adapter → the next attempt) and the plugin's error counter rises.
//! A denied address is never contacted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{mock, test_plugin};
use switchyard::gateway::Gateway;
use switchyard::routing::Served;
use switchyard::runtime::PluginCaps;

/// A port that counts the connections made to it (and answers none).
async fn trap_port() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (port, hits)
}

fn gateway(dir: &std::path::Path, body: &str) -> Arc<Gateway> {
    let text = format!("[plugins]\ndir = \"{}\"\n{body}", dir.display());
    // A small memory cap and roomy deadlines, so that on a loaded machine a
    // memory bomb still hits the cap before its deadline.
    common::gateway(
        &text,
        PluginCaps {
            memory_bytes: 16 << 20,
            policy_deadline: std::time::Duration::from_millis(200),
            adapter_deadline: std::time::Duration::from_millis(300),
            evaluator_deadline: std::time::Duration::from_millis(500),
        },
    )
}

async fn ask(gw: &Arc<Gateway>, model: &str) -> (String, Served) {
    common::ask(gw, model, "hi").await
}

/// A name of /etc/hosts, other than `localhost`, mapped to a loopback
/// address (e.g. the machine's own host name).
fn local_loopback_name() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut words = line.split('#').next()?.split_whitespace();
        let ip: std::net::IpAddr = words.next()?.parse().ok()?;
        if !ip.is_loopback() {
            return None;
        }
        words
            .find(|n| {
                !n.starts_with("localhost") && !n.ends_with(".localhost") && !n.starts_with("ip6-")
            })
            .map(str::to_owned)
    })
}

fn errors(gw: &Gateway, plugin: &str) -> serde_json::Value {
    gw.router.stats.plugin(plugin).to_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_policies_fall_back_and_count() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hostile.wasm"), test_plugin("test-policy")).unwrap();
    let (a, b) = (mock("a").await, mock("b").await);
    let mut cfg = format!(
        "[providers.pa]\nadapter = \"openai\"\nbase_url = \"{a}\"\n\
         [providers.pb]\nadapter = \"openai\"\nbase_url = \"{b}\"\n\
         [models.ma]\nprovider = \"pa\"\n[models.mb]\nprovider = \"pb\"\n"
    );
    let modes = [
        ("trap", "policy-fault", "trap"),
        ("loop", "policy-fault", "deadline"),
        ("alloc", "policy-fault", "memory_limit"),
        ("recurse", "policy-fault", "trap"),
        ("huge-string", "policy-fault", "memory_limit"),
        ("alias-labels", "policy-fault", "bad_return"),
        ("bad-index", "policy-bad-return", "bad_return"),
        ("error", "policy-error", "error_value"),
    ];
    for mode in modes
        .iter()
        .map(|m| m.0)
        .chain(["reverse", "many-attempts"])
    {
        cfg.push_str(&format!(
            "[routes.{mode}]\npolicy = \"hostile\"\nmodels = [\"ma\", \"mb\"]\npolicy_config = {{ mode = \"{mode}\" }}\n"
        ));
    }
    let gw = gateway(dir.path(), &cfg);
    let (text, _) = ask(&gw, "reverse").await;
    assert_eq!(text, "[b] You said: hi");

    for (mode, label, counter) in modes {
        let before = errors(&gw, "hostile");
        let (text, served) = ask(&gw, mode).await;
        assert_eq!(text, "[a] You said: hi", "mode {mode}");
        assert!(
            served.labels.contains(&("fallback".into(), label.into())),
            "mode {mode}: {:?}",
            served.labels
        );
        let after = errors(&gw, "hostile");
        assert_eq!(
            after[counter].as_u64().unwrap(),
            before[counter].as_u64().unwrap() + 1,
            "mode {mode}: {after}"
        );
        // The well-behaved route still answers after every fault.
        assert_eq!(ask(&gw, "reverse").await.0, "[b] You said: hi");
    }
    assert_eq!(errors(&gw, "hostile")["total"], modes.len() as u64);

    // A hundred thousand attempts of one candidate: planned (and tried) once.
    let (text, served) = ask(&gw, "many-attempts").await;
    assert_eq!(text, "[a] You said: hi");
    assert_eq!(served.plan, vec!["ma".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_adapters_fail_over_and_denied_addresses_are_never_contacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hostile-adapter.wasm"),
        test_plugin("test-hostile-adapter"),
    )
    .unwrap();
    let (a, b) = (mock("a").await, mock("b").await);
    let (port, hits) = trap_port().await;
    let public = "https://api.example.com/v1";
    // A name other than `localhost` that resolves to loopback on this machine
    // without asking DNS: one of /etc/hosts (read, not changed), if any.
    let local_name = local_loopback_name();
    // (mode, base_url, allowed_hosts, url, counter)
    let mut cases: Vec<(String, String, String, String, &str)> = vec![];
    for mode in [
        "loop",
        "alloc",
        "recurse",
        "panic",
        "huge-body",
        "alias-headers",
    ] {
        let counter = match mode {
            "loop" => "deadline",
            "alloc" | "huge-body" => "memory_limit",
            "alias-headers" => "bad_return",
            _ => "trap",
        };
        cases.push((
            mode.into(),
            a.clone(),
            String::new(),
            String::new(),
            counter,
        ));
    }
    cases.push((
        "panic-parse".into(),
        a.clone(),
        String::new(),
        String::new(),
        "trap",
    ));
    let url_cases = [
        // A host outside the allowlist (the provider is local, the host is not in its list).
        (
            a.clone(),
            String::new(),
            format!("http://127.0.0.2:{port}/steal"),
        ),
        // Loopback, for a provider whose base_url is public.
        (
            public.into(),
            format!("\"127.0.0.1:{port}\""),
            format!("http://127.0.0.1:{port}/x"),
        ),
        (
            public.into(),
            format!("\"[::1]:{port}\""),
            format!("http://[::1]:{port}/x"),
        ),
        // IPv4-mapped IPv6 loopback.
        (
            public.into(),
            format!("\"[::ffff:127.0.0.1]:{port}\""),
            format!("http://[::ffff:127.0.0.1]:{port}/x"),
        ),
        // Cloud metadata, even for a provider whose base_url is local.
        (
            a.clone(),
            "\"169.254.169.254\"".into(),
            "http://169.254.169.254/latest/meta-data/".into(),
        ),
        (
            public.into(),
            "\"169.254.169.254\"".into(),
            "http://169.254.169.254/latest/meta-data/".into(),
        ),
        // A private address.
        (
            public.into(),
            "\"10.0.0.1\"".into(),
            "http://10.0.0.1/x".into(),
        ),
        // `localhost` by name, for a provider whose base_url is public.
        (
            public.into(),
            format!("\"localhost:{port}\""),
            format!("http://localhost:{port}/x"),
        ),
    ];
    for (base, allowed, url) in url_cases {
        cases.push(("url".into(), base, allowed, url, "egress_denied"));
    }
    if let Some(name) = local_name {
        cases.push((
            "url".into(),
            public.into(),
            format!("\"{name}:{port}\""),
            format!("http://{name}:{port}/x"),
            "egress_denied",
        ));
    } else {
        eprintln!(
            "no local name other than localhost resolves to loopback here; skipping that case"
        );
    }

    let mut cfg = format!(
        "[providers.good]\nadapter = \"openai\"\nbase_url = \"{b}\"\n[models.good]\nprovider = \"good\"\n"
    );
    for (i, (mode, base, allowed, url, _)) in cases.iter().enumerate() {
        cfg.push_str(&format!(
            "[providers.p{i}]\nadapter = \"hostile-adapter\"\nbase_url = \"{base}\"\n\
             allowed_hosts = [{allowed}]\noptions = {{ mode = \"{mode}\", url = \"{url}\" }}\n\
             [models.m{i}]\nprovider = \"p{i}\"\n\
             [routes.r{i}]\npolicy = \"ordered\"\nmodels = [\"m{i}\", \"good\"]\n"
        ));
    }
    // The hostile adapter in a well-behaved mode serves (the plumbing works).
    cfg.push_str(&format!(
        "[providers.fine]\nadapter = \"hostile-adapter\"\nbase_url = \"{a}\"\n\
         [models.fine]\nprovider = \"fine\"\n"
    ));
    let gw = gateway(dir.path(), &cfg);
    assert_eq!(ask(&gw, "fine").await.0, "[a] You said: hi");

    for (i, (mode, _, _, url, counter)) in cases.iter().enumerate() {
        let before = errors(&gw, "hostile-adapter");
        let (text, served) = ask(&gw, &format!("r{i}")).await;
        assert_eq!(text, "[b] You said: hi", "case {i} ({mode} {url})");
        assert_eq!(served.attempts, 2, "case {i} ({mode} {url})");
        let after = errors(&gw, "hostile-adapter");
        assert_eq!(
            after[counter].as_u64().unwrap(),
            before[counter].as_u64().unwrap() + 1,
            "case {i} ({mode} {url}): {after}"
        );
        assert_eq!(ask(&gw, "fine").await.0, "[a] You said: hi");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a denied address was contacted"
    );
}

#[tokio::test]
async fn plugins_see_no_environment_and_no_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hostile.wasm"), test_plugin("test-policy")).unwrap();
    std::fs::write(dir.path().join("secrets.txt"), "file-secret").unwrap();
    let a = mock("a").await;
    let cfg = format!(
        "[providers.pa]\nadapter = \"openai\"\nbase_url = \"{a}\"\n[models.ma]\nprovider = \"pa\"\n\
         [routes.observe]\npolicy = \"hostile\"\nmodels = [\"ma\"]\npolicy_config = {{ mode = \"observe\" }}\n"
    );
    let gw = gateway(dir.path(), &cfg);
    let (_, served) = ask(&gw, "observe").await;
    let label = |k: &str| {
        served
            .labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(label("env"), "[]");
    let files = label("files");
    assert!(!files.contains("read "), "{files}");
    assert!(!files.contains("listed "), "{files}");
    assert!(!files.contains("file-secret"), "{files}");
    assert_eq!(label("config"), r#"{"mode":"observe"}"#);
}
