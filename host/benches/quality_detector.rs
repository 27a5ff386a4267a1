//! The answer-quality change detectors side by side, on seeded Bernoulli
//! streams (the simulation is `switchyard::monitor::quality::sim`): false
//! alarms on a stable 0.90 (100 runs × 10,000 samples; also 1,000 runs for
//! the chosen detector), and the delay from a fall to the alarm (500 runs:
//! median, p90, p95, max; `miss` = no alarm within 5,000 samples) for a few
//! sizes of fall, with the baseline pinned at the true rate or learned from
//! `baseline_samples` samples (the fall then comes 300 samples after the
//! baseline is formed).
//!
//! `cargo bench --bench quality_detector`

use switchyard::monitor::quality::detector::{BernoulliCusum, PageHinkley, ScoreCusum};
use switchyard::monitor::quality::sim::{self, Baseline, Scenario};

const DROP: f64 = 0.1;

fn row<D: switchyard::monitor::quality::detector::Detector>(
    name: &str,
    make: impl Fn(f64) -> D + Copy,
    baseline: Baseline,
) {
    let fa = sim::false_alarms(make, 0.9, baseline, 10_000, 100);
    let mut line = format!(
        "{name:<34} {:>4} {:>4}/{:<3}",
        fa.alarms, fa.runs_with_alarm, fa.runs
    );
    for after in [0.85, 0.80, 0.75, 0.70] {
        let d = sim::delays(
            make,
            Scenario {
                before: 0.9,
                after,
                baseline,
                gap: 300,
            },
            500,
            5_000,
        );
        let q = |p: f64| d.quantile(p).map_or("-".to_owned(), |v| v.to_string());
        line += &format!(
            " | {:>4} {:>4} {:>4} {:>5} {:>3}",
            q(0.5),
            q(0.9),
            q(0.95),
            d.samples.last().map_or("-".into(), |v| v.to_string()),
            d.missed
        );
    }
    println!("{line}");
}

fn main() {
    println!(
        "drop = {DROP}; false alarms: alarms, runs with one / runs (stable 0.90, 10,000 samples each)"
    );
    println!(
        "delays (samples after the fall; 500 runs): med p90 p95 max miss, for 0.90 -> 0.85 | 0.80 | 0.75 | 0.70\n"
    );
    println!(
        "{:<34} {:>14} | {:^26} | {:^26} | {:^26} | {:^26}",
        "detector, baseline", "false alarms", "-> 0.85", "-> 0.80", "-> 0.75", "-> 0.70"
    );
    for baseline in [
        Baseline::Pinned,
        Baseline::Learned(300),
        Baseline::Learned(1000),
        Baseline::Learned(2000),
    ] {
        let b = match baseline {
            Baseline::Pinned => "pinned".to_owned(),
            Baseline::Learned(n) => format!("learned {n}"),
        };
        for h in [6.0, 8.0, 10.0, 12.0, 14.0] {
            row(
                &format!("bernoulli-cusum h={h} {b}"),
                move |p0| BernoulliCusum::new(p0, DROP, h),
                baseline,
            );
        }
        for h in [8.0, 10.0, 12.0] {
            row(
                &format!("score-cusum h={h} {b}"),
                move |p0| ScoreCusum::new(p0, DROP, h),
                baseline,
            );
        }
        if matches!(baseline, Baseline::Pinned) {
            for h in [6.0, 8.0, 10.0] {
                row(
                    &format!("page-hinkley h={h}"),
                    move |_| PageHinkley::new(DROP, h),
                    baseline,
                );
            }
        }
        println!();
    }
    let chosen = sim::false_alarms(
        |p0| BernoulliCusum::new(p0, DROP, 12.0),
        0.9,
        Baseline::Learned(2000),
        10_000,
        1000,
    );
    println!(
        "defaults (bernoulli-cusum h=12, learned 2000), 1,000 stable runs of 10,000: {} alarms in {} runs",
        chosen.alarms, chosen.runs_with_alarm
    );
}
