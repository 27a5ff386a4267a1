//! The `gemini` provider adapter: Google's Gemini API (`generateContent`, and
//! `streamGenerateContent?alt=sse` for streams), `base_url` like
//! `https://generativelanguage.googleapis.com/v1beta`, the key in the
//! `x-goog-api-key` header.
//!
//! Translation notes (details in [`request`], [`response`], [`stream`]):
//! system and developer messages become `systemInstruction`; assistant
//! messages are `model` contents whose tool calls are `functionCall` parts;
//! tool results are `functionResponse` parts of a `user` content, named after
//! the call they answer; tool and response schemas are cut down to the
//! OpenAPI subset Gemini accepts. Gemini has no tool-call ids, so answers get
//! `call_{choice}_{n}`. Fields of the client's request that Gemini has no
//! counterpart for (`user`, `metadata`, `parallel_tool_calls`, other
//! dialects' extras) are not forwarded.
//!
//! Provider options:
//! - `headers`: extra request headers;
//! - `generation_config`: fields merged into `generationConfig` (e.g.
//!   `{"thinkingConfig": {"thinkingBudget": 0}}`); the request's own
//!   settings win;
//! - `safety_settings`: sent as `safetySettings`;
//! - `thought_signatures` (default true): mark replayed function calls with
//!   the signature Google documents for history the client cannot sign, as
//!   Gemini 3 refuses function calls without one.
//!
//! Embeddings: `:embedContent` for one text, `:batchEmbedContents` for
//! several (`adapter_kit::embed::gemini`); Gemini reports no token usage
//! for them, so the gateway estimates it.

adapter_kit::plugin!(Gemini, embeddings);

pub mod request;
pub mod response;
pub mod stream;
#[cfg(test)]
mod tests;

use adapter_kit::embed::{self, Texts, Vectors};
use adapter_kit::types::{
    AuthScheme, ChatRequest, ChatResponse, HttpRequest, HttpResponse, ProviderError, Target,
};
use adapter_kit::{encode_component, features, option_headers, options_value};
use exports::switchyard::plugin::adapter::{AdapterInfo, Guest};

struct Gemini;

/// The method URL for a model: `{base}/models/{model}:{method}`. A model
/// already spelled as a resource name (`models/…`, `tunedModels/…`) is used
/// as it is.
pub fn url(base_url: &str, model: &str, stream: bool) -> String {
    if stream {
        method_url(base_url, model, "streamGenerateContent?alt=sse")
    } else {
        method_url(base_url, model, "generateContent")
    }
}

/// The resource name of a model: `models/{model}` unless it already is one.
fn resource(model: &str) -> String {
    if model.starts_with("models/") || model.starts_with("tunedModels/") {
        model
            .split('/')
            .map(encode_component)
            .collect::<Vec<_>>()
            .join("/")
    } else {
        format!("models/{}", encode_component(model))
    }
}

/// `{base}/{resource}:{method}`.
fn method_url(base_url: &str, model: &str, method: &str) -> String {
    let base = base_url.trim_end_matches('/');
    format!("{base}/{}:{method}", resource(model))
}

impl Guest for Gemini {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "gemini".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: features(),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let opts = options_value(target.options_json.as_deref());
        let url = url(&target.base_url, &target.upstream_model, req.stream);
        let body = request::build(req, &opts)?;
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        headers.extend(option_headers(&opts));
        Ok(HttpRequest {
            method: "POST".into(),
            url,
            headers,
            body: body.to_string().into_bytes(),
            auth: AuthScheme::Header("x-goog-api-key".into()),
        })
    }

    fn parse_response(resp: HttpResponse, target: Target) -> Result<ChatResponse, ProviderError> {
        response::parse(
            resp.status,
            &resp.headers,
            &resp.body,
            &target.upstream_model,
        )
    }

    fn classify_error(resp: HttpResponse) -> ProviderError {
        response::classify(Some(resp.status), &resp.headers, &resp.body)
    }
}

adapter_kit::stream_decoder!(stream::Decoder, |target| stream::decoder(
    &target.upstream_model
));

fn embed_request(t: Texts, target: Target) -> Result<HttpRequest, ProviderError> {
    let opts = options_value(target.options_json.as_deref());
    let method = embed::gemini::method(&t);
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(option_headers(&opts));
    Ok(HttpRequest {
        method: "POST".into(),
        url: method_url(&target.base_url, &target.upstream_model, method),
        headers,
        body: embed::gemini::build_body(&t, &resource(&target.upstream_model)),
        auth: AuthScheme::Header("x-goog-api-key".into()),
    })
}

fn embed_parse(resp: HttpResponse, t: Texts, _target: Target) -> Result<Vectors, ProviderError> {
    embed::gemini::parse(&resp.body, t.input.len())
}

adapter_kit::embeddings!(Gemini, embed_request, embed_parse);
