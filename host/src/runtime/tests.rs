//! Runtime tests against real components: the embedded plugins and the
//! hostile `test-policy`, built by `build.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::canonical::{AuthScheme, ChatRequest, ErrorKind, HttpResponse, StreamEvent, Target};
use crate::generation::embedded::EMBEDDED;
use crate::test_plugins::TEST_PLUGINS;

fn embedded(name: &str) -> &'static [u8] {
    EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap()
}

fn test_policy() -> Vec<u8> {
    let path = TEST_PLUGINS
        .iter()
        .find(|(n, _)| *n == "test-policy")
        .unwrap()
        .1;
    std::fs::read(path).unwrap()
}

fn runtime(cache: Option<&std::path::Path>) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: cache.map(Into::into),
        caps: PluginCaps {
            policy_deadline: Duration::from_millis(50),
            adapter_deadline: Duration::from_millis(100),
            evaluator_deadline: Duration::from_millis(100),
            memory_bytes: 16 << 20,
        },
    })
    .unwrap()
}

fn request(text: &str) -> ChatRequest {
    crate::ingress::openai::parse_request(
        format!(r#"{{"model":"r","messages":[{{"role":"user","content":"{text}"}}],"metadata":{{"team":"search"}}}}"#)
            .as_bytes(),
    )
    .unwrap()
}

fn view(text: &str) -> RequestView {
    let r = request(text);
    RequestView {
        token_estimate: crate::canonical::token_estimate(&r),
        metadata: Arc::new(r.metadata.clone()),
        request: Arc::new(r),
    }
}

fn candidates(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            model: format!("m{i}"),
            provider: "p".into(),
            capabilities: vec![],
            context_window: 1000,
            input_price: 0.0,
            output_price: 0.0,
            quality: None,
            stats: ModelStats {
                breaker: if i == 0 {
                    BreakerState::Open
                } else {
                    BreakerState::Closed
                },
                ..ModelStats::unmeasured()
            },
        })
        .collect()
}

