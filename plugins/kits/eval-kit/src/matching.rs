//! The `match` evaluator: does the answer match the expected value? Value 1
//! (`pass`) or 0 (`fail`).
//!
//! ```toml
//! [evaluators.exact]
//! plugin = "match"
//! config = { mode = "number", tolerance = 0.01 }
//! ```
//!
//! The expected value is the request metadata's `expected_key` (default
//! `expected`: a body `metadata.expected`, or an `x-switchyard-meta-expected`
//! header), else the config's `expected`; with neither there is nothing to
//! score (no score). Modes (`mode`, default `exact`):
//!
//! | mode | passes when |
//! |---|---|
//! | `exact` | the answer equals the expected text |
//! | `contains` | the answer contains the expected text |
//! | `regex` | the expected regular expression (Rust `regex` syntax, by `regex-lite`: no Unicode classes) matches somewhere in the answer |
//! | `number` | the first number in the answer is within `tolerance` (absolute, default 0) of the expected number, or within `relative_tolerance` × \|expected\| when that is set |
//! | `one-of` | the answer equals one of the expected values: a JSON array (`["yes", "y"]`), else `a\|b\|c` |
//! | `json` | the answer, parsed as JSON (a Markdown fence around it is dropped), deep-equals the expected value parsed as JSON (numbers compare by value: `1` = `1.0`) |
//! | `json-fields` | the answer, parsed as a JSON object (fence dropped), has each field named in `fields` (default: every field of the expected object) equal to the expected object's; other fields are ignored |
//!
//! Text modes (`exact`, `contains`, `regex`, `one-of`) trim surrounding
//! whitespace from both sides first (`trim`, default true) and ignore case
//! (`case_sensitive`, default false: both sides lowercased; a regex gets the
//! `i` flag). `json` compares values exactly, and `number` needs neither.
//! A number is an optional `-` (not after a letter or digit), digits, an
//! optional fraction and an optional exponent (`-1.5e3`); `1,000` reads as
//! `1`. A config `expected` may be a string, or any JSON value (its JSON text
//! is the expected text: `expected = 42`, `expected = ["a", "b"]`).
//!
//! Errors (the evaluator could not work): an unknown key or mode, a
//! tolerance with a mode other than `number`, and an expected value the mode
//! cannot use (an invalid regex, a non-number for `number`, invalid JSON for
//! `json`), quoting it.

use serde_json::Value;

use crate::config::Config;
use crate::text::{shorten, strip_fences};
use crate::{Input, Models, Score};

/// The config keys `match` knows besides `name`.
pub const KEYS: &[&str] = &[
    "mode",
    "expected",
    "expected_key",
    "case_sensitive",
    "trim",
    "tolerance",
    "relative_tolerance",
    "fields",
];

/// The modes, as the config spells them.
pub const MODES: &[&str] = &[
    "exact",
    "contains",
    "regex",
    "number",
    "one-of",
    "json",
    "json-fields",
];

/// How long quoted answers and values may be in explanations.
const QUOTE: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Exact,
    Contains,
    Regex,
    Number,
    OneOf,
    Json,
    JsonFields,
}

