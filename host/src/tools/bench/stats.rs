//! The statistics of a bench run, kept in bounded memory however many
//! tasks run: running means and variances (Welford), log-spaced latency
//! histograms, and paired differences folded in as each task completes on
//! every target. Intervals are 95%: Wilson's for pass/fail scores, the
//! normal approximation for graded scores and paired differences.

use super::summary::{Interval, Latency};

/// z for a two-sided 95% interval.
const Z: f64 = 1.959_963_984_540_054;
/// Latency buckets: bucket i holds latencies up to `FIRST_MS × RATIO^i`.
const FIRST_MS: f64 = 0.05;
const RATIO: f64 = 1.05;
const BUCKETS: usize = 400;

/// A running mean and variance.
#[derive(Debug, Clone, Copy, Default)]
pub struct Welford {
    /// Values seen.
    pub n: u64,
    mean: f64,
    m2: f64,
    /// Whether every value was exactly 0 or 1.
    binary: bool,
}

impl Welford {
    /// Add a value (non-finite values are ignored).
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.n == 0 {
            self.binary = true;
        }
        self.binary &= x == 0.0 || x == 1.0;
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// The mean (0 with no values).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    fn sd(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).max(0.0).sqrt()
        }
    }

    /// The mean with its 95% interval, clamped to `[lo, hi]`: Wilson's for
    /// 0/1 values, else the normal approximation.
    pub fn interval(&self, lo: f64, hi: f64) -> Option<Interval> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        if self.binary {
            let (l, h) = wilson(self.mean, n);
            return Some(Interval {
                mean: self.mean,
                lo: l,
                hi: h,
                method: "wilson".into(),
            });
        }
        // One value says nothing of the spread: the whole range.
        let half = if self.n < 2 {
            f64::INFINITY
        } else {
            Z * self.sd() / n.sqrt()
        };
        Some(Interval {
            mean: self.mean,
            lo: (self.mean - half).max(lo),
            hi: (self.mean + half).min(hi),
            method: "normal".into(),
        })
    }

    /// The mean difference with its interval: the normal approximation,
    /// exact when every difference is the same.
    pub fn diff_interval(&self) -> Option<Interval> {
        let i = self.interval(-1.0, 1.0)?;
        if self.binary {
            // Differences of 0 and 1 only: the Wilson bound of a share
            // does not apply to a difference, use the normal one.
            let n = self.n as f64;
            let half = if self.n < 2 {
                f64::INFINITY
            } else {
                Z * self.sd() / n.sqrt()
            };
            return Some(Interval {
                lo: (self.mean - half).max(-1.0),
                hi: (self.mean + half).min(1.0),
                method: "normal".into(),
                ..i
            });
        }
        Some(i)
    }
}

/// Wilson's 95% interval of a share `p` of `n` trials.
pub fn wilson(p: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z * ((p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Latencies in log-spaced buckets (±2.5%): quantiles in constant memory.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            n: 0,
        }
    }
}

impl Histogram {
    fn bucket(ms: f64) -> usize {
        if ms.is_nan() || ms <= FIRST_MS {
            return 0;
        }
        let i = ((ms / FIRST_MS).ln() / RATIO.ln()).ceil();
        (i as usize).min(BUCKETS - 1)
    }

    fn upper(i: usize) -> f64 {
        FIRST_MS * RATIO.powi(i as i32)
    }

    /// Count one latency.
    pub fn add(&mut self, ms: f64) {
        if ms.is_finite() {
            let b = Self::bucket(ms);
            if let Some(c) = self.counts.get_mut(b) {
                *c += 1;
                self.n += 1;
            }
        }
    }

    /// The q-quantile (0–1), the upper bound of its bucket; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i);
            }
        }
        Self::upper(BUCKETS - 1)
    }

    /// p50, p95 and the non-empty buckets.
    pub fn latency(&self) -> Latency {
        Latency {
            p50: self.quantile(0.5),
            p95: self.quantile(0.95),
            histogram: self
                .counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| (Self::upper(i), *c))
                .collect(),
        }
    }
}

/// Everything measured of one target on one task type.
#[derive(Debug, Clone, Default)]
pub struct Acc {
    /// Answers asked for.
    pub requests: u64,
    /// Failed.
    pub errors: u64,
    /// Scores (a failure scores 0 on a scored task).
    pub quality: Welford,
    /// Cost of every request, USD.
    pub cost_usd: f64,
    /// Latency of answered requests.
    pub latency: Histogram,
    /// Tokens of answered requests.
    pub prompt_tokens: u64,
    /// Completion tokens of answered requests.
    pub completion_tokens: u64,
}

/// Paired differences of two targets on one task type.
#[derive(Debug, Clone, Default)]
pub struct PairAcc {
    /// `score(a) − score(b)` per task.
    pub diff: Welford,
    /// Tasks a did better on.
    pub a_better: u64,
    /// Tasks b did better on.
    pub b_better: u64,
}

impl PairAcc {
    /// Fold in one task's mean scores.
    pub fn add(&mut self, a: f64, b: f64) {
        self.diff.add(a - b);
        if a > b {
            self.a_better += 1;
        } else if b > a {
            self.b_better += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_a_known_value() {
        // 8 of 10: Wilson 95% is about [0.490, 0.943].
        let (lo, hi) = wilson(0.8, 10.0);
        assert!((lo - 0.4902).abs() < 1e-3, "{lo}");
        assert!((hi - 0.9433).abs() < 1e-3, "{hi}");
        assert_eq!(wilson(1.0, 50.0).1, 1.0);
    }

    #[test]
    fn welford_mean_and_interval() {
        let mut w = Welford::default();
        for x in [0.2, 0.4, 0.6, 0.8] {
            w.add(x);
        }
        let i = w.interval(0.0, 1.0).unwrap();
        assert!((i.mean - 0.5).abs() < 1e-12);
        assert_eq!(i.method, "normal");
        // sd = 0.2582, se = 0.1291, half = 0.253
        assert!((i.hi - 0.753).abs() < 1e-3, "{}", i.hi);
        let mut b = Welford::default();
        for x in [1.0, 1.0, 0.0, 1.0] {
            b.add(x);
        }
        assert_eq!(b.interval(0.0, 1.0).unwrap().method, "wilson");
    }

    #[test]
    fn identical_differences_have_a_point_interval() {
        let mut p = PairAcc::default();
        for _ in 0..30 {
            p.add(1.0, 1.0);
        }
        let i = p.diff.diff_interval().unwrap();
        assert_eq!((i.lo, i.mean, i.hi), (0.0, 0.0, 0.0));
        assert_eq!((p.a_better, p.b_better), (0, 0));
    }

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for i in 1..=1000 {
            h.add(i as f64);
        }
        let p50 = h.quantile(0.5);
        assert!((500.0..=525.0).contains(&p50), "{p50}");
        let p95 = h.quantile(0.95);
        assert!((950.0..=998.0).contains(&p95), "{p95}");
        h.add(f64::NAN);
        h.add(1e12);
        assert_eq!(Histogram::default().quantile(0.5), 0.0);
    }
}