fn target() -> Target {
    Target {
        provider: "p".into(),
        base_url: "http://127.0.0.1:9/v1/".into(),
        upstream_model: "up-model".into(),
        options_json: Some(r#"{"headers":{"OpenAI-Organization":"org-1"}}"#.into()),
    }
}

fn mode(m: &str) -> Option<Arc<str>> {
    Some(format!(r#"{{"mode":"{m}"}}"#).into())
}

#[tokio::test]
async fn ordered_policy_puts_open_breakers_last() {
    let rt = runtime(None);
    let p = rt
        .load("ordered", PluginSource::Embedded, embedded("ordered"), None)
        .unwrap();
    assert_eq!(p.kind, PluginKind::Policy);
    let d = rt
        .decide(&p, None, view("hi"), &candidates(3))
        .await
        .unwrap()
        .unwrap();
    let order: Vec<u32> = d.attempts.iter().map(|a| a.candidate).collect();
    assert_eq!(order, vec![1, 2, 0]);
}

#[tokio::test]
async fn policy_reads_the_request_view() {
    let rt = runtime(None);
    let p = rt
        .load("t", PluginSource::Embedded, &test_policy(), None)
        .unwrap();
    let d = rt
        .decide(&p, mode("echo-view"), view("route me"), &candidates(1))
        .await
        .unwrap()
        .unwrap();
    let label = |k: &str| {
        d.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(label("model"), "r");
    assert_eq!(label("messages"), "1");
    assert_eq!(label("last-user"), "route me");
    assert_eq!(label("tools"), "false");
    assert!(label("meta").contains("search"));
    assert!(label("tokens").parse::<u32>().unwrap() > 0);
}

#[tokio::test]
async fn trap_is_a_typed_error_and_the_runtime_keeps_serving() {
    let rt = runtime(None);
    let p = rt
        .load("t", PluginSource::Embedded, &test_policy(), None)
        .unwrap();
    let e = rt
        .decide(&p, mode("trap"), view("x"), &candidates(2))
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Trap { .. }), "{e}");
    // The same plugin serves the next call in a fresh instance.
    let d = rt
        .decide(&p, mode("reverse"), view("x"), &candidates(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.attempts.len(), 2);
}

#[tokio::test]
async fn infinite_loop_hits_the_deadline() {
    let rt = runtime(None);
    let p = rt
        .load("t", PluginSource::Embedded, &test_policy(), None)
        .unwrap();
    let started = Instant::now();
    let e = rt
        .decide(&p, mode("loop"), view("x"), &candidates(2))
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::Deadline { ms: 50, .. }), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn memory_hog_hits_the_cap() {
    let rt = runtime(None);
    let p = rt
        .load("t", PluginSource::Embedded, &test_policy(), None)
        .unwrap();
    let e = rt
        .decide(&p, mode("alloc"), view("x"), &candidates(2))
        .await
        .unwrap_err();
    assert!(matches!(e, PluginError::MemoryLimit { mib: 16, .. }), "{e}");
}

#[tokio::test]
async fn error_value_is_returned_not_trapped() {
    let rt = runtime(None);
    let p = rt
        .load("t", PluginSource::Embedded, &test_policy(), None)
        .unwrap();
    let r = rt
        .decide(&p, mode("error"), view("x"), &candidates(2))
        .await
        .unwrap();
    assert_eq!(r.unwrap_err(), "test-policy refuses");
}

#[test]
fn garbage_and_wrong_worlds_are_refused() {
    let rt = runtime(None);
    let e = rt
        .load("junk", PluginSource::Embedded, b"\0asm garbage", None)
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("compiling plugin `junk`"),
        "{e:#}"
    );
    // A core module is not a component.
    let core = [0u8, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
    assert!(
        rt.load("core", PluginSource::Embedded, &core, None)
            .is_err()
    );
    // An empty component exports no world of any version.
    let empty = [0u8, 0x61, 0x73, 0x6d, 0x0d, 0, 0x01, 0];
    let e = rt
        .load("empty", PluginSource::Embedded, &empty, None)
        .unwrap_err();
    assert!(format!("{e:#}").contains("exports none of"), "{e:#}");
}

#[test]
fn compiled_components_are_cached_by_content_hash() {
    let dir = tempfile::tempdir().unwrap();
    let first = runtime(Some(dir.path()));
    let p = first
        .load("openai", PluginSource::Embedded, embedded("openai"), None)
        .unwrap();
    assert!(!p.from_cache);
    assert_eq!(first.compiles(), 1);
    drop(first);
    // A restart with the same bytes compiles nothing.
    let second = runtime(Some(dir.path()));
    let p = second
        .load("openai", PluginSource::Embedded, embedded("openai"), None)
        .unwrap();
    assert!(p.from_cache);
    assert_eq!(second.compiles(), 0);
    // Different bytes are a different entry.
    let q = second
        .load("ordered", PluginSource::Embedded, embedded("ordered"), None)
        .unwrap();
    assert!(!q.from_cache);
    assert_ne!(p.sha256, q.sha256);
    assert_eq!(second.compiles(), 1);
}

#[tokio::test]
async fn openai_adapter_builds_parses_and_decodes() {
    let rt = runtime(None);
    let p = Arc::new(
        rt.load("openai", PluginSource::Embedded, embedded("openai"), None)
            .unwrap(),
    );
    assert_eq!(p.kind, PluginKind::Adapter);
    let mut inst = rt.adapter(&p, Tenant::Alone).await.unwrap();
    assert_eq!(inst.info().await.unwrap().name, "openai");

    let mut req = request("hello");
    req.stream = true;
    let http = inst.build_request(&req, &target()).await.unwrap().unwrap();
    assert_eq!(http.url, "http://127.0.0.1:9/v1/chat/completions");
    assert!(matches!(http.auth, AuthScheme::Bearer));
    assert!(
        http.headers
            .iter()
            .any(|(k, v)| k == "OpenAI-Organization" && v == "org-1")
    );
    let body: serde_json::Value = serde_json::from_slice(&http.body).unwrap();
    assert_eq!(body["model"], "up-model");
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert!(
        body.get("metadata").is_none(),
        "metadata is not forwarded without `store`"
    );

    let ok = HttpResponse {
        status: 200,
        headers: vec![],
        body: br#"{"id":"x","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hey"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}"#.to_vec(),
    };
    let r = inst.parse_response(&ok, &target()).await.unwrap().unwrap();
    assert_eq!(r.usage.unwrap().total_tokens, 3);

    let limited = HttpResponse {
        status: 429,
        headers: vec![("retry-after".into(), "3".into())],
        body:
            br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#
                .to_vec(),
    };
    let e = inst.classify_error(&limited).await.unwrap();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.retry_after_ms, Some(3000));
    let ctx = HttpResponse {
        status: 400,
        headers: vec![],
        body: br#"{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}"#.to_vec(),
    };
    assert_eq!(
        inst.classify_error(&ctx).await.unwrap().kind,
        ErrorKind::ContextLength
    );

    // SSE split at awkward places still decodes.
    let sse = b"data: {\"id\":\"s\",\"model\":\"up\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\ndata: {\"id\":\"s\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\ndata: {\"id\":\"s\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let dec = inst.stream_decoder(&target()).await.unwrap();
    let mut text = String::new();
    for piece in sse.chunks(7) {
        for ev in inst.feed(dec, piece).await.unwrap().unwrap() {
            if let StreamEvent::Text(t) = ev {
                text.push_str(&t.text);
            }
        }
    }
    inst.finish(dec).await.unwrap().unwrap();
    assert_eq!(text, "Hello");

    // A stream cut before its end is an error, not a clean finish.
    let dec = inst.stream_decoder(&target()).await.unwrap();
    inst.feed(dec, &sse[..120]).await.unwrap().unwrap();
    assert!(inst.finish(dec).await.unwrap().is_err());
}

/// A plugin built against the 0.1.0 package, checked in under
/// `host/tests/fixtures/wit-0.1.0/`.
fn v0_1_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wit-0.1.0")
        .join(format!("{name}.wasm"));
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn a_0_1_0_adapter_behaves_exactly_like_its_0_2_0_build() {
    let rt = runtime(None);
    let old = Arc::new(
        rt.load(
            "openai-0.1",
            PluginSource::Embedded,
            &v0_1_fixture("openai"),
            None,
        )
        .unwrap(),
    );
    let new = Arc::new(
        rt.load("openai", PluginSource::Embedded, embedded("openai"), None)
            .unwrap(),
    );
    assert_eq!((old.kind, old.wit_version), (PluginKind::Adapter, "0.1.0"));
    assert_eq!((new.kind, new.wit_version), (PluginKind::Adapter, "0.2.0"));
    // The current build also embeds; the 0.1.0 one cannot.
    assert!(new.embeds() && !old.embeds());
    rt.self_check(&old).await.unwrap();

    let mut req = request("hello");
    req.stream = true;
    let ok = HttpResponse {
        status: 200,
        headers: vec![],
        body: br#"{"id":"x","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hey"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}"#.to_vec(),
    };
    let limited = HttpResponse {
        status: 429,
        headers: vec![("retry-after".into(), "3".into())],
        body: br#"{"error":{"message":"slow down","type":"rate_limit_error"}}"#.to_vec(),
    };
    let sse = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n";
    let mut seen = vec![];
    for p in [&old, &new] {
        let mut inst = rt.adapter(p, Tenant::Alone).await.unwrap();
        let info = inst.info().await.unwrap();
        let http = inst.build_request(&req, &target()).await.unwrap().unwrap();
        let parsed = inst.parse_response(&ok, &target()).await.unwrap().unwrap();
        let err = inst.classify_error(&limited).await.unwrap();
        let d = inst.stream_decoder(&target()).await.unwrap();
        let mut events = inst.feed(d, sse).await.unwrap().unwrap();
        events.extend(inst.finish(d).await.unwrap().unwrap());
        seen.push(format!(
            "{:?}|{} {}|{:?}|{:?}|{:?}|{:?}",
            info.features,
            http.method,
            http.url,
            String::from_utf8_lossy(&http.body),
            parsed,
            err,
            events
        ));
    }
    assert_eq!(seen[0], seen[1]);
}

#[tokio::test]
async fn a_0_1_0_policy_decides_and_observes_like_its_0_2_0_build() {
    let rt = runtime(None);
    let old = rt
        .load(
            "cost-aware-0.1",
            PluginSource::Embedded,
            &v0_1_fixture("cost-aware"),
            None,
        )
        .unwrap();
    let new = rt
        .load(
            "cost-aware",
            PluginSource::Embedded,
            embedded("cost-aware"),
            None,
        )
        .unwrap();
    assert_eq!((old.kind, old.wit_version), (PluginKind::Policy, "0.1.0"));
    assert_eq!(new.wit_version, "0.2.0");
    let old = Arc::new(old);
    rt.self_check(&old).await.unwrap();
    let mut cands = candidates(3);
    for (i, c) in cands.iter_mut().enumerate() {
        c.input_price = 3.0 - i as f64;
        c.output_price = 6.0 - i as f64;
        c.quality = Some(0.5 + 0.2 * i as f64);
    }
    let config: Option<Arc<str>> = Some(r#"{"min_quality":0.6}"#.into());
    let mut decisions = vec![];
    for p in [&*old, &new] {
        let d = rt
            .decide(p, config.clone(), view("pick one"), &cands)
            .await
            .unwrap()
            .unwrap();
        let mut inst = rt.policy(p, config.clone()).await.unwrap();
        let outcome = Outcome {
            model: "m1".into(),
            attempts: 1,
            success: true,
            error: None,
            latency_ms: 12.0,
            prompt_tokens: Some(3),
            completion_tokens: Some(4),
            labels: d.labels.clone(),
        };
        inst.observe(&outcome).await.unwrap();
        decisions.push(format!("{d:?}"));
    }
    assert_eq!(decisions[0], decisions[1]);
    // A 0.1.0 policy that makes model calls links too (`models@0.1.0`).
    let router = rt
        .load(
            "model-router-0.1",
            PluginSource::Embedded,
            &v0_1_fixture("model-router"),
            None,
        )
        .unwrap();
    assert_eq!(router.wit_version, "0.1.0");
}

/// An answer of `text` to `request("q")`, with metadata `meta`.
fn eval_input(
    text: &str,
    finish: crate::canonical::FinishReason,
    meta: &[(&str, &str)],
) -> EvalInput {
    use crate::canonical::{ChatResponse, Choice, Message, Role};
    EvalInput {
        request_id: "r1".into(),
        request: Arc::new(request("q")),
        metadata: Arc::new(
            meta.iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        ),
        route: None,
        model: "m".into(),
        response: Arc::new(ChatResponse {
            id: "x".into(),
            model: "up".into(),
            created: 0,
            choices: vec![Choice {
                index: 0,
                message: Message::text(Role::Assistant, text),
                finish_reason: Some(finish),
            }],
            usage: None,
            system_fingerprint: None,
        }),
        other: None,
    }
}

#[tokio::test]
async fn embedded_evaluators_score_answers() {
    use crate::canonical::FinishReason;
    let rt = runtime(None);
    let load = |name: &str| {
        let p = rt
            .load(name, PluginSource::Embedded, embedded(name), None)
            .unwrap();
        assert_eq!(p.kind, PluginKind::Evaluator, "{name}");
        Arc::new(p)
    };
    for name in ["json", "match", "refusal", "length", "judge"] {
        rt.self_check(&load(name)).await.unwrap();
    }
    let matcher = load("match");
    let refusal = load("refusal");

    let scores = rt
        .evaluate(
            &matcher,
            None,
            eval_input(" Paris ", FinishReason::Stop, &[("expected", "paris")]),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(scores.len(), 1);
    assert_eq!((scores[0].name.as_str(), scores[0].value), ("match", 1.0));
    assert_eq!(scores[0].label.as_deref(), Some("pass"));
    // Nothing expected: nothing to score.
    let none = rt
        .evaluate(
            &matcher,
            None,
            eval_input("Paris", FinishReason::Stop, &[]),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_empty());
    // A bad config is an error value naming the key.
    let err = rt
        .evaluate(
            &matcher,
            Some(r#"{"mode":"fuzzy"}"#.into()),
            eval_input("a", FinishReason::Stop, &[("expected", "a")]),
            None,
        )
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.contains("unknown mode `fuzzy`"), "{err}");

    let refused = rt
        .evaluate(
            &refusal,
            Some(r#"{"name":"answered"}"#.into()),
            eval_input("I can’t help with that.", FinishReason::Stop, &[]),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (refused[0].name.as_str(), refused[0].value),
        ("answered", 0.0)
    );
    assert_eq!(refused[0].label.as_deref(), Some("refused"));
    let filtered = rt
        .evaluate(
            &refusal,
            None,
            eval_input("text", FinishReason::ContentFilter, &[]),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(filtered[0].label.as_deref(), Some("filtered"));
}

#[tokio::test]
async fn embedding_adapters_are_told_apart_and_embed() {
    let rt = runtime(None);
    let anthropic = rt
        .load(
            "anthropic",
            PluginSource::Embedded,
            embedded("anthropic"),
            None,
        )
        .unwrap();
    assert!(!anthropic.embeds());
    let anthropic = Arc::new(anthropic);
    assert!(rt.embedder(&anthropic, Tenant::Alone).await.is_err());
    let openai = Arc::new(
        rt.load("openai", PluginSource::Embedded, embedded("openai"), None)
            .unwrap(),
    );
    assert!(openai.embeds());
    let req = crate::wit::EmbeddingsRequest {
        model: "e".into(),
        input: vec!["a".into(), "b".into()],
        dimensions: Some(2),
        user: None,
    };
    let target = Target {
        provider: "p".into(),
        base_url: "http://127.0.0.1:9/v1".into(),
        upstream_model: "text-embedding-3-small".into(),
        options_json: None,
    };
    let mut inst = rt.embedder(&openai, Tenant::Alone).await.unwrap();
    let built = inst.build_request(&req, &target).await.unwrap().unwrap();
    assert_eq!(built.url, "http://127.0.0.1:9/v1/embeddings");
    let answer = HttpResponse {
        status: 200,
        headers: vec![],
        body: br#"{"data":[{"index":1,"embedding":[0,1]},{"index":0,"embedding":[1,0]}],"usage":{"prompt_tokens":2}}"#.to_vec(),
    };
    let parsed = inst
        .parse_response(&answer, &req, &target)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parsed.embeddings, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    assert_eq!(parsed.prompt_tokens, Some(2));

    // Warm embedding instances: one tenant's calls reuse one, another
    // tenant never gets it, a call for no client is never kept, and a
    // failed call's instance is dropped.
    let pool = EmbedPool::new(openai.clone(), 1000);
    let alice = Tenant::Key("alice".into());
    for _ in 0..3 {
        let mut inst = pool.take(&rt, &alice).await.unwrap();
        inst.build_request(&req, &target).await.unwrap().unwrap();
        pool.give_back(inst);
    }
    assert_eq!(pool.instances_created(), 1);
    let inst = pool.take(&rt, &Tenant::Key("bob".into())).await.unwrap();
    assert_eq!(pool.instances_created(), 2);
    pool.give_back(inst);
    let inst = pool.take(&rt, &Tenant::Alone).await.unwrap();
    pool.give_back(inst);
    let mut inst = pool.take(&rt, &alice).await.unwrap();
    assert_eq!(pool.instances_created(), 3);
    inst.lease.poisoned = true;
    assert!(inst.build_request(&req, &target).await.is_err());
    pool.give_back(inst);
    let inst = pool.take(&rt, &alice).await.unwrap();
    assert_eq!(pool.instances_created(), 4);
    pool.give_back(inst);
}

fn test_plugin(name: &str) -> Vec<u8> {
    let path = TEST_PLUGINS.iter().find(|(n, _)| *n == name).unwrap().1;
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn warm_adapter_instances_serve_one_tenant_and_are_dropped_after_a_trap() {
    let rt = runtime(None);
    let bytes = test_plugin("test-hostile-adapter");
    let pool = AdapterPool::new(pool_plugin(&rt, &bytes), 1000);
    let alice = Tenant::Key("alice".into());
    let bob = Tenant::Key("bob".into());
    let req = request("hello");
    let ok = target();

    // One tenant's calls in turn reuse one instance.
    for _ in 0..3 {
        let mut inst = pool.take(&rt, &alice).await.unwrap();
        inst.build_request(&req, &ok).await.unwrap().unwrap();
        pool.give_back(inst);
    }
    assert_eq!(pool.instances_created(), 1);
    // Another tenant never gets it.
    let inst = pool.take(&rt, &bob).await.unwrap();
    assert_eq!(pool.instances_created(), 2);
    pool.give_back(inst);
    // A call for no client gets a fresh instance, never kept.
    for n in 3..5 {
        let inst = pool.take(&rt, &Tenant::Alone).await.unwrap();
        pool.give_back(inst);
        assert_eq!(pool.instances_created(), n);
    }
    let shared = pool.take(&rt, &Tenant::Shared).await.unwrap();
    assert_eq!(pool.instances_created(), 5);
    pool.give_back(shared);

    // A trap poisons the instance: refused if entered again, dropped when
    // given back, and the tenant's next call gets a fresh one.
    let panics = Target {
        options_json: Some(r#"{"mode":"panic"}"#.into()),
        ..target()
    };
    let mut inst = pool.take(&rt, &alice).await.unwrap();
    assert!(inst.build_request(&req, &panics).await.is_err());
    assert!(inst.build_request(&req, &ok).await.is_err());
    pool.give_back(inst);
    let mut inst = pool.take(&rt, &alice).await.unwrap();
    assert_eq!(pool.instances_created(), 6);
    inst.build_request(&req, &ok).await.unwrap().unwrap();
    pool.give_back(inst);

    // `adapter_reuse = 1`: a fresh instance for every call.
    let once = AdapterPool::new(pool_plugin(&rt, &bytes), 1);
    for n in 1..=3 {
        let mut inst = once.take(&rt, &alice).await.unwrap();
        inst.build_request(&req, &ok).await.unwrap().unwrap();
        once.give_back(inst);
        assert_eq!(once.instances_created(), n);
    }
}

fn pool_plugin(rt: &Runtime, bytes: &[u8]) -> Arc<Plugin> {
    Arc::new(
        rt.load(
            "hostile",
            PluginSource::File("hostile.wasm".into()),
            bytes,
            None,
        )
        .unwrap(),
    )
}
