"""`switchyard plugin new` and `switchyard plugin test`.

* A policy scaffolded in each language (Rust, Python, JavaScript) builds with
  its own build command and the installed tool chains, and `plugin test`
  runs it: the three decide the same recorded requests the same way.
* An evaluator scaffolded in each language builds, and `plugin eval` scores
  the project's own sample cases the same way in all three.
* Every scaffold ships the sample inputs its README's "try it" uses, and
  that command, run as written in the project, works on them.
* An adapter scaffolded in Rust builds, and a gateway on the project's own
  `gateway.toml` serves chat, streams and tool calls through it from
  `switchyard mock-upstream`.
* `plugin test` on the embedded `task-router` decides every case of
  plugins/policies/task-router/testdata/cases.json as the case says (the case's token
  estimate is passed on the line, so the token rules are checked too).
* Policy errors, traps, deadlines and bad input are reported per request and
  make the exit status non-zero; `models.complete` answers `--complete-reply`
  or fails with "no models in plugin test".

Built components are cached by the hash of the scaffolded files and the tool
versions (~/.cache/switchyard/policies/scaffold-*.wasm, like
examples/policies/build.sh), and the Rust build reuses one cargo target
directory (~/.cache/switchyard/scaffold-target), so only a template or tool
change rebuilds anything. Compiled components go to the gateway's usual
cache (~/.cache/switchyard/components).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import BIN, built_test_plugin, stream_text

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SWITCHYARD_CACHE_HOME", Path.home() / ".cache" / "switchyard"))
VENV = Path(os.environ.get("SWITCHYARD_VENV", CACHE / "venv"))
NODE = Path(os.environ.get("SWITCHYARD_NODE", CACHE / "node"))
CASES = json.loads((ROOT / "plugins" / "policies" / "task-router" / "testdata" / "cases.json").read_text())
# The test policy of this build (test plugins are never embedded).
TEST_POLICY = built_test_plugin("test-policy")
NAME = "latency-first"
EVALUATOR = "keyword-check"
ADAPTER = "my-adapter"
LANGS = ["rust", "python", "js"]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}

CANDIDATES = [
    {"model": "slow", "provider": "p1", "stats": {"requests": 10, "latency_ewma_ms": 900.0, "ttft_ewma_ms": 80.0}},
    {"model": "fast", "provider": "p2", "stats": {"requests": 10, "latency_ewma_ms": 200.0, "ttft_ewma_ms": 300.0}},
    {"model": "broken", "stats": {"latency_ewma_ms": 5.0, "ttft_ewma_ms": 5.0, "breaker": "open"}},
    "new",  # a bare name: no traffic yet, latency 0
]
HI = [{"role": "user", "content": "hi"}]
REQUESTS = [
    {"model": "auto", "messages": HI},
    {"model": "auto", "messages": HI, "stream": True},
    {
        "name": "own candidates",
        "request": {"messages": HI},
        "metadata": {"team": "a"},
        "candidates": [
            {"model": "a", "stats": {"latency_ewma_ms": 50.0}},
            {"model": "b", "stats": {"latency_ewma_ms": 50.0, "breaker": "half-open"}},
            {"model": "c", "stats": {"latency_ewma_ms": 10.0}},
        ],
    },
]
# What the scaffolded example policy decides for REQUESTS.
EXPECTED = [
    (["new", "fast", "slow", "broken"], [["policy", NAME], ["by", "latency"]]),
    (["new", "slow", "fast", "broken"], [["policy", NAME], ["by", "ttft"]]),
    (["c", "a", "b"], [["policy", NAME], ["by", "latency"]]),
]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["SWITCHYARD_CACHE_DIR"] = str(CACHE / "components")
    e.pop("SWITCHYARD_LOG", None)
    return e


def switchyard(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env())


def write_jsonl(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def plugin_test(tmp: Path, plugin: str | Path, lines: list[dict], *extra: str) -> tuple[int, list[dict], str]:
    """Run `plugin test --json`; returns the status, the parsed lines and stderr."""
    reqs = write_jsonl(tmp / "requests.jsonl", lines)
    r = switchyard("plugin", "test", plugin, "--requests", reqs, "--json", *extra)
    out = [json.loads(line) for line in r.stdout.splitlines()]
    return r.returncode, out, r.stderr


def project_hash(project: Path, files: list[Path], *extra: str) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(project)).encode() + b"\0" + f.read_bytes() + b"\0")
    for x in extra:
        h.update(x.encode())
    return h.hexdigest()[:16]


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return ""


def build(lang: str, project: Path) -> Path:
    """Build the scaffolded project with its own build command, or reuse the
    component cached for the same files and tools. The project's directory
    name is the plugin's."""
    componentize_py = VENV / "bin" / "componentize-py"
    versions = {
        "rust": lambda: tool_version(["cargo", "--version"]),
        "python": lambda: tool_version([str(componentize_py), "--version"]),
        "js": lambda: (NODE / "node_modules" / "componentize-qjs" / "package.json").read_text(),
    }
    skip = {"target", "__pycache__", "node_modules"}
    files = [p for p in project.rglob("*") if p.is_file() and not skip & set(p.parts) and p.suffix != ".wasm"]
    cached = CACHE / "policies" / f"scaffold-{lang}-{project_hash(project, files, versions[lang]())}.wasm"
    if cached.exists():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = cached.with_suffix(".tmp")
    e = env()
    if lang == "rust":
        # One target dir for every run: the dependencies build once.
        target = CACHE / "scaffold-target"
        e["CARGO_TARGET_DIR"] = str(target)
        for k in list(e):
            if k.startswith(("CARGO_BUILD_", "CARGO_PROFILE_")) or k == "RUSTFLAGS":
                e.pop(k)
        cmd = ["cargo", "build", "--release", "--target", "wasm32-wasip2"]
        r = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=900, env=e)
        assert r.returncode == 0, f"cargo build of the Rust scaffold failed:\n{r.stderr[-4000:]}"
        shutil.copy(target / "wasm32-wasip2" / "release" / f"{project.name.replace('-', '_')}.wasm", tmp_out)
    elif lang == "python":
        if not componentize_py.exists():
            pytest.fail(f"{componentize_py} is missing: run scripts/setup.sh --test")
        e["COMPONENTIZE_PY"] = str(componentize_py)
        r = subprocess.run(
            ["./build.sh", str(tmp_out)], cwd=project, capture_output=True, text=True, timeout=600, env=e
        )
        assert r.returncode == 0, f"build.sh of the Python scaffold failed:\n{r.stdout}\n{r.stderr[-4000:]}"
    else:
        if not (NODE / "node_modules" / "componentize-qjs").exists():
            pytest.fail(f"componentize-qjs is missing under {NODE}: run scripts/setup.sh --test")
        e["NODE_PATH"] = str(NODE / "node_modules")
        r = subprocess.run(
            ["node", "build.mjs", str(tmp_out)], cwd=project, capture_output=True, text=True, timeout=600, env=e
        )
        assert r.returncode == 0, f"build.mjs of the JavaScript scaffold failed:\n{r.stdout}\n{r.stderr[-4000:]}"
    tmp_out.replace(cached)
    return cached


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for lang in LANGS:
        d = tmp_path_factory.mktemp(f"scaffold-{lang}")
        r = switchyard("plugin", "new", "--kind", "policy", "--lang", lang, NAME, "--dir", d)
        assert r.returncode == 0, r.stderr
        assert (d / NAME).is_dir()
        out[lang] = d / NAME
    return out


