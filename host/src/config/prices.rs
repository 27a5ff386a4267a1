//! What a model's tokens cost: the built-in price catalog (`prices.toml`,
//! dated, compiled into the binary) and the config's per-model prices that
//! override it. A model priced by neither costs 0 and is marked unknown, so
//! a report can say "cost unknown" rather than "free". Plain data; nothing
//! here counts spend (the ledger does).

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

use super::ModelConfig;

/// A model's prices, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prices {
    /// Prompt tokens.
    pub input: f64,
    /// Prompt tokens served from the provider's prompt cache.
    pub cached_input: f64,
    /// Completion tokens.
    pub output: f64,
    /// Whether the model has a price (configured or in the catalog).
    pub known: bool,
}

impl Prices {
    /// USD for `prompt` tokens (of which `cached` came from the provider's
    /// cache) and `completion` tokens.
    pub fn cost(&self, prompt: u64, cached: u64, completion: u64) -> f64 {
        let cached = cached.min(prompt);
        let usd = ((prompt - cached) as f64 * self.input
            + cached as f64 * self.cached_input
            + completion as f64 * self.output)
            / 1e6;
        if usd.is_finite() && usd > 0.0 {
            usd
        } else {
            0.0
        }
    }

    /// The prices of a model of the config: its own prices when it sets
    /// any, else the catalog's for its upstream name, else unknown.
    pub fn of(name: &str, m: &ModelConfig) -> Prices {
        if m.input_price.is_some() || m.output_price.is_some() || m.cached_input_price.is_some() {
            let input = m.input_price.unwrap_or(0.0);
            return Prices {
                input,
                cached_input: m.cached_input_price.unwrap_or(input),
                output: m.output_price.unwrap_or(0.0),
                known: true,
            };
        }
        catalog_price(m.upstream.as_deref().unwrap_or(name)).unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    input: f64,
    output: f64,
    cached_input: Option<f64>,
}

/// The catalog file, as compiled in.
pub const CATALOG: &str = include_str!("prices.toml");

/// The catalog: model name → prices, and its date.
struct Catalog {
    as_of: String,
    models: HashMap<String, Prices>,
}

static PARSED: LazyLock<Catalog> = LazyLock::new(|| {
    parse(CATALOG).unwrap_or_else(|_| Catalog {
        as_of: String::new(),
        models: HashMap::new(),
    })
});

fn parse(text: &str) -> anyhow::Result<Catalog> {
    let mut doc: toml::Table = toml::from_str(text)?;
    let as_of = match doc.remove("as_of") {
        Some(toml::Value::String(s)) => s,
        _ => anyhow::bail!("the price catalog has no as_of date"),
    };
    let mut models = HashMap::new();
    for (_vendor, section) in doc {
        let section: HashMap<String, Entry> = section.try_into()?;
        for (name, e) in section {
            models.insert(
                name,
                Prices {
                    input: e.input,
                    cached_input: e.cached_input.unwrap_or(e.input),
                    output: e.output,
                    known: true,
                },
            );
        }
    }
    Ok(Catalog { as_of, models })
}

/// `name` without a trailing `-YYYY-MM-DD`.
fn strip_iso_date(name: &str) -> &str {
    let b = name.as_bytes();
    let n = b.len();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if n > 11
        && b[n - 11] == b'-'
        && b[n - 6] == b'-'
        && b[n - 3] == b'-'
        && digits(n - 10..n - 6)
        && digits(n - 5..n - 3)
        && digits(n - 2..n)
    {
        &name[..n - 11]
    } else {
        name
    }
}

/// The date of the built-in catalog's prices.
pub fn catalog_date() -> &'static str {
    &PARSED.as_of
}