/// Score one answer.
pub fn evaluate(
    config: Option<&str>,
    input: &dyn Input,
    _models: &dyn Models,
) -> Result<Vec<Score>, String> {
    let c = Config::parse("match", config, KEYS)?;
    let name = c.name()?;
    let mode = match c.string("mode")?.unwrap_or("exact") {
        "exact" => Mode::Exact,
        "contains" => Mode::Contains,
        "regex" => Mode::Regex,
        "number" => Mode::Number,
        "one-of" => Mode::OneOf,
        "json" => Mode::Json,
        "json-fields" => Mode::JsonFields,
        other => {
            return Err(format!(
                "match: unknown mode `{other}` (expected one of {})",
                MODES.join(", ")
            ));
        }
    };
    let tolerance = c.non_negative("tolerance")?;
    let relative = c.non_negative("relative_tolerance")?;
    if mode != Mode::Number
        && let Some(k) = ["tolerance", "relative_tolerance"]
            .into_iter()
            .find(|k| c.has(k))
    {
        return Err(format!("match: `{k}` applies to mode `number` only"));
    }
    let fields = c.strings("fields")?;
    if mode != Mode::JsonFields && c.has("fields") {
        return Err("match: `fields` applies to mode `json-fields` only".to_owned());
    }
    let case_sensitive = c.bool("case_sensitive", false)?;
    let trim = c.bool("trim", true)?;
    let key = c.string("expected_key")?.unwrap_or("expected");
    let from_metadata = input
        .metadata()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v);
    let expected = match from_metadata {
        Some(v) => v,
        None => match c.value("expected") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => return Ok(vec![]),
        },
    };
    let answer = input.answer();
    let text = Text {
        trim,
        case_sensitive,
    };
    let (pass, why) = match mode {
        Mode::Exact => {
            let pass = text.norm(&answer) == text.norm(&expected);
            (pass, (!pass).then(|| mismatch(&expected, &answer)))
        }
        Mode::Contains => {
            let pass = text.norm(&answer).contains(&text.norm(&expected));
            (
                pass,
                (!pass).then(|| {
                    format!(
                        "the answer does not contain \"{}\"",
                        shorten(&expected, QUOTE)
                    )
                }),
            )
        }
        Mode::Regex => {
            let re = regex_lite::RegexBuilder::new(&expected)
                .case_insensitive(!case_sensitive)
                .build()
                .map_err(|e| {
                    format!(
                        "match: invalid regex \"{}\": {}",
                        shorten(&expected, QUOTE),
                        one_line(&e.to_string())
                    )
                })?;
            let subject = if trim { answer.trim() } else { answer.as_str() };
            let pass = re.is_match(subject);
            (
                pass,
                (!pass)
                    .then(|| format!("/{}/ does not match the answer", shorten(&expected, QUOTE))),
            )
        }
        Mode::Number => {
            let want: f64 = expected
                .trim()
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| {
                    format!(
                        "match: expected value \"{}\" is not a number",
                        shorten(&expected, QUOTE)
                    )
                })?;
            match first_number(&answer) {
                None => (false, Some("no number in the answer".to_owned())),
                Some(got) => {
                    let diff = (got - want).abs();
                    let pass = diff <= tolerance.unwrap_or(0.0)
                        || relative.is_some_and(|r| diff <= r * want.abs());
                    (pass, (!pass).then(|| format!("expected {want}, got {got}")))
                }
            }
        }
        Mode::OneOf => {
            let options = one_of(&expected);
            let got = text.norm(&answer);
            let pass = options.iter().any(|o| text.norm(o) == got);
            (
                pass,
                (!pass).then(|| {
                    format!(
                        "\"{}\" is none of {}",
                        shorten(&answer, QUOTE),
                        shorten(&options.join(" | "), QUOTE)
                    )
                }),
            )
        }
        Mode::Json => {
            let want: Value = serde_json::from_str(strip_fences(&expected)).map_err(|e| {
                format!(
                    "match: expected value \"{}\" is not JSON: {e}",
                    shorten(&expected, QUOTE)
                )
            })?;
            match serde_json::from_str::<Value>(strip_fences(&answer)) {
                Err(e) => (false, Some(format!("the answer is not JSON: {e}"))),
                Ok(got) => {
                    let pass = json_equal(&got, &want);
                    (
                        pass,
                        (!pass).then(|| mismatch(&want.to_string(), &got.to_string())),
                    )
                }
            }
        }
        Mode::JsonFields => {
            let want: Value = serde_json::from_str(strip_fences(&expected)).map_err(|e| {
                format!(
                    "match: expected value \"{}\" is not JSON: {e}",
                    shorten(&expected, QUOTE)
                )
            })?;
            let Value::Object(want) = want else {
                return Err(format!(
                    "match: expected value \"{}\" is not a JSON object",
                    shorten(&expected, QUOTE)
                ));
            };
            match serde_json::from_str::<Value>(strip_fences(&answer)) {
                Err(e) => (false, Some(format!("the answer is not JSON: {e}"))),
                Ok(Value::Object(got)) => {
                    let names: Vec<&str> = if fields.is_empty() {
                        want.keys().map(String::as_str).collect()
                    } else {
                        fields.iter().map(String::as_str).collect()
                    };
                    let wrong = names.into_iter().find(|k| {
                        !matches!((got.get(*k), want.get(*k)), (Some(g), Some(w)) if json_equal(g, w))
                    });
                    match wrong {
                        None => (true, None),
                        Some(k) => (
                            false,
                            Some(match (got.get(k), want.get(k)) {
                                (None, _) => format!("field `{k}` is missing"),
                                (Some(g), Some(w)) => format!(
                                    "field `{k}`: {}",
                                    mismatch(&w.to_string(), &g.to_string())
                                ),
                                (Some(_), None) => {
                                    format!("field `{k}` is not in the expected object")
                                }
                            }),
                        ),
                    }
                }
                Ok(_) => (false, Some("the answer is not a JSON object".to_owned())),
            }
        }
    };
    Ok(vec![if pass {
        Score::new(&name, 1.0, "pass", None)
    } else {
        Score::new(&name, 0.0, "fail", why)
    }])
}

