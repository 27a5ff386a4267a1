//! The response cache at the chat endpoints: serving a hit in the client's
//! dialect (a whole answer as JSON, a stream as the same event batches it
//! was first sent in) with `x-switchyard-cache: hit`, and capturing a
//! stream's batches while it is sent so a clean end can be stored. What is
//! cached and where is [`crate::cache`]'s business.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use hyper::body::Frame;

use super::chat::{COST_HEADER, Encoder, Writer, served_headers, sse_response};
use super::{Body, json_response};
use crate::cache::{self, Answer, CacheStats, CachedAnswer, Plan};
use crate::canonical::StreamEvent;
use crate::ledger::Pending;
use crate::routing::Served;

/// The header saying what the cache did: `hit`, `miss` or `bypass`.
pub const CACHE_HEADER: &str = "x-switchyard-cache";

/// Mark a response with what the cache did.
pub fn mark(r: &mut Response<Body>, what: &'static str) {
    r.headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static(what));
}

/// Serve `hit` to the client `writer` writes for (a stream answering
/// `model`).
pub(super) fn serve_hit(
    mut pending: Pending,
    hit: CachedAnswer,
    writer: Writer,
    model: &str,
    include_usage: bool,
    prompt_estimate: u32,
) -> Response<Body> {
    let served = Served {
        model: hit.model,
        provider: hit.provider,
        simulated: hit.simulated,
        attempts: 0,
        labels: hit.labels,
        plan: hit.plan,
    };
    pending.served(&served);
    pending.cache_hit();
    match hit.body {
        Answer::Complete(resp) => {
            pending.answered(&resp);
            let (body, kept) = writer.render(resp);
            if let Some(answer) = kept {
                pending.keep_answer(answer);
            }
            pending.complete(body.len());
            let mut r = json_response(StatusCode::OK, body);
            served_headers(&mut r, &served);
            r.headers_mut()
                .insert(COST_HEADER, HeaderValue::from_static("0"));
            mark(&mut r, "hit");
            r
        }
        Answer::Stream(batches) => {
            pending.headers_sent();
            let last = batches.len();
            let state = Replay {
                batches: batches.into_iter().enumerate(),
                last,
                enc: writer.encoder(model, include_usage, prompt_estimate),
                pending,
            };
            let frames = futures_util::stream::unfold(Some(state), |state| async move {
                let mut st = state?;
                st.pending.polled();
                let (i, ev) = st.batches.next()?;
                let mut out = Vec::with_capacity(512);
                st.pending.observe(&ev);
                st.enc.encode(ev, &mut out);
                let end = i + 1 == st.last;
                if end {
                    st.enc.finish(&mut out);
                    if let Some(answer) = st.enc.kept_answer() {
                        st.pending.keep_answer(answer);
                    }
                    st.pending.sent(out.len());
                    st.pending.replay_ended();
                } else {
                    st.pending.sent(out.len());
                }
                let frame = Ok::<_, Infallible>(Frame::data(Bytes::from(out)));
                Some((frame, (!end).then_some(st)))
            });
            let mut r = sse_response(frames, &served);
            mark(&mut r, "hit");
            r
        }
    }
}

/// A cached stream being sent again.
struct Replay {
    batches: std::iter::Enumerate<std::vec::IntoIter<Vec<StreamEvent>>>,
    last: usize,
    enc: Encoder,
    pending: Pending,
}

/// A stream's batches kept while it is sent, stored when it ends cleanly.
pub struct Capture {
    plan: Plan,
    stats: Arc<CacheStats>,
    served: Served,
    batches: Vec<Vec<StreamEvent>>,
    bytes: usize,
}

impl Capture {
    /// Capture for `plan` (when it stores) the stream `served` answers.
    pub fn new(plan: Plan, stats: Arc<CacheStats>, served: &Served) -> Option<Capture> {
        plan.store.then(|| Capture {
            plan,
            stats,
            served: served.clone(),
            batches: Vec::new(),
            bytes: 0,
        })
    }

    /// Keep a batch about to be sent; `false` once the stream outgrew the
    /// entry cap (the capture is then of no use).
    pub fn batch(&mut self, events: &[StreamEvent]) -> bool {
        self.bytes += 8 + events.iter().map(cache::event_bytes).sum::<usize>();
        if self.bytes > self.plan.max_entry_bytes {
            self.stats
                .skipped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        self.batches.push(events.to_vec());
        true
    }

    /// The stream ended cleanly: store it.
    pub fn ended(self) {
        let answer = CachedAnswer {
            model: self.served.model,
            provider: self.served.provider,
            simulated: self.served.simulated,
            plan: self.served.plan,
            labels: self.served.labels,
            stored_at_ms: cache::now_ms(),
            body: Answer::Stream(self.batches),
        };
        self.plan.keep(answer, &self.stats);
    }

    /// The stream broke: nothing is stored.
    pub fn broken(self) {
        self.stats
            .skipped
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Store a whole answer for `plan`.
pub fn keep_complete(
    plan: &Plan,
    stats: &CacheStats,
    served: &Served,
    resp: &crate::canonical::ChatResponse,
) {
    if !plan.store {
        return;
    }
    plan.keep(
        CachedAnswer {
            model: served.model.clone(),
            provider: served.provider.clone(),
            simulated: served.simulated,
            plan: served.plan.clone(),
            labels: served.labels.clone(),
            stored_at_ms: cache::now_ms(),
            body: Answer::Complete(resp.clone()),
        },
        stats,
    );
}
