//! Reading an evaluator's config: a JSON object (or none), whose unknown
//! keys and wrongly typed values are errors naming the key.

use serde_json::{Map, Value};

/// An evaluator's config, checked against the keys it knows.
#[derive(Debug, Clone)]
pub struct Config {
    kind: &'static str,
    table: Map<String, Value>,
}

impl Config {
    /// Parse the config of evaluator `kind` (`None`, `null` and `{}` are an
    /// empty config). Every evaluator knows `name`; `known` are its other
    /// keys.
    pub fn parse(kind: &'static str, json: Option<&str>, known: &[&str]) -> Result<Config, String> {
        let value = match json {
            Some(text) if !text.trim().is_empty() => serde_json::from_str(text)
                .map_err(|e| format!("{kind}: config is not valid JSON: {e}"))?,
            _ => Value::Null,
        };
        let table = match value {
            Value::Null => Map::new(),
            Value::Object(o) => o,
            other => {
                return Err(format!(
                    "{kind}: config must be a table, got {}",
                    shown(&other)
                ));
            }
        };
        if let Some(k) = table
            .keys()
            .find(|k| k.as_str() != "name" && !known.contains(&k.as_str()))
        {
            let mut all: Vec<&str> = known.to_vec();
            all.push("name");
            let expected = all
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!(
                "{kind}: unknown config key `{k}` (expected one of {expected})"
            ));
        }
        Ok(Config { kind, table })
    }

    /// The evaluator's kind (`match`, …), for messages.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// A key's value; `null` counts as absent.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.table.get(key).filter(|v| !v.is_null())
    }

    /// The key is set.
    pub fn has(&self, key: &str) -> bool {
        self.value(key).is_some()
    }

    fn wrong(&self, key: &str, what: &str, v: &Value) -> String {
        format!("{}: `{key}` must be {what}, got {}", self.kind, shown(v))
    }

    /// The score's name: `name`, else the evaluator's kind.
    pub fn name(&self) -> Result<String, String> {
        match self.string("name")? {
            Some("") => Err(format!("{}: `name` must not be empty", self.kind)),
            Some(n) => Ok(n.to_owned()),
            None => Ok(self.kind.to_owned()),
        }
    }

    /// A string value.
    pub fn string(&self, key: &str) -> Result<Option<&str>, String> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// A boolean value, `default` when absent.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.wrong(key, "true or false", v)),
        }
    }

    /// A non-negative number.
    pub fn non_negative(&self, key: &str) -> Result<Option<f64>, String> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n >= 0.0 && n.is_finite() => Ok(Some(n)),
                _ => Err(self.wrong(key, "a non-negative number", v)),
            },
        }
    }

    /// A non-negative whole number that fits 32 bits.
    pub fn u32(&self, key: &str) -> Result<Option<u32>, String> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a non-negative whole number", v)),
        }
    }

    /// A list of strings (empty when absent).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.value(key) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.wrong(&format!("{key}[{i}]"), "a string", other)),
                })
                .collect(),
            Some(v) => Err(self.wrong(key, "a list of strings", v)),
        }
    }
}

/// A value as a message shows it: its JSON, cut after 60 characters.
pub fn shown(v: &Value) -> String {
    let s = v.to_string();
    crate::text::shorten(&s, 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_configs() {
        for json in [None, Some(""), Some("null"), Some("{}")] {
            let c = Config::parse("k", json, &[]).unwrap();
            assert_eq!(c.name().unwrap(), "k");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let err = |json: &str, known: &[&str]| Config::parse("k", Some(json), known).unwrap_err();
        assert_eq!(
            err(r#"{"nmae": "x"}"#, &["mode"]),
            "k: unknown config key `nmae` (expected one of `mode`, `name`)"
        );
        assert_eq!(err("[1]", &[]), "k: config must be a table, got [1]");
        assert!(err("{", &[]).starts_with("k: config is not valid JSON"));
        let c = Config::parse(
            "k",
            Some(r#"{"a": 1, "b": "x", "c": [1], "name": ""}"#),
            &["a", "b", "c"],
        )
        .unwrap();
        assert_eq!(c.string("a").unwrap_err(), "k: `a` must be a string, got 1");
        assert_eq!(
            c.bool("b", true).unwrap_err(),
            "k: `b` must be true or false, got \"x\""
        );
        assert_eq!(
            c.strings("c").unwrap_err(),
            "k: `c[0]` must be a string, got 1"
        );
        assert_eq!(
            c.u32("b").unwrap_err(),
            "k: `b` must be a non-negative whole number, got \"x\""
        );
        assert_eq!(c.name().unwrap_err(), "k: `name` must not be empty");
        assert_eq!(c.u32("a"), Ok(Some(1)));
        assert_eq!(c.non_negative("a"), Ok(Some(1.0)));
        assert_eq!(c.bool("zzz", true), Ok(true));
    }
}
