//! The `json` evaluator: is the answer valid JSON, and does it match a JSON
//! Schema? Value 1 (`valid`) or 0 (`invalid-json`, `schema-mismatch`).
//!
//! ```toml
//! [evaluators.json]
//! plugin = "json"
//! config = { schema = { type = "object", required = ["city"] } }
//! ```
//!
//! Config keys:
//!
//! - `strip_fences` (default true): an answer wrapped in a Markdown code
//!   fence (```` ```json … ``` ````) is judged by what is inside;
//! - `schema`: a JSON Schema (an object) the answer must match;
//! - `schema_from_request` (default true): without `schema`, the schema of
//!   the request's `response_format` when it is `json_schema`;
//! - `name`: the score's name (default `json`).
//!
//! Without any schema the answer need only be JSON. The explanation is the
//! first error: the parser's (`expected value at line 1 column 1`), or the
//! first schema violation with where it is (`/city: "city" is a required
//! property`). An answer with no text but tool calls has nothing to score.
//! A schema that is not one (invalid JSON in the request's schema, an
//! unknown `type`, …) is an error.
//!
//! Validation is by the `jsonschema` crate (drafts 4, 6, 7, 2019-09 and
//! 2020-12, by the schema's `$schema`, else 2020-12) built with its default
//! features off: no remote or file `$ref`s (a `$ref` must point inside the
//! schema). It builds for `wasm32-wasip2` as it is; its regex engines and
//! format checkers make this component ~2.8 MB, against ~0.1–0.3 MB for the
//! other evaluators.

use serde_json::Value;

use crate::config::Config;
use crate::text::{shorten, strip_fences};
use crate::{Input, Models, Score};

/// The config keys `json` knows besides `name`.
pub const KEYS: &[&str] = &["strip_fences", "schema", "schema_from_request"];

/// How long an explanation may be.
const EXPLAIN: usize = 300;

