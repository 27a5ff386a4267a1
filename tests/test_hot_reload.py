"""Hot reload under load: policies and config swap while traffic flows, with
no failed request; bad files are refused and the old version keeps serving."""

import concurrent.futures as cf
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from helpers import Gateway, dump, stream_text, toml_table, wait_until

# Plugin deadlines far above what a call takes on a loaded machine: these
# tests are about swapping plugins, and a deadline fallback (the route's
# static order) or a failed adapter call would read as a lost request.
ROOMY = {"policy_timeout_ms": 1000, "adapter_timeout_ms": 1000}


@dataclass
class Setup:
    gw: Gateway
    plugin_dir: Path
    ordered: Path  # the embedded `ordered` policy (a first)
    reverse: Path  # the test policy, whose default mode reverses the order (b first)


@pytest.fixture
def setup(mock_upstream, gateway, tmp_path) -> Setup:
    a, b = mock_upstream("--label", "a"), mock_upstream("--label", "b")
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    gw = gateway(
        plugins={"dir": plugin_dir, **ROOMY},
        providers={"pa": {"base_url": a.url}, "pb": {"base_url": b.url}},
        models={"ma": {"provider": "pa"}, "mb": {"provider": "pb"}},
        routes={
            "main": {
                "models": ["ma", "mb"],
                # Read by the task-router ports swapped in below (mb first);
                # `ordered` and the test policy ignore it.
                "policy_config": {"tiers": {"cheap": ["ma"], "strong": ["mb"]}, "default": "strong"},
            }
        },
    )
    return Setup(gw, plugin_dir, dump("ordered", blobs / "ordered.wasm"), dump("test-policy", blobs / "reverse.wasm"))


def install(src: Path, dst: Path):
    """Write the way editors and deploy tools do: a temp file, then rename."""
    tmp = dst.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    tmp.rename(dst)


def wait_for(gw, label: str, timeout=30.0):
    c = gw.client()

    def answered_by_label() -> bool:
        r = c.chat.completions.create(model="main", messages=[{"role": "user", "content": "x"}])
        return r.choices[0].message.content.startswith(f"[{label}]")

    wait_until(answered_by_label, timeout=timeout, interval=0.02, what=f"version `{label}` takes over")


def admin(gw):
    return gw.get("/admin/plugins").json()


def swap_while_serving(versions: list[Path], target: Path, answers: list) -> None:
    """Install `versions` in turn as `target`, four times a second: at
    least 50 swaps, and on until over 200 answers came in, however slowly a
    loaded machine answers."""
    swaps = 0
    while swaps < 50 or len(answers) <= 200:
        assert swaps < 1000, f"only {len(answers)} answers during {swaps} swaps"
        install(versions[swaps % len(versions)], target)
        time.sleep(0.25)
        swaps += 1


