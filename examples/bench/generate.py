#!/usr/bin/env python3
"""Generate the example benchmark dataset: tasks a program can solve from the
prompt text alone, in three families (arith, classify, extract), one JSON
object per line. See README.md next to this file for the format.

    python3 examples/bench/generate.py --seed 1 --n 300 > examples/bench/tasks.jsonl

Standard library only. The random numbers come from a small splitmix64
generator of its own, not from the `random` module, so a seed gives the same
file byte for byte on every Python version. `switchyard mock-upstream
--skill` solves these tasks with the same lexicons and lists
(host/src/tools/mock/skill/vocab.rs): change both together.
"""

from __future__ import annotations

import argparse
import json
import sys

MASK = (1 << 64) - 1

# --- the vocabulary (mirrored in host/src/tools/mock/skill/vocab.rs) -------------------------------

SENTIMENT = {
    "positive": ["excellent", "great", "wonderful", "fantastic", "perfect", "superb", "lovely", "amazing"],
    "negative": ["terrible", "awful", "disappointing", "horrible", "useless", "poor", "dreadful", "faulty"],
}
INTENT_LABELS = ["billing", "technical", "cancel", "other"]
# Each message of an intent names one of its keywords (`other` has none);
# greetings and closings name none.
INTENT_MESSAGES = {
    "billing": [
        "I was charged twice for my subscription this month.",
        "Could you send me the invoice for my last order?",
        "When will my refund arrive?",
        "My payment did not go through yesterday.",
        "The bill I received looks higher than usual.",
        "I never got a receipt for my purchase.",
    ],
    "technical": [
        "The app shows an error every time I open it.",
        "The desktop client crashes when I upload a file.",
        "The login page keeps spinning forever.",
        "I cannot reset my password from the phone.",
        "I think I found a bug in the export screen.",
        "The install stops halfway on my laptop.",
    ],
    "cancel": [
        "Please cancel my subscription at the end of the month.",
        "I would like to unsubscribe from the premium plan.",
        "How do I terminate my contract early?",
        "I want to close my account for good.",
    ],
    "other": [
        "What are your opening hours on weekends?",
        "Do you ship to Canada?",
        "Who can I talk to about a partnership?",
        "Thanks for the quick help last week.",
        "Is there a student discount?",
        "Where is your nearest store?",
    ],
}
GREETINGS = ["", "Hi there. ", "Hello, ", "Good morning. ", "Hey, "]
CLOSINGS = ["", " Thanks.", " Thank you in advance.", " Best regards."]
PRODUCTS = ["headphones", "coffee maker", "hotel room", "delivery", "laptop", "novel", "support team", "phone case"]
VERBS = ["was", "felt", "turned out", "seemed"]
TAILS = [".", " overall.", ", honestly.", " for the price."]
SECOND = ["", " I ordered it in March.", " My sister recommended it.", " It arrived on a Tuesday."]

NAMES = ["Ana", "Ben", "Chen", "Dara", "Elif", "Farah", "Goran", "Hana", "Ivan", "Jonas", "Kofi", "Lena"]
NAMES += ["Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera", "Wei", "Yara"]
CITIES = ["Lima", "Oslo", "Nairobi", "Osaka", "Lisbon", "Toronto", "Hanoi", "Quito", "Accra", "Dublin"]
CITIES += ["Seoul", "Porto", "Cairo", "Perth", "Krakow", "Buenos Aires", "New York", "Cape Town", "Kuala Lumpur"]
EXTRACT_TEMPLATES = [
    "{name} is {age} years old and lives in {city}.",
    "Meet {name} from {city}, who just turned {age}.",
    "{name}, aged {age}, works at a bakery in {city}.",
    "After moving to {city}, {name} celebrated turning {age} with friends.",
    "Our new colleague {name} ({age}) is based in {city}.",
]

ARITH_PROMPT = "What is {expr}? Answer with the number only."
SENTIMENT_PROMPT = (
    "Classify the sentiment of this review as positive or negative. Answer with one word.\n\nReview: {text}"
)
INTENT_PROMPT = (
    "Classify the intent of this customer message as billing, technical, cancel or other."
    " Answer with one word.\n\nMessage: {text}"
)
EXTRACT_PROMPT = "Extract name, age and city from this text as a JSON object with keys name, age, city: {text}"

