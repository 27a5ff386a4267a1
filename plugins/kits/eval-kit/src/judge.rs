//! The `judge` evaluator: an LLM grades the answer against a rubric, asked
//! through the host's `models.complete` (the host sends the call through
//! that model's adapter with its key; the evaluator sees neither).
//!
//! ```toml
//! [evaluators.helpful]
//! plugin = "judge"
//! config = { model = "gpt-4o-mini", rubric = "Does the answer address the question directly and correctly?" }
//! ```
//!
//! Config keys:
//!
//! - `model` (required): a model of the gateway config (not a route);
//! - `rubric` (required): what a good answer is;
//! - `scale`: `1-5` (default; the score is (n − 1) / 4, label `1`…`5`) or
//!   `pass-fail` (1 or 0, label `pass` or `fail`);
//! - `max_tokens` (default 200): the judge's answer limit;
//! - `timeout_ms` (default 10000; the host caps it at 10 s);
//! - `name`: the score's name (default `judge`).
//!
//! The prompt ([`prompt`]) gives the rubric, the user's last message and the
//! answer (each cut to [`MAX_INPUT_CHARS`] characters) and asks for a first
//! line `SCORE: <1-5>` (or `VERDICT: PASS` / `VERDICT: FAIL`) and then a
//! one-sentence reason. The reply is read leniently ([`parse`]): any case,
//! Markdown emphasis or headings around it, `=` for `:`, `4/5`, text before
//! it; the reason (the explanation) is what follows on that line or the next
//! non-empty line, without a `Reason:` prefix. A reply with no readable
//! score, or a score outside the scale, is an error quoting it (shortened),
//! as is a failed model call. An answer with no text but tool calls has
//! nothing to score.
//!
//! With `mode = "pair"` the judge compares two answers to the same request
//! head to head (a route's shadow `compare`): the host hands it the other
//! answer (`other-answer`), the prompt shows both (A: this answer, B: the
//! other) and asks for `WINNER: A|B|TIE`; the score is 1 when A wins, 0
//! when B does, 0.5 for a tie (labels `a`, `b`, `tie`). The host asks twice
//! with the answers swapped, which cancels a preference for a position.
//! Without an other answer there is nothing to compare (no score).

use crate::config::Config;
use crate::text::shorten;
use crate::{Input, ModelCall, Models, Score};

/// The config keys `judge` knows besides `name`.
pub const KEYS: &[&str] = &[
    "model",
    "rubric",
    "scale",
    "max_tokens",
    "timeout_ms",
    "mode",
];

/// The user prompt of a head-to-head comparison: `a` is the answer being
/// scored, `b` the other.
pub fn pair_prompt(rubric: &str, user: Option<&str>, a: &str, b: &str) -> String {
    let user = user.map_or_else(|| "(none)".to_owned(), |u| shorten(u, MAX_INPUT_CHARS));
    format!(
        "Two assistants answered the same message. Decide which answer is better \
         against the rubric.\n\n\
         Rubric:\n{rubric}\n\n\
         The user's last message:\n<<<\n{user}\n>>>\n\n\
         Answer A:\n<<<\n{}\n>>>\n\n\
         Answer B:\n<<<\n{}\n>>>\n\n\
         Reply with exactly two lines and nothing else:\n\
         WINNER: <A, B or TIE>\nREASON: <one sentence>",
        shorten(a, MAX_INPUT_CHARS),
        shorten(b, MAX_INPUT_CHARS)
    )
}

/// Read a comparison's reply: 1 when A won, 0 when B did, 0.5 for a tie.
pub fn parse_pair(reply: &str) -> Result<Verdict, String> {
    for (i, line) in reply.lines().enumerate() {
        let clean: String = line
            .chars()
            .filter(|c| !matches!(c, '*' | '_' | '#' | '`'))
            .collect();
        let lower = clean.trim().to_ascii_lowercase();
        let Some(at) = lower.find("winner") else {
            continue;
        };
        let rest = lower[at + "winner".len()..].trim_start();
        let rest = rest
            .strip_prefix(':')
            .or_else(|| rest.strip_prefix('='))
            .or_else(|| rest.strip_prefix("is"))
            .unwrap_or(rest)
            .trim_start();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let (value, label) = match word.as_str() {
            "a" | "first" | "1" => (1.0, "a"),
            "b" | "second" | "2" => (0.0, "b"),
            "tie" | "draw" | "equal" | "both" | "neither" => (0.5, "tie"),
            _ => continue,
        };
        let after: Vec<String> = reply.lines().skip(i + 1).map(str::to_owned).collect();
        return Ok(Verdict {
            value,
            label: label.into(),
            reason: reason("", &after),
        });
    }
    Err(format!(
        "judge: no WINNER: A|B|TIE in the judge's reply: \"{}\"",
        shorten(reply.trim(), QUOTE)
    ))
}

