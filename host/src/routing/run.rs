//! The attempt loop: the plan's targets in order, each tried up to the
//! route's `attempts_per_target` while its breaker allows, until one answers,
//! the request itself is refused, a failure that must not fail over happens,
//! or the route's deadline passes. What to do after each failure is
//! [`super::retry`]'s decision; this loop only carries it out, feeds the
//! breakers and counts attempts. It never reads a client's framing.
//!
//! The loop is generic over what one attempt does (the `Try` trait): a
//! chat attempt (`execute`) or an embeddings attempt ([`super::embed`]) go
//! through the same retries, breakers, deadline and record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attempt::{Seen, attempt};
use super::failure::{AttemptError, Failure, all_failed, deadline_exceeded};
use super::plan::{Overrides, Plan, apply_overrides};
use super::retry::{Next, after_failure};
use super::{Last, Reply, Router, Served};
use crate::canonical::ChatRequest;
use crate::config::{FailureKind, RetryConfig, StreamCommit};
use crate::error::ApiError;
use crate::generation::{Generation, ModelTarget};
use crate::record::{Attempt as RecordAttempt, Record};
use crate::runtime::Tenant;

/// One upstream attempt of some kind of request, for [`run_plan`].
pub(super) trait Try {
    /// What a served attempt answers.
    type Out;

    /// Try `target` once within `timeout`, noting what the upstream did in
    /// `seen`.
    async fn attempt(
        &mut self,
        target: &Arc<ModelTarget>,
        overrides: Option<&Overrides>,
        timeout: Duration,
        served: Served,
        seen: &mut Seen,
    ) -> Result<Self::Out, AttemptError>;
}

/// A chat attempt: the plan's overrides applied, then [`attempt`].
struct Chat<'a> {
    router: &'a Arc<Router>,
    generation: &'a Arc<Generation>,
    req: &'a Arc<ChatRequest>,
    tenant: Tenant,
    commit: StreamCommit,
}

impl Try for Chat<'_> {
    type Out = Reply;

    async fn attempt(
        &mut self,
        target: &Arc<ModelTarget>,
        overrides: Option<&Overrides>,
        timeout: Duration,
        served: Served,
        seen: &mut Seen,
    ) -> Result<Reply, AttemptError> {
        let req = match overrides {
            Some(o) => Arc::new(apply_overrides(self.req, o)),
            None => self.req.clone(),
        };
        attempt(
            self.router,
            self.generation,
            target,
            &req,
            &self.tenant,
            self.commit,
            timeout,
            served,
            seen,
        )
        .await
    }
}

/// Run the plan: attempts in order, with retries, breakers and the deadline.
#[allow(clippy::too_many_arguments)]
pub(super) async fn execute(
    router: &Arc<Router>,
    generation: &Arc<Generation>,
    req: &Arc<ChatRequest>,
    plan: Plan,
    labels: Vec<(String, String)>,
    retry: &RetryConfig,
    started: Instant,
    last: &mut Last,
    rec: &mut Record,
) -> Result<Reply, ApiError> {
    let chat = Chat {
        router,
        generation,
        req,
        tenant: tenant(generation, rec),
        commit: retry.stream_commit,
    };
    run_plan(generation, plan, labels, retry, started, last, rec, chat).await
}

/// Whose warm adapter instances a request may use: its client key's; all
/// requests share them when the gateway has no keys; a call made for no
/// client (a policy's or a judge's model call, a shadow) gets its own.
pub(super) fn tenant(generation: &Generation, rec: &Record) -> Tenant {
    match &rec.key {
        Some(k) => Tenant::Key(k.as_str().into()),
        None if !generation.keys.enabled() => Tenant::Shared,
        None => Tenant::Alone,
    }
}

