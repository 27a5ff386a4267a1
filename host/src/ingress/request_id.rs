//! Request ids: every answer carries `x-switchyard-request-id`. A client's
//! own `x-request-id` is kept as the id when it is a safe token (1 to 128
//! characters of letters, digits and `-_.:`), so a client can find its
//! request in the gateway's logs by the id it chose; anything else gets a
//! new UUIDv7 (time-ordered). The id of the request being handled is
//! task-local, so error bodies and log lines rendered while handling it can
//! name it without every function passing it along. Never trusts a client's
//! id beyond that check, and never reuses one.

use std::future::Future;
use std::sync::Arc;

use http::HeaderMap;

/// The response header that carries the id.
pub const HEADER: &str = "x-switchyard-request-id";

/// The request header whose value a client may choose the id with.
pub const CLIENT_HEADER: &str = "x-request-id";

/// Longest client-chosen id kept.
const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The id of a request with these headers: the client's `x-request-id`
    /// when it is a safe token, else a new UUIDv7.
    pub fn of(headers: &HeaderMap) -> RequestId {
        match headers.get(CLIENT_HEADER).and_then(|v| v.to_str().ok()) {
            Some(id) if is_safe(id) => RequestId(id.into()),
            _ => RequestId::new(),
        }
    }

    /// A new id (UUIDv7).
    pub fn new() -> RequestId {
        RequestId(uuid::Uuid::now_v7().hyphenated().to_string().into())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the request being handled, if any.
    pub fn current() -> Option<RequestId> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Run `f` as the handling of this request.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a client's id is kept: 1 to 128 characters of ASCII letters,
/// digits and `-_.:` (nothing a log line or a header could be bent with).
pub fn is_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(id: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CLIENT_HEADER, id.parse().unwrap());
        h
    }

    #[test]
    fn a_safe_client_id_is_kept_and_anything_else_replaced() {
        for kept in ["abc", "req_01HZX.9:a-b", &"a".repeat(128)] {
            assert_eq!(RequestId::of(&with(kept)).as_str(), kept);
        }
        for replaced in [
            "",
            "has space",
            "semi;colon",
            "quote\"",
            "slash/",
            &"a".repeat(129),
            "é",
        ] {
            let mut h = HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_bytes(replaced.as_bytes()) {
                h.insert(CLIENT_HEADER, v);
            }
            let id = RequestId::of(&h);
            assert_ne!(id.as_str(), replaced);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok(), "{id}");
        }
    }

    #[test]
    fn new_ids_are_version_7_and_distinct() {
        let a = RequestId::new();
        let b = RequestId::new();
        assert_ne!(a, b);
        let u = uuid::Uuid::parse_str(a.as_str()).unwrap();
        assert_eq!(u.get_version_num(), 7);
    }

    #[tokio::test]
    async fn the_current_id_is_the_scope_s() {
        assert_eq!(RequestId::current(), None);
        let id = RequestId::new();
        let seen = id.clone().scope(async { RequestId::current() }).await;
        assert_eq!(seen, Some(id));
    }
}
