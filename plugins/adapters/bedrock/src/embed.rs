//! Bedrock embeddings: InvokeModel (`POST /model/{modelId}/invoke`) with
//! the Titan or Cohere body of `adapter_kit::embed::bedrock`, signed like
//! the Converse calls. Errors are classified by the adapter's
//! `classify-error`, whose AWS error shapes InvokeModel shares.

use adapter_kit::embed::{self, Texts, Vectors};
use adapter_kit::types::{
    AuthScheme, AwsSigning, ErrorKind, HttpRequest, HttpResponse, ProviderError, Target,
};
use adapter_kit::{encode_component, err};

use super::{SERVICE, options, region_of};

pub(crate) fn embed_request(t: Texts, target: Target) -> Result<HttpRequest, ProviderError> {
    let opts = options(&target);
    let Some(region) = opts.region.clone().or_else(|| region_of(&target.base_url)) else {
        return Err(err(
            ErrorKind::Other,
            format!(
                "provider `{}`: set the option `region` (the base URL `{}` does not name one)",
                target.provider, target.base_url
            ),
        ));
    };
    let body = embed::bedrock::build_body(&t)?;
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("accept".to_owned(), "application/json".to_owned()),
    ];
    headers.extend(opts.headers);
    Ok(HttpRequest {
        method: "POST".into(),
        url: format!(
            "{}/model/{}/invoke",
            target.base_url.trim_end_matches('/'),
            encode_component(&target.upstream_model),
        ),
        headers,
        body,
        auth: AuthScheme::AwsSigv4(AwsSigning {
            service: SERVICE.into(),
            region,
        }),
    })
}

pub(crate) fn embed_parse(
    resp: HttpResponse,
    t: Texts,
    target: Target,
) -> Result<Vectors, ProviderError> {
    embed::bedrock::parse(&resp.body, &target.upstream_model, t.input.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(model: &str) -> Target {
        Target {
            provider: "aws".into(),
            base_url: "https://bedrock-runtime.us-east-1.amazonaws.com".into(),
            upstream_model: model.into(),
            options_json: None,
        }
    }

    #[test]
    fn titan_goes_to_invoke_signed_for_the_region() {
        let t = Texts {
            model: "amazon.titan-embed-text-v2:0".into(),
            input: vec!["hello".into()],
            dimensions: Some(256),
            user: None,
        };
        let r = embed_request(t, target("amazon.titan-embed-text-v2:0")).unwrap();
        assert_eq!(
            r.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke"
        );
        match r.auth {
            AuthScheme::AwsSigv4(s) => assert_eq!(s.region, "us-east-1"),
            other => panic!("{other:?}"),
        }
    }
}
