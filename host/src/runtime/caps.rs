//! The caps every plugin call runs under: a wall-clock deadline (policy
//! decision, adapter call), a linear-memory cap, and the epoch ticks that
//! enforce the deadline. `MemoryLimiter` records a cap hit so the trap that
//! follows (guests usually abort in their allocator) is reported as what it
//! is. Never decides what happens after a hit: that is [`super::fault`].

use std::time::Duration;

/// How often the epoch advances; deadlines are whole ticks.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// PluginCaps applied to every plugin call.
#[derive(Debug, Clone)]
pub struct PluginCaps {
    /// Wall-clock budget of one policy decision.
    pub policy_deadline: Duration,
    /// Wall-clock budget of one adapter call (build, parse, one stream feed).
    pub adapter_deadline: Duration,
    /// Wall-clock budget of one evaluator call (time waiting on model calls
    /// is given back).
    pub evaluator_deadline: Duration,
    /// Linear memory a plugin instance may grow to.
    pub memory_bytes: usize,
}

impl Default for PluginCaps {
    fn default() -> Self {
        PluginCaps {
            policy_deadline: Duration::from_millis(50),
            adapter_deadline: Duration::from_millis(100),
            evaluator_deadline: Duration::from_millis(500),
            memory_bytes: 64 << 20,
        }
    }
}

/// Records that a store hit its memory cap, so the resulting trap (guests
/// usually abort in their allocator) can be reported as what it is.
pub(super) struct MemoryLimiter {
    pub(super) cap: usize,
    pub(super) hit: bool,
    /// Linear memory the store's instances have grown to, bytes.
    pub(super) size: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            return Ok(false);
        }
        self.size = self.size.saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

pub(super) fn ticks(d: Duration) -> u64 {
    (d.as_millis() as u64).div_ceil(EPOCH_TICK.as_millis().max(1) as u64) + 1
}
