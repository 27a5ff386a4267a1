//! The matching rules of the `match` evaluator, as plain functions (tested
//! natively).

use serde_json::Value;

/// The evaluator's config.
#[derive(Debug, Clone)]
pub struct Config {
    /// `exact`, `contains`, `regex`, `number`, `one-of`, `json`.
    pub mode: String,
    /// The expected value when the request's metadata has none.
    pub expected: Option<String>,
    /// The metadata key of the expected value.
    pub expected_key: String,
    /// Absolute tolerance of `number`.
    pub tolerance: f64,
    /// Relative tolerance of `number` (of the expected value).
    pub relative_tolerance: f64,
    /// Compare case-sensitively.
    pub case_sensitive: bool,
    /// Trim whitespace first.
    pub trim: bool,
    /// The score's name.
    pub name: String,
}

const KEYS: &[&str] = &[
    "mode",
    "expected",
    "expected_key",
    "tolerance",
    "relative_tolerance",
    "case_sensitive",
    "trim",
    "name",
];
const MODES: &[&str] = &["exact", "contains", "regex", "number", "one-of", "json"];

impl Config {
    /// Parse the config JSON (absent: every default).
    pub fn parse(json: Option<&str>) -> Result<Config, String> {
        let mut c = Config {
            mode: "exact".into(),
            expected: None,
            expected_key: "expected".into(),
            tolerance: 0.0,
            relative_tolerance: 0.0,
            case_sensitive: false,
            trim: true,
            name: "match".into(),
        };
        let Some(json) = json else {
            return Ok(c);
        };
        let v: Value =
            serde_json::from_str(json).map_err(|e| format!("match: config is not JSON: {e}"))?;
        let Some(obj) = v.as_object() else {
            return Err("match: config must be a table".into());
        };
        for (k, v) in obj {
            let text = || {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| (v.is_number() || v.is_boolean()).then(|| v.to_string()))
                    .ok_or_else(|| format!("match: `{k}` must be a string, got {v}"))
            };
            let num = || {
                v.as_f64()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| format!("match: `{k}` must be a non-negative number, got {v}"))
            };
            let flag = || {
                v.as_bool()
                    .ok_or_else(|| format!("match: `{k}` must be true or false, got {v}"))
            };
            match k.as_str() {
                "mode" => c.mode = text()?,
                "expected" => {
                    c.expected = Some(match v {
                        Value::Array(_) | Value::Object(_) => v.to_string(),
                        _ => text()?,
                    })
                }
                "expected_key" => c.expected_key = text()?,
                "tolerance" => c.tolerance = num()?,
                "relative_tolerance" => c.relative_tolerance = num()?,
                "case_sensitive" => c.case_sensitive = flag()?,
                "trim" => c.trim = flag()?,
                "name" => c.name = text()?,
                _ => {
                    return Err(format!(
                        "match: unknown config key `{k}` (known: {})",
                        KEYS.join(", ")
                    ));
                }
            }
        }
        if !MODES.contains(&c.mode.as_str()) {
            return Err(format!(
                "match: unknown mode `{}` (modes: {})",
                c.mode,
                MODES.join(", ")
            ));
        }
        Ok(c)
    }
}

