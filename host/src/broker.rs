//! The broker: every byte that leaves the gateway for an upstream goes through
//! here. It owns the one pooled HTTP client (HTTP/1.1 and HTTP/2, rustls,
//! TCP_NODELAY, no redirects), enforces each provider's egress rule on the
//! requests adapters build, and injects the provider's key (or signs the
//! request with its AWS credentials, SigV4) after the adapter has returned —
//! adapters never see a key. It never interprets a body: adapters do.
//!
//! The layout: [`egress`] (which hosts and addresses a provider's requests
//! may reach, checked before sending and again on every DNS answer),
//! [`auth`] (the provider's key as a header, or an AWS SigV4 signature), and
//! here the client, sending, and reading bodies with idle timeouts.

pub mod auth;
pub mod egress;

use std::sync::Arc;
use std::time::Duration;
use std::time::SystemTime;

use bytes::Bytes;
use http::Uri;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use self::auth::{bearer, sign_aws};
pub use self::egress::is_internal;
use self::egress::{EgressResolver, address_refused, allowed, refused_by_resolver};
use crate::canonical::{AuthScheme, HttpRequest};
use crate::config::{ProviderConfig, ProviderSecrets, url_host};

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The adapter asked for a host or an address the provider does not
    /// allow.
    #[error("the adapter addressed `{host}`, which provider `{provider}` does not allow: {why}")]
    Denied {
        /// Provider name.
        provider: String,
        /// The host asked for.
        host: String,
        /// Which half of the egress rule refused it.
        why: String,
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

/// An upstream's answer: its status and headers arrived; the body streams.
pub type Response = http::Response<Incoming>;

type Connector = hyper_rustls::HttpsConnector<HttpConnector<EgressResolver>>;

/// The outbound HTTP client.
#[derive(Clone)]
pub struct Broker {
    client: Client<Connector, Full<Bytes>>,
}

/// The `user-agent` sent when the adapter sets none.
const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

impl Broker {
    /// Build the pooled client: hyper's, over rustls with the system's trust
    /// store (ALPN h2 and http/1.1), resolving names through the egress rule.
    pub fn new() -> anyhow::Result<Broker> {
        use rustls_platform_verifier::BuilderVerifierExt as _;
        // rustls needs a process-wide crypto provider; a second install is a
        // no-op error we can ignore.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut http = HttpConnector::new_with_resolver(EgressResolver);
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        http.set_keepalive(Some(Duration::from_secs(15)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(hyper_rustls::HttpsConnector::from((http, tls)));
        Ok(Broker { client })
    }

    /// Check the egress rule, inject the key (or sign) and send. Resolves
    /// when the response headers arrived, or fails after `first_byte`.
    pub async fn send(
        &self,
        provider_name: &str,
        provider: &ProviderConfig,
        secrets: Option<&ProviderSecrets>,
        req: HttpRequest,
        first_byte: Duration,
    ) -> Result<Response, SendError> {
        let deny = |host: &str, why: &str| SendError::Denied {
            provider: provider_name.to_owned(),
            host: host.to_owned(),
            why: why.to_owned(),
        };
        // The provider's own base URL, extended by a path or a query, with
        // its key in a header: the egress rule allows it by construction
        // (its host is the base's, and the base's address is always its
        // own). Anything else gets the full check on the parsed URL.
        let dest = match under_base(provider, &req) {
            Some(uri) => Dest::Checked(uri),
            None => {
                let host = url_host(&req.url).ok_or_else(|| {
                    SendError::Invalid(format!("`{}` is not an http(s) URL", req.url))
                })?;
                if !allowed(provider, &host) {
                    return Err(deny(
                        &host,
                        "not its base_url host nor one of its allowed_hosts",
                    ));
                }
                let url = url::Url::parse(&req.url)
                    .map_err(|e| SendError::Invalid(format!("bad URL: {e}")))?;
                if let Some(why) = address_refused(provider, &url) {
                    return Err(deny(&host, &why));
                }
                Dest::Parsed(url)
            }
        };
        let method = http::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| SendError::Invalid(format!("bad method `{}`", req.method)))?;
        let mut headers = HeaderMap::with_capacity(req.headers.len() + 3);
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| SendError::Invalid(format!("bad header name `{k}`")))?;
            // Auth is the host's business, whatever the adapter wrote.
            if name == header::AUTHORIZATION {
                continue;
            }
            let value = HeaderValue::from_str(v)
                .map_err(|_| SendError::Invalid(format!("bad value for header `{k}`")))?;
            headers.append(name, value);
        }
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        }
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        }
        let key = secrets.and_then(|s| s.key.as_ref()).map(|k| k.expose());
        let uri = match dest {
            Dest::Checked(uri) => uri,
            Dest::Parsed(mut url) => {
                match (&req.auth, key) {
                    (AuthScheme::AwsSigv4(signing), _) => {
                        if let Some(creds) = secrets.and_then(|s| s.aws.as_ref()) {
                            sign_aws(
                                req.method.as_str(),
                                &url,
                                &mut headers,
                                &req.body,
                                creds,
                                signing,
                                SystemTime::now(),
                            )?;
                        }
                    }
                    (AuthScheme::Query(param), Some(key)) => {
                        url.query_pairs_mut().append_pair(param, key);
                    }
                    _ => {}
                }
                Uri::try_from(url.as_str())
                    .map_err(|e| SendError::Invalid(format!("bad URL: {e}")))?
            }
        };
        match (&req.auth, key) {
            (AuthScheme::AwsSigv4(_), Some(key))
                if secrets.and_then(|s| s.aws.as_ref()).is_none() =>
            {
                // Without AWS credentials the key is a bearer token (Bedrock
                // API keys).
                headers.insert(header::AUTHORIZATION, bearer(key)?);
            }
            (AuthScheme::Bearer, Some(key)) => {
                headers.insert(header::AUTHORIZATION, bearer(key)?);
            }
            (AuthScheme::Header(name), Some(key)) => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| SendError::Invalid(format!("bad auth header name `{name}`")))?;
                let mut v = HeaderValue::from_str(key).map_err(|_| {
                    SendError::Invalid("the API key is not a valid header value".into())
                })?;
                v.set_sensitive(true);
                headers.insert(name, v);
            }
            _ => {}
        }
        let mut request = http::Request::new(Full::new(Bytes::from(req.body)));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        // The host, for errors only (not worked out on a request's way out).
        let host = || url_host(&req.url).unwrap_or_else(|| req.url.clone());
        match tokio::time::timeout(first_byte, self.client.request(request)).await {
            Err(_) => Err(SendError::Timeout(first_byte.as_millis() as u64)),
            Ok(Err(e)) if refused_by_resolver(&e) => Err(deny(&host(), &root_cause(&e))),
            Ok(Err(e)) if e.is_connect() => Err(SendError::Connect(format!(
                "{} ({})",
                host(),
                root_cause(&e)
            ))),
            Ok(Err(e)) => Err(SendError::Io(root_cause(&e))),
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// Where a request goes, once the egress rule allowed it.
enum Dest {
    /// Under the provider's base URL, sent as written.
    Checked(Uri),
    /// Checked on its parsed form; signing or a query key may still change
    /// it.
    Parsed(url::Url),
}

/// The request's URL as a `Uri` when it is the provider's `base_url`
/// followed by nothing, a path or a query, and its key goes in a header;
/// `None` sends it through the full egress check.
fn under_base(provider: &ProviderConfig, req: &HttpRequest) -> Option<Uri> {
    if !matches!(
        req.auth,
        AuthScheme::Bearer | AuthScheme::Header(_) | AuthScheme::None
    ) {
        return None;
    }
    provider.base()?;
    let base = provider.base_url.trim_end_matches('/');
    let rest = req.url.strip_prefix(base)?;
    if !(rest.is_empty() || rest.starts_with(['/', '?'])) {
        return None;
    }
    Uri::try_from(req.url.as_str()).ok()
}

/// Read the next piece of a response body, failing after `idle` of silence.
/// `Ok(None)` is the clean end of the body.
pub async fn next_chunk(resp: &mut Response, idle: Duration) -> Result<Option<Bytes>, SendError> {
    loop {
        match tokio::time::timeout(idle, resp.body_mut().frame()).await {
            Err(_) => return Err(SendError::Timeout(idle.as_millis() as u64)),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(SendError::Io(root_cause(&e))),
            // Trailers and empty frames carry no body bytes.
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if !data.is_empty() => return Ok(Some(data)),
                _ => {}
            },
        }
    }
}

