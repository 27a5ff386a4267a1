//! The report's charts as inline SVG, drawn here so the page needs no
//! script: cost against quality per task type, and each target's latency
//! distribution on a shared log axis. Every position is clamped to the
//! chart, so no figure (NaN, infinite, negative, huge) can break the layout.

use std::fmt::Write as _;

use super::super::summary::{TargetResult, TaskType};
use super::axis::{Scale, cost_scale, cost_tick, quality_scale, quality_tick};
use super::{escape, ms};

/// The SVG namespace, the only URL the page holds.
const NS: &str = "http://www.w3.org/2000/svg";

/// Scatter: width, height, margins left, right, top, bottom, inset of the
/// points from the axes.
const SW: f64 = 720.0;
const SH: f64 = 400.0;
const ML: f64 = 64.0;
const MR: f64 = 24.0;
const MT: f64 = 16.0;
const MB: f64 = 56.0;
const INSET: f64 = 14.0;

/// Latency chart: width, label column, right margin, top, row height,
/// axis height, and the number of display bins across the axis.
const LW: f64 = 720.0;
const LL: f64 = 190.0;
const LR: f64 = 24.0;
const LT: f64 = 8.0;
const RH: f64 = 46.0;
const LB: f64 = 44.0;
const BINS: usize = 60;

/// At most `n` characters of `s`, with `…` when cut.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `v` if finite, else 0 (for coordinates).
fn f(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A point of the scatter.
struct Pt<'a> {
    t: &'a TargetResult,
    cost: f64,
    q: f64,
    lo: f64,
    hi: f64,
}

