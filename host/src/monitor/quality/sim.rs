//! The seeded simulation behind the detector's defaults, shared by the unit
//! tests and `benches/quality_detector.rs`: Bernoulli pass/fail streams from
//! a tiny xorshift generator (same seeds, same figures on every machine), a
//! baseline learned from the first samples or pinned, and the two figures
//! that matter — false alarms on a stable stream and the delay from a fall
//! to the alarm. Never used on the serving path.

use super::detector::Detector;

/// xorshift64: small, fast and reproducible; not for anything secret.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// A generator from a seed (0 is replaced: xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next value, uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
    /// 1 with probability `p`, else 0.
    pub fn pass(&mut self, p: f64) -> f64 {
        if self.uniform() < p { 1.0 } else { 0.0 }
    }
}

/// Where a simulated series' baseline comes from.
#[derive(Debug, Clone, Copy)]
pub enum Baseline {
    /// The true rate, given.
    Pinned,
    /// The mean of this many samples of the stable stream.
    Learned(usize),
}

/// One scenario: a stable pass rate, optionally falling to another.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The pass rate before the change.
    pub before: f64,
    /// The pass rate after it.
    pub after: f64,
    /// How the detector's baseline is formed.
    pub baseline: Baseline,
    /// Stable samples between the formed baseline and the change.
    pub gap: usize,
}

/// False alarms on a stable stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct FalseAlarms {
    /// Alarms in all runs (the detector restarts after each).
    pub alarms: u64,
    /// Runs with at least one alarm.
    pub runs_with_alarm: u64,
    /// Runs.
    pub runs: u64,
}

/// Alarms on a stable stream of `samples` per run, over `runs` seeded runs;
/// `make(baseline)` builds the detector.
pub fn false_alarms<D: Detector>(
    make: impl Fn(f64) -> D,
    rate: f64,
    baseline: Baseline,
    samples: usize,
    runs: u64,
) -> FalseAlarms {
    let mut out = FalseAlarms {
        runs,
        ..FalseAlarms::default()
    };
    for run in 0..runs {
        let mut rng = Xorshift::new(0xFA15_E000 + run);
        let mut d = make(baseline_of(&mut rng, rate, baseline));
        let mut any = false;
        for _ in 0..samples {
            if d.observe(rng.pass(rate)) {
                out.alarms += 1;
                any = true;
                d.restart();
            }
        }
        out.runs_with_alarm += u64::from(any);
    }
    out
}

/// Detection delays (samples from the change to the alarm, the first
/// changed sample counting 1) over `runs` seeded runs, sorted; runs with no
/// alarm within `horizon` samples of the change count in `missed`, alarms
/// before the change in `early` (the detector restarts after those).
pub fn delays<D: Detector>(
    make: impl Fn(f64) -> D,
    s: Scenario,
    runs: u64,
    horizon: usize,
) -> Delays {
    let mut out = Delays::default();
    for run in 0..runs {
        let mut rng = Xorshift::new(0xDE1A_0000 + run);
        let mut d = make(baseline_of(&mut rng, s.before, s.baseline));
        for _ in 0..s.gap {
            if d.observe(rng.pass(s.before)) {
                out.early += 1;
                d.restart();
            }
        }
        match (1..=horizon).find(|_| d.observe(rng.pass(s.after))) {
            Some(n) => out.samples.push(n as u64),
            None => out.missed += 1,
        }
    }
    out.samples.sort_unstable();
    out
}

/// The outcome of [`delays`].
#[derive(Debug, Clone, Default)]
pub struct Delays {
    /// Delays of the runs that alarmed, sorted.
    pub samples: Vec<u64>,
    /// Runs with no alarm within the horizon.
    pub missed: u64,
    /// Alarms before the change.
    pub early: u64,
}

impl Delays {
    /// The `q` quantile (0..1) of the delays, counting missed runs as
    /// longer than any; `None` when it falls among the missed.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.samples.len() + self.missed as usize;
        if n == 0 {
            return None;
        }
        let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        self.samples.get(i).copied()
    }
}

fn baseline_of(rng: &mut Xorshift, rate: f64, b: Baseline) -> f64 {
    match b {
        Baseline::Pinned => rate,
        Baseline::Learned(n) => (0..n).map(|_| rng.pass(rate)).sum::<f64>() / n.max(1) as f64,
    }
}
