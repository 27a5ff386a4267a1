"""Fixtures for the end-to-end tests: real `switchyard` processes (the gateway
and `mock-upstream` providers) on 127.0.0.1, driven with the official `openai`
SDK.

* ``mock_upstream(*flags)`` starts ``switchyard mock-upstream`` and returns a
  :class:`Mock` (``.url`` is the provider base URL ending in ``/v1``,
  ``.stats()`` reads ``GET /mock/stats``).
* ``gateway(providers=..., models=..., routes=...)`` writes a config into the
  test's tmp dir, starts ``switchyard serve`` and returns a :class:`Gateway`
  (``.url``, ``.client()``, ``.http``).
* ``default_gateway()`` starts ``switchyard serve`` without a config.
* ``run_check(config_text)`` runs ``switchyard check``.
* ``redis_server()`` starts a real ``redis-server`` on a free port (no
  persistence) and returns a :class:`Redis` (``.url``, ``.kill()``,
  ``.start()``); ``redis_server(tls=True)`` one that speaks TLS only, with a
  certificate from a test CA made with ``openssl`` (``.ca_file``).

Every process is killed at the end of the test that started it. Components are
compiled once per session into a shared cache dir.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

try:  # the openai SDK of this venv ships httpx under the name httpx2
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs depend on plain httpx
    import httpx  # type: ignore[no-redef]

import openai

BIN = os.environ.get("SWITCHYARD_BIN", "/root/.cache/switchyard/target/release/switchyard")
STARTUP_TIMEOUT = 120.0
LISTENING = re.compile(r"listening on (127\.0\.0\.1:\d+|0\.0\.0\.0:\d+)")

# Variables that would change what the gateway serves or where traffic goes.
_SCRUB = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def _base_env(cache_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["SWITCHYARD_CACHE_DIR"] = str(cache_dir)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.setdefault("SWITCHYARD_LOG", "info")
    return env


class Proc:
    """A started switchyard process whose stdout is watched for `listening on`."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.popen = subprocess.Popen(
            [BIN, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            start_new_session=True,
        )
        self._lines: "queue.Queue[str | None]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self._lines.put(raw.decode("utf-8", "replace"))
        self._lines.put(None)

    def wait_listening(self, timeout: float = STARTUP_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(
                    f"`switchyard {' '.join(self.args)}` did not print `listening on` within {timeout}s;"
                    f" stdout={seen!r}\nstderr:\n{self.stderr()}"
                )
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.popen.wait(timeout=5)
                raise RuntimeError(
                    f"`switchyard {' '.join(self.args)}` exited with {self.popen.returncode} before listening;"
                    f" stdout={seen!r}\nstderr:\n{self.stderr()}"
                )
            seen.append(line)
            m = LISTENING.search(line)
            if m:
                return m.group(1)

    def stderr(self) -> str:
        try:
            if not self._log.closed:
                self._log.flush()
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            # The gateway drains open requests on SIGTERM (up to 30 s); tests
            # leave hanging upstreams behind, so do not wait long.
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._log.close()


@dataclass
class Mock:
    proc: Proc
    addr: str

    @property
    def url(self) -> str:
        """The provider base URL (what a config's `base_url` takes)."""
        return f"http://{self.addr}/v1"

    def stats(self) -> dict[str, int]:
        r = httpx.get(f"http://{self.addr}/mock/stats", timeout=5)
        r.raise_for_status()
        return r.json()


@dataclass
class Gateway:
    proc: Proc
    addr: str
    config_path: Path | None = None
    _clients: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def client(self, api_key: str = "unused", timeout: float = 20.0) -> openai.OpenAI:
        c = openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, timeout=timeout)
        self._clients.append(c)
        return c

    def anthropic_client(self, api_key: str = "unused", timeout: float = 20.0) -> "anthropic.Anthropic":
        import anthropic

        c = anthropic.Anthropic(base_url=self.url, api_key=api_key, max_retries=0, timeout=timeout)
        self._clients.append(c)
        return c

    def post(self, body: Any, **kw: Any) -> Any:
        """A raw POST /v1/chat/completions (bytes/str are sent as they are)."""
        if isinstance(body, (dict, list)):
            content = json.dumps(body)
        else:  # bytes, str or an iterator of bytes (sent chunked)
            content = body
        headers = {"content-type": "application/json", **kw.pop("headers", {})}
        return httpx.post(
            f"{self.url}/v1/chat/completions", content=content, headers=headers, timeout=kw.pop("timeout", 20), **kw
        )

    def post_path(self, path: str, body: Any = None) -> Any:
        return httpx.post(f"{self.url}{path}", json=body, timeout=60)

    def get(self, path: str) -> Any:
        return httpx.get(f"{self.url}{path}", timeout=10)

    def close_clients(self) -> None:
        for c in self._clients:
            try:
                c.close()
            except Exception:
                pass


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def _toml_table(header: str, values: dict[str, Any]) -> str:
    lines = [f"[{header}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def make_config(
    *,
    cache_dir: Path,
    providers: dict[str, dict[str, Any]],
    models: dict[str, dict[str, Any]],
    routes: dict[str, dict[str, Any]] | None = None,
    server: dict[str, Any] | None = None,
    breaker: dict[str, Any] | None = None,
    keys: dict[str, dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
) -> str:
    """TOML text of a gateway config. A provider's `adapter` defaults to openai."""
    parts = ['listen = "127.0.0.1:0"\n', _toml_table("plugins", {"cache_dir": str(cache_dir)})]
    if server:
        parts.append(_toml_table("server", server))
    if breaker:
        parts.append(_toml_table("breaker", breaker))
    for name, p in providers.items():
        parts.append(_toml_table(f"providers.{json.dumps(name)}", {"adapter": "openai", **p}))
    for name, m in models.items():
        parts.append(_toml_table(f"models.{json.dumps(name)}", m))
    for name, r in (routes or {}).items():
        parts.append(_toml_table(f"routes.{json.dumps(name)}", {"policy": "ordered", **r}))
    if limits:
        parts.append(_toml_table("limits", limits))
    for name, k in (keys or {}).items():
        parts.append(_toml_table(f"keys.{json.dumps(name)}", k))
    return "\n".join(parts)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("switchyard-cache")
    return d


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
        args = ["mock-upstream", "--listen", "127.0.0.1:0", *[str(f) for f in flags]]
        p = Proc(args, _base_env(cache_dir), tmp_path / f"mock-{next(counter)}.log")
        procs.append(p)
        return Mock(p, p.wait_listening())

    return start


@pytest.fixture
def gateway(procs: list[Proc], tmp_path: Path, cache_dir: Path):
    counter = iter(range(1000))
    gws: list[Gateway] = []

    def start(
        *,
        providers: dict[str, dict[str, Any]] | None = None,
        models: dict[str, dict[str, Any]] | None = None,
        routes: dict[str, dict[str, Any]] | None = None,
        server: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        raw_config: str | None = None,
        breaker: dict[str, Any] | None = None,
        keys: dict[str, dict[str, Any]] | None = None,
        limits: dict[str, Any] | None = None,
        listen: str = "127.0.0.1:0",
    ) -> Gateway:
        n = next(counter)
        path = tmp_path / f"gateway-{n}.toml"
        if raw_config is not None:
            path.write_text(raw_config)
        else:
            path.write_text(
                make_config(
                    cache_dir=cache_dir,
                    providers=providers or {},
                    models=models or {},
                    routes=routes,
                    server=server,
                    breaker=breaker,
                    keys=keys,
                    limits=limits,
                )
            )
        full_env = {**_base_env(cache_dir), **(env or {})}
        # The listen address of a config is replaced by a free port.
        args = ["serve", "--config", str(path), "--listen", listen]
        p = Proc(args, full_env, tmp_path / f"gateway-{n}.log")
        procs.append(p)
        gw = Gateway(p, p.wait_listening(), path)
        gws.append(gw)
        return gw

    yield start
    for gw in gws:
        gw.close_clients()


@pytest.fixture
def default_gateway(procs: list[Proc], tmp_path: Path, cache_dir: Path):
    gws: list[Gateway] = []

    def start() -> Gateway:
        p = Proc(["serve", "--listen", "127.0.0.1:0"], _base_env(cache_dir), tmp_path / "default-gateway.log")
        procs.append(p)
        gw = Gateway(p, p.wait_listening())
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
            env=_base_env(cache_dir),
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


@dataclass
class Redis:
    port: int
    log_path: Path
    popen: subprocess.Popen | None = None
    # With TLS: the directory of a test CA (ca.pem) and the server's
    # certificate for 127.0.0.1 signed by it; the server then speaks TLS only.
    tls_dir: Path | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls_dir else "redis"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        assert self.tls_dir is not None
        return self.tls_dir / "ca.pem"

    def _make_certs(self) -> None:
        d = self.tls_dir
        assert d is not None
        d.mkdir(parents=True, exist_ok=True)
        if (d / "server.pem").exists():
            return
        (d / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for cmd in [
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=Switchyard test CA"],
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1"],
            ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext"],
        ]:
            subprocess.run(cmd, cwd=d, check=True, capture_output=True)

    def _ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
            s = raw
            if self.tls_dir is not None:
                ctx = ssl.create_default_context(cafile=str(self.ca_file))
                s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def start(self) -> None:
        """Start (or restart) the server on its port, without persistence."""
        if self.tls_dir is not None:
            self._make_certs()
            d = self.tls_dir
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(d / "server.pem"),
                     "--tls-key-file", str(d / "server.key"), "--tls-ca-cert-file", str(d / "ca.pem"),
                     "--tls-auth-clients", "no"]
        else:
            ports = ["--port", str(self.port)]
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            ["redis-server", *ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self._ping():
                    return
            except OSError:
                pass
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}: {self.log_path.read_text(errors='replace')}")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path: Path):
    """Start a real redis-server on a free port; killed at the end of the test."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/setup.sh --test installs it)")
    started: list[Redis] = []

    def start(tls: bool = False) -> Redis:
        n = len(started)
        r = Redis(_free_port(), tmp_path / f"redis-{n}.log", tls_dir=tmp_path / f"redis-{n}-tls" if tls else None)
        started.append(r)
        r.start()
        return r

    yield start
    for r in started:
        r.kill()
