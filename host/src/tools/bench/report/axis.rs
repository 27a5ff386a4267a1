//! Axes of the report's charts: scales that map figures to 0–1 (linear,
//! log with an optional slot for zero, or a single point when every value is
//! zero), and round tick values with their labels. Every mapping is finite
//! and clamped, whatever the figures.

/// Share of a log axis kept at its start for zero values.
const ZERO_SLOT: f64 = 0.08;

/// A mapping from values to 0–1 along an axis.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scale {
    /// Every value is zero: one point in the middle.
    Zero,
    /// Linear between `lo` and `hi`.
    Linear { lo: f64, hi: f64 },
    /// Log10 between `lo` and `hi` (log units); `zero` reserves a slot at
    /// the start for zero values.
    Log { lo: f64, hi: f64, zero: bool },
}

impl Scale {
    /// Where `v` falls, 0–1 (always finite).
    pub(super) fn frac(self, v: f64) -> f64 {
        let f = match self {
            Scale::Zero => 0.5,
            Scale::Linear { lo, hi } if hi > lo => (v - lo) / (hi - lo),
            Scale::Linear { .. } => 0.5,
            Scale::Log { lo, hi, zero } => {
                let start = if zero { ZERO_SLOT } else { 0.0 };
                if v > 0.0 && hi > lo {
                    start + (1.0 - start) * (v.log10() - lo) / (hi - lo)
                } else {
                    0.0
                }
            }
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Values to mark on the axis.
    pub(super) fn ticks(self) -> Vec<f64> {
        match self {
            Scale::Zero => vec![0.0],
            Scale::Linear { lo, hi } => linear_ticks(lo, hi),
            Scale::Log { lo, hi, zero } => {
                let mut t = log_ticks(lo, hi);
                if zero {
                    t.insert(0, 0.0);
                }
                t
            }
        }
    }
}

/// About five round values between `lo` and `hi`.
pub(super) fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return vec![lo];
    }
    let raw = span / 5.0;
    let e = raw.log10().floor();
    let mag = 10f64.powf(e);
    let m = [1.0, 2.0, 5.0]
        .into_iter()
        .find(|m| m * mag >= raw)
        .unwrap_or(10.0);
    let step = m * mag;
    if !(step.is_finite() && step > 0.0) {
        return vec![lo];
    }
    // k × m × 10^e, divided for a negative e so that 3 × 0.2 is 0.6.
    let at = |k: f64| {
        if e < 0.0 {
            k * m / 10f64.powf(-e)
        } else {
            k * step
        }
    };
    let first = (lo / step).ceil();
    (0..50)
        .map(|i| at(first + f64::from(i)))
        .take_while(|v| *v <= hi + step * 1e-9)
        .collect()
}

/// Round values between `10^lo` and `10^hi`: 1-2-5 (or finer) on a short
/// axis, decades on a long one.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if !(lo.is_finite() && hi.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let mults: &[f64] = if span <= 1.2 {
        &[1.0, 2.0, 3.0, 5.0]
    } else if span <= 3.5 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let every = (span / 8.0).ceil().max(1.0) as i64;
    let (first, last) = (lo.floor() as i64, hi.ceil() as i64);
    let mut out = Vec::new();
    for k in (first..=last).filter(|k| k.rem_euclid(every) == 0) {
        for m in mults {
            let v = m * 10f64.powi(k as i32);
            let l = v.log10();
            if l >= lo - 1e-9 && l <= hi + 1e-9 {
                out.push(v);
            }
        }
    }
    out
}

/// The cost axis: log when the non-zero costs span more than 20×.
pub(super) fn cost_scale(costs: &[f64]) -> Scale {
    let pos = costs.iter().copied().filter(|c| c.is_finite() && *c > 0.0);
    let (min, max) = pos.fold((f64::INFINITY, 0.0f64), |(a, b), c| (a.min(c), b.max(c)));
    if max <= 0.0 || !min.is_finite() {
        return Scale::Zero;
    }
    if max / min > 20.0 {
        let zero = costs.iter().any(|c| *c <= 0.0);
        return Scale::Log {
            lo: min.log10() - 0.1,
            hi: max.log10() + 0.1,
            zero,
        };
    }
    // Up to the first round value past the largest cost (and a bit).
    let ticks = linear_ticks(0.0, max * 1.05);
    let step = match ticks.as_slice() {
        [a, b, ..] => b - a,
        _ => max,
    };
    let last = ticks.last().copied().unwrap_or(max);
    let hi = if last < max * 1.05 { last + step } else { last };
    Scale::Linear { lo: 0.0, hi }
}

