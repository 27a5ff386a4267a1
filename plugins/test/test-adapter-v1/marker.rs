// The body shared by the test-adapter-v1 and -v2 crates (included, so each
// crate generates its own bindings and reads its own `MARK`).

adapter_kit::plugin!(Marker);

use adapter_kit::openai::{self as dialect, Options};
use adapter_kit::types::{
    AuthScheme, ChatRequest, ChatResponse, HttpRequest, HttpResponse, ProviderError, StreamEvent,
    Target,
};
use exports::switchyard::plugin::adapter::{AdapterInfo, Guest};

struct Marker;

impl Guest for Marker {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: format!("test-adapter-{MARK}"),
            version: MARK.into(),
            features: adapter_kit::features(),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let opts = Options::parse(target.options_json.as_deref());
        let body = dialect::build_body(req, Some(&target.upstream_model), &opts)?;
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!("{}/chat/completions", target.base_url.trim_end_matches('/')),
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body,
            auth: AuthScheme::Bearer,
        })
    }

    fn parse_response(resp: HttpResponse, _target: Target) -> Result<ChatResponse, ProviderError> {
        let mut r = dialect::parse_response(resp.status, &resp.headers, &resp.body)?;
        r.model = format!("{}@{MARK}", r.model);
        Ok(r)
    }

    fn classify_error(resp: HttpResponse) -> ProviderError {
        dialect::classify(Some(resp.status), &resp.headers, &resp.body)
    }
}

/// The OpenAI stream decoder, marking the stream's model.
#[derive(Default)]
pub struct Marked(dialect::Decoder);

impl adapter_kit::Decode for Marked {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>, ProviderError> {
        let mut events = self.0.feed(bytes)?;
        for e in &mut events {
            if let StreamEvent::Start(s) = e {
                s.model = format!("{}@{MARK}", s.model);
            }
        }
        Ok(events)
    }

    fn finish(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.0.finish()
    }
}

adapter_kit::stream_decoder!(Marked, |_target| Marked::default());
