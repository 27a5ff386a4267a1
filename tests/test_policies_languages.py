"""The task-router policy in Python and JavaScript (examples/policies/) decides
exactly as the Rust one (plugins/policies/task-router), driven through the real
gateway: every case of plugins/policies/task-router/testdata/cases.json and every
config error of config_errors.json, for all three languages, read from the
`x-switchyard-plan` and `x-switchyard-labels` response headers and from the
gateway's log; plus one request per language through the OpenAI SDK, and the
pure logic of each port against the shared cases natively (Python here, the
JavaScript under Node), with the Rust regex answers of
examples/policies/regex_cases.json.

The components are built by examples/policies/build.sh, cached by content
hash (~/.cache/switchyard/policies), so only a source change rebuilds them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import make_config, stream_text

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "plugins" / "policies" / "task-router" / "testdata"
CASES = json.loads((TESTDATA / "cases.json").read_text())
ERRORS = json.loads((TESTDATA / "config_errors.json").read_text())
REGEX = json.loads((ROOT / "examples" / "policies" / "regex_cases.json").read_text())
LANGS = {"rust": "task-router", "py": "task-router-py", "js": "task-router-js"}
PORTS = ["py", "js"]
# A policy deadline far above what a decision takes on a loaded machine: a
# deadline fallback would read as a decision that differs from Rust's.
ROOMY = {"policy_timeout_ms": 1000}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture
def plugin_dir(tmp_path: Path, components: dict[str, Path]) -> Path:
    d = tmp_path / "plugins"
    d.mkdir()
    for name, path in components.items():
        shutil.copy(path, d / f"{name}.wasm")
    return d


def config(cache_dir: Path, plugin_dir: Path, upstream: str, models: set[str], routes: dict[str, dict]) -> str:
    """Every model served by provider `mock` at `upstream`; the components in `plugin_dir`."""
    return make_config(
        cache_dir=cache_dir,
        plugins={"dir": plugin_dir, **ROOMY},
        providers={"mock": {"base_url": upstream}},
        models={m: {"provider": "mock"} for m in sorted(models)},
        routes=routes,
    )


def body_of(request: dict) -> tuple[dict, dict[str, str]]:
    """A chat request showing the case's request to the policy (the token
    estimate is the gateway's own), and its metadata headers."""
    messages = [{"role": "system", "content": "Be brief."}]
    if request["last_user"] is not None:
        content: object = request["last_user"]
        if request["has_images"]:
            content = [{"type": "text", "text": request["last_user"]}, IMAGE]
        messages.append({"role": "user", "content": content})
    elif request["has_images"]:
        messages.append({"role": "user", "content": [IMAGE]})
    body: dict = {"messages": messages, "max_tokens": 16}
    if request["has_tools"]:
        body["tools"] = [TOOL]
    if request["wants_json"]:
        body["response_format"] = {"type": "json_object"}
    if request["stream"]:
        body["stream"] = True
    headers = {f"x-switchyard-meta-{k}": v for k, v in request["metadata"].items()}
    return body, headers


def decision(gw, route: str, body: dict, headers: dict[str, str]) -> tuple[str, str]:
    r = gw.post({**body, "model": route}, headers=headers)
    assert r.status_code == 200, (route, r.status_code, r.text[:500])
    return r.headers["x-switchyard-plan"], r.headers["x-switchyard-labels"]


