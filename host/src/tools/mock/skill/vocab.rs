//! The vocabulary of the example dataset's texts, mirrored from
//! `examples/bench/generate.py` (change both together; the unit test that
//! solves `examples/bench/tasks.jsonl` fails when they drift apart).

/// The sentiment lexicons of the generator: label, adjectives.
pub const SENTIMENT: [(&str, &[&str]); 2] = [
    (
        "positive",
        &[
            "excellent",
            "great",
            "wonderful",
            "fantastic",
            "perfect",
            "superb",
            "lovely",
            "amazing",
        ],
    ),
    (
        "negative",
        &[
            "terrible",
            "awful",
            "disappointing",
            "horrible",
            "useless",
            "poor",
            "dreadful",
            "faulty",
        ],
    ),
];

/// The intent keywords of the generator: label, keywords. The last label,
/// `other`, has none: a message without a keyword is `other`.
pub const INTENTS: [(&str, &[&str]); 4] = [
    (
        "billing",
        &["charged", "invoice", "refund", "payment", "bill", "receipt"],
    ),
    (
        "technical",
        &["error", "crashes", "login", "password", "bug", "install"],
    ),
    ("cancel", &["cancel", "unsubscribe", "terminate", "close"]),
    ("other", &[]),
];

/// The people of the extraction texts.
pub const NAMES: [&str; 24] = [
    "Ana", "Ben", "Chen", "Dara", "Elif", "Farah", "Goran", "Hana", "Ivan", "Jonas", "Kofi",
    "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera",
    "Wei", "Yara",
];

/// The cities of the extraction texts.
pub const CITIES: [&str; 19] = [
    "Lima",
    "Oslo",
    "Nairobi",
    "Osaka",
    "Lisbon",
    "Toronto",
    "Hanoi",
    "Quito",
    "Accra",
    "Dublin",
    "Seoul",
    "Porto",
    "Cairo",
    "Perth",
    "Krakow",
    "Buenos Aires",
    "New York",
    "Cape Town",
    "Kuala Lumpur",
];

/// The sentiment labels, in [`SENTIMENT`] order.
pub const SENTIMENT_LABELS: [&str; 2] = ["positive", "negative"];
/// The intent labels, in [`INTENTS`] order.
pub const INTENT_LABELS: [&str; 4] = ["billing", "technical", "cancel", "other"];
