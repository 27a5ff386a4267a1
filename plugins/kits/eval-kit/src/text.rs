//! Small text helpers the evaluators share.

/// `s` cut to at most `max` characters, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// The answer without a Markdown code fence around it: when the trimmed text
/// starts with ```` ``` ```` (with or without a language, e.g. ```` ```json ````),
/// the fence's first line and a closing ```` ``` ```` are dropped. Text that
/// is not fenced is returned trimmed.
pub fn strip_fences(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    // The opening line: ``` plus an optional language tag.
    let body = match rest.find('\n') {
        Some(nl) => &rest[nl + 1..],
        None => rest,
    };
    body.strip_suffix("```").unwrap_or(body).trim()
}

/// Whether `c` is whitespace: Unicode's `White_Space` property, which is
/// Rust's `char::is_whitespace` (the Python twin of `refusal` spells the set
/// out, since Python's `str.isspace` also counts U+001C–U+001F).
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Whether the text holds nothing but whitespace.
pub fn is_blank(s: &str) -> bool {
    s.chars().all(is_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_counts_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "abc…");
        assert_eq!(shorten("ééé", 2), "éé…");
    }

    #[test]
    fn fences() {
        for (input, want) in [
            ("{\"a\":1}", "{\"a\":1}"),
            ("  ```json\n{\"a\":1}\n```  ", "{\"a\":1}"),
            ("```\n[1]\n```", "[1]"),
            ("```JSON\n[1]", "[1]"),
            ("```[1]```", "[1]"),
            ("text ```json\n[1]\n```", "text ```json\n[1]\n```"),
        ] {
            assert_eq!(strip_fences(input), want, "{input:?}");
        }
    }

    #[test]
    fn blank_is_unicode_white_space() {
        assert!(is_blank(" \t\n\u{a0}\u{3000}\u{85}"));
        assert!(!is_blank("\u{1c}"));
        assert!(is_blank(""));
    }
}
