//! What the attempt loop does after a failed attempt: wait and try the same
//! target again, fail over to the next target, or stop with the client's
//! error — from the route's retry rules, the failure's kind, the tries so far,
//! the upstream's Retry-After and the time left before the deadline. Pure
//! decisions (the backoff's jitter aside): no clock, no I/O, so the table of
//! cases below is the specification.

use std::time::Duration;

use crate::config::{FailureKind, RetryConfig};

/// The attempt loop's next step after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try the same target again.
    Retry(Duration),
    /// Move on to the next target of the plan.
    Failover,
    /// Stop: the request fails with the failures so far.
    Stop,
}

/// The step after an attempt that failed with `kind`, the `tries`-th try of
/// its target, with `left` before the request's deadline. A retry happens
/// only while the target has tries left, the kind is one the route retries,
/// and the wait (Retry-After, else backoff) ends before the deadline;
/// otherwise the kinds the route fails over on move to the next target and
/// every other kind stops the request.
pub fn after_failure(
    retry: &RetryConfig,
    kind: FailureKind,
    tries: u32,
    retry_after_ms: Option<u64>,
    left: Duration,
) -> Next {
    let wait = (tries < retry.attempts_per_target && retry.retry_on.contains(&kind))
        .then(|| retry_wait(retry, tries, retry_after_ms))
        .flatten()
        .filter(|w| *w < left);
    match wait {
        Some(w) => Next::Retry(w),
        None if retry.failover_on.contains(&kind) => Next::Failover,
        None => Next::Stop,
    }
}

/// How long to wait before trying the same target again: the upstream's
/// Retry-After when it gave one (unless longer than the route accepts, then
/// `None`: move on), else exponential backoff with full jitter.
fn retry_wait(retry: &RetryConfig, tries: u32, retry_after_ms: Option<u64>) -> Option<Duration> {
    if let Some(ms) = retry_after_ms {
        return (ms <= retry.max_retry_after_ms).then(|| Duration::from_millis(ms));
    }
    let cap = retry
        .backoff_ms
        .saturating_mul(1u64 << tries.saturating_sub(1).min(20))
        .min(retry.max_backoff_ms);
    Some(Duration::from_millis(rand::random_range(0..=cap)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureKind::*;

    fn rules() -> RetryConfig {
        RetryConfig {
            attempts_per_target: 2,
            backoff_ms: 100,
            max_backoff_ms: 1_000,
            max_retry_after_ms: 5_000,
            retry_on: vec![RateLimited, Overloaded, Timeout, Upstream],
            failover_on: vec![RateLimited, Overloaded, Timeout, Upstream, Auth, Plugin],
            deadline_ms: 30_000,
            ..RetryConfig::default()
        }
    }

    const LOTS: Duration = Duration::from_secs(60);
    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Outcome sequence → next step, with the Retry-After the upstream gave
    /// (so the wait is exact; backoff's jitter is checked separately).
    #[test]
    fn after_failure_table() {
        // (kind, tries so far, Retry-After ms, time left, next)
        let cases = [
            // Retried kinds wait for Retry-After and try the target again…
            (RateLimited, 1, Some(250), LOTS, Next::Retry(MS(250))),
            (Overloaded, 1, Some(0), LOTS, Next::Retry(MS(0))),
            // …until the target's tries are used up, then fail over.
            (RateLimited, 2, Some(250), LOTS, Next::Failover),
            (Timeout, 3, Some(10), LOTS, Next::Failover),
            // A Retry-After longer than the route accepts: move on at once.
            (RateLimited, 1, Some(5_001), LOTS, Next::Failover),
            (RateLimited, 1, Some(5_000), LOTS, Next::Retry(MS(5_000))),
            // A wait that would end past the deadline: move on.
            (Upstream, 1, Some(300), MS(300), Next::Failover),
            (Upstream, 1, Some(299), MS(300), Next::Retry(MS(299))),
            (Upstream, 1, Some(1), Duration::ZERO, Next::Failover),
            // Kinds the route does not retry fail over at once…
            (Auth, 1, Some(1), LOTS, Next::Failover),
            (Plugin, 1, None, LOTS, Next::Failover),
            // …and kinds it neither retries nor fails over on stop.
            (NotFound, 1, None, LOTS, Next::Stop),
            (Refused, 1, Some(1), LOTS, Next::Stop),
        ];
        let r = rules();
        for (kind, tries, after, left, want) in cases {
            assert_eq!(
                after_failure(&r, kind, tries, after, left),
                want,
                "{kind:?} try {tries} retry-after {after:?} left {left:?}"
            );
        }
    }

    #[test]
    fn nothing_retried_when_the_route_retries_nothing() {
        let r = RetryConfig {
            retry_on: vec![],
            ..rules()
        };
        assert_eq!(
            after_failure(&r, RateLimited, 1, Some(1), LOTS),
            Next::Failover
        );
        let r = RetryConfig {
            attempts_per_target: 1,
            ..rules()
        };
        assert_eq!(after_failure(&r, Timeout, 1, Some(1), LOTS), Next::Failover);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_full_jitter() {
        let r = rules();
        // (tries, the cap of the jittered wait)
        for (tries, cap) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1_000),
            (60, 1_000),
        ] {
            for _ in 0..200 {
                let w = retry_wait(&r, tries, None).unwrap();
                assert!(w <= MS(cap), "try {tries}: {w:?} over {cap} ms");
            }
        }
        // Full jitter: waits spread over the range, not all at the cap.
        let waits: Vec<Duration> = (0..200).map(|_| retry_wait(&r, 4, None).unwrap()).collect();
        assert!(waits.iter().any(|w| *w < MS(400)) && waits.iter().any(|w| *w > MS(400)));
    }

    #[test]
    fn backoff_waits_feed_the_deadline_check() {
        // With no Retry-After the wait is at most the backoff cap: a retry
        // happens only when even that fits before the deadline.
        let r = rules();
        for _ in 0..100 {
            match after_failure(&r, Upstream, 1, None, MS(101)) {
                Next::Retry(w) => assert!(w <= MS(100)),
                other => panic!("expected a retry, got {other:?}"),
            }
        }
    }
}