def test_scaffold_files(scaffolds: dict[str, Path]) -> None:
    rust = scaffolds["rust"]
    cargo = (rust / "Cargo.toml").read_text()
    workspace = (ROOT / "plugins" / "Cargo.toml").read_text()
    version = workspace.split('wit-bindgen = { version = "', 1)[1].split('"', 1)[0]
    assert f'wit-bindgen = {{ version = "{version}"' in cargo
    assert 'crate-type = ["cdylib"]' in cargo
    assert 'path: "wit"' in (rust / "src" / "lib.rs").read_text()
    assert "cargo build --release --target wasm32-wasip2" in (rust / "README.md").read_text()
    assert "latency_first.wasm" in (rust / "README.md").read_text()
    assert '-d wit -w policy-plugin componentize app -o "$out"' in (scaffolds["python"] / "build.sh").read_text()
    assert (
        "componentize-py -d wit -w policy-plugin componentize app -o latency-first.wasm"
        in (scaffolds["python"] / "README.md").read_text()
    )
    assert os.access(scaffolds["python"] / "build.sh", os.X_OK)
    assert (scaffolds["python"] / "app.py").exists()
    pkg = json.loads((scaffolds["js"] / "package.json").read_text())
    assert pkg["dependencies"] == {"componentize-qjs": "0.4.5"}
    assert "sync: true" in (scaffolds["js"] / "build.mjs").read_text()
    assert (scaffolds["js"] / f"{NAME}.js").exists()
    for project in scaffolds.values():
        for wit in (ROOT / "wit").glob("*.wit"):
            assert (project / "wit" / wit.name).read_text() == wit.read_text(), (project, wit.name)


