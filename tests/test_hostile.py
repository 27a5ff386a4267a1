"""Hostile plugins through the real gateway: every fault of a policy falls
back to the route's static order, every fault of an adapter fails over to the
next attempt, the plugin's error counter in ``GET /admin/plugins`` rises, the
gateway keeps answering, and no key, header, environment variable or file
reaches a plugin while the upstream still gets the right key."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import threading
from pathlib import Path

import pytest

from helpers import assert_serving, dump, httpx, stream_text

SECRET = "sk-upstream-SECRET-7f3a"
FILE_SECRET = "sk-from-file-SECRET-91b2"
CLIENT_KEY = "client-key-SECRET-c0de"


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "plugins"
    d.mkdir()
    dump("test-policy", d / "hostile.wasm")
    dump("test-hostile-adapter", d / "hostile-adapter.wasm")
    return d


# A small memory cap and roomy deadlines (a second: seconds more than any
# well-behaved call takes on a loaded machine), so that a memory bomb hits
# the cap long before its deadline and only the spinning modes meet it.
LIMITS = {"memory_limit_mb": 16, "policy_timeout_ms": 1000, "adapter_timeout_ms": 1000}


def hostile_gateway(gateway, plugin_dir: Path, **config):
    """A gateway loading the hostile plugins of `plugin_dir`."""
    return gateway(plugins={"dir": plugin_dir, **LIMITS}, **config)


def errors(gw, plugin: str) -> dict:
    plugins = gw.get("/admin/plugins").json()["plugins"]
    return next(p for p in plugins if p["name"] == plugin)["errors"]


def chat(gw, model: str, **kw):
    return gw.post({"model": model, "messages": [{"role": "user", "content": "hi"}]}, **kw)


class TrapPort:
    """A local port that counts connections (a denied address must get none)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            c.close()


def local_loopback_name() -> str | None:
    """A name of /etc/hosts other than localhost mapped to loopback (no DNS)."""
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        words = line.split("#")[0].split()
        if len(words) >= 2 and words[0].startswith("127."):
            for n in words[1:]:
                if not n.startswith("localhost") and not n.endswith(".localhost"):
                    return n
    return None


POLICY_MODES = [
    ("trap", "policy-fault", "trap"),
    ("loop", "policy-fault", "deadline"),
    ("alloc", "policy-fault", "memory_limit"),
    ("recurse", "policy-fault", "trap"),
    ("huge-string", "policy-fault", "memory_limit"),
    ("alias-labels", "policy-fault", "bad_return"),
    ("bad-index", "policy-bad-return", "bad_return"),
    ("error", "policy-error", "error_value"),
]


def test_hostile_policies_fall_back_to_the_static_order(gateway, mock_upstream, plugin_dir):
    a, b = mock_upstream("--label", "a"), mock_upstream("--label", "b")
    routes = {
        mode: {"policy": "hostile", "models": ["a", "b"], "policy_config": {"mode": mode}}
        for mode in [m for m, _, _ in POLICY_MODES] + ["reverse", "many-attempts"]
    }
    gw = hostile_gateway(
        gateway,
        plugin_dir,
        providers={"pa": {"base_url": a.url}, "pb": {"base_url": b.url}},
        models={"a": {"provider": "pa"}, "b": {"provider": "pb"}, "good": {"provider": "pb"}},
        routes=routes,
    )
    r = chat(gw, "reverse")
    assert r.json()["choices"][0]["message"]["content"] == "[b] You said: hi"
    for mode, label, counter in POLICY_MODES:
        before = errors(gw, "hostile")
        r = chat(gw, mode)
        assert r.status_code == 200, (mode, r.text)
        assert r.json()["choices"][0]["message"]["content"] == "[a] You said: hi", mode
        assert f"fallback={label}" in r.headers["x-switchyard-labels"], mode
        after = errors(gw, "hostile")
        assert after[counter] == before[counter] + 1, (mode, after)
        assert_serving(gw, "good")
    assert errors(gw, "hostile")["total"] == len(POLICY_MODES)
    r = chat(gw, "many-attempts")
    assert r.status_code == 200
    assert r.headers["x-switchyard-plan"] == "a"


