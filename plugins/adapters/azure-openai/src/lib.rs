//! The `azure-openai` provider adapter: Azure OpenAI chat completions. The
//! bodies, streams and errors are OpenAI's (`adapter_kit::openai`, shared
//! with the `openai` adapter); Azure differs in where a request goes and how
//! the key travels:
//!
//! - `POST {base_url}/openai/deployments/{deployment}/chat/completions?api-version={v}`,
//!   `base_url` like `https://myresource.openai.azure.com` and the model's
//!   `upstream` name being the deployment (so the body carries no `model`);
//! - the key in the `api-key` header.
//!
//! Embeddings go to `{base_url}/openai/deployments/{deployment}/embeddings`
//! with the same API version and key, in OpenAI's body without `model`.
//!
//! Provider options: `api_version` (default `2024-10-21`, the GA version),
//! and those of the OpenAI dialect: `headers`, `stream_usage`,
//! `forward_metadata`.

adapter_kit::plugin!(AzureOpenAi, embeddings);

#[cfg(test)]
mod tests;

use adapter_kit::embed::{self, Texts, Vectors};
use adapter_kit::openai::{self as dialect, Options};
use adapter_kit::types::{
    AuthScheme, ChatRequest, ChatResponse, HttpRequest, HttpResponse, ProviderError, Target,
};
use adapter_kit::{encode_component, features};
use exports::switchyard::plugin::adapter::{AdapterInfo, Guest};
use serde_json::Value;

/// The API version used when the provider options name none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

struct AzureOpenAi;

fn url(target: &Target, opts: &Options) -> String {
    deployment_url(target, opts, "chat/completions")
}

/// `{base}/openai/deployments/{deployment}/{method}?api-version={v}`.
fn deployment_url(target: &Target, opts: &Options, method: &str) -> String {
    let version = opts
        .raw
        .get("api_version")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_API_VERSION);
    format!(
        "{}/openai/deployments/{}/{method}?api-version={}",
        target.base_url.trim_end_matches('/'),
        encode_component(&target.upstream_model),
        encode_component(version),
    )
}

impl Guest for AzureOpenAi {
    type StreamDecoder = Decoder;

    fn info() -> AdapterInfo {
        AdapterInfo {
            name: "azure-openai".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            features: features(),
        }
    }

    fn build_request(req: ChatRequest, target: Target) -> Result<HttpRequest, ProviderError> {
        let opts = Options::parse(target.options_json.as_deref());
        // The deployment in the path names the model.
        let body = dialect::build_body(req, None, &opts)?;
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        let url = url(&target, &opts);
        headers.extend(opts.headers);
        Ok(HttpRequest {
            method: "POST".into(),
            url,
            headers,
            body,
            auth: AuthScheme::Header("api-key".into()),
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
    let url = deployment_url(&target, &opts, "embeddings");
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(opts.headers);
    Ok(HttpRequest {
        method: "POST".into(),
        url,
        headers,
        // The deployment in the path names the model.
        body: embed::openai::build_body(&t, false),
        auth: AuthScheme::Header("api-key".into()),
    })
}

fn embed_parse(resp: HttpResponse, t: Texts, _target: Target) -> Result<Vectors, ProviderError> {
    embed::openai::parse(&resp.body, t.input.len())
}

adapter_kit::embeddings!(AzureOpenAi, embed_request, embed_parse);