/// Read a whole body of at most `limit` bytes.
pub async fn read_body(
    resp: &mut Response,
    idle: Duration,
    limit: usize,
) -> Result<Vec<u8>, SendError> {
    let hint = resp.body().size_hint().exact().unwrap_or(0);
    let mut body = Vec::with_capacity((hint as usize).min(limit));
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};

    use super::auth::*;
    use super::egress::*;
    use super::*;
    use crate::canonical::AwsSigning;
    use crate::config::AwsCredentials;
    use crate::config::Secret;

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

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "104.18.6.192",
            "2606:4700::6810:1",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_metadata("169.254.169.254".parse().unwrap()));
        assert!(is_metadata("::ffff:169.254.169.254".parse().unwrap()));
        assert!(is_metadata("fd00:ec2::254".parse().unwrap()));
    }

    #[test]
    fn address_rule() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let public = provider("https://api.example.com/v1", &[]);
        let local = provider("http://127.0.0.1:8080/v1", &[]);
        let named_local = provider("http://localhost:11434/v1", &[]);
        let metadata = provider("http://169.254.169.254/v1", &[]);
        assert!(address_refused(&public, &url("https://api.example.com/v1")).is_none());
        for u in [
            "http://127.0.0.1/x",
            "http://[::1]/x",
            "http://10.0.0.1/x",
            "http://localhost:1/x",
            "http://a.localhost/x",
            "http://169.254.169.254/x",
        ] {
            assert!(address_refused(&public, &url(u)).is_some(), "{u}");
        }
        for p in [&local, &named_local] {
            assert!(address_refused(p, &url("http://127.0.0.1:9/x")).is_none());
            assert!(address_refused(p, &url("http://localhost:9/x")).is_none());
            assert!(address_refused(p, &url("http://10.0.0.1/x")).is_none());
            assert!(address_refused(p, &url("http://169.254.169.254/x")).is_some());
        }
        assert!(address_refused(&metadata, &url("http://169.254.169.254/x")).is_none());
    }

    #[test]
    fn only_urls_under_the_base_skip_the_full_check() {
        let at = |base: &str, url: &str, auth: AuthScheme| {
            let req = HttpRequest {
                method: "POST".into(),
                url: url.into(),
                headers: vec![],
                body: vec![],
                auth,
            };
            under_base(&provider(base, &[]), &req).is_some()
        };
        let base = "http://127.0.0.1:9/v1";
        for u in [
            "http://127.0.0.1:9/v1",
            "http://127.0.0.1:9/v1/chat/completions",
            "http://127.0.0.1:9/v1?x=1",
        ] {
            assert!(at(base, u, AuthScheme::Bearer), "{u}");
        }
        for u in [
            "http://127.0.0.1:99/v1/x",
            "http://127.0.0.1:9/v1x",
            "http://127.0.0.1:9/v1@evil.com/",
            "http://127.0.0.1:9/v1\\x",
            "https://127.0.0.1:9/v1/x",
        ] {
            assert!(!at(base, u, AuthScheme::Bearer), "{u}");
        }
        assert!(!at(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9@evil.com/",
            AuthScheme::Bearer
        ));
        assert!(!at(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9.evil.com/",
            AuthScheme::Bearer
        ));
        assert!(at(
            "http://127.0.0.1:9/",
            "http://127.0.0.1:9/x",
            AuthScheme::Bearer
        ));
        // A key in the query or a signature goes through the parsed URL.
        let url = "http://127.0.0.1:9/v1/x";
        assert!(!at(base, url, AuthScheme::Query("key".into())));
        let signing = AwsSigning {
            service: "bedrock".into(),
            region: "us-east-1".into(),
        };
        assert!(!at(base, url, AuthScheme::AwsSigv4(signing)));
        // A base that is not a URL never vouches for anything.
        assert!(!at("127.0.0.1:9", "127.0.0.1:9/x", AuthScheme::Bearer));
    }

    #[tokio::test]
    async fn names_resolving_only_to_internal_addresses_are_refused() {
        // `localhost` is answered without DNS; a name from /etc/hosts mapped
        // to loopback goes through getaddrinfo and must be refused.
        use tower_service::Service as _;
        let mut r = EgressResolver;
        let addrs: Vec<SocketAddr> = r
            .call("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let name = hosts.lines().find_map(|l| {
            let mut w = l.split('#').next()?.split_whitespace();
            let ip: IpAddr = w.next()?.parse().ok()?;
            ip.is_loopback()
                .then(|| w.find(|n| !n.starts_with("localhost") && !n.starts_with("ip6-")))
                .flatten()
                .map(str::to_owned)
        });
        if let Some(name) = name {
            let e = match r.call(name.parse().unwrap()).await {
                Ok(_) => panic!("{name} resolved"),
                Err(e) => e,
            };
            assert!(e.is::<InternalAnswer>(), "{e}");
        }
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

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn creds(token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: Secret::new(AKID),
            secret_access_key: Secret::new(SECRET),
            session_token: token.map(Secret::new),
        }
    }

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    fn suite_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn signed(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        token: Option<&str>,
        service: &str,
    ) -> http::header::HeaderMap {
        let mut map = http::header::HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::header::HeaderValue::from_str(v).unwrap(),
            );
        }
        let signing = AwsSigning {
            service: service.into(),
            region: "us-east-1".into(),
        };
        sign_aws(
            method,
            &url::Url::parse(url).unwrap(),
            &mut map,
            body,
            &creds(token),
            &signing,
            suite_time(),
        )
        .unwrap();
        map
    }

    fn header<'a>(map: &'a http::header::HeaderMap, name: &str) -> &'a str {
        map.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[test]
    fn sigv4_matches_the_aws_test_suite() {
        // `post-vanilla` of AWS's SigV4 test suite.
        let m = signed(
            "POST",
            "https://example.amazonaws.com/",
            &[],
            b"",
            None,
            "service",
        );
        assert_eq!(header(&m, "x-amz-date"), "20150830T123600Z");
        assert_eq!(
            header(&m, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert!(m.get("x-amz-security-token").is_none());

        // `get-vanilla-with-session-token`: the token is sent and signed.
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let m = signed(
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            Some(token),
            "service",
        );
        assert_eq!(header(&m, "x-amz-security-token"), token);
        assert_eq!(
            header(&m, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-security-token, \
             Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        );
    }

    #[test]
    fn sigv4_of_a_bedrock_request() {
        // Expected values computed independently (a from-the-spec SigV4 in
        // Python that reproduces the suite's vectors above): a host with a
        // port, a model id whose `:` is percent-encoded in the path (the
        // canonical path encodes it twice, `%253A`), the adapter's headers
        // and a body.
        let url = "http://127.0.0.1:9000/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ];
        let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        let m = signed("POST", url, &headers, body, None, "bedrock");
        assert_eq!(
            header(&m, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=accept;content-type;host;x-amz-date, \
             Signature=17280d2b928a5268e35678d9dcf94c7622c3f8590d6be95ca991c8466899102d"
        );
        assert!(m.get("authorization").is_some_and(|v| v.is_sensitive()));
        let m = signed("POST", url, &headers, body, Some("tok/en+1="), "bedrock");
        assert_eq!(
            header(&m, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, \
             Signature=e605af306e3d838ae6c18c147a0b53f72422a7f9d1fc3b8828549c2184f0c616"
        );
        // Any change to what is signed changes the signature.
        let other = signed("POST", url, &headers, b"{}", None, "bedrock");
        assert_ne!(header(&other, "authorization"), header(&m, "authorization"));
    }

    /// Serve one request on a local port; returns its head (lowercased).
    async fn capture_one() -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&buf).to_ascii_lowercase()
        });
        (format!("http://{addr}"), task)
    }

    #[tokio::test]
    async fn aws_sigv4_requests_are_signed_or_carry_a_bearer_key() {
        let b = Broker::new().unwrap();
        for (secrets, expect) in [
            (
                ProviderSecrets {
                    key: Some(Secret::new("ignored-key")),
                    aws: Some(creds(Some("tok"))),
                },
                "authorization: aws4-hmac-sha256 credential=akidexample/",
            ),
            (
                ProviderSecrets {
                    key: Some(Secret::new("br-key")),
                    aws: None,
                },
                "authorization: bearer br-key",
            ),
        ] {
            let (base, task) = capture_one().await;
            let p = provider(&base, &[]);
            let req = HttpRequest {
                method: "POST".into(),
                url: format!("{base}/model/m%3A0/converse"),
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("authorization".into(), "adapter-written".into()),
                ],
                body: b"{}".to_vec(),
                auth: AuthScheme::AwsSigv4(AwsSigning {
                    service: "bedrock".into(),
                    region: "us-east-1".into(),
                }),
            };
            let resp = b
                .send("p", &p, Some(&secrets), req, Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let head = task.await.unwrap();
            assert!(head.contains(expect), "{head}");
            assert!(!head.contains("adapter-written"), "{head}");
            if secrets.aws.is_some() {
                assert!(head.contains("x-amz-date: "), "{head}");
                assert!(head.contains("x-amz-security-token: tok"), "{head}");
                assert!(head.contains("/us-east-1/bedrock/aws4_request"), "{head}");
            }
        }
    }
}
