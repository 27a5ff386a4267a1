//! Model calls made by policies through the WIT `models.complete` import:
//! model-powered routing. The call goes to a *model* of the config (never a
//! route, so a policy cannot recurse into itself) through that model's adapter,
//! with its key and its retry-free single attempt, under a time budget capped
//! at [`MAX_TIMEOUT`]. Recent answers are cached by (model, system, prompt,
//! max tokens) for as long as the caller allows. It never reaches a route and
//! never bypasses the model's adapter, broker or breaker.

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Reply, Router};
use crate::canonical::{ChatRequest, Content, ContentPart, Message, Role, Usage};
use crate::generation::Generation;
use crate::record::Record;
use crate::runtime::{Completer, Completion, CompletionRequest};

/// The longest a model call may take, whatever the policy asks.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers kept in the cache.
const CACHE_ENTRIES: usize = 4096;

/// Recent answers of model calls, shared by all routes and generations (the
/// key names the model and everything it was asked).
pub struct CompletionCache {
    entries: Mutex<lru::LruCache<[u8; 32], (String, Instant)>>,
}

impl Default for CompletionCache {
    fn default() -> Self {
        CompletionCache {
            entries: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl CompletionCache {
    fn get(&self, key: &[u8; 32], ttl: Duration) -> Option<String> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((text, at)) if at.elapsed() < ttl => Some(text.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: [u8; 32], text: String) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(key, (text, Instant::now()));
        }
    }
}

fn cache_key(req: &CompletionRequest) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        req.model.as_bytes(),
        req.system.as_deref().unwrap_or("\u{0}none").as_bytes(),
        req.prompt.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(req.max_tokens.to_le_bytes());
    h.finalize().into()
}

/// The model calls of one policy decision: the router and the generation
/// the request is served by.
pub struct ModelCalls {
    router: Arc<Router>,
    generation: Arc<Generation>,
}

impl ModelCalls {
    /// Calls served by `generation`.
    pub fn new(router: Arc<Router>, generation: Arc<Generation>) -> ModelCalls {
        ModelCalls { router, generation }
    }
}

impl Completer for ModelCalls {
    fn complete(
        &self,
        req: CompletionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, String>> + Send>> {
        let router = self.router.clone();
        let generation = self.generation.clone();
        Box::pin(async move {
            // A policy's model call is not a client request: it has no
            // record of its own; its tokens and cost count on the model's
            // figures.
            let mut scratch = Record::default();
            complete(&router, &generation, req, &mut scratch).await
        })
    }
}

/// Make one model call; `rec` gets the call's route-free record: attempts,
/// the model that answered, its tokens and cost (for callers that log it,
/// e.g. an evaluator's judge). A cached answer leaves `rec` empty.
pub async fn complete(
    router: &Arc<Router>,
    generation: &Arc<Generation>,
    req: CompletionRequest,
    rec: &mut Record,
) -> Result<Completion, String> {
    if !generation.models.contains_key(&req.model) {
        return Err(format!(
            "no model named `{}` (a model call names a model of the config, not a route)",
            req.model
        ));
    }
    let ttl = Duration::from_millis(req.cache_ttl_ms.into());
    let key = cache_key(&req);
    if !ttl.is_zero()
        && let Some(text) = router.completions.get(&key, ttl)
    {
        return Ok(Completion { text, cached: true });
    }
    let timeout = match req.timeout_ms {
        0 => MAX_TIMEOUT,
        ms => Duration::from_millis(ms.into()).min(MAX_TIMEOUT),
    };
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = &req.system {
        messages.push(Message::text(Role::System, system.clone()));
    }
    messages.push(Message::text(Role::User, req.prompt.clone()));
    let chat = ChatRequest {
        temperature: Some(0.0),
        max_tokens: Some(req.max_tokens.max(1)),
        ..ChatRequest::new(req.model.clone(), messages)
    };
    let started = Instant::now();
    rec.requested = req.model.clone();
    let call = super::chat(router, generation, chat, vec![], rec);
    let reply = tokio::time::timeout(timeout, call).await.map_err(|_| {
        format!(
            "model `{}` did not answer within {} ms",
            req.model,
            timeout.as_millis()
        )
    })?;
    let text = match reply {
        Ok(Reply::Complete(resp, served)) => {
            count_call(generation, &served.model, resp.usage.as_ref(), rec);
            rec.provider = Some(served.provider.clone());
            resp.choices
                .into_iter()
                .next()
                .and_then(|c| c.message.content)
                .map(text_of)
                .unwrap_or_default()
        }
        Ok(Reply::Stream(..)) => return Err("model call answered with a stream".into()),
        Err(e) => return Err(format!("model `{}` failed: {}", req.model, e.message)),
    };
    tracing::debug!(model = %req.model, ms = started.elapsed().as_millis() as u64, "policy model call");
    if !ttl.is_zero() {
        router.completions.put(key, text.clone());
    }
    Ok(Completion {
        text,
        cached: false,
    })
}

/// Count a model call's reported usage on its model's figures and `rec`.
fn count_call(generation: &Generation, model: &str, usage: Option<&Usage>, rec: &mut Record) {
    rec.model = Some(model.to_owned());
    if let (Some(target), Some(u)) = (generation.models.get(model), usage) {
        let (prompt, completion) = (u64::from(u.prompt_tokens), u64::from(u.completion_tokens));
        let cached = u.cached_tokens.map_or(0, u64::from);
        let cost = target.prices.cost(prompt, cached, completion);
        target.stats.count_usage(prompt, completion, cost);
        rec.prompt_tokens = prompt;
        rec.completion_tokens = completion;
        rec.cached_tokens = cached.min(prompt);
        rec.cost_usd = cost;
        rec.cost_known = target.prices.known;
    }
}

fn text_of(c: Content) -> String {
    match c {
        Content::Text(t) => t,
        Content::Parts(parts) => parts
            .into_iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => Some(t),
                _ => None,
            })
            .collect(),
    }
}