/// The catalog's prices for a provider's model name: the name itself, then
/// without a Bedrock region prefix, a Vertex `@version`, or trailing date,
/// version and `-latest` segments.
pub fn catalog_price(name: &str) -> Option<Prices> {
    let models = &PARSED.models;
    let mut name = name.trim();
    for prefix in ["us.", "eu.", "apac.", "global."] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest;
            break;
        }
    }
    if let Some(p) = models.get(name) {
        return Some(*p);
    }
    if let Some((base, _)) = name.split_once('@')
        && let Some(p) = models.get(base)
    {
        return Some(*p);
    }
    // `gpt-4o-2024-08-06`, `claude-3-5-haiku-20241022`, `mistral-large-latest`,
    // `gemini-1.5-flash-002`: drop a trailing date, then version segments of
    // three or more digits and `-latest` (`claude-sonnet-4-6` is not a
    // version of `claude-sonnet-4`).
    let mut base = strip_iso_date(name);
    if let Some(p) = models.get(base) {
        return Some(*p);
    }
    while let Some((head, last)) = base.rsplit_once('-') {
        let droppable =
            last == "latest" || (last.len() >= 3 && last.bytes().all(|b| b.is_ascii_digit()));
        if !droppable {
            break;
        }
        base = head;
        if let Some(p) = models.get(base) {
            return Some(*p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_and_is_dated() {
        let c = parse(CATALOG).unwrap();
        assert!(c.models.len() > 60, "{}", c.models.len());
        assert_eq!(catalog_date().len(), "2025-11-30".len());
        for (name, p) in &c.models {
            assert!(
                p.input >= 0.0 && p.output >= 0.0 && p.cached_input <= p.input,
                "{name}"
            );
        }
    }

    #[test]
    fn names_with_dates_versions_and_regions_find_their_model() {
        let p = |n| catalog_price(n).map(|p| (p.input, p.cached_input, p.output));
        assert_eq!(p("gpt-4o-mini"), Some((0.15, 0.075, 0.6)));
        assert_eq!(p("gpt-4o-2024-08-06"), Some((2.5, 1.25, 10.0)));
        assert_eq!(p("claude-3-5-haiku-20241022"), Some((0.8, 0.08, 4.0)));
        assert_eq!(p("claude-3-5-sonnet@20240620"), Some((3.0, 0.3, 15.0)));
        assert_eq!(p("mistral-large-latest"), Some((2.0, 2.0, 6.0)));
        assert_eq!(p("gemini-1.5-flash-002"), Some((0.075, 0.01875, 0.3)));
        assert_eq!(
            p("us.anthropic.claude-3-5-haiku-20241022-v1:0"),
            Some((0.8, 0.08, 4.0))
        );
        assert_eq!(p("llama-3.3-70b-versatile"), Some((0.59, 0.59, 0.79)));
        assert_eq!(p("deepseek-chat"), Some((0.28, 0.028, 0.42)));
        // A different model is not a dated version of a known one.
        assert_eq!(p("gpt-4o-mini-tts"), None);
        assert_eq!(p("my-local-model"), None);
        assert_eq!(p("o3-pro"), None);
        assert_eq!(p("claude-sonnet-4-6"), None);
    }

    #[test]
    fn cached_prompt_tokens_cost_the_cached_price() {
        let p = Prices {
            input: 2.0,
            cached_input: 0.5,
            output: 8.0,
            known: true,
        };
        // 1,000 prompt tokens of which 400 cached, 100 completion tokens.
        let usd = p.cost(1000, 400, 100);
        assert!((usd - (600.0 * 2.0 + 400.0 * 0.5 + 100.0 * 8.0) / 1e6).abs() < 1e-15);
        // More cached than prompt tokens (a confused upstream) is capped.
        assert!((p.cost(10, 50, 0) - 10.0 * 0.5 / 1e6).abs() < 1e-15);
        assert_eq!(Prices::default().cost(1000, 0, 1000), 0.0);
    }

    fn model(toml_text: &str) -> ModelConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn config_prices_override_the_catalog() {
        let m = model("provider = \"p\"\ninput_price = 1.0\noutput_price = 2.0");
        assert_eq!(
            Prices::of("gpt-4o", &m),
            Prices {
                input: 1.0,
                cached_input: 1.0,
                output: 2.0,
                known: true
            }
        );
        let m = model("provider = \"p\"\nupstream = \"gpt-4o-mini\"");
        assert_eq!(Prices::of("cheap", &m).output, 0.6);
        let m = model("provider = \"p\"");
        assert!(!Prices::of("something-local", &m).known);
        // Prices of 0 in the config are known prices: a free local model.
        let m = model("provider = \"p\"\ninput_price = 0.0");
        assert!(Prices::of("local", &m).known);
    }
}