/// Run `plan` with `one` as the attempt: targets in order, with retries,
/// breakers and the deadline.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_plan<T: Try>(
    generation: &Arc<Generation>,
    plan: Plan,
    labels: Vec<(String, String)>,
    retry: &RetryConfig,
    started: Instant,
    last: &mut Last,
    rec: &mut Record,
    mut one: T,
) -> Result<T::Out, ApiError> {
    let planned: Vec<String> = plan.iter().map(|(t, _)| t.name.clone()).collect();
    let breaker = &generation.config.breaker;
    let deadline = started + Duration::from_millis(retry.deadline_ms);
    let mut failures = Vec::new();
    let mut attempts = 0u32;
    for (target, overrides) in &plan {
        let mut tries = 0u32;
        loop {
            if !target.stats.breaker.allow(breaker) {
                rec.attempts.push(RecordAttempt {
                    model: target.name.clone(),
                    provider: target.provider_name.clone(),
                    outcome: "breaker_open".into(),
                    ..RecordAttempt::default()
                });
                failures.push(Failure {
                    model: target.name.clone(),
                    provider: target.provider_name.clone(),
                    kind: None,
                    message: "skipped: its circuit breaker is open".into(),
                    retry_after_ms: None,
                });
                break;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                target.stats.breaker.release();
                return Err(deadline_exceeded(retry, failures));
            }
            tries += 1;
            attempts += 1;
            let served = Served {
                model: target.name.clone(),
                provider: target.provider_name.clone(),
                simulated: target.provider.simulated,
                attempts,
                labels: labels.clone(),
                plan: planned.clone(),
            };
            let timeout = overrides
                .as_ref()
                .and_then(|o| o.timeout)
                .unwrap_or_else(|| target.provider.first_byte_timeout())
                .min(remaining);
            last.model.clone_from(&target.name);
            last.attempts = attempts;
            last.kind = None;
            let mut seen = Seen::default();
            let tried = Instant::now();
            let result = one
                .attempt(target, overrides.as_ref(), timeout, served, &mut seen)
                .await;
            rec.upstream_ms += seen.waited.as_secs_f64() * 1e3;
            rec.attempts.push(RecordAttempt {
                model: target.name.clone(),
                provider: target.provider_name.clone(),
                outcome: match &result {
                    Ok(_) => "ok",
                    Err(AttemptError::Fatal(_)) => "rejected",
                    Err(AttemptError::Next(f)) => f.kind.unwrap_or(FailureKind::Upstream).name(),
                }
                .to_owned(),
                status: seen.status,
                latency_ms: tried.elapsed().as_secs_f64() * 1e3,
                ttft_ms: seen.ttft.map(|t| t.as_secs_f64() * 1e3),
                error: match &result {
                    Ok(_) => None,
                    Err(AttemptError::Fatal(e)) => Some(e.message.clone()),
                    Err(AttemptError::Next(f)) => Some(f.message.clone()),
                },
            });
            target.stats.count_attempt(match &result {
                Ok(_) => None,
                Err(AttemptError::Fatal(_)) => Some(FailureKind::Refused),
                Err(AttemptError::Next(f)) => Some(f.kind.unwrap_or(FailureKind::Upstream)),
            });
            match result {
                Ok(reply) => {
                    target.stats.breaker.success(breaker);
                    return Ok(reply);
                }
                Err(AttemptError::Fatal(e)) => {
                    last.kind = Some(FailureKind::Refused);
                    // The request itself was refused: nothing about the target.
                    target.stats.breaker.release();
                    return Err(e);
                }
                Err(AttemptError::Next(f)) => {
                    let kind = f.kind.unwrap_or(FailureKind::Upstream);
                    last.kind = Some(kind);
                    if kind == FailureKind::Refused {
                        target.stats.breaker.release();
                    } else {
                        target.stats.breaker.failure(breaker);
                    }
                    tracing::warn!(model = %f.model, provider = %f.provider, attempt = attempts, "attempt failed: {}", f.message);
                    let left = deadline.saturating_duration_since(Instant::now());
                    match after_failure(retry, kind, tries, f.retry_after_ms, left) {
                        Next::Retry(wait) => {
                            // Backoff is a wait on the upstream, not the
                            // gateway's own time.
                            tokio::time::sleep(wait).await;
                            rec.upstream_ms += wait.as_secs_f64() * 1e3;
                            continue;
                        }
                        Next::Failover => {
                            failures.push(f);
                            break;
                        }
                        Next::Stop => {
                            failures.push(f);
                            return Err(all_failed(failures));
                        }
                    }
                }
            }
        }
    }
    Err(all_failed(failures))
}
