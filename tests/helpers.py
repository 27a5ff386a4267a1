"""What the end-to-end tests share, in one place: the `switchyard` binary and
the processes started from it, gateway configs written as TOML, waiting for
something to happen, and the checks many tests make. Test files import it as
``helpers`` (pytest puts tests/ on sys.path); the fixtures that start and
stop processes per test are in conftest.py.

* :class:`Proc`: a started ``switchyard`` process; :func:`start_mock` and
  :func:`serve` start ``mock-upstream`` (a :class:`Mock`) and the gateway (a
  :class:`Gateway`) and wait until they listen.
* :class:`Redis`: a real ``redis-server`` on a free port, optionally TLS only.
* :class:`Postgres`: a throwaway PostgreSQL server on a free port (stop, kill,
  freeze, restart on the same port, ``psql`` queries).
* :func:`make_config`, :func:`toml_table`, :func:`toml_value`: config text.
* :func:`wait_until`: poll a condition with a deadline (every "eventually"
  of the tests; deadlines are generous, since a passing test never waits
  them out).
* :func:`dump`, :func:`built_test_plugin`, :func:`assert_serving`, :func:`stream_text`, :func:`free_port`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import openai

try:  # the openai SDK of this venv ships httpx under the name httpx2
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs depend on plain httpx
    import httpx  # type: ignore[no-redef]

BIN = os.environ.get("SWITCHYARD_BIN", str(Path.home() / ".cache/switchyard/target/release/switchyard"))
# Test plugins of the build (host/build.rs puts them next to the binary).
TEST_PLUGINS = Path(os.environ.get("SWITCHYARD_TEST_PLUGINS", str(Path(BIN).parent / "test-plugins")))
STARTUP_TIMEOUT = 120.0
LISTENING = re.compile(r"listening on (127\.0\.0\.1:\d+|0\.0\.0\.0:\d+)")
CHAT_PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}

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

T = TypeVar("T")


def base_env(cache_dir: Path) -> dict[str, str]:
    """The environment of a started `switchyard`: this one without provider
    keys and proxies, the components cached in `cache_dir`."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["SWITCHYARD_CACHE_DIR"] = str(cache_dir)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.setdefault("SWITCHYARD_LOG", "info")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `condition` until it returns something true, and return that.
    An exception of a type in `ignoring` counts as "not yet". After `timeout`
    seconds the test fails naming `what` (a callable is asked only then, for
    details such as a log)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = condition()
        except ignoring:
            got = None
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what() if callable(what) else what}")
        time.sleep(interval)


# --- processes ----------------------------------------------------------------------------


class Proc:
    """A started switchyard process whose stdout is watched for `listening on`."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - open for the life of the process
        self.popen = subprocess.Popen(
            [BIN, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            start_new_session=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
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


def _listening(p: Proc) -> str:
    """The address `p` listens on; `p` is stopped if it never does."""
    try:
        return p.wait_listening()
    except BaseException:
        p.stop()
        raise


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


def start_mock(flags: Iterable[str | int | float], env: dict[str, str], log_path: Path) -> Mock:
    """`switchyard mock-upstream` on a free port, with `flags`."""
    p = Proc(["mock-upstream", "--listen", "127.0.0.1:0", *[str(f) for f in flags]], env, log_path)
    return Mock(p, _listening(p))


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
        """An OpenAI SDK client that never retries: every status is the gateway's own."""
        c = openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, timeout=timeout)
        self._clients.append(c)
        return c

    def anthropic_client(self, api_key: str = "unused", timeout: float = 20.0) -> anthropic.Anthropic:
        """An Anthropic SDK client that never retries."""
        c = anthropic.Anthropic(base_url=self.url, api_key=api_key, max_retries=0, timeout=timeout)
        self._clients.append(c)
        return c

    def post(self, body: Any, **kw: Any) -> Any:
        """A raw POST /v1/chat/completions (bytes/str are sent as they are)."""
        if isinstance(body, dict | list):
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
            with contextlib.suppress(Exception):
                c.close()


def serve(config_path: Path | None, env: dict[str, str], log_path: Path, listen: str = "127.0.0.1:0") -> Gateway:
    """`switchyard serve` with the config at `config_path` (none: the
    embedded default), its listen address replaced by `listen`."""
    args = ["serve", "--listen", listen]
    # Each gateway's default request log (`$XDG_DATA_HOME/switchyard/
    # requests.db`) is its own, next to its log file.
    env = {"XDG_DATA_HOME": str(log_path.parent / f"{log_path.stem}-data"), **env}
    if config_path is not None:
        args[1:1] = ["--config", str(config_path)]
    p = Proc(args, env, log_path)
    return Gateway(p, _listening(p), config_path)


def built_test_plugin(name: str) -> Path:
    """The component of test plugin `name` (`plugins/test/NAME`): the build
    puts test plugins next to the binary, in `test-plugins/`; they are never
    compiled into it."""
    path = TEST_PLUGINS / f"{name}.wasm"
    assert path.is_file(), f"no test plugin {path} (build with cargo build --release)"
    return path


