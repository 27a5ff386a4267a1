//! The embedded default config of `switchyard serve` without `--config`:
//! OpenAI switches on when `OPENAI_API_KEY` is set, a local OpenAI-compatible
//! server (Ollama on :11434, llama.cpp on :8080) when one answers, and
//! otherwise an in-process simulated provider — labelled as simulated in every
//! response body, response header and log line about it.
//! It never reaches beyond the machine on its own: a provider is switched
//! on only by its key variable or a local server that answers.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::broker::{Broker, read_body};
use crate::canonical::{AuthScheme, HttpRequest};
use crate::config::{Config, ModelConfig, ProviderConfig, RouteConfig};
use crate::tools::mock::{self, MockOptions};

fn provider(base_url: &str, key_env: Option<&str>) -> ProviderConfig {
    ProviderConfig {
        adapter: "openai".into(),
        base_url: base_url.into(),
        api_key_env: key_env.map(Into::into),
        api_key_file: None,
        aws_credentials: None,
        allowed_hosts: vec![],
        options: None,
        first_byte_timeout_ms: 60_000,
        idle_timeout_ms: 60_000,
        simulated: false,
        parsed_base: Default::default(),
    }
}

fn model(provider: &str, caps: &[&str], context: u32, input: f64, output: f64) -> ModelConfig {
    ModelConfig {
        provider: provider.into(),
        upstream: None,
        capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
        context_window: context,
        input_price: Some(input),
        output_price: Some(output),
        cached_input_price: None,
        quality: None,
        cache: false,
        cache_nondeterministic: false,
    }
}

/// Models an OpenAI-compatible local server lists at `/v1/models`.
async fn probe_local(base: &str) -> Option<Vec<String>> {
    const WAIT: Duration = Duration::from_millis(300);
    let broker = Broker::new().ok()?;
    let req = HttpRequest {
        method: "GET".into(),
        url: format!("{base}/models"),
        headers: vec![],
        body: vec![],
        auth: AuthScheme::None,
    };
    let local = provider(base, None);
    let bytes = tokio::time::timeout(WAIT, async {
        let mut resp = broker.send("local", &local, None, req, WAIT).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        read_body(&mut resp, WAIT, 1 << 20).await.ok()
    })
    .await
    .ok()??;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let ids: Vec<String> = v
        .get("data")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("id").and_then(|i| i.as_str()).map(str::to_owned))
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// Build the embedded default. Starts the simulated provider when nothing
/// real is available; `listen` is the gateway's own address (never probed).
pub async fn embedded_default(listen: &str) -> anyhow::Result<Config> {
    let mut providers = BTreeMap::new();
    let mut models = BTreeMap::new();

    if std::env::var("OPENAI_API_KEY").is_ok_and(|k| !k.trim().is_empty()) {
        let base =
            std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".into());
        providers.insert("openai".to_owned(), provider(&base, Some("OPENAI_API_KEY")));
        for (name, caps, ctx, i, o) in [
            (
                "gpt-4o-mini",
                &["vision", "tools", "json"][..],
                128_000,
                0.15,
                0.60,
            ),
            (
                "gpt-4o",
                &["vision", "tools", "json"][..],
                128_000,
                2.50,
                10.00,
            ),
            (
                "gpt-4.1-mini",
                &["vision", "tools", "json"][..],
                1_047_576,
                0.40,
                1.60,
            ),
            (
                "gpt-4.1",
                &["vision", "tools", "json"][..],
                1_047_576,
                2.00,
                8.00,
            ),
        ] {
            models.insert(name.to_owned(), model("openai", caps, ctx, i, o));
        }
        tracing::info!("provider `openai` enabled from OPENAI_API_KEY");
    }
    for var in ["ANTHROPIC_API_KEY", "GEMINI_API_KEY"] {
        if std::env::var(var).is_ok() {
            tracing::warn!(
                "{var} is set but this build has no adapter for that provider yet; ignoring it"
            );
        }
    }

    for (base, what) in [
        ("http://127.0.0.1:11434/v1", "Ollama"),
        ("http://127.0.0.1:8080/v1", "llama.cpp"),
    ] {
        if base.contains(listen) {
            continue;
        }
        if let Some(ids) = probe_local(base).await {
            providers.insert("local".to_owned(), provider(base, None));
            for id in &ids {
                models.insert(id.clone(), model("local", &[], 8_192, 0.0, 0.0));
            }
            tracing::info!(
                "provider `local` enabled: {what} at {base} serves {}",
                ids.join(", ")
            );
            break;
        }
    }

    if providers.is_empty() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let opts = MockOptions {
            label: Some("simulated".into()),
            ..MockOptions::default()
        };
        tokio::spawn(async move {
            if let Err(e) = mock::serve(listener, opts).await {
                tracing::error!("simulated provider stopped: {e}");
            }
        });
        let mut p = provider(&format!("http://{addr}/v1"), None);
        p.simulated = true;
        providers.insert("simulated".to_owned(), p);
        models.insert(
            "sim-fast".to_owned(),
            model("simulated", &["tools", "json"], 32_000, 0.0, 0.0),
        );
        models.insert(
            "sim-smart".to_owned(),
            model("simulated", &["tools", "json", "vision"], 128_000, 0.0, 0.0),
        );
        tracing::warn!(
            simulated = true,
            "no provider key (OPENAI_API_KEY) and no local server found: serving SIMULATED models sim-fast and sim-smart; \
             their answers are echoes, not model output"
        );
    }

    let mut routes = BTreeMap::new();
    routes.insert(
        "default".to_owned(),
        RouteConfig {
            policy: "ordered".into(),
            models: models.keys().cloned().collect(),
            fallback: None,
            policy_config: None,
            observe: false,
            retry: Default::default(),
            evaluate: vec![],
            quality_score: None,
            shadow: None,
            cache: false,
            cache_nondeterministic: false,
        },
    );
    let mut cfg = Config::parse("")?;
    cfg.listen = listen.to_owned();
    cfg.providers = providers;
    cfg.models = models;
    cfg.routes = routes;
    Ok(cfg)
}
