//! A committed upstream stream: its attempt's adapter instance decodes each
//! chunk the broker reads, within the provider's idle timeout, into canonical
//! events. A break after content ends it with an error item, never a clean
//! end; a stream that ends without the upstream's usage gets an estimated
//! one, so accounting never sees zero. Records the attempt's outcome on the
//! model's figures and breaker; never fails over (too late for that).

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::failure::describe_provider;
use super::filter;
use crate::broker;
use crate::canonical::{ChatRequest, OutputTally, StreamEvent, Usage};
use crate::config::BreakerConfig;
use crate::error::ApiError;
use crate::generation::ModelTarget;
use crate::monitor::{InFlight, PluginCounters};
use crate::runtime::{AdapterInstance, DecoderHandle};

/// What a stream yields next.
pub enum StreamItem {
    /// More events.
    Events(Vec<StreamEvent>),
    /// The last events of a complete stream.
    End(Vec<StreamEvent>),
    /// The stream broke after content was sent.
    Broken(ApiError),
}

/// A committed upstream stream, decoded by its attempt's adapter instance.
pub struct EventStream {
    pub(super) first: Vec<StreamEvent>,
    /// The attempt's adapter instance, holding the decoder; given back to
    /// the model's pool once the stream ended cleanly and the decoder is
    /// dropped, else dropped with the stream.
    pub(super) inst: Option<AdapterInstance>,
    pub(super) decoder: DecoderHandle,
    pub(super) resp: broker::Response,
    pub(super) idle: Duration,
    pub(super) target: Arc<ModelTarget>,
    pub(super) started: Instant,
    /// Time to the first content; `None` until then (a stream committed at
    /// its first event).
    pub(super) ttft: Option<Duration>,
    /// The upstream already ended cleanly; `first` holds its last events.
    pub(super) ended: bool,
    pub(super) breaker: BreakerConfig,
    pub(super) done: bool,
    pub(super) _in_flight: InFlight,
    /// The adapter's error counters (a fault mid-stream counts too).
    pub(super) faults: Arc<PluginCounters>,
    /// The request, to estimate usage when the upstream reports none.
    pub(super) request: Arc<ChatRequest>,
    /// Usage and output size seen so far (no copy of the text).
    pub(super) tally: OutputTally,
    /// Time spent waiting for the upstream's chunks since the commit.
    pub(super) waited: Duration,
}

impl EventStream {
    /// The next events; `None` after the stream ended. A stream that ends
    /// without the upstream reporting usage gets an estimated usage event
    /// (the prompt counted with tiktoken, the output from its length), so cost accounting
    /// never silently sees zero.
    pub async fn next(&mut self) -> Option<StreamItem> {
        let mut item = self.next_raw().await?;
        match &mut item {
            StreamItem::Events(ev) => self.observe(ev),
            StreamItem::End(ev) => {
                self.observe(ev);
                if self.tally.usage.is_none() {
                    let prompt = filter::count_tokens(&self.request).unwrap_or(0);
                    let completion =
                        u32::try_from(self.tally.estimated_completion_tokens()).unwrap_or(u32::MAX);
                    tracing::debug!(model = %self.target.name, "upstream reported no usage; estimated it");
                    let usage = Usage {
                        prompt_tokens: prompt,
                        completion_tokens: completion,
                        total_tokens: prompt.saturating_add(completion),
                        cached_tokens: None,
                        reasoning_tokens: None,
                    };
                    ev.push(StreamEvent::Usage(usage));
                }
            }
            StreamItem::Broken(_) => {}
        }
        Some(item)
    }

    fn observe(&mut self, events: &[StreamEvent]) {
        self.tally.observe(events);
        if self.ttft.is_none()
            && events.iter().any(|e| {
                matches!(
                    e,
                    StreamEvent::Text(_) | StreamEvent::ToolCall(_) | StreamEvent::Finish(_)
                )
            })
        {
            let ttft = self.started.elapsed();
            self.ttft = Some(ttft);
            self.target.stats.observe_latency(ttft);
        }
    }

    /// When the attempt that committed this stream started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time spent waiting for the upstream's chunks since the commit.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    async fn next_raw(&mut self) -> Option<StreamItem> {
        if self.done {
            return None;
        }
        if self.ended {
            self.done = true;
            return Some(StreamItem::End(std::mem::take(&mut self.first)));
        }
        if !self.first.is_empty() {
            return Some(StreamItem::Events(std::mem::take(&mut self.first)));
        }
        let Some(inst) = self.inst.as_mut() else {
            return Some(self.broken("the adapter instance is gone".into()));
        };
        loop {
            let t = Instant::now();
            let chunk = broker::next_chunk(&mut self.resp, self.idle).await;
            self.waited += t.elapsed();
            let item = match chunk {
                Ok(Some(bytes)) => match inst.feed(self.decoder, &bytes).await {
                    Ok(Ok(events)) if events.is_empty() => continue,
                    Ok(Ok(events)) => StreamItem::Events(events),
                    Ok(Err(e)) => self.broken(describe_provider(&e)),
                    Err(e) => {
                        self.faults.record(e.fault());
                        self.broken(e.to_string())
                    }
                },
                Ok(None) => match inst.finish(self.decoder).await {
                    Ok(Ok(events)) => {
                        self.done = true;
                        if let Some(mut inst) = self.inst.take()
                            && inst.drop_decoder(self.decoder).await.is_ok()
                        {
                            self.target.adapters.give_back(inst);
                        }
                        self.target
                            .stats
                            .record(true, self.started.elapsed(), self.ttft);
                        StreamItem::End(events)
                    }
                    Ok(Err(e)) => self.broken(describe_provider(&e)),
                    Err(e) => {
                        self.faults.record(e.fault());
                        self.broken(e.to_string())
                    }
                },
                Err(e) => self.broken(e.to_string()),
            };
            return Some(item);
        }
    }

    fn broken(&mut self, why: String) -> StreamItem {
        self.done = true;
        self.target
            .stats
            .record(false, self.started.elapsed(), None);
        self.target.stats.breaker.failure(&self.breaker);
        tracing::warn!(model = %self.target.name, provider = %self.target.provider_name, "stream broke after content was sent: {why}");
        StreamItem::Broken(
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!(
                    "The upstream stream from `{}` (provider `{}`) broke after content was sent: {why}. The answer is incomplete.",
                    self.target.name, self.target.provider_name
                ),
            )
            .code("stream_interrupted"),
        )
    }
}
