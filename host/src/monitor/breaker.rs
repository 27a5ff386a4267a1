//! The circuit breaker of one model target: it opens after a run of
//! consecutive failures or when the recent error rate passes a threshold,
//! skips the target while open, and lets a single probe through once the
//! cool-down has passed (half-open); the probe's outcome closes or re-opens it.
//!
//! Breakers live with the model's stats, so they survive config reloads.
//! It never sends or retries
//! anything: the attempt loop asks it whether a target may be tried and tells
//! it how the attempt went.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;
use crate::wit::BreakerState;

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    /// Ring of recent outcomes, true = failure.
    recent: Vec<bool>,
    next: usize,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
    opens: u64,
}

/// One target's breaker.
#[derive(Debug)]
pub struct Breaker {
    inner: Mutex<Inner>,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                recent: Vec::new(),
                next: 0,
                opened_at: None,
                probe_in_flight: false,
                opens: 0,
            }),
        }
    }
}

impl Breaker {
    /// Whether a request may go to the target now. Moves an open breaker to
    /// half-open after the cool-down and then admits exactly one probe.
    pub fn allow(&self, cfg: &BreakerConfig) -> bool {
        if !cfg.enabled {
            return true;
        }
        let Ok(mut i) = self.inner.lock() else {
            return true;
        };
        match i.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                let cooled = i
                    .opened_at
                    .is_none_or(|t| t.elapsed() >= Duration::from_millis(cfg.cooldown_ms));
                if cooled {
                    i.state = BreakerState::HalfOpen;
                    i.probe_in_flight = true;
                    true
                } else {
                    false
                }
            }
            BreakerState::HalfOpen => {
                if i.probe_in_flight {
                    false
                } else {
                    i.probe_in_flight = true;
                    true
                }
            }
        }
    }

    /// The state, for policies and the admin API (an open breaker whose
    /// cool-down passed reads as half-open).
    pub fn state(&self, cfg: &BreakerConfig) -> BreakerState {
        let Ok(i) = self.inner.lock() else {
            return BreakerState::Closed;
        };
        match (i.state, i.opened_at) {
            (BreakerState::Open, Some(t))
                if t.elapsed() >= Duration::from_millis(cfg.cooldown_ms) =>
            {
                BreakerState::HalfOpen
            }
            (s, _) => s,
        }
    }

    /// How many times it opened.
    pub fn opens(&self) -> u64 {
        self.inner.lock().map(|i| i.opens).unwrap_or(0)
    }

    /// Record a success of the target.
    pub fn success(&self, cfg: &BreakerConfig) {
        let Ok(mut i) = self.inner.lock() else { return };
        i.consecutive = 0;
        i.probe_in_flight = false;
        if i.state != BreakerState::Closed {
            // A good probe closes the breaker with a clean history.
            i.state = BreakerState::Closed;
            i.recent.clear();
            i.next = 0;
        }
        push(&mut i, false, cfg.window);
    }

    /// Record a failure of the target.
    pub fn failure(&self, cfg: &BreakerConfig) {
        if !cfg.enabled {
            return;
        }
        let Ok(mut i) = self.inner.lock() else { return };
        i.consecutive += 1;
        push(&mut i, true, cfg.window);
        let failed = i.recent.iter().filter(|f| **f).count();
        let rate_trips = i.recent.len() >= cfg.window.max(1) as usize
            && failed as f64 / i.recent.len() as f64 >= cfg.error_rate;
        let trips = match i.state {
            BreakerState::HalfOpen => true,
            BreakerState::Open => false,
            BreakerState::Closed => i.consecutive >= cfg.consecutive_failures.max(1) || rate_trips,
        };
        i.probe_in_flight = false;
        if trips {
            i.state = BreakerState::Open;
            i.opened_at = Some(Instant::now());
            i.opens += 1;
            i.recent.clear();
            i.next = 0;
        }
    }

    /// A probe ended without telling anything about the target (the client
    /// went away): let the next request probe.
    pub fn release(&self) {
        if let Ok(mut i) = self.inner.lock() {
            i.probe_in_flight = false;
        }
    }
}

fn push(i: &mut Inner, failed: bool, window: u32) {
    let window = window.max(1) as usize;
    if i.recent.len() < window {
        i.recent.push(failed);
    } else {
        let n = i.next % window;
        i.recent[n] = failed;
    }
    i.next = (i.next + 1) % window;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            enabled: true,
            consecutive_failures: 3,
            error_rate: 0.5,
            window: 10,
            cooldown_ms: 50,
        }
    }

    #[test]
    fn opens_after_consecutive_failures_and_probes_after_cooldown() {
        let c = cfg();
        let b = Breaker::default();
        b.failure(&c);
        b.failure(&c);
        assert!(b.allow(&c));
        b.failure(&c);
        assert_eq!(b.state(&c), BreakerState::Open);
        assert!(!b.allow(&c));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(&c), BreakerState::HalfOpen);
        assert!(b.allow(&c), "one probe");
        assert!(!b.allow(&c), "only one probe at a time");
        b.failure(&c);
        assert_eq!(b.state(&c), BreakerState::Open, "a failed probe re-opens");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow(&c));
        b.success(&c);
        assert_eq!(b.state(&c), BreakerState::Closed);
        assert!(b.allow(&c) && b.allow(&c));
        assert_eq!(b.opens(), 2);
    }

    #[test]
    fn opens_on_error_rate() {
        let c = cfg();
        let b = Breaker::default();
        // Never three failures in a row, but half of the last ten outcomes.
        for i in 0..11 {
            if i % 2 == 0 {
                b.failure(&c);
            } else {
                b.success(&c);
            }
        }
        assert_eq!(b.state(&c), BreakerState::Open);
    }

    #[test]
    fn successes_keep_it_closed() {
        let c = cfg();
        let b = Breaker::default();
        for _ in 0..100 {
            b.failure(&c);
            b.failure(&c);
            b.success(&c);
            b.success(&c);
            b.success(&c);
        }
        assert_eq!(b.state(&c), BreakerState::Closed);
    }
}