/// How text modes compare.
struct Text {
    trim: bool,
    case_sensitive: bool,
}

impl Text {
    fn norm(&self, s: &str) -> String {
        let s = if self.trim { s.trim() } else { s };
        if self.case_sensitive {
            s.to_owned()
        } else {
            s.to_lowercase()
        }
    }
}

fn mismatch(expected: &str, got: &str) -> String {
    format!(
        "expected \"{}\", got \"{}\"",
        shorten(expected, QUOTE),
        shorten(got, QUOTE)
    )
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The options of `one-of`: a JSON array (strings as they are, other
/// values as their JSON text), else the text split at `|`.
fn one_of(expected: &str) -> Vec<String> {
    if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(expected) {
        return items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
    }
    expected.split('|').map(str::to_owned).collect()
}

/// The first number in `s`: an optional `-` (a sign only when it does not
/// follow a letter or digit), digits, an optional `.digits` fraction and an
/// optional exponent.
pub fn first_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut start = i;
        if start > 0 && b[start - 1] == b'-' {
            let before = s[..start - 1].chars().next_back();
            if !before.is_some_and(char::is_alphanumeric) {
                start -= 1;
            }
        }
        let mut end = i;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end + 1 < b.len() && b[end] == b'.' && b[end + 1].is_ascii_digit() {
            end += 1;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
        }
        if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
            let mut e = end + 1;
            if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
                e += 1;
            }
            if e < b.len() && b[e].is_ascii_digit() {
                while e < b.len() && b[e].is_ascii_digit() {
                    e += 1;
                }
                end = e;
            }
        }
        return s[start..end].parse().ok().filter(|n: &f64| n.is_finite());
    }
    None
}

