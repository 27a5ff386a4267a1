//! The `openai` provider adapter: the OpenAI chat-completions wire format, for
//! OpenAI itself and every OpenAI-compatible server (Ollama, vLLM, llama.cpp,
//! Groq, Mistral, Together, DeepSeek, OpenRouter, …) through its base URL.
//! The dialect itself lives in `adapter_kit::openai`, shared with the
//! `azure-openai` adapter. It also embeds text (`POST {base_url}/embeddings`,
//! `adapter_kit::embed::openai`).
//!
//! Provider options (`options` in the provider's config):
//! - `headers`: extra request headers, e.g. `{"OpenAI-Organization": "org-…"}`;
//! - `stream_usage` (default true): ask for the usage chunk on every stream so
//!   the gateway can account cost even when the client did not ask for it;
//! - `forward_metadata` (default false): send the request's `metadata` upstream
//!   (OpenAI accepts it only with `store`, which also forwards it).

adapter_kit::plugin!(OpenAi, embeddings);

use adapter_kit::embed::{self, Texts, Vectors};
use adapter_kit::features;
use adapter_kit::openai::{self as dialect, Options};
use adapter_kit::types::{
    AuthScheme, ChatRequest, ChatResponse, HttpRequest, HttpResponse, ProviderError, Target,
};
use exports::switchyard::plugin::adapter::{AdapterInfo, Guest};

struct OpenAi;

impl Guest for OpenAi {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: features(),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let opts = Options::parse(target.options_json.as_deref());
        let body = dialect::build_body(req, Some(&target.upstream_model), &opts)?;
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        headers.extend(opts.headers);
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!("{}/chat/completions", target.base_url.trim_end_matches('/')),
            headers,
            body,
            auth: AuthScheme::Bearer,
        })
    }

    fn parse_response(resp: HttpResponse, _target: Target) -> Result<ChatResponse, ProviderError> {
        dialect::parse_response(resp.status, &resp.headers, &resp.body)
    }

    fn classify_error(resp: HttpResponse) -> ProviderError {
        dialect::classify(Some(resp.status), &resp.headers, &resp.body)
    }
}

adapter_kit::stream_decoder!(dialect::Decoder, |_target| dialect::Decoder::default());

fn embed_request(t: Texts, target: Target) -> Result<HttpRequest, ProviderError> {
    let opts = Options::parse(target.options_json.as_deref());
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(opts.headers);
    Ok(HttpRequest {
        method: "POST".into(),
        url: format!("{}/embeddings", target.base_url.trim_end_matches('/')),
        headers,
        body: embed::openai::build_body(&t, true),
        auth: AuthScheme::Bearer,
    })
}

fn embed_parse(resp: HttpResponse, t: Texts, _target: Target) -> Result<Vectors, ProviderError> {
    embed::openai::parse(&resp.body, t.input.len())
}

adapter_kit::embeddings!(OpenAi, embed_request, embed_parse);
