//! The broker: every byte that leaves the gateway for an upstream goes through
//! here. It owns the one pooled HTTP client (HTTP/1.1 and HTTP/2, rustls,
//! TCP_NODELAY, no redirects), enforces each provider's host allowlist on the
//! requests adapters build, and injects the provider's key after the adapter
//! has returned — adapters never see a key.

use std::time::Duration;

use bytes::Bytes;

use crate::config::{ProviderConfig, Secret, url_host};
use crate::runtime::types::{AuthScheme, HttpRequest};

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The adapter asked for a host the provider does not allow.
    #[error("the adapter addressed `{host}`, which provider `{provider}` does not allow")]
    Denied {
        /// Provider name.
        provider: String,
        /// The host asked for.
        host: String,
    },
    /// The adapter built a request the HTTP client cannot send.
    #[error("the adapter built an invalid request: {0}")]
    Invalid(String),
    /// No TCP/TLS connection could be made.
    #[error("could not connect to {0}")]
    Connect(String),
    /// No response headers (or next body piece) within the timeout.
    #[error("no response within {0} ms")]
    Timeout(u64),
    /// The connection failed after it was made.
    #[error("upstream connection failed: {0}")]
    Io(String),
}

/// The outbound HTTP client.
#[derive(Clone)]
pub struct Broker {
    client: reqwest::Client,
}

impl Broker {
    /// Build the pooled client.
    pub fn new() -> anyhow::Result<Broker> {
        // rustls needs a process-wide crypto provider; a second install is a
        // no-op error we can ignore.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Broker { client })
    }

    /// Check the allowlist, inject the key and send. Resolves when the
    /// response headers arrived, or fails after `first_byte`.
    pub async fn send(
        &self,
        provider_name: &str,
        provider: &ProviderConfig,
        secret: Option<&Secret>,
        req: HttpRequest,
        first_byte: Duration,
    ) -> Result<reqwest::Response, SendError> {
        let host = url_host(&req.url)
            .ok_or_else(|| SendError::Invalid(format!("`{}` is not an http(s) URL", req.url)))?;
        if !allowed(provider, &host) {
            return Err(SendError::Denied {
                provider: provider_name.to_owned(),
                host,
            });
        }
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| SendError::Invalid(format!("bad method `{}`", req.method)))?;
        let mut url = reqwest::Url::parse(&req.url)
            .map_err(|e| SendError::Invalid(format!("bad URL: {e}")))?;
        let mut builder_headers = reqwest::header::HeaderMap::with_capacity(req.headers.len() + 1);
        for (k, v) in &req.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| SendError::Invalid(format!("bad header name `{k}`")))?;
            // Auth is the host's business, whatever the adapter wrote.
            if name == reqwest::header::AUTHORIZATION {
                continue;
            }
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|_| SendError::Invalid(format!("bad value for header `{k}`")))?;
            builder_headers.append(name, value);
        }
        if let Some(secret) = secret {
            let key = secret.expose();
            match &req.auth {
                AuthScheme::None => {}
                AuthScheme::Bearer => {
                    let v = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                        .map_err(|_| {
                            SendError::Invalid("the API key is not a valid header value".into())
                        })?;
                    builder_headers.insert(reqwest::header::AUTHORIZATION, v);
                }
                AuthScheme::Header(name) => {
                    let name =
                        reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                            SendError::Invalid(format!("bad auth header name `{name}`"))
                        })?;
                    let v = reqwest::header::HeaderValue::from_str(key).map_err(|_| {
                        SendError::Invalid("the API key is not a valid header value".into())
                    })?;
                    builder_headers.insert(name, v);
                }
                AuthScheme::Query(param) => {
                    url.query_pairs_mut().append_pair(param, key);
                }
                AuthScheme::AwsSigv4(_) => {
                    return Err(SendError::Invalid(
                        "AWS SigV4 signing is not available in this build".into(),
                    ));
                }
            }
        }
        let request = self
            .client
            .request(method, url)
            .headers(builder_headers)
            .body(req.body)
            .build()
            .map_err(|e| SendError::Invalid(e.to_string()))?;
        match tokio::time::timeout(first_byte, self.client.execute(request)).await {
            Err(_) => Err(SendError::Timeout(first_byte.as_millis() as u64)),
            Ok(Err(e)) if e.is_connect() => {
                Err(SendError::Connect(format!("{host} ({})", root_cause(&e))))
            }
            Ok(Err(e)) if e.is_timeout() => Err(SendError::Timeout(first_byte.as_millis() as u64)),
            Ok(Err(e)) => Err(SendError::Io(root_cause(&e))),
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// Read the next piece of a response body, failing after `idle` of silence.
/// `Ok(None)` is the clean end of the body.
pub async fn next_chunk(
    resp: &mut reqwest::Response,
    idle: Duration,
) -> Result<Option<Bytes>, SendError> {
    match tokio::time::timeout(idle, resp.chunk()).await {
        Err(_) => Err(SendError::Timeout(idle.as_millis() as u64)),
        Ok(Err(e)) => Err(SendError::Io(root_cause(&e))),
        Ok(Ok(c)) => Ok(c),
    }
}

/// Read a whole body of at most `limit` bytes.
pub async fn read_body(
    resp: &mut reqwest::Response,
    idle: Duration,
    limit: usize,
) -> Result<Vec<u8>, SendError> {
    let mut body = Vec::new();
    while let Some(chunk) = next_chunk(resp, idle).await? {
        if body.len() + chunk.len() > limit {
            return Err(SendError::Io(format!(
                "response body larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn allowed(provider: &ProviderConfig, host: &str) -> bool {
    if url_host(&provider.base_url).as_deref() == Some(host) {
        return true;
    }
    provider.allowed_hosts.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == host || host.rsplit_once(':').is_some_and(|(h, _)| h == a)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(base: &str, allowed: &[&str]) -> ProviderConfig {
        let toml = format!(
            "adapter = \"openai\"\nbase_url = \"{base}\"\nallowed_hosts = [{}]",
            allowed
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        toml::from_str(&toml).unwrap()
    }

    #[test]
    fn allowlist() {
        let p = provider(
            "https://api.example.com/v1",
            &["eu.example.com", "cdn.example.com:8443"],
        );
        assert!(allowed(&p, "api.example.com:443"));
        assert!(!allowed(&p, "api.example.com:80"));
        assert!(allowed(&p, "eu.example.com:443"));
        assert!(allowed(&p, "cdn.example.com:8443"));
        assert!(!allowed(&p, "cdn.example.com:443"));
        assert!(!allowed(&p, "evil.com:443"));
    }

    #[tokio::test]
    async fn denied_host_is_never_contacted() {
        let b = Broker::new().unwrap();
        let p = provider("http://127.0.0.1:9/v1", &[]);
        let req = HttpRequest {
            method: "POST".into(),
            url: "http://127.0.0.2:9/steal".into(),
            headers: vec![],
            body: vec![],
            auth: AuthScheme::Bearer,
        };
        let e = b
            .send("p", &p, None, req, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(e, SendError::Denied { .. }), "{e}");
    }
}
