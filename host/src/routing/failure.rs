//! Failed attempts and the client's error when the request cannot be
//! served: each failure's kind from the broker's send error or the adapter's
//! classification (a request the upstream refused as such is final, not
//! failed over), and one error for all of them — 429 when every attempt was
//! rate limited, 504 when every one timed out, 503 when all were overloaded,
//! else 502 — naming each model, provider and reason. Builds values only;
//! never sends or waits.

use http::StatusCode;

use crate::broker::SendError;
use crate::canonical::{ErrorKind, ProviderError};
use crate::config::{FailureKind, RetryConfig};
use crate::error::ApiError;
use crate::generation::ModelTarget;

/// One failed attempt.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) model: String,
    pub(super) provider: String,
    /// `None`: the target was skipped because its breaker is open.
    pub(super) kind: Option<FailureKind>,
    pub(super) message: String,
    pub(super) retry_after_ms: Option<u64>,
}

pub(super) enum AttemptError {
    /// Try the next attempt.
    Next(Failure),
    /// The upstream refused the request itself; another target would too.
    Fatal(ApiError),
}

pub(super) fn describe_provider(e: &ProviderError) -> String {
    let mut s = String::new();
    if let Some(st) = e.status {
        s.push_str(&format!("{st} "));
    }
    s.push_str(&format!("{:?}", e.kind).to_lowercase());
    if let Some(c) = &e.code {
        s.push_str(&format!(" ({c})"));
    }
    s.push_str(": ");
    s.push_str(&e.message);
    s
}

pub(super) fn deadline_exceeded(retry: &RetryConfig, failures: Vec<Failure>) -> ApiError {
    let tried = failures
        .iter()
        .map(|f| format!("`{}` via `{}`: {}", f.model, f.provider, f.message))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_error",
        format!(
            "The request's deadline of {} ms passed before any attempt succeeded{}{tried}.",
            retry.deadline_ms,
            if tried.is_empty() { "" } else { ": " }
        ),
    )
    .code("deadline_exceeded")
}

pub(super) fn next(
    target: &ModelTarget,
    kind: FailureKind,
    message: String,
    retry_after_ms: Option<u64>,
) -> AttemptError {
    AttemptError::Next(Failure {
        model: target.name.clone(),
        provider: target.provider_name.clone(),
        kind: Some(kind),
        message,
        retry_after_ms,
    })
}

pub(super) fn send_failure(target: &ModelTarget, e: SendError) -> AttemptError {
    let kind = match e {
        SendError::Timeout(_) => FailureKind::Timeout,
        // The adapter tried to leave its provider's allowlist.
        SendError::Denied { .. } => FailureKind::Plugin,
        _ => FailureKind::Upstream,
    };
    next(target, kind, e.to_string(), None)
}

/// Map a classified upstream error to failover or a final answer.
pub(super) fn provider_failure(target: &ModelTarget, e: ProviderError) -> AttemptError {
    let kind = match e.kind {
        ErrorKind::BadRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter => {
            let status = e
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .filter(|s| s.is_client_error())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let code = match e.kind {
                ErrorKind::ContextLength => "context_length_exceeded".to_owned(),
                ErrorKind::ContentFilter => "content_filter".to_owned(),
                _ => e.code.clone().unwrap_or_else(|| "upstream_rejected".into()),
            };
            return AttemptError::Fatal(
                ApiError::new(
                    status,
                    "invalid_request_error",
                    format!(
                        "`{}` (provider `{}`) rejected the request: {}",
                        target.name, target.provider_name, e.message
                    ),
                )
                .code(code),
            );
        }
        ErrorKind::RateLimited => FailureKind::RateLimited,
        ErrorKind::Overloaded => FailureKind::Overloaded,
        ErrorKind::Timeout => FailureKind::Timeout,
        ErrorKind::Auth => FailureKind::Auth,
        ErrorKind::NotFound => FailureKind::NotFound,
        _ => FailureKind::Upstream,
    };
    let retry = e.retry_after_ms;
    next(target, kind, describe_provider(&e), retry)
}

