//! `report.html`: the run's summary as one self-contained page (inline CSS
//! and SVG, no script, nothing fetched at view time). A header with the
//! dataset, the run's settings, spend and request counters (and a warning
//! when the run stopped early); then per task type, `all` last, a table of
//! the targets (quality with its 95% interval, cost per 1,000 requests,
//! latency p50/p95, errors, chosen / Pareto front / within margin), a
//! cost-against-quality scatter with the Pareto front, each target's
//! latency distribution, the routing decision with its savings, and the
//! paired comparisons.

use std::fmt::Write as _;

use super::summary::{Decision, Interval, Pair, Summary, TargetResult, TaskType};

mod axis;
mod svg;

/// The page's style sheet (light, system fonts).
const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa;
  --accent: #2563eb; --chosen: #c2410c; --front: #15803d; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 1.6em; margin: 0 0 12px; } h2 { font-size: 1.3em; margin: 0 0 4px; } h3 { font-size: 1.05em; margin: 20px 0 8px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 8px 24px; margin: 0; }
.facts div { border-left: 3px solid var(--line); padding-left: 10px; } .facts div.wide { grid-column: 1 / -1; }
.facts dt { color: var(--muted); font-size: 0.85em; }
.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.banner { margin: 16px 0; padding: 12px 16px; border: 1px solid #d4a72c; border-radius: 6px;
  background: #fff8c5; color: #4d2d00; }
nav { margin: 16px 0 0; color: var(--muted); }
nav a { color: var(--accent); margin-right: 12px; }
section.task { border-top: 1px solid var(--line); margin-top: 28px; padding-top: 20px; }
.meta, .note, footer { color: var(--muted); } .note { font-size: 0.9em; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.n, td.name { white-space: nowrap; } td.n { text-align: right; } td.marks { min-width: 9em; }
tr.chosen td { background: #fff4ec; }
.ci { color: var(--muted); }
.badge { display: inline-block; font-size: 0.8em; padding: 1px 7px; border-radius: 10px; margin: 0 4px 2px 0;
  border: 1px solid var(--line); white-space: nowrap; }
.badge.chosen { background: var(--chosen); border-color: var(--chosen); color: #fff; font-weight: 600; }
.badge.pareto { color: var(--front); border-color: var(--front); }
.badge.margin { color: var(--accent); border-color: var(--accent); }
.decision { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 4px 16px; margin: 16px 0; }
.decision .save { color: var(--front); font-weight: 600; }
.reason { color: var(--muted); font-style: italic; }
figure { margin: 16px 0; } figcaption { color: var(--muted); font-size: 0.88em; max-width: 820px; }
svg.chart { width: 100%; height: auto; max-width: 820px; display: block; font-size: 12px; }
svg.chart text { fill: var(--fg); font-family: inherit; }
svg.chart .tick, svg.chart .sub { fill: var(--muted); font-size: 11px; }
svg.chart .axis-title { fill: var(--muted); font-size: 12px; }
svg.chart .grid line, svg.chart .sep { stroke: #eaeef2; } svg.chart .axis line { stroke: #8c959f; }
svg.chart .point { fill: var(--accent); stroke: #fff; stroke-width: 1.5; }
svg.chart .point.on-front { fill: var(--front); }
svg.chart .point.chosen { fill: var(--chosen); }
svg.chart .ring { fill: none; stroke: var(--chosen); stroke-width: 2; }
svg.chart .errbar { stroke: #8c959f; stroke-width: 1.5; }
svg.chart .pareto { fill: none; stroke: var(--front); stroke-width: 2; stroke-dasharray: 6 4; opacity: 0.8; }
svg.chart .label { font-size: 12px; }
svg.chart .bar { fill: #93c5fd; }
svg.chart .p50 { stroke: #1e3a8a; stroke-width: 2; }
svg.chart .p95 { stroke: #b91c1c; stroke-width: 2; stroke-dasharray: 4 3; }
footer { padding: 24px; font-size: 0.85em; }
"#;

/// The report of a run: one self-contained HTML page (see the module doc).
/// Never fails: missing or non-finite figures show as "—".
pub fn render(summary: &Summary) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Switchyard bench: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&summary.dataset)
    );
    header(&mut h, summary);
    // Task types in order, `all` last.
    let (all, rest): (Vec<&TaskType>, Vec<&TaskType>) =
        summary.task_types.iter().partition(|t| t.task == "all");
    let ordered: Vec<&TaskType> = rest.into_iter().chain(all).collect();
    if ordered.len() > 1 {
        h.push_str("<nav>Task types: ");
        for (i, t) in ordered.iter().enumerate() {
            let _ = write!(h, "<a href=\"#task-{i}\">{}</a>", escape(&t.task));
        }
        h.push_str("</nav>\n");
    }
    h.push_str("</header>\n<main>\n");
    if ordered.is_empty() {
        h.push_str("<p class=\"note\">No task type has results: nothing ran.</p>\n");
    }
    for (i, t) in ordered.iter().enumerate() {
        section(&mut h, i, t);
    }
    h.push_str(
        "</main>\n<footer>Written by <code>switchyard bench</code>; the figures are those of \
         <code>summary.json</code>.</footer>\n</body>\n</html>\n",
    );
    h
}

/// The title, the run's facts and the early-stop warning (leaves `<header>`
/// open for the navigation).
fn header(h: &mut String, s: &Summary) {
    let r = &s.requests;
    let _ = write!(
        h,
        "<header>\n<h1>Bench report: <code>{}</code></h1>\n",
        escape(&s.dataset)
    );
    if let Some(why) = &s.stopped {
        let what = match why.as_str() {
            "budget" => "the spend budget (<code>--budget-usd</code>) ran out".to_string(),
            "interrupted" => "it was interrupted".to_string(),
            other => format!("<code>{}</code>", escape(other)),
        };
        let _ = writeln!(
            h,
            "<div class=\"banner\" role=\"alert\"><strong>Partial results.</strong> The run stopped \
             before the end because {what}; {} requests were skipped. The figures below cover only \
             what ran.</div>",
            count(r.skipped)
        );
    }
    let targets = s
        .targets
        .iter()
        .map(|t| {
            format!(
                "{} <span class=\"ci\">({})</span>",
                escape(&t.name),
                escape(&t.kind)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let facts = [
        ("Dataset", format!("<code>{}</code>", escape(&s.dataset))),
        ("Tasks", count(s.tasks)),
        ("Repeat", format!("× {}", s.repeat)),
        ("Margin", num(s.margin)),
        ("Started", escape(&s.started_at)),
        ("Duration", duration(s.duration_s)),
        (
            "Spend",
            format!("{} (judge {})", money(s.spend_usd), money(s.judge_usd)),
        ),
        (
            "Requests",
            format!(
                "{} sent · {} cached · {} errors · {} skipped",
                count(r.sent),
                count(r.cached),
                count(r.errors),
                count(r.skipped)
            ),
        ),
        (
            "Targets",
            if targets.is_empty() {
                "—".into()
            } else {
                targets
            },
        ),
    ];
    h.push_str("<dl class=\"facts\">\n");
    for (k, v) in facts {
        let wide = if k == "Targets" {
            " class=\"wide\""
        } else {
            ""
        };
        let _ = writeln!(h, "<div{wide}><dt>{k}</dt><dd>{v}</dd></div>");
    }
    h.push_str("</dl>\n");
}

/// One task type's section.
fn section(h: &mut String, i: usize, t: &TaskType) {
    let name = escape(&t.task);
    let _ = write!(
        h,
        "<section class=\"task\" data-task=\"{name}\" id=\"task-{i}\">\n<h2>{}</h2>\n\
         <p class=\"meta\">{} tasks · {}</p>\n",
        if t.task == "all" {
            "All tasks".to_string()
        } else {
            format!("Task type <code>{name}</code>")
        },
        count(t.tasks),
        if t.scored {
            "scored"
        } else {
            "not scored (no <code>eval</code> or <code>expected</code>)"
        }
    );
    match &t.decision {
        Some(d) => decision(h, d),
        None => h.push_str(
            "<p class=\"note\">No routing decision: no model has scored answers for this task type.</p>\n",
        ),
    }
    targets_table(h, &t.targets);
    match svg::scatter(t).filter(|_| t.scored) {
        Some(chart) => {
            let _ = writeln!(
                h,
                "<figure>{chart}<figcaption>Cost against quality: bars are 95% intervals, the dashed \
                 line joins the Pareto front, ★ marks the chosen target.</figcaption></figure>"
            );
        }
        None if t.scored => h.push_str("<p class=\"note\">No target has a quality to plot.</p>\n"),
        None => h.push_str(
            "<p class=\"note\">Not scored, so there is no cost-against-quality chart.</p>\n",
        ),
    }
    match svg::latency(&t.targets) {
        Some(chart) => {
            let _ = writeln!(
                h,
                "<figure>{chart}<figcaption>Latency of answered requests: bars are each target's \
                 distribution (scaled to its own peak), the solid line its p50, the dashed line its \
                 p95.</figcaption></figure>"
            );
        }
        None => h.push_str("<p class=\"note\">No latency recorded.</p>\n"),
    }
    pairs_table(h, &t.pairs);
    h.push_str("</section>\n");
}

/// The routing decision, with what it saves against the best.
fn decision(h: &mut String, d: &Decision) {
    let model = escape(&d.model);
    let best = escape(&d.best);
    let fallbacks = if d.fallbacks.is_empty() {
        String::from(", with no fallback")
    } else {
        let list: Vec<String> = d
            .fallbacks
            .iter()
            .map(|f| format!("<code>{}</code>", escape(f)))
            .collect();
        format!(", falling back to {}", list.join(" → "))
    };
    let _ = write!(
        h,
        "<div class=\"decision\">\n<h3>Routing decision</h3>\n<p>Route to <strong><code>{model}</code></strong>{fallbacks}.</p>\n"
    );
    if d.model == d.best {
        let _ = writeln!(
            h,
            "<p>It is also the best by mean quality ({} per 1,000 requests).</p>",
            money(d.cost_per_1k)
        );
    } else {
        let _ = writeln!(
            h,
            "<p>Best by mean quality: <code>{best}</code> ({} per 1,000 requests).</p>",
            money(d.best_cost_per_1k)
        );
    }
    let baseline = escape(&d.baseline);
    let saving = if !d.savings.is_finite() {
        String::new()
    } else if d.savings > 0.0005 {
        format!("<span class=\"save\">saves {}</span>", pct(d.savings))
    } else if d.savings < -0.0005 {
        format!("costs {} more", pct(-d.savings))
    } else {
        String::from("costs the same")
    };
    let _ = writeln!(
        h,
        "<p>Against always using <code>{baseline}</code> (the best over all tasks): {} vs {} per 1,000 requests — {saving}.</p>",
        money(d.cost_per_1k),
        money(d.baseline_cost_per_1k)
    );
    let _ = write!(h, "<p class=\"reason\">{}</p>\n</div>\n", escape(&d.reason));
}

/// The targets' figures on a task type.
fn targets_table(h: &mut String, rows: &[TargetResult]) {
    if rows.is_empty() {
        h.push_str("<p class=\"note\">No targets.</p>\n");
        return;
    }
    h.push_str(
        "<div class=\"table-wrap\"><table class=\"targets\">\n<thead><tr><th>Target</th>\
         <th>Quality [95% interval]</th><th>Cost / 1k requests</th><th>Total cost</th>\
         <th>p50</th><th>p95</th><th>Errors</th><th>Tokens in / out</th><th></th></tr></thead>\n<tbody>\n",
    );
    for r in rows {
        let quality = match &r.quality {
            Some(q) => interval(q),
            None => "<span class=\"ci\">not scored</span>".to_string(),
        };
        let mut marks = String::new();
        if r.chosen {
            marks.push_str("<span class=\"badge chosen\" title=\"the routing decision's choice\">★ chosen</span>");
        }
        if r.pareto {
            marks.push_str(
                "<span class=\"badge pareto\" title=\"no other target is both cheaper and better\">Pareto front</span>",
            );
        }
        if r.within_margin {
            marks.push_str("<span class=\"badge margin\" title=\"within --margin of the best\">within margin</span>");
        }
        let _ = writeln!(
            h,
            "<tr data-target=\"{}\"{}><td class=\"name\"><strong>{}</strong> <span class=\"ci\">({})</span></td>\
             <td class=\"n\">{quality}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} of {} ({})</td>\
             <td class=\"n\">{} / {}</td><td class=\"marks\">{marks}</td></tr>",
            escape(&r.name),
            if r.chosen { " class=\"chosen\"" } else { "" },
            escape(&r.name),
            escape(&r.kind),
            money(r.cost_per_1k),
            money(r.cost_usd),
            ms(r.latency_ms.p50),
            ms(r.latency_ms.p95),
            count(r.errors),
            count(r.requests),
            pct(r.error_rate),
            tokens(r.mean_prompt_tokens),
            tokens(r.mean_completion_tokens),
        );
    }
    h.push_str("</tbody></table></div>\n");
}

/// The paired comparisons of a task type.
fn pairs_table(h: &mut String, pairs: &[Pair]) {
    if pairs.is_empty() {
        return;
    }
    h.push_str(
        "<h3>Paired comparisons</h3>\n<div class=\"table-wrap\"><table class=\"pairs\">\n<thead><tr>\
         <th>A</th><th>B</th><th>Mean A − B [95% interval]</th><th>Tasks</th><th>A better</th>\
         <th>B better</th><th>Verdict</th></tr></thead>\n<tbody>\n",
    );
    for p in pairs {
        let (a, b) = (escape(&p.a), escape(&p.b));
        let verdict = if p.diff.lo > 0.0 {
            format!("<code>{a}</code> better")
        } else if p.diff.hi < 0.0 {
            format!("<code>{b}</code> better")
        } else {
            "no clear difference".to_string()
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{a}</code></td><td><code>{b}</code></td><td class=\"n\" title=\"{}\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{verdict}</td></tr>",
            escape(&p.diff.method),
            interval(&p.diff),
            count(p.n),
            count(p.a_better),
            count(p.b_better),
        );
    }
    h.push_str("</tbody></table></div>\n");
}

/// `0.812 [0.750, 0.870]`.
fn interval(q: &Interval) -> String {
    format!(
        "{} <span class=\"ci\">[{}, {}]</span>",
        num(q.mean),
        num(q.lo),
        num(q.hi)
    )
}

/// Text made safe for HTML content and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `v` with `digits` significant digits (fixed notation).
fn sig(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let decimals = (f64::from(digits - 1) - v.abs().log10().floor()).clamp(0.0, 12.0) as usize;
    format!("{v:.decimals$}")
}

/// `s` without trailing zeros after its decimal point.
fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// USD: `$0.0123`, `$12.30`, `$1,234`; "—" when not finite.
fn money(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    let body = if a == 0.0 {
        "0".to_string()
    } else if a >= 1000.0 {
        group(&format!("{a:.0}"))
    } else if a >= 1.0 {
        format!("{a:.2}")
    } else if a >= 1e-6 {
        sig(a, 3)
    } else {
        format!("{a:.2e}")
    };
    format!("{sign}${body}")
}

/// Digits grouped by thousands: `1,234,567`.
fn group(digits: &str) -> String {
    let n = digits.chars().count();
    let mut out = String::with_capacity(n + n / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count with thousands separators.
fn count(n: u64) -> String {
    group(&n.to_string())
}

/// A score or difference: `0.812`; "—" when not finite.
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "—".into()
    }
}

/// A share as a percentage with one decimal: `12.5%`.
fn pct(share: f64) -> String {
    let p = share * 100.0;
    if p.is_finite() {
        format!("{p:.1}%")
    } else {
        "—".into()
    }
}

/// Mean tokens: `1,234` or `12.5`.
fn tokens(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v.abs() >= 100.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        format!("{sign}{}", group(&format!("{:.0}", v.abs())))
    } else {
        format!("{v:.1}")
    }
}

/// Milliseconds: `870 ms`, `1.26 s`; "—" when not finite or negative.
fn ms(v: f64) -> String {
    if !(v.is_finite() && v >= 0.0) {
        "—".into()
    } else if v >= 1000.0 {
        format!("{} s", trim_zeros(&sig(v / 1000.0, 3)))
    } else {
        format!("{} ms", trim_zeros(&sig(v, 3)))
    }
}

/// Seconds as `12.3 s`, `4m 05s` or `2h 03m`.
fn duration(s: f64) -> String {
    if !(s.is_finite() && s >= 0.0) {
        return "—".into();
    }
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let t = s.round() as u64;
    if t < 3600 {
        format!("{}m {:02}s", t / 60, t % 60)
    } else {
        format!("{}h {:02}m", count(t / 3600), (t % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::super::summary::{Latency, Requests, TargetRef};
    use super::*;

    /// `n` answers around `center` ms in the bench's buckets (0.05 × 1.05^i).
    fn latency(center: f64, n: u64) -> Latency {
        let mut histogram = Vec::new();
        let mut upper = 0.05f64;
        while upper < center * 4.0 {
            let d = (upper / center).ln();
            let c = (n as f64 * (-d * d * 4.0).exp() / 10.0).round() as u64;
            if c > 0 {
                histogram.push((upper, c));
            }
            upper *= 1.05;
        }
        Latency {
            p50: center,
            p95: center * 1.9,
            histogram,
        }
    }

    fn target(name: &str, kind: &str, q: Option<f64>, cost: f64, ms: f64) -> TargetResult {
        TargetResult {
            name: name.into(),
            kind: kind.into(),
            requests: 200,
            errors: 3,
            error_rate: 0.015,
            quality: q.map(|m| Interval {
                mean: m,
                lo: m - 0.05,
                hi: (m + 0.04).min(1.0),
                method: "wilson".into(),
            }),
            scored: 197,
            cost_per_1k: cost,
            cost_usd: cost / 5.0,
            latency_ms: latency(ms, 197),
            mean_prompt_tokens: 412.5,
            mean_completion_tokens: 88.0,
            pareto: false,
            within_margin: false,
            chosen: false,
        }
    }

    fn task(name: &str, scored: bool) -> TaskType {
        let q = |v: f64| scored.then_some(v);
        let mut big = target("big-model", "model", q(0.91), 12.3, 2400.0);
        let mut mini = target("mini", "model", q(0.89), 0.45, 700.0);
        let mut tiny = target("tiny", "model", q(0.62), 0.02, 180.0);
        let router = target("smart-route", "route", q(0.88), 3.1, 1500.0);
        big.pareto = true;
        mini.pareto = true;
        tiny.pareto = true;
        big.within_margin = true;
        mini.within_margin = true;
        mini.chosen = scored;
        let pair = |a: &str, b: &str, d: f64| Pair {
            a: a.into(),
            b: b.into(),
            n: 200,
            diff: Interval {
                mean: d,
                lo: d - 0.03,
                hi: d + 0.03,
                method: "normal".into(),
            },
            a_better: 30,
            b_better: 25,
        };
        TaskType {
            task: name.into(),
            tasks: 200,
            scored,
            targets: vec![big, mini, tiny, router],
            pairs: if scored {
                vec![pair("big-model", "mini", 0.02), pair("mini", "tiny", 0.27)]
            } else {
                vec![]
            },
            decision: scored.then(|| Decision {
                model: "mini".into(),
                fallbacks: vec!["big-model".into(), "tiny".into()],
                best: "big-model".into(),
                cost_per_1k: 0.45,
                best_cost_per_1k: 12.3,
                baseline: "big-model".into(),
                baseline_cost_per_1k: 12.3,
                savings: (12.3 - 0.45) / 12.3,
                reason: "mini is within 0.02 of big-model on the paired interval and costs less"
                    .into(),
            }),
        }
    }

    fn sample() -> Summary {
        Summary {
            dataset: "datasets/support-tasks.jsonl".into(),
            tasks: 200,
            repeat: 1,
            margin: 0.02,
            started_at: "2026-05-01T10:00:00Z".into(),
            duration_s: 754.2,
            spend_usd: 3.4567,
            judge_usd: 0.42,
            stopped: None,
            requests: Requests {
                sent: 700,
                cached: 100,
                errors: 12,
                skipped: 0,
            },
            targets: ["big-model", "mini", "tiny"]
                .iter()
                .map(|n| TargetRef {
                    name: (*n).into(),
                    kind: "model".into(),
                })
                .chain([TargetRef {
                    name: "smart-route".into(),
                    kind: "route".into(),
                }])
                .collect(),
            // `all` first: the page puts it last anyway.
            task_types: vec![
                task("all", true),
                task("extract", true),
                task("chitchat", false),
            ],
        }
    }

    #[test]
    fn renders_sections_charts_and_decision() {
        let html = render(&sample());
        assert!(html.starts_with("<!DOCTYPE html>"));
        let extract = html
            .find(r#"<section class="task" data-task="extract""#)
            .unwrap();
        let chitchat = html
            .find(r#"<section class="task" data-task="chitchat""#)
            .unwrap();
        let all = html
            .find(r#"<section class="task" data-task="all""#)
            .unwrap();
        assert!(extract < chitchat && chitchat < all, "all goes last");
        assert_eq!(
            html.matches(r#"<svg class="chart scatter""#).count(),
            2,
            "not for the unscored type"
        );
        assert_eq!(html.matches(r#"<svg class="chart latency""#).count(), 3);
        assert!(html.contains("Not scored, so there is no cost-against-quality chart"));
        assert_eq!(
            html.matches(r#"<circle class="point chosen" data-target="mini""#)
                .count(),
            2
        );
        assert_eq!(html.matches(r#"<polyline class="pareto""#).count(), 2);
        assert!(html.contains("USD (log scale)"), "costs span 615×");
        assert!(html.contains("Against always using <code>big-model</code>"));
        assert!(html.contains("saves 96.3%"));
        assert!(
            html.contains("★ chosen")
                && html.contains("within margin")
                && html.contains("Pareto front")
        );
        assert!(html.contains("0.890 <span class=\"ci\">[0.840, 0.930]</span>"));
        assert!(html.contains("3 of 200 (1.5%)"));
        assert!(html.contains("<h3>Paired comparisons</h3>"));
        for tag in ["section", "svg", "table", "figure", "div", "g"] {
            let open = html.matches(&format!("<{tag} ")).count()
                + html.matches(&format!("<{tag}>")).count();
            assert_eq!(
                open,
                html.matches(&format!("</{tag}>")).count(),
                "<{tag}> balanced"
            );
        }
        assert!(!html.contains("role=\"alert\""));
        // Look at it: SWITCHYARD_REPORT_SAMPLE=/tmp/report-sample.html cargo test
        if let Ok(path) = std::env::var("SWITCHYARD_REPORT_SAMPLE") {
            let mut s = sample();
            s.stopped = Some("budget".into());
            s.requests.skipped = 1234;
            std::fs::write(path, render(&s)).unwrap();
        }
    }

    #[test]
    fn no_url_but_the_svg_namespace() {
        let html = render(&sample());
        for scheme in ["http://", "https://"] {
            for (i, _) in html.match_indices(scheme) {
                let around = &html[i.saturating_sub(7)..];
                assert!(
                    around.starts_with(r#"xmlns="http://www.w3.org/2000/svg""#),
                    "URL at {i}"
                );
            }
        }
        assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("<img"));
        assert!(!html.contains("url("), "no CSS fetches");
    }

    #[test]
    fn escapes_names_and_text() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let mut s = sample();
        let evil = "<script>alert(1)</script>";
        s.dataset = format!("{evil}.jsonl");
        s.stopped = Some(evil.into());
        s.targets[0].name = evil.into();
        for t in &mut s.task_types {
            t.task = format!("{evil}\"");
            t.targets[0].name = evil.into();
            t.pairs.iter_mut().for_each(|p| p.a = evil.into());
            if let Some(d) = &mut t.decision {
                d.model = evil.into();
                d.reason = evil.into();
                d.fallbacks = vec![evil.into()];
            }
        }
        let html = render(&s);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains(r#"data-task="&lt;script&gt;alert(1)&lt;/script&gt;&quot;""#));
    }

    #[test]
    fn stopped_runs_say_so() {
        let mut s = sample();
        s.stopped = Some("budget".into());
        s.requests.skipped = 1_234_567;
        let html = render(&s);
        assert!(html.contains(r#"<div class="banner" role="alert"><strong>Partial results."#));
        assert!(html.contains("--budget-usd") && html.contains("1,234,567 requests were skipped"));
        s.stopped = Some("interrupted".into());
        assert!(render(&s).contains("it was interrupted"));
    }

    #[test]
    fn empty_and_hostile_summaries_do_not_panic() {
        let mut s = sample();
        s.task_types.clear();
        s.targets.clear();
        let html = render(&s);
        assert!(html.contains("nothing ran") && html.ends_with("</html>\n"));

        let nan = f64::NAN;
        let mut s = sample();
        s.margin = nan;
        s.duration_s = f64::INFINITY;
        s.spend_usd = -f64::INFINITY;
        s.judge_usd = f64::MAX;
        s.tasks = u64::MAX;
        s.requests = Requests {
            sent: u64::MAX,
            cached: u64::MAX,
            errors: u64::MAX,
            skipped: u64::MAX,
        };
        for (k, t) in s.task_types.iter_mut().enumerate() {
            for (j, r) in t.targets.iter_mut().enumerate() {
                r.cost_per_1k = [nan, 0.0, -1.0, f64::MAX][j % 4];
                r.error_rate = nan;
                r.errors = u64::MAX;
                r.mean_prompt_tokens = f64::INFINITY;
                if let Some(q) = &mut r.quality {
                    *q = Interval {
                        mean: [nan, 1e300, -5.0, 0.5][j % 4],
                        lo: nan,
                        hi: f64::INFINITY,
                        method: String::new(),
                    };
                }
                r.latency_ms = Latency {
                    p50: [nan, 0.0, -3.0, f64::MAX][j % 4],
                    p95: f64::INFINITY,
                    histogram: [
                        vec![],
                        vec![(nan, 3), (0.0, u64::MAX), (-1.0, 2)],
                        vec![(f64::MAX, u64::MAX), (1e-300, u64::MAX)],
                        vec![(5.0, 0)],
                    ][(j + k) % 4]
                        .clone(),
                };
            }
            t.pairs.iter_mut().for_each(|p| {
                p.diff = Interval {
                    mean: nan,
                    lo: nan,
                    hi: nan,
                    method: String::new(),
                }
            });
            if let Some(d) = &mut t.decision {
                d.savings = nan;
                d.cost_per_1k = f64::INFINITY;
                d.fallbacks.clear();
            }
        }
        let html = render(&s);
        assert!(html.ends_with("</html>\n") && html.contains("—"));
        assert!(
            !html.contains("NaN") && !html.contains("inf"),
            "no raw non-finite figures"
        );

        // No targets at all, and every target without a latency.
        let mut s = sample();
        s.task_types.iter_mut().for_each(|t| t.targets.clear());
        assert!(render(&s).contains("No targets."));
        let mut s = sample();
        s.task_types
            .iter_mut()
            .flat_map(|t| t.targets.iter_mut())
            .for_each(|r| r.latency_ms = Latency::default());
        assert!(render(&s).contains("No latency recorded."));
    }

    #[test]
    fn cost_axes_for_close_and_zero_costs() {
        let mut s = sample();
        s.task_types.truncate(1);
        for (j, r) in s.task_types[0].targets.iter_mut().enumerate() {
            r.cost_per_1k = 1.0 + j as f64;
        }
        let html = render(&s);
        assert!(
            html.contains(r#"<svg class="chart scatter""#) && !html.contains("USD (log scale)")
        );
        s.task_types[0]
            .targets
            .iter_mut()
            .for_each(|r| r.cost_per_1k = 0.0);
        let html = render(&s);
        assert!(html.contains(r#"text-anchor="middle">$0</text>"#));
        // A free target among ones spanning 100×: log axis with a slot for $0.
        s.task_types[0].targets[1].cost_per_1k = 0.1;
        s.task_types[0].targets[2].cost_per_1k = 10.0;
        let html = render(&s);
        assert!(
            html.contains("USD (log scale)") && html.contains(r#"text-anchor="middle">$0</text>"#)
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(money(0.0123), "$0.0123");
        assert_eq!(money(0.45), "$0.450");
        assert_eq!(money(12.3), "$12.30");
        assert_eq!(money(1234.4), "$1,234");
        assert_eq!(money(0.0), "$0");
        assert_eq!(money(-2.5), "-$2.50");
        assert_eq!(money(nan()), "—");
        assert_eq!(pct(0.6337), "63.4%");
        assert_eq!(ms(870.0), "870 ms");
        assert_eq!(ms(1260.0), "1.26 s");
        assert_eq!(ms(0.05), "0.05 ms");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(duration(754.2), "12m 34s");
        assert_eq!(duration(7384.0), "2h 03m");
    }

    fn nan() -> f64 {
        f64::NAN
    }
}
