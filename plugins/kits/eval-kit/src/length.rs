//! The `length` evaluator: is the answer's length within bounds? Value 1
//! (`ok`) or 0 (`too-short`, `too-long`).
//!
//! ```toml
//! [evaluators.brief]
//! plugin = "length"
//! config = { max_tokens = 300, min_chars = 20 }
//! ```
//!
//! Config keys (at least one bound is required; a minimum above its
//! maximum is an error): `min_chars`, `max_chars` (characters of the answer's
//! text, counted as Unicode scalar values), `min_tokens`, `max_tokens`
//! (the answer's completion tokens as the upstream reported them, else
//! estimated as characters / 4 rounded up), `name` (default `length`).
//! Minimums are checked first; the explanation says which bound failed and
//! the measured figure (`412 characters, above max_chars 300`).

use crate::config::Config;
use crate::{Input, Models, Score};

/// The config keys `length` knows besides `name`.
pub const KEYS: &[&str] = &["min_chars", "max_chars", "min_tokens", "max_tokens"];

/// Characters per token of the estimate used when the upstream reported no
/// usage.
pub const CHARS_PER_TOKEN: u64 = 4;

/// Score one answer.
pub fn evaluate(
    config: Option<&str>,
    input: &dyn Input,
    _models: &dyn Models,
) -> Result<Vec<Score>, String> {
    let c = Config::parse("length", config, KEYS)?;
    let name = c.name()?;
    let min_chars = c.u32("min_chars")?;
    let max_chars = c.u32("max_chars")?;
    let min_tokens = c.u32("min_tokens")?;
    let max_tokens = c.u32("max_tokens")?;
    if [min_chars, max_chars, min_tokens, max_tokens]
        .iter()
        .all(Option::is_none)
    {
        return Err(
            "length: no bound: set at least one of `min_chars`, `max_chars`, `min_tokens`, `max_tokens`"
                .into(),
        );
    }
    for (unit, lo, hi) in [
        ("chars", min_chars, max_chars),
        ("tokens", min_tokens, max_tokens),
    ] {
        if let (Some(lo), Some(hi)) = (lo, hi)
            && lo > hi
        {
            return Err(format!(
                "length: `min_{unit}` ({lo}) is above `max_{unit}` ({hi})"
            ));
        }
    }
    let chars = input.answer().chars().count() as u64;
    let needs_tokens = min_tokens.is_some() || max_tokens.is_some();
    let (tokens, estimated) = match needs_tokens.then(|| input.completion_tokens()).flatten() {
        Some(t) => (u64::from(t), false),
        None => (chars.div_ceil(CHARS_PER_TOKEN), true),
    };
    let tokens_word = if estimated {
        "tokens (estimated)"
    } else {
        "tokens"
    };
    let checks = [
        (min_chars, chars, "characters", "min_chars", true),
        (min_tokens, tokens, tokens_word, "min_tokens", true),
        (max_chars, chars, "characters", "max_chars", false),
        (max_tokens, tokens, tokens_word, "max_tokens", false),
    ];
    for (bound, got, unit, key, is_min) in checks {
        let Some(bound) = bound.map(u64::from) else {
            continue;
        };
        if is_min && got < bound {
            return Ok(vec![Score::new(
                &name,
                0.0,
                "too-short",
                Some(format!("{got} {unit}, below {key} {bound}")),
            )]);
        }
        if !is_min && got > bound {
            return Ok(vec![Score::new(
                &name,
                0.0,
                "too-long",
                Some(format!("{got} {unit}, above {key} {bound}")),
            )]);
        }
    }
    Ok(vec![Score::new(&name, 1.0, "ok", None)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoModels, Plain};

    fn run(config: &str, answer: &str, tokens: Option<u32>) -> Result<Vec<Score>, String> {
        let input = Plain {
            completion_tokens: tokens,
            ..Plain::answer(answer)
        };
        evaluate(Some(config), &input, &NoModels)
    }

    #[test]
    fn golden() {
        // (config, answer, completion tokens, label, explanation)
        type Case<'a> = (&'a str, &'a str, Option<u32>, &'a str, Option<&'a str>);
        let cases: &[Case] = &[
            (r#"{"max_chars": 5}"#, "hello", None, "ok", None),
            (
                r#"{"max_chars": 4}"#,
                "hello",
                None,
                "too-long",
                Some("5 characters, above max_chars 4"),
            ),
            (
                r#"{"min_chars": 6}"#,
                "hello",
                None,
                "too-short",
                Some("5 characters, below min_chars 6"),
            ),
            // Characters, not bytes.
            (r#"{"max_chars": 3}"#, "été", None, "ok", None),
            (
                r#"{"max_tokens": 10}"#,
                "x",
                Some(11),
                "too-long",
                Some("11 tokens, above max_tokens 10"),
            ),
            (r#"{"min_tokens": 2}"#, "x", Some(2), "ok", None),
            // No usage: 9 characters are 3 tokens (rounded up).
            (
                r#"{"max_tokens": 2}"#,
                "123456789",
                None,
                "too-long",
                Some("3 tokens (estimated), above max_tokens 2"),
            ),
            (r#"{"max_tokens": 3}"#, "123456789", None, "ok", None),
            (
                r#"{"min_tokens": 1}"#,
                "",
                None,
                "too-short",
                Some("0 tokens (estimated), below min_tokens 1"),
            ),
            // Minimums first.
            (
                r#"{"min_chars": 10, "max_tokens": 1}"#,
                "abcdef",
                None,
                "too-short",
                Some("6 characters, below min_chars 10"),
            ),
            (
                r#"{"min_chars": 1, "max_chars": 100, "min_tokens": 1, "max_tokens": 100}"#,
                "fine",
                Some(1),
                "ok",
                None,
            ),
        ];
        for (i, (config, answer, tokens, want, why)) in cases.iter().enumerate() {
            let s = run(config, answer, *tokens).unwrap();
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].label.as_deref(), Some(*want), "case {i}");
            assert_eq!(
                s[0].value,
                if *want == "ok" { 1.0 } else { 0.0 },
                "case {i}"
            );
            assert_eq!(s[0].explanation.as_deref(), *why, "case {i}");
            assert_eq!(s[0].name, "length");
        }
    }

    #[test]
    fn errors() {
        assert!(
            run("{}", "x", None)
                .unwrap_err()
                .starts_with("length: no bound")
        );
        assert!(evaluate(None, &Plain::answer("x"), &NoModels).is_err());
        assert_eq!(
            run(r#"{"min_chars": 5, "max_chars": 4}"#, "x", None).unwrap_err(),
            "length: `min_chars` (5) is above `max_chars` (4)"
        );
        assert_eq!(
            run(r#"{"max_chars": -1}"#, "x", None).unwrap_err(),
            "length: `max_chars` must be a non-negative whole number, got -1"
        );
        assert!(
            run(r#"{"max_words": 3}"#, "x", None)
                .unwrap_err()
                .starts_with("length: unknown config key `max_words`")
        );
    }
}