/// Score one answer.
pub fn evaluate(
    config: Option<&str>,
    input: &dyn Input,
    _models: &dyn Models,
) -> Result<Vec<Score>, String> {
    let c = Config::parse("json", config, KEYS)?;
    let name = c.name()?;
    let strip = c.bool("strip_fences", true)?;
    let from_request = c.bool("schema_from_request", true)?;
    let configured = match c.value("schema") {
        None => None,
        Some(s @ Value::Object(_)) => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "json: `schema` must be a JSON Schema (a table), got {}",
                crate::config::shown(other)
            ));
        }
    };
    // A bad schema is an error whatever the answer, so it is read first.
    let schema = match configured {
        Some(s) => Some(s),
        None if from_request => match input.request_schema() {
            Some(text) => Some(serde_json::from_str::<Value>(&text).map_err(|e| {
                format!("json: the request's response_format schema is not JSON: {e}")
            })?),
            None => None,
        },
        None => None,
    };
    let validator =
        match &schema {
            Some(s) => Some(jsonschema::validator_for(s).map_err(|e| {
                format!("json: invalid schema: {}", shorten(&e.to_string(), EXPLAIN))
            })?),
            None => None,
        };
    let answer = input.answer();
    if crate::text::is_blank(&answer) && input.has_tool_calls() {
        return Ok(vec![]);
    }
    let text = if strip {
        strip_fences(&answer)
    } else {
        answer.as_str()
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Ok(vec![Score::new(
                &name,
                0.0,
                "invalid-json",
                Some(e.to_string()),
            )]);
        }
    };
    if let Some(v) = validator
        && let Some(err) = v.iter_errors(&value).next()
    {
        let at = err.instance_path().to_string();
        let at = if at.is_empty() { "/".to_owned() } else { at };
        return Ok(vec![Score::new(
            &name,
            0.0,
            "schema-mismatch",
            Some(shorten(&format!("{at}: {err}"), EXPLAIN)),
        )]);
    }
    Ok(vec![Score::new(&name, 1.0, "valid", None)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoModels, Plain};

    const CITY: &str = r#"{"type":"object","properties":{"city":{"type":"string"},"n":{"type":"integer","minimum":0}},"required":["city"],"additionalProperties":false}"#;

    fn run(config: &str, answer: &str, request_schema: Option<&str>) -> Result<Vec<Score>, String> {
        let input = Plain {
            request_schema: request_schema.map(str::to_owned),
            ..Plain::answer(answer)
        };
        evaluate(Some(config), &input, &NoModels)
    }

    fn label(config: &str, answer: &str, request_schema: Option<&str>) -> (f64, String) {
        let s = run(config, answer, request_schema).unwrap();
        assert_eq!(s.len(), 1);
        (s[0].value, s[0].label.clone().unwrap())
    }

    #[test]
    fn golden() {
        let cfg_schema = format!(r#"{{"schema": {CITY}}}"#);
        let cases: &[(&str, &str, Option<&str>, f64, &str)] = &[
            ("{}", r#"{"a": 1}"#, None, 1.0, "valid"),
            ("{}", "[1, 2, 3]", None, 1.0, "valid"),
            ("{}", "42", None, 1.0, "valid"),
            ("{}", "```json\n{\"a\": 1}\n```", None, 1.0, "valid"),
            ("{}", "```\n[]\n```", None, 1.0, "valid"),
            (
                r#"{"strip_fences": false}"#,
                "```json\n{}\n```",
                None,
                0.0,
                "invalid-json",
            ),
            ("{}", "Sure! {\"a\": 1}", None, 0.0, "invalid-json"),
            ("{}", "{\"a\": 1,}", None, 0.0, "invalid-json"),
            ("{}", "", None, 0.0, "invalid-json"),
            ("{}", r#"{"city": "Oslo"}"#, Some(CITY), 1.0, "valid"),
            (
                "{}",
                r#"{"town": "Oslo"}"#,
                Some(CITY),
                0.0,
                "schema-mismatch",
            ),
            (
                "{}",
                r#"{"city": "Oslo", "n": -1}"#,
                Some(CITY),
                0.0,
                "schema-mismatch",
            ),
            (
                r#"{"schema_from_request": false}"#,
                r#"{"town": "Oslo"}"#,
                Some(CITY),
                1.0,
                "valid",
            ),
            (&cfg_schema, r#"{"town": 1}"#, None, 0.0, "schema-mismatch"),
            (&cfg_schema, r#"{"city": "x"}"#, None, 1.0, "valid"),
            // The config's schema wins over the request's.
            (
                &cfg_schema,
                r#"{"city": "x"}"#,
                Some(r#"{"type": "array"}"#),
                1.0,
                "valid",
            ),
        ];
        for (i, (config, answer, schema, value, want)) in cases.iter().enumerate() {
            assert_eq!(
                label(config, answer, *schema),
                (*value, (*want).to_owned()),
                "case {i}: {config} {answer:?}"
            );
        }
    }

    #[test]
    fn explanations_name_the_first_error() {
        let s = run("{}", "{\"a\": }", None).unwrap();
        assert_eq!(
            s[0].explanation.as_deref(),
            Some("expected value at line 1 column 7")
        );
        let s = run("{}", r#"{"town": "Oslo"}"#, Some(CITY)).unwrap();
        let why = s[0].explanation.clone().unwrap();
        assert!(why.starts_with("/: "), "{why}");
        // The first of two violations (no `city`, an extra `town`).
        assert!(why.contains("city") || why.contains("town"), "{why}");
        let s = run("{}", r#"{"city": 5}"#, Some(CITY)).unwrap();
        let why = s[0].explanation.clone().unwrap();
        assert!(why.starts_with("/city: "), "{why}");
    }

    #[test]
    fn tool_calls_without_text_are_not_scored() {
        let input = Plain {
            tool_calls: true,
            ..Plain::answer("")
        };
        assert_eq!(evaluate(None, &input, &NoModels).unwrap(), vec![]);
    }

    #[test]
    fn errors() {
        assert!(
            run(r#"{"schema": "x"}"#, "{}", None)
                .unwrap_err()
                .starts_with("json: `schema` must be a JSON Schema (a table)")
        );
        assert!(
            run(r#"{"schema": {"type": "thing"}}"#, "{}", None)
                .unwrap_err()
                .starts_with("json: invalid schema: ")
        );
        assert!(
            run("{}", "{}", Some("{"))
                .unwrap_err()
                .starts_with("json: the request's response_format schema is not JSON")
        );
        assert!(
            run(r#"{"strict": true}"#, "{}", None)
                .unwrap_err()
                .starts_with("json: unknown config key `strict`")
        );
        let s = run(r#"{"name": "shape"}"#, "{}", None).unwrap();
        assert_eq!(s[0].name, "shape");
    }
}
