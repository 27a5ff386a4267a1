//! A served request's usage, counted against its client key exactly once:
//! when the answer is complete, or when it is dropped unfinished (a broken
//! stream, a client that went away). Upstream usage when reported, else an
//! estimate from the request's and the output's size. Never refuses
//! anything: admission is [`super::Limiter::admit`].

use std::sync::Arc;

use super::{Limiter, Quotas, Reservation, Slot, Spend};
use crate::canonical::{OutputTally, StreamEvent};
use crate::keys::ClientKey;

/// Counts a request's usage against its client key once: when the answer is
/// complete ([`Accounting::finish`]), or when it is dropped unfinished.
pub struct Accounting {
    limiter: Arc<Limiter>,
    quotas: Arc<Quotas>,
    key: Arc<ClientKey>,
    input_price: f64,
    output_price: f64,
    /// Usage and output size of the answer so far.
    pub tally: OutputTally,
    request_bytes: usize,
    done: bool,
    /// Tokens the admission counted already (the prompt's estimate).
    reserved: Reservation,
    /// The key's parallel slot, held until the answer or stream is done.
    _slot: Slot,
}

impl Accounting {
    /// Accounting of a request of `request_bytes` served by a model at these
    /// prices (USD per million tokens), holding `slot` until it is done.
    pub fn new(
        limiter: Arc<Limiter>,
        quotas: Arc<Quotas>,
        key: Arc<ClientKey>,
        (input_price, output_price): (f64, f64),
        request_bytes: usize,
        slot: Slot,
    ) -> Accounting {
        Accounting {
            limiter,
            quotas,
            key,
            input_price,
            output_price,
            tally: OutputTally::default(),
            request_bytes,
            done: false,
            reserved: slot.reservation(),
            _slot: slot,
        }
    }

    /// Count a batch of a stream's events.
    pub fn observe(&mut self, events: &[StreamEvent]) {
        self.tally.observe(events);
    }

    /// Count the usage now (once; later calls and the drop do nothing).
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let (prompt, completion) = self.tally.tokens(self.request_bytes);
        self.limiter.record(
            &self.quotas,
            &self.key,
            Spend {
                prompt_tokens: prompt,
                completion_tokens: completion,
                input_price: self.input_price,
                output_price: self.output_price,
                reserved: self.reserved,
            },
        );
    }
}

impl Drop for Accounting {
    fn drop(&mut self) {
        self.finish();
    }
}