/// The longest user message and answer (each, in characters) put in the
/// judge's prompt.
pub const MAX_INPUT_CHARS: usize = 8000;

/// How much of an unreadable reply an error quotes.
const QUOTE: usize = 200;

/// How long a reason may be.
const REASON: usize = 500;

/// The judge's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 1 (worst) to 5 (best).
    OneToFive,
    /// Pass or fail.
    PassFail,
}

/// The system prompt of every judge call.
pub const SYSTEM: &str = "You are a strict, fair grader of answers written by an AI assistant. \
You follow the output format exactly.";

/// The user prompt of a judge call.
pub fn prompt(scale: Scale, rubric: &str, user: Option<&str>, answer: &str) -> String {
    let user = user.map_or_else(|| "(none)".to_owned(), |u| shorten(u, MAX_INPUT_CHARS));
    let answer = shorten(answer, MAX_INPUT_CHARS);
    let format = match scale {
        Scale::OneToFive => {
            "SCORE: <a whole number from 1 (worst) to 5 (best)>\nREASON: <one sentence>"
        }
        Scale::PassFail => "VERDICT: <PASS or FAIL>\nREASON: <one sentence>",
    };
    format!(
        "Grade the assistant's answer against the rubric.\n\n\
         Rubric:\n{rubric}\n\n\
         The user's last message:\n<<<\n{user}\n>>>\n\n\
         The assistant's answer:\n<<<\n{answer}\n>>>\n\n\
         Reply with exactly two lines and nothing else:\n{format}"
    )
}

/// A judge's reading of a reply: the score value, its label and the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// 0 to 1.
    pub value: f64,
    /// `1`…`5`, or `pass` / `fail`.
    pub label: String,
    /// The judge's reason, when it gave one.
    pub reason: Option<String>,
}

/// Read a judge's reply; an error quotes the reply (shortened).
pub fn parse(scale: Scale, reply: &str) -> Result<Verdict, String> {
    let unreadable = || {
        format!(
            "judge: no {} in the judge's reply: \"{}\"",
            match scale {
                Scale::OneToFive => "SCORE: <1-5>",
                Scale::PassFail => "VERDICT: PASS|FAIL",
            },
            shorten(reply.trim(), QUOTE)
        )
    };
    // Markdown emphasis, headings and code marks carry no meaning here.
    let clean: Vec<String> = reply
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !matches!(c, '*' | '_' | '#' | '`'))
                .collect::<String>()
                .trim()
                .to_owned()
        })
        .collect();
    let keyword = match scale {
        Scale::OneToFive => "score",
        Scale::PassFail => "verdict",
    };
    for (i, line) in clean.iter().enumerate() {
        // ASCII lowercasing keeps byte offsets, so what is found in `lower`
        // is cut from `line` (the reason keeps its case).
        let lower = line.to_ascii_lowercase();
        let Some(at) = lower.find(keyword) else {
            continue;
        };
        let mut p = at + keyword.len();
        p += lower[p..].len() - lower[p..].trim_start().len();
        let Some(sep) = [":", "=", "-", "is"]
            .into_iter()
            .find(|sep| lower[p..].starts_with(sep))
        else {
            continue;
        };
        p += sep.len();
        p += lower[p..].len() - lower[p..].trim_start().len();
        let rest = &lower[p..];
        let (value, label, used) = match scale {
            Scale::OneToFive => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(rest.len());
                let digits = rest[..end].trim_end_matches('.');
                let Ok(n) = digits.parse::<f64>() else {
                    continue;
                };
                if !(1.0..=5.0).contains(&n) {
                    return Err(format!(
                        "judge: score {digits} is outside 1-5 in the judge's reply: \"{}\"",
                        shorten(reply.trim(), QUOTE)
                    ));
                }
                let mut used = digits.len();
                // `4/5` and `4 out of 5`.
                if let Some(suffix) = ["/5", "/ 5", " out of 5"]
                    .into_iter()
                    .find(|s| rest[used..].starts_with(s))
                {
                    used += suffix.len();
                }
                let label = if n.fract() == 0.0 {
                    format!("{n:.0}")
                } else {
                    digits.to_owned()
                };
                ((n - 1.0) / 4.0, label, used)
            }
            Scale::PassFail => {
                let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
                let value = match word.as_str() {
                    "pass" | "passed" => 1.0,
                    "fail" | "failed" => 0.0,
                    _ => continue,
                };
                let label = if value == 1.0 { "pass" } else { "fail" };
                (value, label.to_owned(), word.len())
            }
        };
        let tail = &line[p + used..];
        let reason = reason(tail, &clean[i + 1..]);
        return Ok(Verdict {
            value,
            label,
            reason,
        });
    }
    Err(unreadable())
}