@pytest.mark.parametrize("port", PORTS)
def test_every_case_decides_as_the_rust_policy(port, mock_upstream, gateway, cache_dir, plugin_dir):
    up = mock_upstream()
    models = {m for c in CASES for m in c["candidates"]}
    langs = {"rust": LANGS["rust"], port: LANGS[port]}
    routes = {
        f"c{i}-{lang}": {"policy": policy, "models": c["candidates"], "policy_config": c["config"]}
        for i, c in enumerate(CASES)
        for lang, policy in langs.items()
    }
    gw = gateway(raw_config=config(cache_dir, plugin_dir, up.url, models, routes))
    for i, case in enumerate(CASES):
        body, headers = body_of(case["request"])
        got = {lang: decision(gw, f"c{i}-{lang}", body, headers) for lang in langs}
        assert got[port] == got["rust"], (case["name"], got)
        plan, labels = got["rust"]
        assert labels.startswith("policy=task-router,"), (case["name"], labels)
        # Cases whose rules do not read the token estimate decide as the
        # case says (the gateway's estimate of a short prompt is not the case's).
        if "tokens" not in json.dumps(case["config"]):
            assert plan.split(",") == case["expected"], case["name"]
            assert dict(kv.split("=", 1) for kv in labels.split(",")) == case["labels"], case["name"]


ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("port", PORTS)
def test_every_config_error_is_the_same_string(port, mock_upstream, gateway, cache_dir, plugin_dir):
    up = mock_upstream()
    langs = {"rust": LANGS["rust"], port: LANGS[port]}
    routes = {
        f"e{i}-{lang}": {"policy": policy, "models": ["small", "big"], "policy_config": e["config"]}
        for i, e in enumerate(ERRORS)
        for lang, policy in langs.items()
    }
    gw = gateway(raw_config=config(cache_dir, plugin_dir, up.url, {"small", "big"}, routes))
    for i, e in enumerate(ERRORS):
        for lang in langs:
            plan, labels = decision(gw, f"e{i}-{lang}", {"messages": [{"role": "user", "content": "hi"}]}, {})
            # The policy failed: the route's static order serves.
            assert (plan, labels) == ("small,big", "fallback=policy-error"), (e["name"], lang)
    log = ANSI.sub("", gw.proc.log_path.read_text())
    messages: dict[str, str] = {}
    # A Rust regex error spans several lines.
    for m in re.finditer(r"using the fallback order: (.*?) route=(e\d+-\w+)", log, re.DOTALL):
        messages[m.group(2)] = m.group(1)
    for i, e in enumerate(ERRORS):
        got = {lang: messages.get(f"e{i}-{lang}") for lang in langs}
        assert f"`{e['key']}`" in (got["rust"] or ""), (e["name"], got)
        if "regex" in e["key"] and "valid regular expression" in got["rust"]:
            # The regex engine's own explanation differs; the key and the
            # sentence around it do not.
            got = {k: v.split(": ", 1)[0] + ": " + v.split(": ", 2)[1] for k, v in got.items()}
        assert got[port] == got["rust"], (e["name"], got)


