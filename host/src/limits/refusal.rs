//! Why a request was refused (requests, tokens, parallel requests, daily or
//! monthly budget) and the client's error for it: the status, the key's
//! name, the limit, and a `Retry-After` of when a request would pass. Never
//! names the key's text, only its config name.

use http::StatusCode;

use super::windows::Windows;
use crate::error::ApiError;
use crate::keys::{ClientKey, NANOS};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The month's spend reached the monthly budget.
    Monthly,
    /// The day's spend reached the daily budget.
    Daily,
    /// The minute's tokens reached the limit.
    Tokens,
    /// The minute's requests reached the limit.
    Requests,
    /// The key's requests in flight reached the limit.
    Parallel,
}

fn usd(nanos: u64) -> String {
    format!("${:.4}", nanos as f64 / NANOS)
}

fn duration_text(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// A refused request: why, the figure at fault (over the sliding minute for
/// the per-minute limits) and, for those, the seconds until one would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The limit reached.
    pub why: Refusal,
    /// The figure at fault.
    pub used: u64,
    /// Seconds until a request would pass the per-minute limit at fault.
    pub retry: u64,
}

impl Refused {
    /// The client's error.
    pub fn error(self, key: &ClientKey, w: &Windows) -> ApiError {
        self.why.error(key, w, self.used, self.retry)
    }
}

impl Refusal {
    /// The client's error, in terms of the key's name and limits; `retry` is
    /// the wait a per-minute refusal names.
    pub fn error(self, key: &ClientKey, w: &Windows, spent: u64, retry: u64) -> ApiError {
        let l = &key.limits;
        let name = &key.name;
        let (status, kind, code, message, retry) = match self {
            Refusal::Requests => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "The key `{name}` is over its limit of {} requests per minute; retry in {retry} s.",
                    l.rpm.unwrap_or(0),
                ),
                retry,
            ),
            Refusal::Tokens => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "The key `{name}` is over its limit of {} tokens per minute ({spent} used in the last minute); retry in {retry} s.",
                    l.tpm.unwrap_or(0),
                ),
                retry,
            ),
            Refusal::Daily => (
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_quota",
                "budget_exceeded",
                format!(
                    "The key `{name}` has used its daily budget ({} of {} per UTC day); it renews in {}.",
                    usd(spent),
                    usd(l.daily.unwrap_or(0)),
                    duration_text(w.day_left)
                ),
                w.day_left,
            ),
            Refusal::Monthly => (
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_quota",
                "budget_exceeded",
                format!(
                    "The key `{name}` has used its monthly budget ({} of {} per UTC month); it renews in {}.",
                    usd(spent),
                    usd(l.monthly.unwrap_or(0)),
                    duration_text(w.month_left)
                ),
                w.month_left,
            ),
            Refusal::Parallel => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
                format!(
                    "The key `{name}` already has {spent} requests in flight, its limit of {}; retry when one finishes.",
                    l.parallel.unwrap_or(0),
                ),
                1,
            ),
        };
        let mut e = ApiError::new(status, kind, message).code(code);
        e.retry_after = Some(retry.max(1));
        e
    }
}
