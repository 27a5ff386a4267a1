//! What one key has used in its windows, and the check of a request
//! against its limits. Plain counters: no locks, no clock (a [`Windows`] is
//! passed in), no I/O.

use super::refusal::{Refusal, Refused};
use super::slots::Reservation;
use super::windows::{Windows, sliding, sliding_retry};
use crate::keys::KeyLimits;

/// The counters of one key in its current windows (and the previous
/// minute's, for the sliding minute).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    minute: u64,
    requests: u64,
    tokens: u64,
    prev_requests: u64,
    prev_tokens: u64,
    /// Requests admitted and not yet finished (not a window: never rolled).
    in_flight: u64,
    day: u64,
    day_spend: u64,
    month: u64,
    month_spend: u64,
}

impl Counters {
    /// Start new windows where `w` moved on.
    pub(super) fn roll(&mut self, w: &Windows) {
        if self.minute != w.minute {
            let next = self.minute.checked_add(1) == Some(w.minute);
            self.prev_requests = if next { self.requests } else { 0 };
            self.prev_tokens = if next { self.tokens } else { 0 };
            self.minute = w.minute;
            self.requests = 0;
            self.tokens = 0;
        }
        if self.day != w.day {
            self.day = w.day;
            self.day_spend = 0;
        }
        if self.month != w.month {
            self.month = w.month;
            self.month_spend = 0;
        }
    }

    /// What [`check`] weighs.
    pub(super) fn usage(&self) -> Usage {
        Usage {
            month: self.month_spend,
            day: self.day_spend,
            tokens: (self.prev_tokens, self.tokens),
            requests: (self.prev_requests, self.requests),
            in_flight: self.in_flight,
        }
    }

    /// Admit a request (counting it, and holding one of the key's parallel
    /// slots when it has a limit) or say why not.
    ///
    /// `reserve` tokens (the prompt's estimate) are counted at once, so
    /// requests admitted together see each other's prompts; the answer's
    /// [`Counters::record`] replaces the estimate with the actual figure.
    pub fn admit(&mut self, l: &KeyLimits, w: &Windows, reserve: u64) -> Result<(), Refused> {
        self.roll(w);
        check(l, w, &self.usage())?;
        self.requests += 1;
        self.tokens = self.tokens.saturating_add(reserve);
        if l.parallel.is_some() {
            self.in_flight += 1;
        }
        Ok(())
    }

    /// A request admitted with a parallel slot finished.
    pub fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Count a finished request's tokens and spend, taking back what its
    /// admission reserved (from the minute it was reserved in, while that
    /// minute still counts).
    pub fn record(&mut self, w: &Windows, tokens: u64, nanos: u64, r: Reservation) {
        self.roll(w);
        if r.minute == self.minute {
            self.tokens = self.tokens.saturating_sub(r.tokens);
        } else if r.minute.checked_add(1) == Some(self.minute) {
            self.prev_tokens = self.prev_tokens.saturating_sub(r.tokens);
        }
        self.tokens = self.tokens.saturating_add(tokens);
        self.day_spend = self.day_spend.saturating_add(nanos);
        self.month_spend = self.month_spend.saturating_add(nanos);
    }
}

/// What a key has used: the month's and the day's spend, and the previous
/// and current clock minute's tokens and requests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The month's spend (nano-USD).
    pub month: u64,
    /// The day's spend (nano-USD).
    pub day: u64,
    /// Tokens: (previous minute, this minute).
    pub tokens: (u64, u64),
    /// Requests: (previous minute, this minute).
    pub requests: (u64, u64),
    /// Requests in flight.
    pub in_flight: u64,
}

/// The admission rule shared by both stores.
pub fn check(l: &KeyLimits, w: &Windows, u: &Usage) -> Result<(), Refused> {
    for (limit, used, why) in [
        (l.monthly, u.month, Refusal::Monthly),
        (l.daily, u.day, Refusal::Daily),
        (l.parallel, u.in_flight, Refusal::Parallel),
    ] {
        if let Some(limit) = limit
            && used >= limit
        {
            return Err(Refused {
                why,
                used,
                retry: 0,
            });
        }
    }
    for (limit, (prev, curr), why) in [
        (l.tpm, u.tokens, Refusal::Tokens),
        (l.rpm, u.requests, Refusal::Requests),
    ] {
        if let Some(limit) = limit {
            let used = sliding(prev, curr, w.minute_ms);
            if used >= limit {
                return Err(Refused {
                    why,
                    used,
                    retry: sliding_retry(prev, curr, limit, w.minute_ms),
                });
            }
        }
    }
    Ok(())
}