/// Cost against quality of a task type's targets, with the quality
/// intervals as error bars, the Pareto front as a line and the chosen
/// target ringed. `None` when no target has a quality to plot.
pub(super) fn scatter(task: &TaskType) -> Option<String> {
    let pts: Vec<Pt> = task
        .targets
        .iter()
        .filter_map(|t| {
            let q = t.quality.as_ref()?;
            if !(q.mean.is_finite() && t.cost_per_1k.is_finite()) {
                return None;
            }
            let lo = if q.lo.is_finite() { q.lo } else { q.mean };
            let hi = if q.hi.is_finite() { q.hi } else { q.mean };
            Some(Pt {
                t,
                cost: t.cost_per_1k.max(0.0),
                q: q.mean,
                lo: lo.min(hi),
                hi: hi.max(lo),
            })
        })
        .collect();
    if pts.is_empty() {
        return None;
    }
    let costs: Vec<f64> = pts.iter().map(|p| p.cost).collect();
    let quals: Vec<f64> = pts.iter().flat_map(|p| [p.q, p.lo, p.hi]).collect();
    let (xs, ys) = (cost_scale(&costs), quality_scale(&quals));
    let pw = SW - ML - MR - 2.0 * INSET;
    let ph = SH - MT - MB - 2.0 * INSET;
    let x = |v: f64| f(ML + INSET + xs.frac(v) * pw);
    let y = |v: f64| f(SH - MB - INSET - ys.frac(v) * ph);
    let log = matches!(xs, Scale::Log { .. });
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r#"<svg class="chart scatter" xmlns="{NS}" viewBox="0 0 {SW} {SH}" role="img" aria-label="Cost per 1,000 requests against quality, task type {}">"#,
        escape(&task.task)
    );
    // Grid, ticks and axes.
    s.push_str(r#"<g class="grid">"#);
    for v in xs.ticks() {
        let px = x(v);
        let _ = write!(
            s,
            r#"<line x1="{px:.1}" y1="{MT}" x2="{px:.1}" y2="{:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            SH - MB,
            SH - MB + 16.0,
            escape(&cost_tick(v))
        );
    }
    let yt = ys.ticks();
    for v in &yt {
        let py = y(*v);
        let _ = write!(
            s,
            r#"<line x1="{ML}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            SW - MR,
            ML - 6.0,
            py + 4.0,
            quality_tick(*v, &yt)
        );
    }
    let _ = write!(
        s,
        r#"</g><g class="axis"><line x1="{ML}" y1="{b}" x2="{r}" y2="{b}"/><line x1="{ML}" y1="{MT}" x2="{ML}" y2="{b}"/></g><text class="axis-title" x="{cx:.1}" y="{ty}" text-anchor="middle">cost per 1,000 requests, USD{}</text><text class="axis-title" transform="translate(16 {cy:.1}) rotate(-90)" text-anchor="middle">quality (mean, 95% interval)</text>"#,
        if log { " (log scale)" } else { "" },
        b = SH - MB,
        r = SW - MR,
        cx = ML + (SW - ML - MR) / 2.0,
        ty = SH - 14.0,
        cy = MT + (SH - MT - MB) / 2.0,
    );
    // The Pareto front, cheapest first.
    let mut front: Vec<&Pt> = pts.iter().filter(|p| p.t.pareto).collect();
    front.sort_by(|a, b| a.cost.total_cmp(&b.cost).then(a.q.total_cmp(&b.q)));
    if front.len() > 1 {
        s.push_str(r#"<polyline class="pareto" points=""#);
        for p in &front {
            let _ = write!(s, "{:.1},{:.1} ", x(p.cost), y(p.q));
        }
        s.push_str(r#""><title>Pareto front: no other target is both cheaper and better</title></polyline>"#);
    }
    for p in &pts {
        let (px, py) = (x(p.cost), y(p.q));
        let (ylo, yhi) = (y(p.lo), y(p.hi));
        let name = escape(&p.t.name);
        let class = match (p.t.chosen, p.t.pareto) {
            (true, _) => "point chosen",
            (false, true) => "point on-front",
            _ => "point",
        };
        let (l, r) = (px - 4.0, px + 4.0);
        let _ = write!(
            s,
            r#"<g class="target"><line class="errbar" x1="{px:.1}" y1="{ylo:.1}" x2="{px:.1}" y2="{yhi:.1}"/><line class="errbar" x1="{l:.1}" y1="{ylo:.1}" x2="{r:.1}" y2="{ylo:.1}"/><line class="errbar" x1="{l:.1}" y1="{yhi:.1}" x2="{r:.1}" y2="{yhi:.1}"/>"#
        );
        if p.t.chosen {
            let _ = write!(
                s,
                r#"<circle class="ring" cx="{px:.1}" cy="{py:.1}" r="10"/>"#
            );
        }
        let _ = write!(
            s,
            r#"<circle class="{class}" data-target="{name}" cx="{px:.1}" cy="{py:.1}" r="5.5"><title>{name}: quality {} [{}, {}], {} per 1k requests</title></circle>"#,
            super::num(p.q),
            super::num(p.lo),
            super::num(p.hi),
            escape(&super::money(p.cost))
        );
        let right = px > ML + INSET + 0.72 * pw;
        let (lx, anchor) = if right {
            (px - 9.0, "end")
        } else {
            (px + 9.0, "start")
        };
        let _ = write!(
            s,
            r#"<text class="label" x="{lx:.1}" y="{:.1}" text-anchor="{anchor}">{}{}</text></g>"#,
            py - 7.0,
            if p.t.chosen { "★ " } else { "" },
            escape(&short(&p.t.name, 28))
        );
    }
    s.push_str("</svg>");
    Some(s)
}

/// The latency axis (log, ms) over every target's buckets and percentiles.
fn latency_scale(targets: &[TargetResult], ratio: f64) -> Option<Scale> {
    let mut min = f64::INFINITY;
    let mut max = 0.0f64;
    for t in targets {
        let l = &t.latency_ms;
        let uppers = l.histogram.iter().map(|(u, _)| *u);
        for (v, lower) in uppers
            .map(|u| (u, u / ratio))
            .chain([(l.p50, l.p50), (l.p95, l.p95)])
        {
            if v.is_finite() && v > 0.0 && lower > 0.0 {
                min = min.min(lower);
                max = max.max(v);
            }
        }
    }
    if !(min.is_finite() && max > 0.0) {
        return None;
    }
    let (mut lo, mut hi) = (min.log10() - 0.05, max.log10() + 0.05);
    if hi - lo < 1.0 {
        let mid = (lo + hi) / 2.0;
        (lo, hi) = (mid - 0.5, mid + 0.5);
    }
    Some(Scale::Log {
        lo,
        hi,
        zero: false,
    })
}

/// The buckets' width as a ratio: the smallest step between the upper
/// bounds of all histograms (1 when unknown).
fn bucket_ratio(targets: &[TargetResult]) -> f64 {
    let mut bounds: Vec<f64> = targets
        .iter()
        .flat_map(|t| t.latency_ms.histogram.iter().map(|(u, _)| *u))
        .filter(|u| u.is_finite() && *u > 0.0)
        .collect();
    bounds.sort_by(f64::total_cmp);
    let r = bounds
        .windows(2)
        .filter_map(|w| match w {
            [a, b] if *b > *a * 1.0001 => Some(b / a),
            _ => None,
        })
        .fold(f64::INFINITY, f64::min);
    if r.is_finite() {
        r.clamp(1.0, 10.0)
    } else {
        1.0
    }
}

/// Each target's latency distribution as a row of bars on a shared log
/// axis (each row scaled to its own peak), p50 a solid line and p95 a
/// dashed one. `None` when no target has a latency.
pub(super) fn latency(targets: &[TargetResult]) -> Option<String> {
    let ratio = bucket_ratio(targets);
    let xs = latency_scale(targets, ratio)?;
    let pw = LW - LL - LR;
    let x = |v: f64| f(LL + xs.frac(v) * pw);
    let bottom = LT + RH * targets.len() as f64;
    let height = bottom + LB;
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r#"<svg class="chart latency" xmlns="{NS}" viewBox="0 0 {LW} {height:.0}" role="img" aria-label="Latency distribution per target, ms, log scale">"#
    );
    s.push_str(r#"<g class="grid">"#);
    for v in xs.ticks() {
        let px = x(v);
        let _ = write!(
            s,
            r#"<line x1="{px:.1}" y1="{LT}" x2="{px:.1}" y2="{bottom:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 16.0,
            ms(v)
        );
    }
    let _ = write!(
        s,
        r#"</g><g class="axis"><line x1="{LL}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}"/></g><text class="axis-title" x="{:.1}" y="{:.1}" text-anchor="middle">latency of answered requests (log scale)</text>"#,
        LW - LR,
        LL + pw / 2.0,
        height - 8.0
    );
    for (k, t) in targets.iter().enumerate() {
        let base = LT + RH * (k as f64 + 1.0) - 4.0;
        let l = &t.latency_ms;
        let name = escape(&t.name);
        let _ = write!(
            s,
            r#"<g class="row" data-target="{name}"><text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}{}</text><text class="sub" x="{:.1}" y="{:.1}" text-anchor="end">p50 {} · p95 {}</text>"#,
            LL - 10.0,
            base - 22.0,
            if t.chosen { "★ " } else { "" },
            escape(&short(&t.name, 24)),
            LL - 10.0,
            base - 6.0,
            ms(l.p50),
            ms(l.p95)
        );
        // Re-bin onto the display bins (by each bucket's middle).
        let mut bins = [0u64; BINS];
        for (u, c) in &l.histogram {
            if u.is_finite() && *u > 0.0 {
                let i = (xs.frac(u / ratio.sqrt()) * BINS as f64) as usize;
                if let Some(b) = bins.get_mut(i.min(BINS - 1)) {
                    *b = b.saturating_add(*c);
                }
            }
        }
        let peak = bins.iter().copied().max().unwrap_or(0);
        let total = bins.iter().fold(0u64, |a, b| a.saturating_add(*b));
        if peak == 0 {
            let _ = write!(
                s,
                r#"<text class="sub" x="{:.1}" y="{:.1}">no answers</text>"#,
                LL + 6.0,
                base - 12.0
            );
        }
        let bw = pw / BINS as f64;
        for (i, c) in bins.iter().enumerate().filter(|(_, c)| **c > 0) {
            let h = f((*c as f64 / peak as f64) * (RH - 14.0)).max(1.0);
            let share = *c as f64 / total.max(1) as f64;
            let _ = write!(
                s,
                r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{}: {} answers ({})</title></rect>"#,
                LL + bw * i as f64 + 0.5,
                base - h,
                (bw - 1.0).max(0.5),
                bin_range(xs, i),
                super::count(*c),
                super::pct(share)
            );
        }
        for (v, class) in [(l.p50, "p50"), (l.p95, "p95")] {
            if v.is_finite() && v > 0.0 {
                let px = x(v);
                let _ = write!(
                    s,
                    r#"<line class="{class}" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{base:.1}"><title>{class} {}</title></line>"#,
                    base - RH + 10.0,
                    ms(v)
                );
            }
        }
        let _ = write!(
            s,
            r#"<line class="sep" x1="8" y1="{:.1}" x2="{:.1}" y2="{:.1}"/></g>"#,
            base + 4.0,
            LW - LR,
            base + 4.0
        );
    }
    s.push_str("</svg>");
    Some(s)
}

/// The latency range of display bin `i`, for its tooltip.
fn bin_range(xs: Scale, i: usize) -> String {
    match xs {
        Scale::Log { lo, hi, .. } => {
            let at = |j: usize| 10f64.powf(lo + (hi - lo) * j as f64 / BINS as f64);
            format!("{}–{}", ms(at(i)), ms(at(i + 1)))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cuts_on_characters() {
        assert_eq!(short("abcdef", 4), "abc…");
        assert_eq!(short("żółw", 4), "żółw");
        assert_eq!(short("żółwie", 4), "żół…");
        assert_eq!(short("ab", 0), "…");
    }
}