/// `Ok` when `answer` matches `expected` under `c`, else why not; an
/// `Err` of the outer result is a config problem (a bad regex).
pub fn check(c: &Config, answer: &str, expected: &str) -> Result<Result<(), String>, String> {
    let (a, e) = if c.trim {
        (answer.trim(), expected.trim())
    } else {
        (answer, expected)
    };
    let fold = |s: &str| {
        if c.case_sensitive {
            s.to_owned()
        } else {
            s.to_lowercase()
        }
    };
    let short = |s: &str| -> String {
        let mut t: String = s.chars().take(80).collect();
        if s.chars().count() > 80 {
            t.push('…');
        }
        t
    };
    let fail = |why: String| Ok(Err(why));
    match c.mode.as_str() {
        "exact" => {
            if fold(a) == fold(e) {
                Ok(Ok(()))
            } else {
                fail(format!("expected `{}`, got `{}`", short(e), short(a)))
            }
        }
        "contains" => {
            if fold(a).contains(&fold(e)) {
                Ok(Ok(()))
            } else {
                fail(format!("`{}` not in the answer", short(e)))
            }
        }
        "regex" => {
            let re = regex::RegexBuilder::new(e)
                .case_insensitive(!c.case_sensitive)
                .size_limit(1 << 20)
                .build()
                .map_err(|err| format!("match: bad regex `{}`: {err}", short(e)))?;
            if re.is_match(a) {
                Ok(Ok(()))
            } else {
                fail(format!("no match for /{}/", short(e)))
            }
        }
        "number" => {
            let Some(want) = first_number(e) else {
                return Err(format!(
                    "match: expected value `{}` is not a number",
                    short(e)
                ));
            };
            let Some(got) = first_number(a) else {
                return fail(format!("no number in the answer `{}`", short(a)));
            };
            let tol = c.tolerance.max(c.relative_tolerance * want.abs());
            if (got - want).abs() <= tol + f64::EPSILON * want.abs().max(1.0) {
                Ok(Ok(()))
            } else {
                fail(format!("expected {want}, got {got}"))
            }
        }
        "one-of" => {
            let options: Vec<String> = match serde_json::from_str::<Value>(e) {
                Ok(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect(),
                _ => e.split('|').map(|s| s.trim().to_owned()).collect(),
            };
            if options.iter().any(|o| fold(o) == fold(a)) {
                Ok(Ok(()))
            } else {
                fail(format!(
                    "`{}` is not one of {}",
                    short(a),
                    options.join(", ")
                ))
            }
        }
        "json" => {
            let want: Value = serde_json::from_str(e)
                .map_err(|err| format!("match: expected value is not JSON: {err}"))?;
            match serde_json::from_str::<Value>(strip_fence(a)) {
                Ok(got) if got == want => Ok(Ok(())),
                Ok(_) => fail("the JSON differs from the expected value".into()),
                Err(err) => fail(format!("the answer is not JSON: {err}")),
            }
        }
        other => Err(format!("match: unknown mode `{other}`")),
    }
}

/// The first number written in `s` (`-12`, `3.5`, `1,234`, `2e3`).
pub fn first_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let starts =
            c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts {
            let mut j = i + 1;
            while j < b.len()
                && (b[j].is_ascii_digit()
                    || (b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit))
                    || (b[j] == b',' && b.get(j + 1).is_some_and(u8::is_ascii_digit)))
            {
                j += 1;
            }
            let text: String = s[i..j].chars().filter(|c| *c != ',').collect();
            return text.parse().ok();
        }
        i += 1;
    }
    None
}

/// `s` without a surrounding Markdown code fence (```json … ```).
pub fn strip_fence(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let body = rest.split_once('\n').map_or("", |(_, b)| b);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Config {
        Config::parse(Some(json)).unwrap()
    }

    #[test]
    fn golden_cases() {
        let cases: &[(&str, &str, &str, bool)] = &[
            (r#"{}"#, " Positive\n", "positive", true),
            (r#"{"case_sensitive":true}"#, "Positive", "positive", false),
            (
                r#"{"mode":"contains"}"#,
                "The answer is Paris.",
                "paris",
                true,
            ),
            (r#"{"mode":"regex"}"#, "order #12345", r"#\d{5}", true),
            (r#"{"mode":"regex"}"#, "order #123", r"#\d{5}", false),
            (r#"{"mode":"number"}"#, "2063", "2063", true),
            (r#"{"mode":"number"}"#, "The result is 2,063.", "2063", true),
            (r#"{"mode":"number"}"#, "2060", "2063", false),
            (r#"{"mode":"number","tolerance":5}"#, "2060", "2063", true),
            (
                r#"{"mode":"number","relative_tolerance":0.01}"#,
                "101",
                "100",
                true,
            ),
            (r#"{"mode":"number"}"#, "-7", "-7", true),
            (r#"{"mode":"number"}"#, "no idea", "4", false),
            (r#"{"mode":"one-of"}"#, "billing", "billing|technical", true),
            (
                r#"{"mode":"one-of"}"#,
                "other",
                r#"["billing","technical"]"#,
                false,
            ),
            (
                r#"{"mode":"json"}"#,
                "```json\n{\"age\": 31, \"name\": \"Ana\"}\n```",
                r#"{"name":"Ana","age":31}"#,
                true,
            ),
            (
                r#"{"mode":"json"}"#,
                r#"{"name":"Ana"}"#,
                r#"{"name":"Ana","age":31}"#,
                false,
            ),
            (r#"{"mode":"json"}"#, "not json", r#"{"a":1}"#, false),
        ];
        for (config, answer, expected, pass) in cases {
            let r = check(&cfg(config), answer, expected).unwrap();
            assert_eq!(r.is_ok(), *pass, "{config} {answer:?} {expected:?}: {r:?}");
        }
    }

    #[test]
    fn bad_config_names_the_key() {
        assert!(
            Config::parse(Some(r#"{"mdoe":"x"}"#))
                .unwrap_err()
                .contains("mdoe")
        );
        assert!(
            Config::parse(Some(r#"{"mode":"fuzzy"}"#))
                .unwrap_err()
                .contains("fuzzy")
        );
        assert!(check(&cfg(r#"{"mode":"regex"}"#), "x", "(").is_err());
    }

    #[test]
    fn numbers_are_found() {
        assert_eq!(first_number("abc 12.5 and 3"), Some(12.5));
        assert_eq!(first_number("x-3y"), Some(-3.0));
        assert_eq!(first_number("1,234,567"), Some(1_234_567.0));
        assert_eq!(first_number("none"), None);
    }
}
