//! Credentials on an outbound request, added after the adapter has returned:
//! the provider's key as a bearer header, or an AWS SigV4 signature over the
//! finished request. The only place a provider secret is put on the wire;
//! never logs one.

use std::time::SystemTime;

use super::SendError;
use crate::canonical::AwsSigning;
use crate::config::AwsCredentials;

pub(super) fn bearer(key: &str) -> Result<http::header::HeaderValue, SendError> {
    let mut v = http::header::HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| SendError::Invalid("the API key is not a valid header value".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Sign a finished request with AWS Signature Version 4 (`aws-sigv4`): the
/// method, the full URL (path and query), every header the request carries
/// (plus `host`, which the client derives from the URL), and the body. Adds
/// `x-amz-date`, `x-amz-security-token` (temporary credentials) and
/// `authorization`.
pub(super) fn sign_aws(
    method: &str,
    url: &url::Url,
    headers: &mut http::header::HeaderMap,
    body: &[u8],
    creds: &AwsCredentials,
    signing: &AwsSigning,
    time: SystemTime,
) -> Result<(), SendError> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let fail = |what: &str, e: &dyn std::fmt::Display| {
        SendError::Invalid(format!("AWS SigV4 signing failed ({what}): {e}"))
    };
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.expose(),
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "switchyard-config",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&signing.region)
        .name(&signing.service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| fail("parameters", &e))?
        .into();
    // Values that are not visible ASCII cannot be canonicalized; they go
    // unsigned (SigV4 allows unsigned headers).
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let signable = SignableRequest::new(
        method,
        url.as_str(),
        pairs.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| fail("request", &e))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| fail("signature", &e))?
        .into_parts();
    let (added, _query) = instructions.into_parts();
    for h in added {
        let mut v =
            http::header::HeaderValue::from_str(h.value()).map_err(|e| fail(h.name(), &e))?;
        v.set_sensitive(h.sensitive() || h.name() == "authorization");
        headers.insert(h.name(), v);
    }
    Ok(())
}