def dump(name: str, out: Path) -> Path:
    """Write plugin `name` to `out`: a test plugin from the build's
    `test-plugins/`, else the embedded one (`switchyard plugin dump`)."""
    if name.startswith("test-"):
        shutil.copyfile(built_test_plugin(name), out)
        return out
    subprocess.run([BIN, "plugin", "dump", name, "--out", str(out)], check=True, timeout=60)
    return out


# --- checks -------------------------------------------------------------------------------


def assert_serving(
    gw: Gateway,
    model: str = "main",
    *,
    dialects: Iterable[str] = ("openai",),
    api_key: str | None = None,
    reply: str = "You said: still there?",
) -> None:
    """After whatever a test did, the gateway still answers normally: a chat
    request to `model` in each dialect is answered 200 with the upstream's
    `reply` (after its label, if any), /healthz answers 200 and the process
    is alive. `api_key`: the client key, sent as each dialect's SDK sends it."""
    for dialect in dialects:
        headers = {}
        if api_key is not None:
            headers = {"authorization": f"Bearer {api_key}"} if dialect == "openai" else {"x-api-key": api_key}
        body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "still there?"}]}
        r = httpx.post(f"{gw.url}{CHAT_PATHS[dialect]}", json=body, headers=headers, timeout=20)
        assert r.status_code == 200, (dialect, r.text)
        if dialect == "openai":
            text = r.json()["choices"][0]["message"]["content"]
        else:
            text = r.json()["content"][0]["text"]
        assert text.endswith(reply), (dialect, text)
    assert gw.get("/healthz").status_code == 200
    assert gw.proc.popen.poll() is None, "the gateway exited"


def stream_text(chunks: Iterable[Any], into: list[str] | None = None) -> str:
    """The text of an OpenAI SDK chat stream. Each piece is appended to `into`
    as it arrives, so a caller whose stream fails midway keeps what came
    before the failure."""
    pieces = [] if into is None else into
    for c in chunks:
        if c.choices and c.choices[0].delta.content:
            pieces.append(c.choices[0].delta.content)
    return "".join(pieces)


# --- config text --------------------------------------------------------------------------


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v))  # a JSON string is a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def toml_table(header: str, values: dict[str, Any]) -> str:
    """A `[header]` table; nested dicts become inline tables."""
    lines = [f"[{header}]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
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
    plugins: dict[str, Any] | None = None,
    plugin_config: dict[str, dict[str, Any]] | None = None,
    log: dict[str, Any] | None = None,
) -> str:
    """TOML text of a gateway config. A provider's `adapter` defaults to
    openai, a route's `policy` to ordered; `plugins` adds to the [plugins]
    table (dir, timeouts, ...), `plugin_config` names each plugin's
    [plugins.config.NAME] table."""
    parts = ['listen = "127.0.0.1:0"\n', toml_table("plugins", {"cache_dir": str(cache_dir), **(plugins or {})})]
    for name, c in (plugin_config or {}).items():
        parts.append(toml_table(f"plugins.config.{json.dumps(name)}", c))
    if server:
        parts.append(toml_table("server", server))
    if breaker:
        parts.append(toml_table("breaker", breaker))
    for name, p in providers.items():
        parts.append(toml_table(f"providers.{json.dumps(name)}", {"adapter": "openai", **p}))
    for name, m in models.items():
        parts.append(toml_table(f"models.{json.dumps(name)}", m))
    for name, r in (routes or {}).items():
        parts.append(toml_table(f"routes.{json.dumps(name)}", {"policy": "ordered", **r}))
    if limits:
        parts.append(toml_table("limits", limits))
    if log:
        parts.append(toml_table("log", log))
    for name, k in (keys or {}).items():
        parts.append(toml_table(f"keys.{json.dumps(name)}", k))
    return "\n".join(parts)


# --- Redis --------------------------------------------------------------------------------


def make_test_certs(d: Path) -> None:
    """A test CA (``ca.pem``) in `d` and a certificate for 127.0.0.1 signed by
    it (``server.pem``, ``server.key``); kept when already there."""
    d.mkdir(parents=True, exist_ok=True)
    if (d / "server.pem").exists():
        return
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for args, subject in [
        ("req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2", "/CN=Switchyard test CA"),
        ("req -newkey rsa:2048 -nodes -keyout server.key -out server.csr", "/CN=127.0.0.1"),
        ("x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2", None),
    ]:
        cmd = ["openssl", *args.split(), *(["-subj", subject] if subject else ["-extfile", "ext"])]
        subprocess.run(cmd, cwd=d, check=True, capture_output=True)


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
        assert self.tls_dir is not None
        make_test_certs(self.tls_dir)

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
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            ports += ["--tls-cert-file", str(d / "server.pem"), "--tls-key-file", str(d / "server.key")]
            ports += ["--tls-ca-cert-file", str(d / "ca.pem")]
        else:
            ports = ["--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                ["redis-server", *ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

        def up() -> bool:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log_path.read_text(errors='replace')}")
            return self._ping()

        wait_until(
            up,
            timeout=30,
            ignoring=(OSError,),
            what=lambda: f"redis-server on port {self.port}: {self.log_path.read_text(errors='replace')}",
        )

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=5)


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise AssertionError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup.sh --test"
        )
    return found[-1].parent