@pytest.fixture(scope="module")
def evaluator_scaffolds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for lang in LANGS:
        d = tmp_path_factory.mktemp(f"evaluator-{lang}")
        r = switchyard("plugin", "new", "--kind", "evaluator", "--lang", lang, EVALUATOR, "--dir", d)
        assert r.returncode == 0, r.stderr
        assert f"a {lang.capitalize() if lang != 'js' else 'Js'} evaluator" in r.stdout, r.stdout
        out[lang] = d / EVALUATOR
    return out


def try_it(project: Path) -> str:
    """The command of the README's "Try it" section, lines joined."""
    readme = (project / "README.md").read_text()
    section = readme.split("## Try it", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return block.replace("\\\n", " ").strip()


def run_try_it(project: Path, wasm: Path) -> subprocess.CompletedProcess[str]:
    """Put the built component where the README expects it and run the
    README's command in the project, `switchyard` being this build's."""
    command = try_it(project)
    assert command.startswith("switchyard plugin "), command
    args = shlex.split(command)
    where = project / args[3]
    where.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(wasm, where)
    return subprocess.run([BIN, *args[1:]], cwd=project, capture_output=True, text=True, timeout=300, env=env())


def test_new_refuses_bad_names_existing_dirs_and_adapters(tmp_path: Path, scaffolds: dict[str, Path]) -> None:
    before = sorted(p.name for p in scaffolds["rust"].iterdir())
    r = switchyard("plugin", "new", "--lang", "rust", NAME, "--dir", scaffolds["rust"].parent)
    assert r.returncode != 0 and "not empty" in r.stderr
    assert sorted(p.name for p in scaffolds["rust"].iterdir()) == before
    for bad in ["My-Policy", "a_b", "a-", "../up", "a--b", "9lives"]:
        r = switchyard("plugin", "new", "--lang", "python", bad, "--dir", tmp_path)
        assert r.returncode != 0 and "invalid plugin name" in r.stderr, bad
    for lang in ["python", "js"]:
        r = switchyard("plugin", "new", "--kind", "adapter", "--lang", lang, "my-adapter", "--dir", tmp_path)
        assert r.returncode != 0 and "adapters are scaffolded in Rust only" in r.stderr
    assert list(tmp_path.iterdir()) == []
    # An empty directory of that name is fine.
    (tmp_path / "empty").mkdir()
    r = switchyard("plugin", "new", "--lang", "js", "empty", "--dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "empty" / "empty.js").exists()


@pytest.mark.parametrize("lang", LANGS)
def test_scaffold_builds_and_decides(lang: str, scaffolds: dict[str, Path], tmp_path: Path) -> None:
    wasm = build(lang, scaffolds[lang])
    cands = tmp_path / "candidates.json"
    cands.write_text(json.dumps(CANDIDATES))
    status, out, err = plugin_test(tmp_path, wasm, REQUESTS, "--candidates", str(cands))
    assert status == 0, err
    assert [line["line"] for line in out] == [1, 2, 3]
    for line, (models, labels) in zip(out, EXPECTED, strict=True):
        assert line["ok"], line
        assert line["models"] == models, (lang, line)
        assert line["labels"] == labels, (lang, line)
        assert isinstance(line["ms"], float) and 0 <= line["ms"] < 1000
    assert out[2]["name"] == "own candidates"
    assert [a["candidate"] for a in out[0]["attempts"]] == [3, 1, 0, 2]
    # The text form: one line per request, models in order, labels, time.
    r = switchyard("plugin", "test", wasm, "--requests", tmp_path / "requests.jsonl", "--candidates", cands)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"line 1: new, fast, slow, broken  [policy={NAME} by=latency]  ")
    assert lines[0].endswith(" ms")
    assert lines[2].startswith(f"line 3 (own candidates): c, a, b  [policy={NAME} by=latency]")


@pytest.mark.parametrize("lang", LANGS)
def test_policy_readme_try_it_runs_on_the_samples(lang: str, scaffolds: dict[str, Path]) -> None:
    project = scaffolds[lang]
    for sample in ["requests.jsonl", "candidates.json"]:
        assert (project / sample).is_file(), sample
    r = run_try_it(project, build(lang, project))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # The samples are the requests and candidates of this file's own checks.
    assert [json.loads(line) for line in (project / "requests.jsonl").read_text().splitlines()] == REQUESTS
    assert json.loads((project / "candidates.json").read_text()) == CANDIDATES
    assert lines[0].startswith(f"line 1: new, fast, slow, broken  [policy={NAME} by=latency]  ")
    assert len(lines) == 3


# What the scaffolded keyword evaluator scores for its own cases.jsonl with
# the README's config: (value, label, explanation) per line; None: no score.
EVALUATOR_EXPECTED = [
    (1.0, "2/2", None),
    (0.5, "1/2", "missing: france"),
    (1.0, "2/2", None),
    (0.0, "0/2", "missing: paris, france"),
    None,
]


@pytest.mark.parametrize("lang", LANGS)
def test_evaluator_scaffold_builds_and_scores_its_samples(lang: str, evaluator_scaffolds: dict[str, Path]) -> None:
    project = evaluator_scaffolds[lang]
    assert (project / "cases.jsonl").is_file()
    assert "wit" in {p.name for p in project.iterdir()}
    wasm = build(lang, project)
    # The README's command, as written.
    r = run_try_it(project, wasm)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(f"line 1 (all keywords): {EVALUATOR}=1 [2/2]  ")
    assert f"  {EVALUATOR}: mean 0.625 over 4" in r.stdout
    assert "time per call (a fresh instance + evaluate): median " in r.stdout
    # The same, as JSON: every language scores the samples alike.
    r = switchyard(
        "plugin", "eval", wasm, "--cases", project / "cases.jsonl", "--json",
        "--config", '{"keywords": ["paris", "france"], "name": "kw"}',
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    summary = out.pop()["summary"]
    got = [
        (o["scores"][0]["value"], o["scores"][0]["label"], o["scores"][0]["explanation"]) if o["scores"] else None
        for o in out
    ]
    assert got == EVALUATOR_EXPECTED, lang
    assert all(o["scores"][0]["name"] == "kw" for o in out if o["scores"])
    assert summary["scores"]["kw"]["count"] == 4
    # A config key the example does not know is an error naming it.
    r = switchyard("plugin", "eval", wasm, "--cases", project / "cases.jsonl", "--config", '{"keyword": ["x"]}')
    assert r.returncode != 0 and "5 of 5 cases failed" in r.stderr
    assert "unknown config key `keyword`" in r.stdout


def test_adapter_scaffold_serves_through_mock_upstream(tmp_path: Path, mock_upstream, gateway) -> None:
    r = switchyard("plugin", "new", "--kind", "adapter", "--lang", "rust", ADAPTER, "--dir", tmp_path)
    assert r.returncode == 0, r.stderr
    project = tmp_path / ADAPTER
    readme = (project / "README.md").read_text()
    assert "switchyard mock-upstream --listen 127.0.0.1:9101" in readme
    assert "switchyard serve --config gateway.toml" in readme
    wasm = build("rust", project)
    # The project's gateway.toml, with a free port for mock-upstream; its
    # plugin directory (`plugins`, relative to the config) holds the build.
    mock = mock_upstream()
    config = (project / "gateway.toml").read_text()
    assert 'base_url = "http://127.0.0.1:9101/v1"' in config
    config = config.replace("http://127.0.0.1:9101/v1", mock.url)
    (tmp_path / "plugins").mkdir()
    shutil.copy(wasm, tmp_path / "plugins" / f"{ADAPTER}.wasm")
    gw = gateway(raw_config=config)
    client = gw.client()
    raw = client.chat.completions.with_raw_response.create(
        model="mock-model", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-switchyard-provider"] == "mock"
    answer = raw.parse()
    assert answer.choices[0].message.content == "You said: hi"
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    chunks = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert stream_text(chunks) == "You said: hi"
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    called = client.chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "weather?"}], tools=[tool]
    )
    assert called.choices[0].finish_reason == "tool_calls"
    assert called.choices[0].message.tool_calls[0].function.name == "get_weather"
    plugins = gw.get("/admin/plugins").json()["plugins"]
    assert any(p.get("name") == ADAPTER and p.get("kind") == "adapter" for p in plugins), plugins


