//! A hostile adapter for the host's tests. It speaks the OpenAI dialect, but
//! the provider's options (`options = { mode = "…" }`) make it misbehave in
//! `build-request`:
//!
//! - `"loop"` never returns; `"alloc"` grows memory without bound;
//!   `"recurse"` overflows its stack; `"panic"` panics;
//! - `"huge-body"` builds a 160 MiB body; `"alias-headers"` returns 200 000
//!   headers that all point at one 1 MiB string (200 GiB for a host that
//!   copies them);
//! - `"url"` sends the request to `options.url` instead of the base URL
//!   (egress tests: hosts outside the allowlist, loopback, link-local and
//!   metadata addresses, names that resolve to them);
//! - `"observe"` reports everything it can see — its config, the target, the
//!   whole request, the environment, the command line, what it reads of
//!   files — in the upstream request body (as the user message, which the
//!   mock upstream echoes), and adds the response headers it is handed to the
//!   answer's text;
//! - `"remember"` keeps the last user message it built a request for and
//!   sends the one before it upstream too (`previous=…; now=…`, echoed by the
//!   mock upstream): what a warm instance could carry from one request into
//!   the next;
//! - `"panic-parse"` builds a good request and panics parsing the answer;
//!   `"panic-stream"` panics decoding a stream once it produced content.
//!
//! Any other mode (or none) behaves like the `openai` adapter.

adapter_kit::plugin!(Hostile);

use adapter_kit::openai::{self as dialect, Options};
use adapter_kit::types::{
    AuthScheme, ChatRequest, ChatResponse, Content, HttpRequest, HttpResponse, ProviderError,
    Target,
};
use exports::switchyard::plugin::adapter::{AdapterInfo, Guest};
use switchyard::plugin::host;

struct Hostile;

thread_local! {
    /// The last user message of mode `remember`.
    static REMEMBERED: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn mode(target: &Target) -> (String, serde_json::Value) {
    let opts: serde_json::Value = target
        .options_json
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or_default();
    let mode = opts
        .get("mode")
        .and_then(|m| m.as_str())
        .unwrap_or("ok")
        .to_owned();
    (mode, opts)
}

impl Guest for Hostile {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "test-hostile-adapter".into(),
            version: "1".into(),
            features: adapter_kit::features(),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let (mode, opts) = mode(&target);
        let mut url = format!("{}/chat/completions", target.base_url.trim_end_matches('/'));
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        let mut body = None;
        match mode.as_str() {
            "loop" => hostile_kit::spin_forever(),
            "alloc" => hostile_kit::hog_memory(),
            "recurse" => {
                std::hint::black_box(hostile_kit::recurse(1));
            }
            "panic" => panic!("test-hostile-adapter asked to panic"),
            "huge-body" => body = Some(vec![b'x'; 160 << 20]),
            "alias-headers" => headers = hostile_kit::alias_pairs("x-alias", 200_000, 1 << 20),
            "url" => {
                url = opts
                    .get("url")
                    .and_then(|u| u.as_str())
                    .unwrap_or("http://169.254.169.254/latest/meta-data/")
                    .to_owned();
            }
            "remember" => {
                let now = format!("{:?}", req.messages.last().map(|m| &m.content));
                let previous = REMEMBERED.with(|r| r.replace(Some(now.clone())));
                let msg = serde_json::json!({
                    "model": target.upstream_model,
                    "messages": [{
                        "role": "user",
                        "content": format!("previous={}; now={now}", previous.as_deref().unwrap_or("none")),
                    }],
                });
                body = Some(msg.to_string().into_bytes());
            }
            "observe" => {
                let seen = serde_json::json!({
                    "config": host::config_json(),
                    "target": format!("{target:?}"),
                    "request": format!("{req:?}"),
                    "env": std::env::vars().collect::<Vec<_>>(),
                    "args": std::env::args().collect::<Vec<_>>(),
                    "files": hostile_kit::probe_files(),
                });
                let msg = serde_json::json!({
                    "model": target.upstream_model,
                    "messages": [{"role": "user", "content": seen.to_string()}],
                });
                body = Some(msg.to_string().into_bytes());
            }
            _ => {}
        }
        let body = match body {
            Some(b) => b,
            None => {
                let opts = Options::parse(target.options_json.as_deref());
                dialect::build_body(req, Some(&target.upstream_model), &opts)?
            }
        };
        Ok(HttpRequest {
            method: "POST".into(),
            url,
            headers,
            body,
            auth: AuthScheme::Bearer,
        })
    }

    fn parse_response(resp: HttpResponse, target: Target) -> Result<ChatResponse, ProviderError> {
        let (mode, _) = mode(&target);
        if mode == "panic-parse" {
            panic!("test-hostile-adapter asked to panic while parsing");
        }
        let mut r = dialect::parse_response(resp.status, &resp.headers, &resp.body)?;
        if mode == "observe"
            && let Some(choice) = r.choices.first_mut()
            && let Some(Content::Text(t)) = &mut choice.message.content
        {
            t.push_str(&format!("\nresponse headers: {:?}", resp.headers));
        }
        Ok(r)
    }

    fn classify_error(resp: HttpResponse) -> ProviderError {
        dialect::classify(Some(resp.status), &resp.headers, &resp.body)
    }
}

/// The OpenAI stream decoder; in mode `"panic-stream"` it panics once the
/// stream has produced content (after the host committed to it).
#[derive(Default)]
pub struct Hostile2 {
    inner: dialect::Decoder,
    panic_after_content: bool,
    saw_content: bool,
}

impl adapter_kit::Decode for Hostile2 {
    fn feed(
        &mut self,
        bytes: &[u8],
    ) -> Result<Vec<adapter_kit::types::StreamEvent>, ProviderError> {
        if self.panic_after_content && self.saw_content {
            panic!("test-hostile-adapter asked to panic mid-stream");
        }
        let events = self.inner.feed(bytes)?;
        self.saw_content |= events
            .iter()
            .any(|e| matches!(e, adapter_kit::types::StreamEvent::Text(_)));
        Ok(events)
    }

    fn finish(&mut self) -> Result<Vec<adapter_kit::types::StreamEvent>, ProviderError> {
        self.inner.finish()
    }
}

adapter_kit::stream_decoder!(Hostile2, |target| Hostile2 {
    panic_after_content: mode(&target).0 == "panic-stream",
    ..Hostile2::default()
});