class Postgres:
    """A throwaway PostgreSQL server on a free port, its data and socket in a
    temporary directory: user ``switchyard`` (password :attr:`password`, over
    TCP; trusted on the socket) and database ``switchyard``. initdb refuses
    to run as root, so under root the server runs as the ``postgres`` user
    (the Debian package's). :meth:`close` stops it and removes its files."""

    password = "switchyard-test"

    def __init__(self, log_path: Path, tls: bool = False):
        self.bin = _pg_bin()
        self.tls = tls
        self.port = free_port()
        self.log_path = log_path
        self.dir = Path(tempfile.mkdtemp(prefix="switchyard-pg"))
        self.as_postgres = os.geteuid() == 0
        (self.dir / "pw").write_text(self.password)
        if self.as_postgres:
            for p in (self.dir, self.dir / "pw"):
                shutil.chown(p, "postgres", "postgres")
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "switchyard", "-E", "UTF8", "--no-sync"),
            *("--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={self.dir / 'pw'}"),
        )
        if tls:
            # A test CA (:attr:`ca_file`) and the server's certificate for
            # 127.0.0.1; the key must belong to the server's user, mode 0600.
            certs = log_path.parent / f"{log_path.stem}-tls"
            make_test_certs(certs)
            for name in ("server.pem", "server.key"):
                shutil.copyfile(certs / name, self.data / name)
                os.chmod(self.data / name, 0o600)
                if self.as_postgres:
                    shutil.chown(self.data / name, "postgres", "postgres")
            self.ca_file = certs / "ca.pem"
            # TLS only over TCP: a connection that does not use it is refused.
            hba = self.data / "pg_hba.conf"
            hba.write_text(re.sub(r"(?m)^host\s", "hostssl ", hba.read_text()))
        self.restart()
        self.query("CREATE DATABASE switchyard")

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def url(self) -> str:
        """``postgres://switchyard:PASSWORD@127.0.0.1:PORT/switchyard``."""
        return f"postgres://switchyard:{self.password}@127.0.0.1:{self.port}/switchyard"

    @property
    def url_without_password(self) -> str:
        """The url for a config whose ``password_env`` names a variable holding :attr:`password`."""
        return f"postgres://switchyard@127.0.0.1:{self.port}/switchyard"

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}\n{self._log()}")
        return r

    def _log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _signal(self, sig: int) -> None:
        # pg_ctl makes the postmaster a session leader: its group is the
        # whole server (postmaster and backends).
        pid = self.pid()
        assert pid is not None, "the server is not running"
        os.killpg(pid, sig)

    def restart(self) -> None:
        """Start the server (again) on its port, and wait until it accepts connections."""
        opts = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off"
        if self.tls:
            opts += " -c ssl=on -c ssl_cert_file=server.pem -c ssl_key_file=server.key"
        # pg_ctl writes its log as the server's user: the log lives in the server's directory.
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "server.log"), "-w", "start")
        with contextlib.suppress(OSError):
            self.log_path.write_text((self.dir / "server.log").read_text(errors="replace"))

    def stop(self) -> None:
        """Stop the server cleanly (``pg_ctl stop -m fast``)."""
        if self.pid() is not None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def kill(self) -> None:
        """Kill the server and its backends at once (SIGKILL), as a crash would."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGCONT)
            os.killpg(pid, signal.SIGKILL)

        def gone() -> bool:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_until(gone, timeout=30, what=f"postgres (pid {pid}) to exit")
        # A killed postmaster leaves its pid file; the next start checks that the pid is gone.

    def sigstop(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        self._signal(signal.SIGSTOP)

    def sigcont(self) -> None:
        """Let a frozen server go on."""
        self._signal(signal.SIGCONT)

    def query(self, sql: str, db: str = "postgres") -> str:
        """Run `sql` with psql over TCP; its unaligned, tuples-only output."""
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "5"}
        cmd = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "switchyard", "-d", db]
        cmd += ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise AssertionError(f"psql {sql!r}: {r.stderr}")
        return r.stdout.strip()

    def close(self) -> None:
        """Stop the server (whatever its state) and remove its files."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
            with contextlib.suppress(AssertionError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            if self.pid() is not None:
                self.kill()
        with contextlib.suppress(OSError):
            self.log_path.write_text((self.dir / "server.log").read_text(errors="replace"))
        shutil.rmtree(self.dir, ignore_errors=True)
