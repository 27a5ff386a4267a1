"""The first-party evaluators, driven through `switchyard plugin eval`.

* The `refusal` evaluator in Python (examples/evaluators/python, built by
  examples/evaluators/build.sh and cached by content hash) scores every case
  of examples/evaluators/refusal_cases.jsonl exactly as the embedded Rust one
  does (value, label, name and explanation), and both as the case expects;
  the Python rules also run natively on the same cases.
* Each built-in evaluator (`match`, `json`, `length`, `judge`) scores recorded
  answers as documented; a bad config is an error on every line and a
  non-zero exit; `plugin eval` prints a summary with the median time per call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import BIN

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SWITCHYARD_CACHE_HOME", Path.home() / ".cache" / "switchyard"))
REFUSAL_CASES = [
    json.loads(line)
    for line in (ROOT / "examples" / "evaluators" / "refusal_cases.jsonl").read_text().splitlines()
    if line.strip()
]
ASK = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}


@pytest.fixture(scope="module")
def refusal_py() -> Path:
    build = ROOT / "examples" / "evaluators" / "build.sh"
    r = subprocess.run([str(build)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"examples/evaluators/build.sh failed (run scripts/setup.sh --test):\n{r.stderr}")
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.strip())
    return Path(out["refusal-py"])


def switchyard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # The gateway's usual compile cache: the Python component compiles once.
    env["SWITCHYARD_CACHE_DIR"] = str(CACHE / "components")
    env.pop("SWITCHYARD_LOG", None)
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


def plugin_eval(tmp: Path, plugin: str | Path, lines: list[dict], *extra: str) -> tuple[int, list[dict], dict, str]:
    """Run `plugin eval --json`: the status, the case lines, the summary, stderr."""
    cases = tmp / "cases.jsonl"
    cases.write_text("".join(json.dumps(line) + "\n" for line in lines))
    r = switchyard("plugin", "eval", plugin, "--cases", cases, "--json", *extra)
    out = [json.loads(line) for line in r.stdout.splitlines()]
    summary = out.pop()["summary"] if out and "summary" in out[-1] else {}
    return r.returncode, out, summary, r.stderr


def refusal_line(case: dict) -> dict:
    """A golden case as a line of `plugin eval`: the answer as an OpenAI
    chat.completion with the case's finish reason and tool calls."""
    message: dict = {"role": "assistant", "content": case["answer"]}
    if case.get("tool_calls"):
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
        ]
        if not case["answer"]:
            message["content"] = None
    answer = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": case["finish_reason"]}],
    }
    return {"name": case["name"], "request": ASK, "answer": answer}


def test_python_refusal_rules_natively() -> None:
    sys.path.insert(0, str(ROOT / "examples" / "evaluators" / "python"))
    try:
        import refusal
    finally:
        sys.path.pop(0)
    for case in REFUSAL_CASES:
        config = json.dumps(case["config"]) if "config" in case else None
        s = refusal.evaluate(config, case["answer"], bool(case.get("tool_calls")), case["finish_reason"])
        assert (s.value, s.label) == (case["expected"]["value"], case["expected"]["label"]), case["name"]
    with pytest.raises(refusal.ConfigError, match="unknown config key `phrase`"):
        refusal.evaluate('{"phrase": []}', "x", False, None)


def test_python_and_rust_refusal_score_every_case_alike(refusal_py: Path, tmp_path: Path) -> None:
    groups: dict[str, list[dict]] = {}
    for case in REFUSAL_CASES:
        groups.setdefault(json.dumps(case.get("config", {}), sort_keys=True), []).append(case)
    seen = 0
    times: dict[str, list[float]] = {"rust": [], "python": []}
    for i, (config, cases) in enumerate(groups.items()):
        results = {}
        for lang, plugin in [("rust", "refusal"), ("python", refusal_py)]:
            d = tmp_path / f"{lang}-{i}"
            d.mkdir()
            lines = [refusal_line(c) for c in cases]
            status, out, summary, err = plugin_eval(d, plugin, lines, "--config", config)
            assert status == 0, err
            assert summary["cases"] == len(cases) and summary["errors"] == 0
            times[lang].append(summary["median_ms"])
            results[lang] = out
        for case, rust, py in zip(cases, results["rust"], results["python"], strict=True):
            assert rust["name"] == py["name"] == case["name"]
            assert rust["scores"] == py["scores"], case["name"]
            (score,) = rust["scores"]
            want = case["expected"]
            assert (score["value"], score["label"]) == (want["value"], want["label"]), case["name"]
            seen += 1
    assert seen == len(REFUSAL_CASES)
    print(f"median ms per evaluation: rust {times['rust']}, python {times['python']}")


def test_the_python_twin_refuses_a_bad_config(refusal_py: Path, tmp_path: Path) -> None:
    lines = [refusal_line(REFUSAL_CASES[0])]
    for plugin in ["refusal", refusal_py]:
        status, out, summary, err = plugin_eval(tmp_path, plugin, lines, "--config", '{"phrases": "x"}')
        assert status != 0 and "1 of 1 cases failed" in err
        assert out[0]["error"] == {
            "kind": "evaluator-error",
            "message": 'refusal: `phrases` must be a list of strings, got "x"',
        }
        assert summary["errors"] == 1