pub(super) fn all_failed(failures: Vec<Failure>) -> ApiError {
    let n = failures.len();
    let tried = failures
        .iter()
        .map(|f| format!("`{}` via `{}`: {}", f.model, f.provider, f.message))
        .collect::<Vec<_>>()
        .join("; ");
    let all = |k: FailureKind| n > 0 && failures.iter().all(|f| f.kind == Some(k));
    let (status, kind, code) = if all(FailureKind::RateLimited) {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
        )
    } else if all(FailureKind::Timeout) {
        (
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_error",
            "upstream_timeout",
        )
    } else if all(FailureKind::Refused) {
        (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unsupported_by_models",
        )
    } else if failures.iter().all(|f| {
        matches!(
            f.kind,
            None | Some(FailureKind::Overloaded | FailureKind::RateLimited)
        )
    }) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_error",
            "upstream_overloaded",
        )
    } else {
        (StatusCode::BAD_GATEWAY, "upstream_error", "upstream_failed")
    };
    let mut e = ApiError::new(
        status,
        kind,
        if n == 1 {
            format!("The only attempt failed: {tried}.")
        } else {
            format!("All {n} attempts failed: {tried}.")
        },
    )
    .code(code);
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        e.retry_after = failures
            .iter()
            .filter_map(|f| f.retry_after_ms)
            .min()
            .map(|ms| ms.div_ceil(1000).max(1));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureKind::*;

    fn failed(kind: Option<FailureKind>, retry_after_ms: Option<u64>) -> Failure {
        Failure {
            model: "m".into(),
            provider: "p".into(),
            kind,
            message: "boom".into(),
            retry_after_ms,
        }
    }

    /// Failure kinds of every attempt → the client's status and code.
    #[test]
    fn one_error_for_all_the_failures() {
        let cases: &[(&[Option<FailureKind>], StatusCode, &str)] = &[
            (
                &[Some(RateLimited)],
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
            ),
            (
                &[Some(RateLimited), Some(RateLimited)],
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
            ),
            (
                &[Some(Timeout), Some(Timeout)],
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
            ),
            (
                &[Some(Refused), Some(Refused)],
                StatusCode::BAD_REQUEST,
                "unsupported_by_models",
            ),
            // Overloaded, rate limited or skipped by an open breaker: 503.
            (
                &[Some(Overloaded)],
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_overloaded",
            ),
            (
                &[Some(RateLimited), Some(Overloaded)],
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_overloaded",
            ),
            (
                &[None, Some(RateLimited)],
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_overloaded",
            ),
            (
                &[None],
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_overloaded",
            ),
            // Anything else mixed in: 502.
            (
                &[Some(Timeout), Some(RateLimited)],
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
            ),
            (
                &[Some(Upstream)],
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
            ),
            (
                &[Some(Auth), Some(NotFound), Some(Plugin)],
                StatusCode::BAD_GATEWAY,
                "upstream_failed",
            ),
        ];
        for (kinds, status, code) in cases {
            let e = all_failed(kinds.iter().map(|k| failed(*k, None)).collect());
            assert_eq!(
                (e.status, e.code.as_deref()),
                (*status, Some(*code)),
                "{kinds:?}"
            );
        }
    }

    #[test]
    fn the_message_names_every_attempt() {
        let one = all_failed(vec![failed(Some(Upstream), None)]);
        assert_eq!(one.message, "The only attempt failed: `m` via `p`: boom.");
        let two = all_failed(vec![failed(Some(Upstream), None), failed(None, None)]);
        assert!(
            two.message.starts_with("All 2 attempts failed: "),
            "{}",
            two.message
        );
    }

    #[test]
    fn retry_after_is_the_shortest_hint_in_whole_seconds() {
        let e = all_failed(vec![
            failed(Some(RateLimited), Some(2_500)),
            failed(Some(RateLimited), Some(1_200)),
            failed(Some(RateLimited), None),
        ]);
        assert_eq!(e.retry_after, Some(2));
        // Under a second still says one.
        let e = all_failed(vec![failed(Some(Overloaded), Some(10))]);
        assert_eq!(e.retry_after, Some(1));
        // Not on errors a client should not simply retry.
        let e = all_failed(vec![failed(Some(Upstream), Some(1_000))]);
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn a_deadline_names_what_was_tried() {
        let r = RetryConfig::default();
        let e = deadline_exceeded(&r, vec![]);
        assert_eq!(e.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(e.code.as_deref(), Some("deadline_exceeded"));
        assert!(e.message.ends_with("succeeded."), "{}", e.message);
        let e = deadline_exceeded(&r, vec![failed(Some(Timeout), None)]);
        assert!(
            e.message.ends_with("succeeded: `m` via `p`: boom."),
            "{}",
            e.message
        );
    }
}