def case_line(case: dict) -> dict:
    """A cases.json request as a line of `plugin test`: the flags as an
    OpenAI body, the metadata as the line's, the case's token estimate."""
    req = case["request"]
    messages: list[dict] = [{"role": "system", "content": "Be brief."}]
    if req["last_user"] is not None:
        content: object = req["last_user"]
        if req["has_images"]:
            content = [{"type": "text", "text": req["last_user"]}, IMAGE]
        messages.append({"role": "user", "content": content})
    elif req["has_images"]:
        messages.append({"role": "user", "content": [IMAGE]})
    body: dict = {"model": "auto", "messages": messages}
    if req["has_tools"]:
        body["tools"] = [TOOL]
    if req["wants_json"]:
        body["response_format"] = {"type": "json_object"}
    if req["stream"]:
        body["stream"] = True
    return {
        "name": case["name"],
        "request": body,
        "metadata": req["metadata"],
        "candidates": case["candidates"],
        "token_estimate": req["token_estimate"],
    }


def test_task_router_decides_every_case(tmp_path: Path) -> None:
    groups: dict[str, list[dict]] = {}
    for case in CASES:
        groups.setdefault(json.dumps(case["config"], sort_keys=True), []).append(case)
    for i, (config, cases) in enumerate(groups.items()):
        d = tmp_path / f"g{i}"
        d.mkdir()
        status, out, err = plugin_test(d, "task-router", [case_line(c) for c in cases], "--config", config)
        assert status == 0, err
        assert len(out) == len(cases)
        for case, line in zip(cases, out, strict=True):
            assert line["ok"], (case["name"], line)
            assert line["name"] == case["name"]
            assert line["models"] == case["expected"], case["name"]
            assert dict(line["labels"]) == case["labels"], case["name"]
    assert sum(len(c) for c in groups.values()) == len(CASES)


