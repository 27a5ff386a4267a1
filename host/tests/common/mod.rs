//! Setup shared by the host's integration tests: labelled mock upstreams in
//! process, the test plugins, gateways built from config text, and requests
//! sent through the router.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use switchyard::config::Config;
use switchyard::gateway::Gateway;
use switchyard::routing::{self, Reply, Served};
use switchyard::runtime::{PluginCaps, Runtime, RuntimeOptions};
use switchyard::tools::mock::{self, MockOptions};

/// A mock upstream on 127.0.0.1 whose answers start with `[label]`; its
/// OpenAI base URL.
pub async fn mock_with(label: &str, opts: MockOptions) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = MockOptions {
        label: Some(label.into()),
        ..opts
    };
    tokio::spawn(mock::serve(listener, opts));
    format!("http://{addr}/v1")
}

/// [`mock_with`] the default options.
pub async fn mock(label: &str) -> String {
    mock_with(label, MockOptions::default()).await
}

/// The test plugins of this build (`plugins/test/`): their paths, never
/// compiled into the library.
pub mod test_plugins {
    include!(concat!(env!("OUT_DIR"), "/test_plugins.rs"));
}
pub use test_plugins::TEST_PLUGINS;

/// The bytes of a test plugin (`plugins/test/NAME`) this build compiled.
pub fn test_plugin(name: &str) -> Vec<u8> {
    let path = TEST_PLUGINS.iter().find(|(n, _)| *n == name).unwrap().1;
    std::fs::read(path).unwrap()
}

/// A gateway of this config, with a runtime of these plugin caps and no compile
/// cache.
pub fn gateway(text: &str, caps: PluginCaps) -> Arc<Gateway> {
    let cfg = Config::parse(text).unwrap();
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: None,
        caps,
    })
    .unwrap();
    Arc::new(Gateway::new(Arc::new(rt), cfg).unwrap())
}

/// Send `body` (an OpenAI chat request) with `metadata` through the router;
/// the answer's text (empty for a stream) and who served it.
pub async fn send(
    gw: &Arc<Gateway>,
    body: serde_json::Value,
    metadata: &[(&str, &str)],
) -> (String, Served) {
    let req = switchyard::ingress::openai::parse_request(body.to_string().as_bytes()).unwrap();
    let meta = metadata
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let current = gw.current();
    let mut rec = switchyard::record::Record::default();
    match routing::chat(&gw.router, &current, req, meta, &mut rec).await {
        Ok(Reply::Complete(resp, served)) => {
            let text = match &resp.choices[0].message.content {
                Some(switchyard::canonical::Content::Text(t)) => t.clone(),
                other => panic!("unexpected content {other:?}"),
            };
            (text, served)
        }
        Ok(Reply::Stream(_, served)) => (String::new(), served),
        Err(e) => panic!("request failed: {}", e.message),
    }
}

/// One user message `text` to `model`.
pub fn user(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// Ask `model` one question.
pub async fn ask(gw: &Arc<Gateway>, model: &str, text: &str) -> (String, Served) {
    send(gw, user(model, text), &[]).await
}
