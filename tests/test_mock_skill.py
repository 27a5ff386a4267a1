"""`mock-upstream --skill`: the real mock binary plays a model of known skill
on examples/bench/tasks.jsonl. Every task is sent straight to the mock's
OpenAI endpoint with the official SDK and scored by the dataset's own `eval`
rules; the committed dataset is what its generator makes."""

import json
import math
import subprocess
import sys
from pathlib import Path

import anthropic
import openai
import pytest

BENCH = Path(__file__).resolve().parent.parent / "examples" / "bench"
TASKS = [json.loads(line) for line in (BENCH / "tasks.jsonl").read_text().splitlines()]
COMMITTED_SEED = 1  # examples/bench/README.md: generate.py --seed 1 --n 300


def score(task: dict, answer: str) -> bool:
    """The dataset's scoring rules (examples/bench/README.md)."""
    rule, answer = task["eval"], answer.strip()
    if rule.get("match") == "number":
        try:
            return float(answer) == float(task["expected"])
        except ValueError:
            return False
    if rule.get("match") == "exact":
        return answer == task["expected"]
    if rule.get("match") == "json-fields":
        try:
            got = json.loads(answer)
        except ValueError:
            return False
        return isinstance(got, dict) and all(f in got and got[f] == task["expected"][f] for f in rule["fields"])
    raise AssertionError(f"unknown eval {rule}")


def client(mock) -> openai.OpenAI:
    return openai.OpenAI(base_url=mock.url, api_key="unused", max_retries=0, timeout=20)


def ask(c: openai.OpenAI, task: dict) -> str:
    r = c.chat.completions.create(model="mock-model", messages=task["messages"])
    return r.choices[0].message.content


def run_all(mock, tasks=TASKS) -> list[tuple[dict, str, bool]]:
    """Each task in order, with the mock's answer and whether it is right."""
    c = client(mock)
    out = []
    for t in tasks:
        answer = ask(c, t)
        out.append((t, answer, score(t, answer)))
    c.close()
    return out


def within(rate: float, p: float, n: int) -> bool:
    """`rate` of `n` draws is within four standard deviations of `p`."""
    return abs(rate - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-9


def rate(results, family: str | None = None) -> tuple[float, int]:
    picked = [ok for t, _, ok in results if family in (None, t["task"])]
    return sum(picked) / len(picked), len(picked)


def test_generator_reproduces_the_committed_dataset():
    made = subprocess.run(
        [sys.executable, str(BENCH / "generate.py"), "--seed", str(COMMITTED_SEED), "--n", str(len(TASKS))],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    assert made == (BENCH / "tasks.jsonl").read_bytes()
    counts = {f: sum(t["task"] == f for t in TASKS) for f in ("arith", "classify", "extract")}
    assert counts == {"arith": 100, "classify": 100, "extract": 100}


def test_skill_0_8_is_right_about_80_percent_and_wrong_plausibly(mock_upstream):
    mock = mock_upstream("--skill", "0.8", "--seed", "1")
    results = run_all(mock)
    got, n = rate(results)
    assert within(got, 0.8, n), got
    stats = mock.stats()["skill"]
    assert stats["answered"] == len(TASKS)
    for family in ("arith", "classify", "extract"):
        right = sum(ok for t, _, ok in results if t["task"] == family)
        assert stats[family] == {"correct": right, "wrong": 100 - right}, (family, stats)
    wrong = [(t, a) for t, a, ok in results if not ok]
    assert wrong
    for t, a in wrong:
        if t["task"] == "arith":
            assert 1 <= abs(int(a) - int(t["expected"])) <= 10, (t, a)
        elif t["task"] == "classify":
            assert a in t["metadata"]["labels"], (t, a)
        else:
            got = json.loads(a)
            assert set(got) <= {"name", "age", "city"} and len(got) >= 2, (t, a)


@pytest.mark.parametrize(("skill", "right"), [("1.0", True), ("0.0", False)])
def test_skill_one_answers_all_right_and_zero_none(mock_upstream, skill, right):
    mock = mock_upstream("--skill", skill, "--seed", "1")
    for t, answer, ok in run_all(mock):
        assert ok is right, (t, answer)
        if right:  # exactly the dataset's text: the object as compact JSON, keys in order
            expected = t["expected"]
            assert answer == (expected if isinstance(expected, str) else json.dumps(expected, separators=(",", ":")))


def test_skill_by_task_overrides_skill(mock_upstream):
    mock = mock_upstream("--skill", "0.5", "--skill-by-task", "arith=0,classify=1", "--seed", "2")
    results = run_all(mock)
    assert rate(results, "arith")[0] == 0
    assert rate(results, "classify")[0] == 1
    got, n = rate(results, "extract")
    assert within(got, 0.5, n), got


def test_skill_after_is_a_regression_at_a_known_point(mock_upstream):
    mock = mock_upstream("--skill-after", "100:0", "--seed", "1")  # 1.0 until then
    results = run_all(mock)
    assert [ok for _, _, ok in results] == [True] * 100 + [False] * 200
    assert mock.stats()["skill"]["answered"] == 300


def test_same_request_same_answer(mock_upstream):
    first = mock_upstream("--skill", "0.5", "--seed", "3")
    again = mock_upstream("--skill", "0.5", "--seed", "3")
    other_seed = mock_upstream("--skill", "0.5", "--seed", "4")
    c = client(first)
    a = [ask(c, t) for t in TASKS]
    assert [ask(c, t) for t in TASKS] == a, "the same mock, asked twice"
    assert [a for _, a, _ in run_all(again)] == a, "another process, same seed"
    assert [a for _, a, _ in run_all(other_seed)] != a, "another seed"


def test_every_dialect_and_streams_carry_the_answer(mock_upstream):
    mock = mock_upstream("--skill", "1", "--chunks", "3")
    tasks = TASKS[:6]
    c = client(mock)
    for t in tasks:
        stream = c.chat.completions.create(model="mock-model", messages=t["messages"], stream=True)
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        assert score(t, text), (t, text)
    a = anthropic.Anthropic(base_url=f"http://{mock.addr}", api_key="unused", max_retries=0, timeout=20)
    for t in tasks:
        r = a.messages.create(model="mock-model", max_tokens=64, messages=t["messages"])
        assert score(t, r.content[0].text), (t, r.content)
    assert mock.stats()["skill"]["answered"] == 2 * len(tasks)


def test_other_prompts_are_echoed_and_labels_still_prefix(mock_upstream):
    mock = mock_upstream("--skill", "1")
    c = client(mock)
    hello = [{"role": "user", "content": "hello there"}]
    assert c.chat.completions.create(model="m", messages=hello).choices[0].message.content == "You said: hello there"
    assert mock.stats()["skill"]["answered"] == 0
    labelled = mock_upstream("--skill", "1", "--label", "m1")
    t = TASKS[0]
    assert ask(client(labelled), t) == f"[m1] {t['expected']}"
    # Without a skill flag the mock echoes tasks too, and reports no skill.
    plain = mock_upstream("--seed", "1")
    assert ask(client(plain), t) == f"You said: {t['messages'][0]['content']}"
    assert plain.stats()["skill"] is None