def test_config_from_a_toml_file(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(
        'default = "cheap"\ntiers = { cheap = ["small"], strong = ["big"] }\n'
        'rules = [{ if = { regex = "(?i)prove" }, tier = "strong" }]\n'
    )
    lines = [
        {"request": {"messages": [{"role": "user", "content": "Prove it"}]}, "candidates": ["small", "big"]},
        {"request": {"messages": [{"role": "user", "content": "hi"}]}, "candidates": ["small", "big"]},
    ]
    status, out, err = plugin_test(tmp_path, "task-router", lines, "--config", f"@{tmp_path / 'policy.toml'}")
    assert status == 0, err
    assert [line["models"] for line in out] == [["big", "small"], ["small", "big"]]
    # A config the policy rejects is a policy error on every line.
    status, out, err = plugin_test(tmp_path, "task-router", lines, "--config", '{"tiers": 3}')
    assert status != 0 and "2 of 2 requests failed" in err
    assert all(line["error"]["kind"] == "policy-error" and "tiers" in line["error"]["message"] for line in out)


@pytest.mark.parametrize(
    ("mode", "kind", "text"),
    [
        ("error", "policy-error", "test-policy refuses"),
        ("trap", "trap", "unreachable"),
        ("loop", "deadline", "exceeded its 50 ms deadline"),
        ("bad-index", "bad-return", "chose candidate"),
    ],
)
def test_failures_are_reported_per_request(mode: str, kind: str, text: str, tmp_path: Path) -> None:
    lines = [{"request": {"messages": HI}, "candidates": ["a", "b"]}] * 2
    status, out, err = plugin_test(tmp_path, TEST_POLICY, lines, "--config", json.dumps({"mode": mode}))
    assert status != 0
    assert "2 of 2 requests failed" in err
    assert len(out) == 2
    for line in out:
        assert line["ok"] is False
        assert line["error"]["kind"] == kind, line
        assert text in line["error"]["message"], line
    # Text mode keeps one line per request, even for a trap's backtrace.
    config = json.dumps({"mode": mode})
    r = switchyard("plugin", "test", TEST_POLICY, "--requests", tmp_path / "requests.jsonl", "--config", config)
    assert r.returncode != 0
    assert [line.split(":", 1)[0] for line in r.stdout.splitlines()] == ["line 1", "line 2"]
    assert all(f"error ({kind})" in line for line in r.stdout.splitlines())


def test_bad_input_lines_fail_alone(tmp_path: Path) -> None:
    reqs = tmp_path / "requests.jsonl"
    reqs.write_text(
        "\n".join(
            [
                json.dumps({"messages": HI}),
                "not json",
                "",
                json.dumps({"request": {"messages": []}}),
                json.dumps({"request": {"messages": HI}, "candidates": [{"model": "a", "stats": {"breaker": "ajar"}}]}),
                json.dumps({"messages": HI, "model": "x"}),
            ]
        )
        + "\n"
    )
    cands = tmp_path / "c.json"
    cands.write_text('["a", "b"]')
    r = switchyard("plugin", "test", "ordered", "--requests", reqs, "--candidates", cands, "--json")
    assert r.returncode != 0 and "3 of 5 requests failed" in r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(o["line"], o["ok"]) for o in out] == [(1, True), (2, False), (4, False), (5, False), (6, True)]
    assert out[0]["models"] == ["a", "b"] and out[0]["labels"] == [["policy", "ordered"]]
    assert "not JSON" in out[1]["error"]["message"]
    assert "messages" in out[2]["error"]["message"]
    assert "candidates[0].stats.breaker" in out[3]["error"]["message"]
    # No candidates anywhere.
    r = switchyard("plugin", "test", "ordered", "--requests", tmp_path / "c.json")
    assert r.returncode != 0
    # Not a policy, not a plugin.
    r = switchyard("plugin", "test", "openai", "--requests", reqs, "--candidates", cands)
    assert r.returncode != 0 and "adapter" in r.stderr
    r = switchyard("plugin", "test", "no-such-plugin", "--requests", reqs, "--candidates", cands)
    assert r.returncode != 0 and "no built-in plugin" in r.stderr