FAMILIES = ["arith", "classify", "extract"]


class Rng:
    """splitmix64: tiny, and the same on every platform and Python version."""

    def __init__(self, seed: int):
        self.state = seed & MASK

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """Uniform in [0, n), by rejection (no modulo bias)."""
        limit = (1 << 64) - (1 << 64) % n
        while True:
            x = self.next()
            if x < limit:
                return x % n

    def between(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def choice(self, items: list):
        return items[self.below(len(items))]


def evaluate(nums: list[int], ops: list[str]) -> int:
    """`*` before `+` and `-`, then left to right (what the mock does too)."""
    terms = [nums[0]]
    signs = [1]
    for op, n in zip(ops, nums[1:], strict=True):
        if op == "*":
            terms[-1] *= n
        else:
            terms.append(n)
            signs.append(1 if op == "+" else -1)
    return sum(s * t for s, t in zip(signs, terms, strict=True))


def arith(rng: Rng, tid: str) -> dict:
    k = rng.between(2, 3)
    nums = [rng.between(1, 99) for _ in range(k)]
    ops = [rng.choice(["+", "-", "*"]) for _ in range(k - 1)]
    expr = str(nums[0]) + "".join(f" {op} {n}" for op, n in zip(ops, nums[1:], strict=True))
    return {
        "task": "arith",
        "messages": [{"role": "user", "content": ARITH_PROMPT.format(expr=expr)}],
        "expected": str(evaluate(nums, ops)),
        "eval": {"match": "number"},
        "metadata": {"id": tid, "operands": k},
    }


def classify(rng: Rng, tid: str, kind: str) -> dict:
    if kind == "sentiment":
        labels = list(SENTIMENT)
        label = rng.choice(labels)
        text = f"The {rng.choice(PRODUCTS)} {rng.choice(VERBS)} {rng.choice(SENTIMENT[label])}{rng.choice(TAILS)}"
        text += rng.choice(SECOND)
        prompt = SENTIMENT_PROMPT.format(text=text)
    else:
        labels = INTENT_LABELS
        label = rng.choice(labels)
        text = rng.choice(GREETINGS) + rng.choice(INTENT_MESSAGES[label]) + rng.choice(CLOSINGS)
        prompt = INTENT_PROMPT.format(text=text)
    return {
        "task": "classify",
        "messages": [{"role": "user", "content": prompt}],
        "expected": label,
        "eval": {"match": "exact"},
        "metadata": {"id": tid, "kind": kind, "labels": labels},
    }


def extract(rng: Rng, tid: str) -> dict:
    name, age, city = rng.choice(NAMES), rng.between(18, 79), rng.choice(CITIES)
    t = rng.below(len(EXTRACT_TEMPLATES))
    text = EXTRACT_TEMPLATES[t].format(name=name, age=age, city=city)
    return {
        "task": "extract",
        "messages": [{"role": "user", "content": EXTRACT_PROMPT.format(text=text)}],
        "expected": {"name": name, "age": age, "city": city},
        "eval": {"match": "json-fields", "fields": ["name", "age", "city"]},
        "metadata": {"id": tid, "template": t},
    }


def generate(seed: int, n: int) -> list[dict]:
    """`n` tasks, the families in turn (so each has n/3), classify
    alternating between sentiment and intent."""
    rng = Rng(seed)
    out = []
    for i in range(n):
        family = FAMILIES[i % 3]
        tid = f"{family}-{i:04d}"
        if family == "arith":
            out.append(arith(rng, tid))
        elif family == "classify":
            out.append(classify(rng, tid, "sentiment" if (i // 3) % 2 == 0 else "intent"))
        else:
            out.append(extract(rng, tid))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1, help="generator seed (the committed tasks.jsonl: 1)")
    ap.add_argument("--n", type=int, default=300, help="number of tasks (default 300)")
    ap.add_argument("--out", help="write here instead of stdout")
    a = ap.parse_args()
    text = "".join(json.dumps(t) + "\n" for t in generate(a.seed, a.n))
    if a.out:
        with open(a.out, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