def test_match_modes_and_expected_values(tmp_path: Path) -> None:
    lines = [
        {"name": "meta", "request": ASK, "answer": " Paris ", "metadata": {"expected": "paris"}},
        {"name": "body meta", "request": {**ASK, "metadata": {"expected": "Rome"}}, "answer": "Paris"},
        {"name": "none", "request": ASK, "answer": "Paris"},
    ]
    status, out, summary, err = plugin_eval(tmp_path, "match", lines)
    assert status == 0, err
    assert [o["scores"] for o in out] == [
        [{"name": "match", "value": 1.0, "label": "pass", "explanation": None}],
        [{"name": "match", "value": 0.0, "label": "fail", "explanation": 'expected "Rome", got "Paris"'}],
        [],
    ]
    assert summary["scores"] == {"match": {"mean": 0.5, "count": 2, "labels": {"fail": 1, "pass": 1}}}
    assert summary["nothing_to_score"] == 1
    config = '{"mode": "number", "tolerance": 0.5, "expected": 42, "name": "answer"}'
    lines = [{"request": ASK, "answer": a} for a in ["It is 42.", "about 42.4", "43", "none"]]
    status, out, summary, err = plugin_eval(tmp_path, "match", lines, "--config", config)
    assert status == 0, err
    assert [o["scores"][0]["value"] for o in out] == [1.0, 1.0, 0.0, 0.0]
    assert summary["scores"]["answer"]["mean"] == 0.5
    status, out, _, err = plugin_eval(tmp_path, "match", lines, "--config", '{"mode": "fuzzy"}')
    assert status != 0 and "4 of 4 cases failed" in err
    assert all("unknown mode `fuzzy`" in o["error"]["message"] for o in out)


def test_json_against_the_request_schema(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    request = {
        **ASK,
        "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    }
    lines = [
        {"request": request, "answer": '```json\n{"city": "Paris"}\n```'},
        {"request": request, "answer": '{"town": "Paris"}'},
        {"request": request, "answer": "Paris"},
        {"request": ASK, "answer": '{"town": "Paris"}'},
    ]
    status, out, _, err = plugin_eval(tmp_path, "json", lines)
    assert status == 0, err
    assert [o["scores"][0]["label"] for o in out] == ["valid", "schema-mismatch", "invalid-json", "valid"]
    assert '"city" is a required property' in out[1]["scores"][0]["explanation"]


def test_length_reads_usage_or_estimates(tmp_path: Path) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 50, "total_tokens": 55}
    completion = {"choices": [{"message": {"content": "short"}, "finish_reason": "stop"}], "usage": usage}
    lines = [{"request": ASK, "answer": completion}, {"request": ASK, "answer": "x" * 41}]
    status, out, _, err = plugin_eval(tmp_path, "length", lines, "--config", '{"max_tokens": 10}')
    assert status == 0, err
    assert [o["scores"][0]["explanation"] for o in out] == [
        "50 tokens, above max_tokens 10",
        "11 tokens (estimated), above max_tokens 10",
    ]
    status, out, _, _ = plugin_eval(tmp_path, "length", lines)
    assert status != 0 and "no bound" in out[0]["error"]["message"]


def test_judge_asks_the_model_call(tmp_path: Path) -> None:
    lines = [{"request": ASK, "answer": "Paris."}]
    config = json.dumps({"model": "grader", "rubric": "Is it correct?"})
    status, out, _, err = plugin_eval(
        tmp_path,
        "judge",
        lines,
        "--config",
        config,
        "--complete-reply",
        "**SCORE:** 4\nREASON: Right, but terse.",
    )
    assert status == 0, err
    assert out[0]["scores"] == [{"name": "judge", "value": 0.75, "label": "4", "explanation": "Right, but terse."}]
    # No --complete-reply: the model call fails, and says how to answer it.
    status, out, _, err = plugin_eval(tmp_path, "judge", lines, "--config", config)
    assert status != 0
    assert "no models in plugin eval" in out[0]["error"]["message"]
    assert "--complete-reply" in out[0]["error"]["message"]
    # An unreadable reply is an error quoting it.
    status, out, _, _ = plugin_eval(tmp_path, "judge", lines, "--config", config, "--complete-reply", "Looks good!")
    assert status != 0 and '"Looks good!"' in out[0]["error"]["message"]


def test_text_output_and_bad_input(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps({"name": "ok", "request": ASK, "answer": "I cannot help with that."})
        + "\nnot json\n\n"
        + json.dumps({"request": ASK})
        + "\n"
    )
    r = switchyard("plugin", "eval", "refusal", "--cases", cases, "--repeat", "3")
    assert r.returncode != 0 and "2 of 3 cases failed" in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith('line 1 (ok): refusal=0 [refused] the answer says "I cannot help with"  ')
    assert lines[0].endswith(" ms")
    assert lines[1].startswith("line 2: error (input): not JSON")
    assert lines[2].startswith("line 4: error (input): no `answer`")
    assert lines[3] == "summary: 3 cases: 1 scored, 0 with nothing to score, 2 errors"
    assert lines[4] == "  refusal: mean 0.000 over 1 (refused=1)"
    assert lines[5].startswith("time per call (a fresh instance + evaluate): median ")
    assert lines[5].endswith("over 3 calls")
    # Not an evaluator, not a plugin.
    r = switchyard("plugin", "eval", "ordered", "--cases", cases)
    assert r.returncode != 0 and "`ordered` is a policy plugin; `plugin eval` runs evaluators" in r.stderr
    r = switchyard("plugin", "test", "refusal", "--requests", cases)
    assert r.returncode != 0 and "`refusal` is an evaluator plugin; `plugin test` runs policies" in r.stderr
    r = switchyard("plugin", "eval", "no-such", "--cases", cases)
    assert r.returncode != 0 and "no built-in plugin" in r.stderr