def test_hostile_adapters_fail_over_and_denied_addresses_are_never_contacted(gateway, mock_upstream, plugin_dir):
    a, b = mock_upstream("--label", "a"), mock_upstream("--label", "b")
    trap = TrapPort()
    port = trap.port
    public = "https://api.example.com/v1"
    cases = []  # (mode, base_url, allowed_hosts, url, counter)
    for mode, counter in [
        ("loop", "deadline"),
        ("alloc", "memory_limit"),
        ("recurse", "trap"),
        ("panic", "trap"),
        ("huge-body", "memory_limit"),
        ("alias-headers", "bad_return"),
        ("panic-parse", "trap"),
    ]:
        cases.append((mode, a.url, [], "", counter))
    for base, allowed, url in [
        (a.url, [], f"http://127.0.0.2:{port}/steal"),  # outside the allowlist
        (public, [f"127.0.0.1:{port}"], f"http://127.0.0.1:{port}/x"),  # loopback
        (public, [f"[::1]:{port}"], f"http://[::1]:{port}/x"),
        (a.url, ["169.254.169.254"], "http://169.254.169.254/latest/meta-data/"),  # metadata
        (public, ["169.254.169.254"], "http://169.254.169.254/latest/meta-data/"),
        (public, ["10.0.0.1"], "http://10.0.0.1/x"),  # private
        (public, [f"localhost:{port}"], f"http://localhost:{port}/x"),  # localhost by name
    ]:
        cases.append(("url", base, allowed, url, "egress_denied"))
    name = local_loopback_name()
    if name:  # a name resolving to loopback: refused after resolution
        cases.append(("url", public, [f"{name}:{port}"], f"http://{name}:{port}/x", "egress_denied"))
    providers = {"good": {"base_url": b.url}}
    models = {"good": {"provider": "good"}}
    routes = {}
    for i, (mode, base, allowed, url, _) in enumerate(cases):
        providers[f"p{i}"] = {
            "adapter": "hostile-adapter",
            "base_url": base,
            "allowed_hosts": allowed,
            "options": {"mode": mode, "url": url},
        }
        models[f"m{i}"] = {"provider": f"p{i}"}
        routes[f"r{i}"] = {"models": [f"m{i}", "good"]}
    gw = hostile_gateway(gateway, plugin_dir, providers=providers, models=models, routes=routes)
    for i, (mode, _, _, url, counter) in enumerate(cases):
        before = errors(gw, "hostile-adapter")
        r = chat(gw, f"r{i}")
        assert r.status_code == 200, (mode, url, r.text)
        assert r.json()["choices"][0]["message"]["content"] == "[b] You said: hi"
        assert r.headers["x-switchyard-attempts"] == "2"
        after = errors(gw, "hostile-adapter")
        assert after[counter] == before[counter] + 1, (mode, url, after)
        assert_serving(gw, "good")
    # A stream through a failing adapter fails over the same way.
    with gw.client().chat.completions.create(
        model="r0", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as stream:
        assert stream_text(stream) == "[b] You said: hi"
    assert trap.hits == 0, "a denied address was contacted"
    assert b.stats()["requests"] >= len(cases)


def test_adapter_fault_mid_stream_ends_the_stream_with_an_error(gateway, mock_upstream, plugin_dir):
    up = mock_upstream("--reply", "one two three four five", "--chunks", 5)
    gw = hostile_gateway(
        gateway,
        plugin_dir,
        providers={
            "bad": {"adapter": "hostile-adapter", "base_url": up.url, "options": {"mode": "panic-stream"}},
            "good": {"base_url": up.url},
        },
        models={"bad": {"provider": "bad"}, "good": {"provider": "good"}},
    )
    before = errors(gw, "hostile-adapter")["trap"]
    body = {"model": "bad", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=20) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert any('"content":"one' in line for line in lines), lines
    assert "stream_interrupted" in lines[-1], lines[-1]
    assert "data: [DONE]" not in lines
    assert errors(gw, "hostile-adapter")["trap"] == before + 1
    assert_serving(gw, "good", reply="one two three four five")


def observations(content: str) -> dict:
    """The adapter's report, echoed back by the mock upstream."""
    start = content.index("You said: ") + len("You said: ")
    end = content.index("\nresponse headers:")
    return json.loads(content[start:end])


def test_no_key_reaches_a_plugin_and_the_upstream_gets_the_right_one(gateway, mock_upstream, plugin_dir, tmp_path):
    env_up = mock_upstream("--api-key", SECRET)
    file_up = mock_upstream("--api-key", FILE_SECRET)
    key_file = tmp_path / "key"
    key_file.write_text(FILE_SECRET + "\n")
    (plugin_dir / "secrets.txt").write_text(FILE_SECRET)
    gw = hostile_gateway(
        gateway,
        plugin_dir,
        providers={
            "env": {
                "adapter": "hostile-adapter",
                "base_url": env_up.url,
                "api_key_env": "UPSTREAM_KEY",
                "options": {"mode": "observe"},
            },
            "file": {
                "adapter": "hostile-adapter",
                "base_url": file_up.url,
                "api_key_file": str(key_file),
                "options": {"mode": "observe"},
            },
        },
        models={"env-model": {"provider": "env"}, "file-model": {"provider": "file"}},
        routes={
            "watched": {
                "policy": "hostile",
                "models": ["env-model"],
                "policy_config": {"mode": "observe"},
            }
        },
        plugin_config={"hostile-adapter": {"note": "plugin config"}},
        env={"UPSTREAM_KEY": SECRET, "OTHER_SECRET": SECRET},
    )
    secrets = (SECRET, FILE_SECRET, CLIENT_KEY)
    headers = {
        "authorization": f"Bearer {CLIENT_KEY}",
        "x-api-key": CLIENT_KEY,
        "x-switchyard-meta-team": "blue",
    }
    for model in ["env-model", "file-model", "watched"]:
        r = chat(gw, model, headers=headers)
        # 200: the mock upstream accepted the key the host put on the request.
        assert r.status_code == 200, (model, r.text)
        content = r.json()["choices"][0]["message"]["content"]
        seen = observations(content)
        assert seen["env"] == [], seen["env"]
        for line in seen["files"]:
            assert "refused" in line, line
        assert "plugin config" in (seen["config"] or "")
        for s in secrets:
            assert s not in content, (model, s)
            assert s not in r.headers.get("x-switchyard-labels", ""), (model, s)
    # The policy saw only the metadata header, no key.
    r = chat(gw, "watched", headers=headers)
    labels = r.headers["x-switchyard-labels"]
    assert "env=[]" in labels
    assert "team" in labels and "blue" in labels
    for s in secrets:
        assert s not in labels
    assert all(s not in gw.get("/admin/plugins").text for s in secrets)
    # Without the right key the upstream refuses: the key check is real.
    assert (
        httpx.post(
            f"{env_up.url}/chat/completions",
            json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer wrong"},
        ).status_code
        == 401
    )


ALICE = "client-key-alice-5e1f"
BOB = "client-key-bob-9a07"


def remembered(r) -> str:
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("reuse", [1000, 1])
def test_a_warm_adapter_instance_never_serves_another_key(gateway, mock_upstream, plugin_dir, reuse):
    """An adapter that keeps the last request it saw (mode `remember`) shows
    what a warm instance carries: the same key's next request may see it
    (with reuse on), another key's never does, and `adapter_reuse = 1` gives
    every call a fresh instance."""
    up = mock_upstream()
    gw = gateway(
        plugins={"dir": plugin_dir, **LIMITS, "adapter_reuse": reuse},
        providers={"p": {"adapter": "hostile-adapter", "base_url": up.url, "options": {"mode": "remember"}}},
        models={"m": {"provider": "p"}},
        keys={"alice": {"key_env": "ALICE_KEY"}, "bob": {"key_env": "BOB_KEY"}},
        env={"ALICE_KEY": ALICE, "BOB_KEY": BOB},
    )

    def ask(key: str, text: str) -> str:
        body = {"model": "m", "messages": [{"role": "user", "content": text}]}
        return remembered(gw.post(body, headers={"authorization": f"Bearer {key}"}))

    assert "alice-secret-1" in ask(ALICE, "alice-secret-1")
    for i in range(20):
        seen = ask(BOB, f"bob-{i}")
        assert "alice-secret" not in seen, seen
    seen = ask(ALICE, "alice-secret-2")
    assert "bob-" not in seen, seen
    if reuse == 1:
        assert "previous=none" in seen, seen
    else:
        # Sequential requests of one key find its warm instance.
        assert "alice-secret-1" in seen, seen
    # Concurrent requests of both keys: still nothing crosses.
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        jobs = [
            (other, ex.submit(ask, key, f"{name}-c{i}"))
            for i in range(40)
            for key, name, other in ((ALICE, "alice", "bob"), (BOB, "bob", "alice"))
        ]
        for other, job in jobs:
            out = job.result()
            assert f"{other}-" not in out, out
