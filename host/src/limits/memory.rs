//! The in-process limit store: a map of per-key [`Counters`] behind short
//! locks that are never held across an `.await`. Counts only what this
//! process sees (the Redis store is for replicas).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::counters::{Counters, Usage};
use super::refusal::Refused;
use super::slots::{Reservation, Slot, SlotInner};
use super::windows::Windows;
use crate::keys::ClientKey;

/// In-process counters by key name. Survives config reloads.
#[derive(Default)]
pub struct MemoryStore {
    keys: RwLock<HashMap<String, Arc<Mutex<Counters>>>>,
}

impl MemoryStore {
    fn counters(&self, name: &str) -> Arc<Mutex<Counters>> {
        if let Ok(m) = self.keys.read()
            && let Some(c) = m.get(name)
        {
            return c.clone();
        }
        match self.keys.write() {
            Ok(mut m) => m.entry(name.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    pub(super) fn admit(
        &self,
        key: &ClientKey,
        w: &Windows,
        reserve: u64,
    ) -> Result<Slot, Refused> {
        let c = self.counters(&key.name);
        let Ok(mut counters) = c.lock() else {
            return Ok(Slot::none());
        };
        counters.admit(&key.limits, w, reserve)?;
        drop(counters);
        let inner = if key.limits.parallel.is_some() {
            SlotInner::Memory(c)
        } else {
            SlotInner::None
        };
        Ok(Slot {
            inner,
            reservation: Reservation {
                minute: w.minute,
                tokens: reserve,
            },
        })
    }

    pub(super) fn usage(&self, key: &ClientKey, w: &Windows) -> Usage {
        let c = self.counters(&key.name);
        let Ok(c) = c.lock() else {
            return Usage::default();
        };
        let mut c = *c;
        c.roll(w);
        c.usage()
    }

    pub(super) fn record(
        &self,
        key: &ClientKey,
        w: &Windows,
        tokens: u64,
        nanos: u64,
        r: Reservation,
    ) {
        let c = self.counters(&key.name);
        if let Ok(mut c) = c.lock() {
            c.record(w, tokens, nanos, r);
        }
    }
}