def test_model_calls(tmp_path: Path) -> None:
    lines = [{"request": {"messages": HI}, "candidates": ["a", "b"]}]
    config = json.dumps({"mode": "complete", "classifier": "a"})
    status, out, err = plugin_test(tmp_path, TEST_POLICY, lines, "--config", config)
    assert status == 0, err
    assert dict(out[0]["labels"]) == {"error": "no models in plugin test"}
    status, out, err = plugin_test(tmp_path, TEST_POLICY, lines, "--config", config, "--complete-reply", "code")
    assert status == 0, err
    assert dict(out[0]["labels"]) == {"answer": "code", "cached": "false"}


def test_the_request_view(tmp_path: Path) -> None:
    """What the policy reads is the parsed request: the body's metadata plus
    the line's, the host's token estimate unless the line sets one."""
    lines = [
        {
            "request": {"model": "m", "messages": HI, "metadata": {"a": "1"}, "tools": [TOOL], "stream": True},
            "metadata": {"b": "2"},
            "candidates": ["x"],
        },
        {"request": {"messages": HI}, "candidates": ["x"], "token_estimate": 4321},
    ]
    status, out, err = plugin_test(tmp_path, TEST_POLICY, lines, "--config", '{"mode": "echo-view"}')
    assert status == 0, err
    first, second = (dict(o["labels"]) for o in out)
    assert first["model"] == "m" and first["tools"] == "true" and first["stream"] == "true"
    assert first["meta"] == '[("a", "1"), ("b", "2")]', first
    assert int(first["tokens"]) > 0
    assert second["model"] == "plugin-test" and second["tokens"] == "4321"