@pytest.mark.parametrize("lang", PORTS)
def test_openai_sdk_end_to_end(lang, mock_upstream, gateway, plugin_dir):
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    cfg = {
        "tiers": {"cheap": ["small"], "strong": ["big"]},
        "default": "cheap",
        "rules": [{"if": {"regex": r"(?i)\b(prove|derive)\b"}, "tier": "strong"}],
    }
    gw = gateway(
        plugins={"dir": plugin_dir, **ROOMY},
        providers={"mock": {"base_url": small.url}, "big": {"base_url": big.url}},
        models={"small": {"provider": "mock"}, "big": {"provider": "big"}},
        routes={"main": {"policy": LANGS[lang], "models": ["small", "big"], "policy_config": cfg}},
    )
    c = gw.client()
    raw = c.chat.completions.with_raw_response.create(model="main", messages=[{"role": "user", "content": "Derive it"}])
    assert raw.parse().choices[0].message.content == "[big] You said: Derive it"
    assert raw.headers["x-switchyard-labels"] == "policy=task-router,tier=strong,rule=0"
    answer = c.chat.completions.create(model="main", messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "[small] You said: hello"
    stream = c.chat.completions.create(model="main", messages=[{"role": "user", "content": "prove"}], stream=True)
    assert stream_text(stream) == "[big] You said: prove"


def test_python_logic_natively():
    sys.path.insert(0, str(ROOT / "examples" / "policies" / "python"))
    import task_router as tr
    from rust_regex import RegexError, compile_rust

    for c in CASES:
        r = c["request"]
        req = tr.Request(
            r["last_user"],
            r["token_estimate"],
            r["has_tools"],
            r["has_images"],
            r["wants_json"],
            r["stream"],
            list(r["metadata"].items()),
        )
        plan = tr.decide(tr.Config.parse(json.dumps(c["config"])), req, [tr.Candidate(m) for m in c["candidates"]])
        assert [c["candidates"][i] for i in plan.order] == c["expected"], c["name"]
        assert dict(plan.labels) == c["labels"], c["name"]
    for e in ERRORS:
        with pytest.raises(tr.ConfigError, match=re.escape(f"`{e['key']}`")):
            tr.Config.parse(json.dumps(e["config"]))
    for rc in REGEX["cases"]:
        try:
            rx = compile_rust(rc["pattern"])
        except RegexError:
            assert not rc["valid"], rc["pattern"]
            continue
        assert rc["valid"], rc["pattern"]
        if "matches" in rc:
            assert [t for t in REGEX["texts"] if rx.is_match(t)] == rc["matches"], rc["pattern"]


JS_CHECK = r"""
import { readFileSync } from "node:fs";
import { parseConfig, decide, ConfigError } from "./logic.js";
import { compileRust, RegexError } from "./rust-regex.js";
const [cases, errors, regex] = process.argv.slice(2).map((p) => JSON.parse(readFileSync(p, "utf8")));
const fail = [];
for (const c of cases) {
  const r = c.request;
  const p = decide(parseConfig(JSON.stringify(c.config)), {lastUser: r.last_user, tokenEstimate: r.token_estimate,
    hasTools: r.has_tools, hasImages: r.has_images, wantsJson: r.wants_json, stream: r.stream,
    metadata: Object.entries(r.metadata)}, c.candidates.map((m) => ({model: m, open: false})));
  const got = JSON.stringify([p.order.map((i) => c.candidates[i]), Object.fromEntries(p.labels)]);
  if (got !== JSON.stringify([c.expected, c.labels])) fail.push(`case ${c.name}: ${got}`);
}
for (const e of errors) {
  try { parseConfig(JSON.stringify(e.config)); fail.push(`accepted ${e.name}`); }
  catch (x) {
    if (!(x instanceof ConfigError) || !x.message.includes("`" + e.key + "`")) fail.push(`${e.name}: ${x.message}`);
  }
}
let modifiers = true; try { new RegExp("(?i:a)"); } catch { modifiers = false; }
for (const c of regex.cases) {
  let re;
  try { re = compileRust(c.pattern); }
  catch (x) {
    if (!(x instanceof RegexError)) fail.push(`crash ${c.pattern}: ${x}`);
    // Node before 23 lacks the (?i:...) modifier QuickJS has.
    else if (c.valid && !(!modifiers && x.message.startsWith("cannot be compiled"))) fail.push(`rejected ${c.pattern}`);
    continue;
  }
  if (!c.valid) fail.push(`accepted ${c.pattern}`);
  else if (c.matches && JSON.stringify(regex.texts.filter((t) => re.test(t))) !== JSON.stringify(c.matches)) {
    fail.push(`matches of ${c.pattern}`);
  }
}
console.log(JSON.stringify(fail));
"""


def test_javascript_logic_natively(tmp_path):
    js = ROOT / "examples" / "policies" / "javascript"
    script = js / f".check-{tmp_path.name}.mjs"
    script.write_text(JS_CHECK)
    try:
        r = subprocess.run(
            [
                "node",
                str(script),
                str(TESTDATA / "cases.json"),
                str(TESTDATA / "config_errors.json"),
                str(ROOT / "examples" / "policies" / "regex_cases.json"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        script.unlink()
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
