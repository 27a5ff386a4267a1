//! Sequential change detectors for one series of scores in 0..1: each sees
//! samples one at a time and says when the evidence that quality fell by
//! `drop` below the baseline crosses its threshold. Plain arithmetic on a
//! few floats; a detector never keeps samples, never looks at a clock and
//! never decides what an alarm means (the series in [`super`] does).
//!
//! [`BernoulliCusum`] is the one the gateway runs. [`ScoreCusum`] and
//! [`PageHinkley`] are the measured alternatives, kept for the simulation
//! in [`super::sim`] and `benches/quality_detector.rs`; see [`super`] for
//! the figures behind the choice.

/// A lower-sided sequential change detector.
pub trait Detector {
    /// Take one sample; `true` when the statistic is over the threshold.
    fn observe(&mut self, x: f64) -> bool;
    /// The current statistic (0 after a restart).
    fn statistic(&self) -> f64;
    /// Forget the evidence gathered so far (after an alert resolves).
    fn restart(&mut self);
}

/// Page's CUSUM on the Bernoulli log-likelihood ratio of "pass rate
/// `baseline - drop`" against "pass rate `baseline`":
/// `S = max(0, S + x·ln(p1/p0) + (1-x)·ln((1-p1)/(1-p0)))`, alarm at
/// `S > threshold` (nats). For 0/1 scores it is the optimal detector of that
/// fall (Lorden); for graded scores the increment is linear in `x`, a CUSUM
/// whose reference sits between `p1` and `p0`, and the Bernoulli variance
/// `p(1-p)` is the largest any score in 0..1 with that mean can have, so the
/// threshold's false-alarm rate is an upper bound for them.
#[derive(Debug, Clone)]
pub struct BernoulliCusum {
    threshold: f64,
    /// Increment for a pass (`x = 1`), negative.
    pass: f64,
    /// Increment for a fail (`x = 0`), positive.
    fail: f64,
    s: f64,
}

impl BernoulliCusum {
    /// A detector of a fall by `drop` below `baseline`.
    pub fn new(baseline: f64, drop: f64, threshold: f64) -> Self {
        // Keep both rates strictly inside (0, 1): a baseline of exactly 1
        // would make one failure infinite evidence.
        let p0 = baseline.clamp(0.001, 0.999);
        let p1 = (baseline - drop).clamp(0.0005, p0 - 0.0005);
        BernoulliCusum {
            threshold,
            pass: (p1 / p0).ln(),
            fail: ((1.0 - p1) / (1.0 - p0)).ln(),
            s: 0.0,
        }
    }
}

impl Detector for BernoulliCusum {
    fn observe(&mut self, x: f64) -> bool {
        self.s = (self.s + x * self.pass + (1.0 - x) * self.fail).max(0.0);
        self.s > self.threshold
    }
    fn statistic(&self) -> f64 {
        self.s
    }
    fn restart(&mut self) {
        self.s = 0.0;
    }
}

/// The textbook CUSUM on the raw score: `S = max(0, S + (baseline - k) - x)`
/// with reference `k = drop / 2`, alarm at `S > threshold` (score units).
#[derive(Debug, Clone)]
pub struct ScoreCusum {
    reference: f64,
    threshold: f64,
    s: f64,
}

impl ScoreCusum {
    /// A detector of a fall by `drop` below `baseline`.
    pub fn new(baseline: f64, drop: f64, threshold: f64) -> Self {
        ScoreCusum {
            reference: baseline - drop / 2.0,
            threshold,
            s: 0.0,
        }
    }
}

impl Detector for ScoreCusum {
    fn observe(&mut self, x: f64) -> bool {
        self.s = (self.s + self.reference - x).max(0.0);
        self.s > self.threshold
    }
    fn statistic(&self) -> f64 {
        self.s
    }
    fn restart(&mut self) {
        self.s = 0.0;
    }
}

/// Page–Hinkley for a decrease: `U = Σ (x_i - mean_i + δ)` with `mean_i` the
/// running mean since the (re)start and `δ = drop / 2`; alarm when
/// `max U - U > threshold`. It needs no baseline, which is also its weakness
/// here: the running mean follows the fall.
#[derive(Debug, Clone)]
pub struct PageHinkley {
    delta: f64,
    threshold: f64,
    n: f64,
    mean: f64,
    u: f64,
    u_max: f64,
}

impl PageHinkley {
    /// A detector of a fall by about `drop`.
    pub fn new(drop: f64, threshold: f64) -> Self {
        PageHinkley {
            delta: drop / 2.0,
            threshold,
            n: 0.0,
            mean: 0.0,
            u: 0.0,
            u_max: 0.0,
        }
    }
}

impl Detector for PageHinkley {
    fn observe(&mut self, x: f64) -> bool {
        self.n += 1.0;
        self.mean += (x - self.mean) / self.n;
        self.u += x - self.mean + self.delta;
        self.u_max = self.u_max.max(self.u);
        self.statistic() > self.threshold
    }
    fn statistic(&self) -> f64 {
        self.u_max - self.u
    }
    fn restart(&mut self) {
        *self = PageHinkley::new(self.delta * 2.0, self.threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bernoulli_cusum_increments() {
        let mut d = BernoulliCusum::new(0.9, 0.1, 5.0);
        assert!(!d.observe(1.0));
        assert_eq!(d.statistic(), 0.0);
        assert!(!d.observe(0.0));
        assert!((d.statistic() - 2f64.ln()).abs() < 1e-12);
        // Eight failures in a row are ln(2)·8 ≈ 5.5 nats of evidence.
        let alarmed = (0..7).any(|_| d.observe(0.0));
        assert!(alarmed);
        d.restart();
        assert_eq!(d.statistic(), 0.0);
        // A baseline of 1 stays finite.
        let mut d = BernoulliCusum::new(1.0, 0.1, 5.0);
        d.observe(0.0);
        assert!(d.statistic().is_finite() && d.statistic() > 0.0);
    }

    #[test]
    fn page_hinkley_sees_a_fall() {
        let mut d = PageHinkley::new(0.1, 3.0);
        for _ in 0..50 {
            assert!(!d.observe(1.0));
        }
        assert!((0..20).any(|_| d.observe(0.0)));
    }
}