/// The reason: the next non-empty line after the score's, else what follows
/// the score on its line, without a `Reason:` prefix.
fn reason(tail: &str, after: &[String]) -> Option<String> {
    let strip = |s: &str| -> String {
        let t = s.trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, '.' | ',' | ';' | '-' | '–' | '—' | ':' | ')' | '(')
        });
        let t = match t.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("reason:") => t[7..].trim_start(),
            _ => t,
        };
        t.trim().to_owned()
    };
    let next = after.iter().map(|l| strip(l)).find(|l| !l.is_empty());
    let same = strip(tail);
    next.or((!same.is_empty()).then_some(same))
        .map(|r| shorten(&r, REASON))
}

/// Score one answer.
pub fn evaluate(
    config: Option<&str>,
    input: &dyn Input,
    models: &dyn Models,
) -> Result<Vec<Score>, String> {
    let c = Config::parse("judge", config, KEYS)?;
    let name = c.name()?;
    let model = match c.string("model")? {
        Some(m) if !m.trim().is_empty() => m.to_owned(),
        _ => return Err("judge: `model` is required (a model of the gateway config)".into()),
    };
    let rubric = match c.string("rubric")? {
        Some(r) if !r.trim().is_empty() => r.to_owned(),
        _ => return Err("judge: `rubric` is required (what a good answer is)".into()),
    };
    let scale = match c.string("scale")?.unwrap_or("1-5") {
        "1-5" => Scale::OneToFive,
        "pass-fail" => Scale::PassFail,
        other => {
            return Err(format!(
                "judge: unknown scale `{other}` (expected `1-5` or `pass-fail`)"
            ));
        }
    };
    let max_tokens = c.u32("max_tokens")?.unwrap_or(200);
    if max_tokens == 0 {
        return Err("judge: `max_tokens` must be at least 1".into());
    }
    let timeout_ms = c.u32("timeout_ms")?.unwrap_or(10_000);
    let pair = match c.string("mode")?.unwrap_or("grade") {
        "grade" => false,
        "pair" => true,
        other => {
            return Err(format!(
                "judge: unknown mode `{other}` (expected `grade` or `pair`)"
            ));
        }
    };
    let answer = input.answer();
    if pair {
        let Some(other) = input.other_answer() else {
            return Ok(vec![]);
        };
        let call = ModelCall {
            model: model.clone(),
            system: Some(SYSTEM.to_owned()),
            prompt: pair_prompt(
                &rubric,
                input.last_user_message().as_deref(),
                &answer,
                &other,
            ),
            max_tokens,
            timeout_ms,
        };
        let reply = models
            .complete(&call)
            .map_err(|e| format!("judge: the call to model `{model}` failed: {e}"))?;
        let v = parse_pair(&reply)?;
        return Ok(vec![Score {
            name,
            value: v.value,
            label: Some(v.label),
            explanation: v.reason,
        }]);
    }
    if crate::text::is_blank(&answer) && input.has_tool_calls() {
        return Ok(vec![]);
    }
    let user = input.last_user_message();
    let call = ModelCall {
        model: model.clone(),
        system: Some(SYSTEM.to_owned()),
        prompt: prompt(scale, &rubric, user.as_deref(), &answer),
        max_tokens,
        timeout_ms,
    };
    let reply = models
        .complete(&call)
        .map_err(|e| format!("judge: the call to model `{model}` failed: {e}"))?;
    let v = parse(scale, &reply)?;
    Ok(vec![Score {
        name,
        value: v.value,
        label: Some(v.label),
        explanation: v.reason,
    }])
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::{NoModels, Plain};

    /// Answers every call with `reply` and remembers the calls.
    struct Fixed {
        reply: Result<String, String>,
        calls: RefCell<Vec<ModelCall>>,
    }

    impl Models for Fixed {
        fn complete(&self, call: &ModelCall) -> Result<String, String> {
            self.calls.borrow_mut().push(call.clone());
            self.reply.clone()
        }
    }

    fn fixed(reply: &str) -> Fixed {
        Fixed {
            reply: Ok(reply.to_owned()),
            calls: RefCell::new(vec![]),
        }
    }

    const CONFIG: &str = r#"{"model": "grader", "rubric": "Is it correct?"}"#;

    #[test]
    fn replies_are_read_leniently() {
        let cases: &[(&str, f64, &str, Option<&str>)] = &[
            (
                "SCORE: 5\nREASON: Correct and complete.",
                1.0,
                "5",
                Some("Correct and complete."),
            ),
            ("SCORE: 1\nWrong city.", 0.0, "1", Some("Wrong city.")),
            (
                "score: 3\nreason: partly right",
                0.5,
                "3",
                Some("partly right"),
            ),
            (
                "**Score:** 4\n**Reason:** Mostly right.",
                0.75,
                "4",
                Some("Mostly right."),
            ),
            ("## SCORE: 2\n\nReason: vague.", 0.25, "2", Some("vague.")),
            (
                "Here is my grading.\nScore = 4/5\nIt misses one detail.",
                0.75,
                "4",
                Some("It misses one detail."),
            ),
            (
                "SCORE: 4 out of 5 - solid answer",
                0.75,
                "4",
                Some("solid answer"),
            ),
            ("Score: 4.", 0.75, "4", None),
            ("SCORE: 3.5\nREASON: between", 0.625, "3.5", Some("between")),
            ("The score is 5. Perfect.", 1.0, "5", Some("Perfect.")),
        ];
        for (reply, value, label, reason) in cases {
            let v = parse(Scale::OneToFive, reply).unwrap_or_else(|e| panic!("{reply:?}: {e}"));
            assert_eq!(v.value, *value, "{reply:?}");
            assert_eq!(v.label, *label, "{reply:?}");
            assert_eq!(v.reason.as_deref(), *reason, "{reply:?}");
        }
        let pf: &[(&str, f64, &str)] = &[
            ("VERDICT: PASS\nREASON: ok", 1.0, "pass"),
            ("verdict: fail\nwrong", 0.0, "fail"),
            ("**VERDICT**: Passed", 1.0, "pass"),
        ];
        for (reply, value, label) in pf {
            let v = parse(Scale::PassFail, reply).unwrap();
            assert_eq!((v.value, v.label.as_str()), (*value, *label), "{reply:?}");
        }
    }

    #[test]
    fn unreadable_replies_are_errors_quoting_them() {
        for reply in [
            "I think it is good.",
            "SCORE: excellent",
            "",
            "VERDICT: PASS",
        ] {
            let e = parse(Scale::OneToFive, reply).unwrap_err();
            assert!(
                e.starts_with("judge: no SCORE: <1-5> in the judge's reply: \""),
                "{e}"
            );
        }
        let e = parse(Scale::OneToFive, "SCORE: 7\ngreat").unwrap_err();
        assert_eq!(
            e,
            "judge: score 7 is outside 1-5 in the judge's reply: \"SCORE: 7\ngreat\""
        );
        let e = parse(Scale::OneToFive, "SCORE: 0").unwrap_err();
        assert!(e.contains("outside 1-5"), "{e}");
        let e = parse(Scale::PassFail, "VERDICT: maybe").unwrap_err();
        assert!(
            e.starts_with("judge: no VERDICT: PASS|FAIL in the judge's reply"),
            "{e}"
        );
        let long = "x".repeat(1000);
        assert!(parse(Scale::OneToFive, &long).unwrap_err().chars().count() < 300);
    }

    #[test]
    fn asks_the_configured_model_with_the_prompt() {
        let models = fixed("SCORE: 4\nREASON: Good.");
        let input = Plain {
            last_user_message: Some("What is the capital of France?".into()),
            ..Plain::answer("Paris.")
        };
        let config = r#"{"model": "grader", "rubric": "Is it correct?", "max_tokens": 50, "timeout_ms": 3000, "name": "correct"}"#;
        let s = evaluate(Some(config), &input, &models).unwrap();
        assert_eq!(
            s,
            vec![Score {
                name: "correct".into(),
                value: 0.75,
                label: Some("4".into()),
                explanation: Some("Good.".into()),
            }]
        );
        let calls = models.calls.borrow();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(
            (call.model.as_str(), call.max_tokens, call.timeout_ms),
            ("grader", 50, 3000)
        );
        assert_eq!(call.system.as_deref(), Some(SYSTEM));
        for part in [
            "Is it correct?",
            "What is the capital of France?",
            "Paris.",
            "SCORE: ",
        ] {
            assert!(
                call.prompt.contains(part),
                "{part} missing from {}",
                call.prompt
            );
        }
    }

    #[test]
    fn pass_fail_scale() {
        let models = fixed("VERDICT: FAIL\nREASON: Wrong.");
        let config = r#"{"model": "g", "rubric": "r", "scale": "pass-fail"}"#;
        let s = evaluate(Some(config), &Plain::answer("x"), &models).unwrap();
        assert_eq!((s[0].value, s[0].label.as_deref()), (0.0, Some("fail")));
        assert!(
            models.calls.borrow()[0]
                .prompt
                .contains("VERDICT: <PASS or FAIL>")
        );
        // Defaults.
        let models = fixed("SCORE: 1");
        evaluate(Some(CONFIG), &Plain::answer("x"), &models).unwrap();
        let call = &models.calls.borrow()[0];
        assert_eq!((call.max_tokens, call.timeout_ms), (200, 10_000));
    }

    #[test]
    fn long_inputs_are_cut() {
        let p = prompt(Scale::OneToFive, "r", None, &"a".repeat(20_000));
        assert!(p.len() < 9_000);
        assert!(p.contains("(none)"));
    }

    #[test]
    fn failures() {
        let input = Plain::answer("x");
        let e = evaluate(Some(CONFIG), &input, &NoModels).unwrap_err();
        assert_eq!(
            e,
            "judge: the call to model `grader` failed: no model calls here"
        );
        let e = evaluate(Some(CONFIG), &input, &fixed("Looks fine to me")).unwrap_err();
        assert!(e.contains("\"Looks fine to me\""), "{e}");
        let err = |c: &str| evaluate(Some(c), &input, &fixed("SCORE: 5")).unwrap_err();
        assert_eq!(
            err(r#"{"rubric": "r"}"#),
            "judge: `model` is required (a model of the gateway config)"
        );
        assert_eq!(
            err(r#"{"model": "m"}"#),
            "judge: `rubric` is required (what a good answer is)"
        );
        assert_eq!(
            err(r#"{"model": "m", "rubric": "r", "scale": "1-10"}"#),
            "judge: unknown scale `1-10` (expected `1-5` or `pass-fail`)"
        );
        assert_eq!(
            err(r#"{"model": "m", "rubric": "r", "max_tokens": 0}"#),
            "judge: `max_tokens` must be at least 1"
        );
        assert!(
            err(r#"{"model": "m", "rubric": "r", "mood": "pair"}"#)
                .starts_with("judge: unknown config key `mood`")
        );
        assert!(evaluate(None, &input, &NoModels).is_err());
        // Tool calls and no text: nothing to judge, no call made.
        let models = fixed("SCORE: 5");
        let tools = Plain {
            tool_calls: true,
            ..Plain::answer("")
        };
        assert_eq!(evaluate(Some(CONFIG), &tools, &models).unwrap(), vec![]);
        assert!(models.calls.borrow().is_empty());
    }

    #[test]
    fn pairs_are_judged_head_to_head() {
        let config = r#"{"model": "grader", "rubric": "Is it correct?", "mode": "pair"}"#;
        let mut input = Plain::answer("Paris");
        input.last_user_message = Some("Capital of France?".into());
        // Not a comparison: nothing to score.
        assert_eq!(evaluate(Some(config), &input, &NoModels), Ok(vec![]));
        input.other_answer = Some("Lyon".into());
        for (reply, value, label) in [
            ("WINNER: A\nREASON: Paris is right.", 1.0, "a"),
            ("**Winner:** B\nBecause.", 0.0, "b"),
            ("winner = tie\nboth fine", 0.5, "tie"),
        ] {
            let models = fixed(reply);
            let s = evaluate(Some(config), &input, &models).unwrap();
            assert_eq!(
                (s[0].value, s[0].label.as_deref()),
                (value, Some(label)),
                "{reply}"
            );
            let prompt = &models.calls.borrow()[0].prompt;
            assert!(
                prompt.contains("Answer A:\n<<<\nParis") && prompt.contains("Answer B:\n<<<\nLyon")
            );
        }
        assert!(
            evaluate(Some(config), &input, &fixed("I like both"))
                .unwrap_err()
                .contains("WINNER")
        );
        let bad = r#"{"model": "g", "rubric": "r", "mode": "duel"}"#;
        assert!(
            evaluate(Some(bad), &input, &NoModels)
                .unwrap_err()
                .contains("duel")
        );
    }
}