@pytest.mark.parametrize("lang", ["rust", "py", "js"])
def test_policy_swaps_under_load_lose_nothing(setup, lang, request):
    """Swap the route's policy 50 times between `ordered` (a first) and a
    policy putting b first: the Rust test policy, or the task-router written
    in Python or JavaScript (each compiled once, then loaded from the
    compile cache on every swap)."""
    gw, ordered, reverse = setup.gw, setup.ordered, setup.reverse
    target = setup.plugin_dir / "ordered.wasm"
    if lang != "rust":
        reverse = request.getfixturevalue("components")[f"task-router-{lang}"]
        # Compile it once (a cold Python compile takes ~15 s here): every swap
        # below is then a compile-cache hit.
        install(reverse, target)
        wait_for(gw, "b", timeout=120)
        install(ordered, target)
        wait_for(gw, "a")
    stop = threading.Event()
    results, errors = [], []

    def client_loop(i):
        c = gw.client(timeout=30)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 2:
                    r = c.chat.completions.create(model="main", messages=[{"role": "user", "content": f"c{i} n{n}"}])
                    text = r.choices[0].message.content
                else:
                    chunks = c.chat.completions.create(
                        model="main", stream=True, messages=[{"role": "user", "content": f"c{i} n{n} s"}]
                    )
                    text = stream_text(chunks)
                results.append(text)
            except Exception as e:  # every failure is a test failure
                errors.append(repr(e))
            time.sleep(0.01)  # bounded rate: ~8 clients x <100 req/s

    with cf.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client_loop, i) for i in range(8)]
        try:
            swap_while_serving([reverse, ordered], target, results)
            install(reverse, target)
            wait_for(gw, "b")
        finally:
            stop.set()
        for f in futures:
            f.result()
    assert errors == [], errors[:5]
    assert len(results) > 200
    # Every answer came whole from one version: a's or b's, never mixed.
    for t in results:
        assert t.startswith(("[a] You said: c", "[b] You said: c")) and t.count("[") == 1, t
    assert any(t.startswith("[a]") for t in results) and any(t.startswith("[b]") for t in results)
    # After the last write, every new request is served by the last version.
    c = gw.client()
    for _ in range(20):
        r = c.chat.completions.create(model="main", messages=[{"role": "user", "content": "after"}])
        assert r.choices[0].message.content == "[b] You said: after"
    info = admin(gw)
    assert info["reloads"]["succeeded"] >= 5
    p = next(p for p in info["plugins"] if p["name"] == "ordered")
    assert p["source"].endswith("ordered.wasm") and p["kind"] == "policy" and p["wit_version"] == "0.2.0"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"\x00asm\x01\x00\x00\x00 garbage", id="garbage"),
        pytest.param(b"\x00asm\x0d\x00\x01\x00", id="exports-nothing"),
        pytest.param("half", id="half-written"),
        pytest.param("adapter", id="wrong-world"),
        pytest.param("trap", id="traps-in-self-check"),
    ],
)
def test_bad_files_are_refused_and_the_old_version_keeps_serving(setup, bad, tmp_path):
    gw, plugin_dir, reverse = setup.gw, setup.plugin_dir, setup.reverse
    install(reverse, plugin_dir / "ordered.wasm")
    wait_for(gw, "b")
    before = admin(gw)["generation"]
    if bad == "half":
        data = reverse.read_bytes()[: len(reverse.read_bytes()) // 2]
    elif bad == "adapter":
        data = dump("openai", tmp_path / "openai.wasm").read_bytes()
    elif bad == "trap":
        # A policy whose plugin config makes it trap on every call.
        text = gw.config_path.read_text()
        gw.config_path.write_text(text + "\n" + toml_table("plugins.config.ordered", {"mode": "trap"}))
        data = None
    else:
        data = bad
    if data is not None:
        (plugin_dir / "ordered.wasm").write_bytes(data)
    # Whatever the reload answers, the new version of `ordered` is refused
    # (with "trap": its self-check traps under the new plugin config) and
    # the old one stays.
    r = gw.post_path("/admin/reload")
    assert r.status_code in (200, 422), r.text
    info = admin(gw)
    err = next((p["last_error"] for p in info["plugins"] if p["name"] == "ordered"), None)
    assert err, info
    # Traffic still flows, answered by the previous version (`b` first).
    c = gw.client()
    for i in range(10):
        r = c.chat.completions.create(model="main", messages=[{"role": "user", "content": f"q{i}"}])
        assert r.choices[0].message.content == f"[b] You said: q{i}"
    assert admin(gw)["generation"] >= before


def test_config_edit_adds_a_route_live_and_bad_config_is_refused(setup):
    gw = setup.gw
    path = gw.config_path
    text = path.read_text()
    c = gw.client()
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="only-b", messages=[{"role": "user", "content": "x"}])
    path.write_text(text + '\n[routes.only-b]\nmodels = ["mb"]\n')
    r = wait_until(
        lambda: c.chat.completions.create(model="only-b", messages=[{"role": "user", "content": "x"}]),
        timeout=30,
        ignoring=(openai.NotFoundError,),
        what="the new route goes live",
    )
    assert r.choices[0].message.content == "[b] You said: x"
    # An invalid edit is refused with its error visible; the old config serves.
    path.write_text(text + '\n[routes.broken]\nmodels = ["nope"]\n')
    r = gw.post_path("/admin/reload")
    assert r.status_code == 422
    assert "routes.broken.models[0]" in r.json()["error"]["message"]
    assert "routes.broken.models[0]" in admin(gw)["reloads"]["last_error"]
    r = c.chat.completions.create(model="only-b", messages=[{"role": "user", "content": "still"}])
    assert r.choices[0].message.content == "[b] You said: still"


def test_removing_an_override_falls_back_to_the_embedded_plugin(setup):
    gw = setup.gw
    install(setup.reverse, setup.plugin_dir / "ordered.wasm")
    wait_for(gw, "b")
    (setup.plugin_dir / "ordered.wasm").unlink()
    wait_for(gw, "a")
    p = next(p for p in admin(gw)["plugins"] if p["name"] == "ordered")
    assert p["source"] == "embedded"


def test_adapter_swaps_under_load_lose_nothing(mock_upstream, gateway, tmp_path):
    up = mock_upstream()
    plugin_dir = tmp_path / "adapters"
    plugin_dir.mkdir()
    v1 = dump("test-adapter-v1", tmp_path / "v1.blob")
    v2 = dump("test-adapter-v2", tmp_path / "v2.blob")
    install(v1, plugin_dir / "openai.wasm")
    gw = gateway(
        plugins={"dir": plugin_dir, **ROOMY},
        providers={"up": {"base_url": up.url}},
        models={"m": {"provider": "up", "upstream": "up-model"}},
    )
    stop = threading.Event()
    seen, errors = [], []

    def client_loop(i):
        c = gw.client(timeout=30)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 2:
                    r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": f"c{i} n{n}"}])
                    seen.append({r.model})
                    assert r.choices[0].message.content == f"You said: c{i} n{n}"
                else:
                    chunks = list(
                        c.chat.completions.create(
                            model="m", stream=True, messages=[{"role": "user", "content": f"c{i} n{n}"}]
                        )
                    )
                    seen.append({ch.model for ch in chunks})
                    assert stream_text(chunks) == f"You said: c{i} n{n}"
            except Exception as e:
                errors.append(repr(e))
            time.sleep(0.01)

    c = gw.client()
    with cf.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client_loop, i) for i in range(8)]
        try:
            swap_while_serving([v2, v1], plugin_dir / "openai.wasm", seen)
            install(v2, plugin_dir / "openai.wasm")
            wait_until(
                lambda: (
                    c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).model
                    == "up-model@v2"
                ),
                timeout=30,
                interval=0.02,
                what="v2 takes over",
            )
        finally:
            stop.set()
        for f in futures:
            f.result()
    assert errors == [], errors[:5]
    assert len(seen) > 200
    # Each answer, every chunk of a stream included, came from exactly one version.
    assert all(len(s) == 1 and next(iter(s)) in ("up-model@v1", "up-model@v2") for s in seen), seen[:5]
    assert {"up-model@v1"} in seen and {"up-model@v2"} in seen
    for _ in range(20):
        r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "after"}])
        assert r.model == "up-model@v2"
