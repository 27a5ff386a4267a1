//! A request's hold on its key: the parallel slot it occupies until it ends
//! (dropping the [`Slot`] gives it back, in process or in Redis) and the
//! tokens its admission reserved. Never counts usage itself.

use std::sync::{Arc, Mutex};

use super::counters::Counters;
use super::redis;

/// One of a key's parallel slots, held by a request until it finishes
/// (a stream: until it ends or the client leaves); dropping it frees the
/// slot. Keys without a parallel limit get an empty one.
pub struct Slot {
    pub(super) inner: SlotInner,
    pub(super) reservation: Reservation,
}

/// Tokens an admission counted against the key's tokens per minute ahead of
/// the answer, and the minute it counted them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reservation {
    /// Minutes since the epoch.
    pub minute: u64,
    /// Tokens reserved (0: none).
    pub tokens: u64,
}

pub(super) enum SlotInner {
    None,
    Memory(Arc<Mutex<Counters>>),
    Redis(redis::RedisSlot),
}

impl Slot {
    /// A slot that holds nothing.
    pub fn none() -> Slot {
        Slot {
            inner: SlotInner::None,
            reservation: Reservation::default(),
        }
    }

    /// What the admission reserved (to hand to [`super::Spend::reserved`]).
    pub fn reservation(&self) -> Reservation {
        self.reservation
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.inner, SlotInner::None) {
            SlotInner::None => {}
            SlotInner::Memory(c) => {
                if let Ok(mut c) = c.lock() {
                    c.release();
                }
            }
            SlotInner::Redis(r) => r.release(),
        }
    }
}