/// The quality axis: 0–1, or the data's range padded when it is narrow or
/// out of 0–1.
pub(super) fn quality_scale(values: &[f64]) -> Scale {
    let vals = values.iter().copied().filter(|v| v.is_finite());
    let (min, max) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !(min.is_finite() && max.is_finite()) {
        return Scale::Linear { lo: 0.0, hi: 1.0 };
    }
    if min >= 0.0 && max <= 1.0 && max - min >= 0.25 {
        return Scale::Linear { lo: 0.0, hi: 1.0 };
    }
    let pad = ((max - min) * 0.1).max(0.02);
    let mut lo = min - pad;
    let mut hi = max + pad;
    if min >= 0.0 {
        lo = lo.max(0.0);
    }
    if max <= 1.0 {
        hi = hi.min(1.0);
    }
    if !(hi - lo).is_finite() {
        return Scale::Linear { lo: 0.0, hi: 1.0 };
    }
    Scale::Linear { lo, hi }
}

/// A tick label for a quality value, with as many decimals as the step needs.
pub(super) fn quality_tick(v: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => 0.1,
    };
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    format!("{v:.decimals$}")
}

/// A cost tick label: `$0.01`, `$2`, `$0`.
pub(super) fn cost_tick(v: f64) -> String {
    if v == 0.0 {
        return "$0".into();
    }
    let s = super::money(v);
    if s.contains('.') {
        super::trim_zeros(&s)
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(linear_ticks(0.0, 1.0), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(linear_ticks(0.8, 0.95), [0.8, 0.85, 0.9, 0.95]);
        assert_eq!(linear_ticks(1.0, 1.0), [1.0]);
        assert_eq!(linear_ticks(f64::NAN, 1.0).len(), 1);
        assert_eq!(
            log_ticks(0.0, 2.0),
            [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        assert_eq!(log_ticks(-3.0, 30.0).len(), 7, "every 5th decade of 33");
        assert!(log_ticks(f64::NEG_INFINITY, 1.0).is_empty());
        assert_eq!(log_ticks(-310.0, 310.0).len(), 7);
    }

    #[test]
    fn scales_stay_in_range() {
        let log = cost_scale(&[0.0, 0.1, 10.0]);
        assert!(matches!(log, Scale::Log { zero: true, .. }));
        assert_eq!(log.frac(0.0), 0.0);
        assert!(log.frac(0.1) > ZERO_SLOT && log.frac(10.0) < 1.0);
        assert_eq!(log.ticks().first(), Some(&0.0));
        assert!(matches!(
            cost_scale(&[1.0, 2.0]),
            Scale::Linear { lo: 0.0, hi: 2.5 }
        ));
        assert!(matches!(cost_scale(&[0.0, f64::NAN]), Scale::Zero));
        assert!(matches!(
            quality_scale(&[0.2, 0.9]),
            Scale::Linear { lo: 0.0, hi: 1.0 }
        ));
        let narrow = quality_scale(&[0.9, 0.95, 0.99]);
        assert!(matches!(narrow, Scale::Linear { lo, hi: 1.0 } if (lo - 0.88).abs() < 1e-9));
        for s in [log, narrow, Scale::Zero, Scale::Linear { lo: 1.0, hi: 1.0 }] {
            for v in [f64::NAN, f64::INFINITY, -f64::MAX, f64::MAX, 0.0, -1.0] {
                let f = s.frac(v);
                assert!((0.0..=1.0).contains(&f), "{s:?} {v} {f}");
            }
        }
        assert_eq!(cost_tick(0.01), "$0.01");
        assert_eq!(cost_tick(20.0), "$20");
        assert_eq!(quality_tick(0.85, &[0.8, 0.85]), "0.85");
    }
}