/// Deep equality of JSON values, numbers compared by value.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoModels, Plain};

    fn run(config: &str, answer: &str, meta: &[(&str, &str)]) -> Result<Vec<Score>, String> {
        let input = Plain {
            metadata: meta
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Plain::answer(answer)
        };
        evaluate(Some(config), &input, &NoModels)
    }

    /// (config, answer, metadata expected, pass?)
    const GOLDEN: &[(&str, &str, Option<&str>, bool)] = &[
        // exact
        (r#"{}"#, "Paris", Some("paris"), true),
        (r#"{}"#, "  Paris \n", Some("Paris"), true),
        (r#"{"case_sensitive": true}"#, "Paris", Some("paris"), false),
        (r#"{"trim": false}"#, " Paris", Some("Paris"), false),
        (r#"{}"#, "Paris, France", Some("Paris"), false),
        (r#"{"expected": "Paris"}"#, "paris", None, true),
        (r#"{"expected": "Rome"}"#, "Paris", Some("Paris"), true),
        (r#"{"expected": 42}"#, "42", None, true),
        (
            r#"{"expected_key": "gold", "expected": "Paris"}"#,
            "Paris",
            Some("x"),
            true,
        ),
        // contains
        (
            r#"{"mode": "contains"}"#,
            "The capital is PARIS.",
            Some("paris"),
            true,
        ),
        (
            r#"{"mode": "contains", "case_sensitive": true}"#,
            "The capital is PARIS.",
            Some("paris"),
            false,
        ),
        (
            r#"{"mode": "contains"}"#,
            "The capital is Rome.",
            Some("paris"),
            false,
        ),
        // regex
        (
            r#"{"mode": "regex"}"#,
            "Answer: 42 apples",
            Some(r"\b42\b"),
            true,
        ),
        (
            r#"{"mode": "regex"}"#,
            "Answer: 142 apples",
            Some(r"\b42\b"),
            false,
        ),
        (r#"{"mode": "regex"}"#, "YES", Some("^yes$"), true),
        (
            r#"{"mode": "regex", "case_sensitive": true}"#,
            "YES",
            Some("^yes$"),
            false,
        ),
        (r#"{"mode": "regex"}"#, " yes \n", Some("^yes$"), true),
        (
            r#"{"mode": "regex", "trim": false}"#,
            " yes",
            Some("^yes$"),
            false,
        ),
        // number
        (
            r#"{"mode": "number"}"#,
            "The answer is 42.",
            Some("42"),
            true,
        ),
        (
            r#"{"mode": "number"}"#,
            "The answer is 42.0",
            Some("42"),
            true,
        ),
        (r#"{"mode": "number"}"#, "It is 41 or 42", Some("42"), false),
        (
            r#"{"mode": "number", "tolerance": 1}"#,
            "It is 41 or 42",
            Some("42"),
            true,
        ),
        (
            r#"{"mode": "number", "tolerance": 0.01}"#,
            "pi is about 3.14159",
            Some("3.14"),
            true,
        ),
        (
            r#"{"mode": "number", "tolerance": 0.001}"#,
            "pi is about 3.14159",
            Some("3.14"),
            false,
        ),
        (
            r#"{"mode": "number", "relative_tolerance": 0.05}"#,
            "about 1040 people",
            Some("1000"),
            true,
        ),
        (
            r#"{"mode": "number", "relative_tolerance": 0.01}"#,
            "about 1040 people",
            Some("1000"),
            false,
        ),
        (
            r#"{"mode": "number"}"#,
            "It fell to -3 degrees",
            Some("-3"),
            true,
        ),
        (r#"{"mode": "number"}"#, "Step-2 done", Some("2"), true),
        (r#"{"mode": "number"}"#, "1.5e3 metres", Some("1500"), true),
        (r#"{"mode": "number"}"#, "1,000", Some("1"), true),
        (r#"{"mode": "number"}"#, "no digits here", Some("1"), false),
        (r#"{"mode": "number", "expected": 7}"#, "7 days", None, true),
        // one-of
        (r#"{"mode": "one-of"}"#, "Yes", Some("yes|y|true"), true),
        (r#"{"mode": "one-of"}"#, "nope", Some("yes|y|true"), false),
        (r#"{"mode": "one-of"}"#, "Y", Some(r#"["yes", "y"]"#), true),
        (
            r#"{"mode": "one-of", "expected": ["red", "green"]}"#,
            "GREEN ",
            None,
            true,
        ),
        (r#"{"mode": "one-of", "expected": [1, 2]}"#, "2", None, true),
        // json
        (
            r#"{"mode": "json"}"#,
            r#"{"b": [1, 2], "a": 1}"#,
            Some(r#"{"a": 1.0, "b": [1, 2]}"#),
            true,
        ),
        (
            r#"{"mode": "json"}"#,
            "```json\n{\"a\": 1}\n```",
            Some(r#"{"a": 1}"#),
            true,
        ),
        (
            r#"{"mode": "json"}"#,
            r#"{"a": 1, "b": 2}"#,
            Some(r#"{"a": 1}"#),
            false,
        ),
        (r#"{"mode": "json"}"#, r#"[1, 2]"#, Some(r#"[2, 1]"#), false),
        (
            r#"{"mode": "json"}"#,
            r#"{"a": "X"}"#,
            Some(r#"{"a": "x"}"#),
            false,
        ),
        (r#"{"mode": "json"}"#, "not json", Some("1"), false),
        (
            r#"{"mode": "json", "expected": {"ok": true}}"#,
            r#"{"ok": true}"#,
            None,
            true,
        ),
        // json-fields: named fields equal, others ignored, numbers by value
        (
            r#"{"mode": "json-fields", "fields": ["name", "age"]}"#,
            "```json\n{\"age\": 20.0, \"name\": \"Ivan\", \"note\": 1}\n```",
            Some(r#"{"name": "Ivan", "age": 20, "city": "Rome"}"#),
            true,
        ),
        (
            r#"{"mode": "json-fields"}"#,
            r#"{"name": "Ivan", "age": 20}"#,
            Some(r#"{"name": "Ivan", "age": 20, "city": "Rome"}"#),
            false,
        ),
        (
            r#"{"mode": "json-fields", "fields": ["age"]}"#,
            r#"{"age": 21}"#,
            Some(r#"{"age": 20}"#),
            false,
        ),
        (
            r#"{"mode": "json-fields"}"#,
            r#"[1]"#,
            Some(r#"{"age": 20}"#),
            false,
        ),
        (
            r#"{"mode": "json-fields"}"#,
            "nope",
            Some(r#"{"a": 1}"#),
            false,
        ),
    ];

    #[test]
    fn golden() {
        for (i, (config, answer, expected, pass)) in GOLDEN.iter().enumerate() {
            let meta: Vec<(&str, &str)> = expected.iter().map(|e| ("expected", *e)).collect();
            let scores = run(config, answer, &meta).unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(scores.len(), 1, "case {i}");
            let s = &scores[0];
            assert_eq!(s.name, "match");
            assert_eq!(
                (s.value, s.label.as_deref()),
                if *pass {
                    (1.0, Some("pass"))
                } else {
                    (0.0, Some("fail"))
                },
                "case {i}: {config} {answer:?} {expected:?} ({:?})",
                s.explanation
            );
            assert_eq!(s.explanation.is_some(), !pass, "case {i}");
        }
    }

    #[test]
    fn json_fields_explains_the_first_wrong_field() {
        let why = |answer: &str| {
            run(
                r#"{"mode": "json-fields", "fields": ["name", "age"]}"#,
                answer,
                &[("expected", r#"{"name": "Ivan", "age": 20}"#)],
            )
            .unwrap()[0]
                .explanation
                .clone()
                .unwrap_or_default()
        };
        assert_eq!(why(r#"{"age": 20}"#), "field `name` is missing");
        assert_eq!(
            why(r#"{"name": "Ivan", "age": 2}"#),
            "field `age`: expected \"20\", got \"2\""
        );
        let e = run(
            r#"{"mode": "exact", "fields": ["a"]}"#,
            "x",
            &[("expected", "x")],
        );
        assert_eq!(
            e.unwrap_err(),
            "match: `fields` applies to mode `json-fields` only"
        );
        let e = run(r#"{"mode": "json-fields"}"#, "{}", &[("expected", "[1]")]);
        assert!(e.unwrap_err().contains("is not a JSON object"));
    }

    #[test]
    fn expected_key_reads_other_metadata() {
        let s = run(r#"{"expected_key": "gold"}"#, "Paris", &[("gold", "paris")]).unwrap();
        assert_eq!(s[0].label.as_deref(), Some("pass"));
    }

    #[test]
    fn nothing_expected_is_nothing_to_score() {
        assert_eq!(run("{}", "Paris", &[]).unwrap(), vec![]);
        assert_eq!(
            run(r#"{"mode": "regex"}"#, "Paris", &[("other", "x")]).unwrap(),
            vec![]
        );
    }

    #[test]
    fn explanations() {
        let why = |c: &str, a: &str, e: &str| {
            run(c, a, &[("expected", e)]).unwrap()[0]
                .explanation
                .clone()
                .unwrap()
        };
        assert_eq!(
            why("{}", "Rome", "Paris"),
            "expected \"Paris\", got \"Rome\""
        );
        assert_eq!(
            why(r#"{"mode": "number"}"#, "41", "42"),
            "expected 42, got 41"
        );
        assert_eq!(
            why(r#"{"mode": "number"}"#, "none", "42"),
            "no number in the answer"
        );
        assert!(why(r#"{"mode": "json"}"#, "{", "1").starts_with("the answer is not JSON: "));
        let long = "x".repeat(200);
        assert!(why("{}", &long, "y").chars().count() < 120);
    }

    #[test]
    fn renamed() {
        let s = run(r#"{"name": "exact-answer"}"#, "a", &[("expected", "a")]).unwrap();
        assert_eq!(s[0].name, "exact-answer");
    }

    #[test]
    fn errors() {
        let err = |c: &str, e: &str| run(c, "x", &[("expected", e)]).unwrap_err();
        assert_eq!(
            err(r#"{"mode": "fuzzy"}"#, "x"),
            "match: unknown mode `fuzzy` (expected one of exact, contains, regex, number, one-of, json, json-fields)"
        );
        assert!(err(r#"{"mod": "exact"}"#, "x").starts_with("match: unknown config key `mod`"));
        assert_eq!(
            err(r#"{"tolerance": 1}"#, "x"),
            "match: `tolerance` applies to mode `number` only"
        );
        assert_eq!(
            err(r#"{"mode": "number", "tolerance": -1}"#, "x"),
            "match: `tolerance` must be a non-negative number, got -1"
        );
        assert!(err(r#"{"mode": "regex"}"#, "(").starts_with("match: invalid regex \"(\": "));
        assert_eq!(
            err(r#"{"mode": "number"}"#, "forty"),
            "match: expected value \"forty\" is not a number"
        );
        assert!(
            err(r#"{"mode": "json"}"#, "{").starts_with("match: expected value \"{\" is not JSON")
        );
        assert!(
            err(r#"{"case_sensitive": "yes"}"#, "x")
                .contains("`case_sensitive` must be true or false")
        );
        // A bad config is an error even when there is nothing to score.
        assert!(run(r#"{"mode": "fuzzy"}"#, "x", &[]).is_err());
    }

    #[test]
    fn numbers() {
        for (s, want) in [
            ("42", Some(42.0)),
            ("a-1", Some(1.0)),
            ("(-1)", Some(-1.0)),
            ("x 3.5.", Some(3.5)),
            ("1e", Some(1.0)),
            ("2E-2", Some(0.02)),
            ("v.5", Some(5.0)),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(first_number(s), want, "{s:?}");
        }
    }
}
