#!/usr/bin/env python3
"""The side-by-side benchmark behind scripts/perf.sh (run that, not this).

Everything runs on 127.0.0.1: one `switchyard mock-upstream`, nginx as a
pass-through proxy in front of it (1 worker and 2 workers, upstream
keepalive), and one `switchyard serve` in front of it that serves both a
model (`m`: adapter only) and a route (`r`: policy `ordered` + adapter).
The targets are measured in one interleaved run (each round visits every
target at every concurrency, in an order rotated per round) and one
markdown table is printed; embeddings (`e`, adapter only, and the upstream
direct) are loaded in the same rounds and get a second, smaller table.

Plain Python 3 standard library. Settings come from the environment
(scripts/perf.sh documents them); PERF_TMP is the scratch directory and
PERF_PIDS the file listing every running process started here (the shell
script kills them if this script cannot).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import itertools
import json
import os
import platform
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
LISTENING = re.compile(r"listening on (127\.0\.0\.1:\d+)")
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
# The gateway's embeddings model (adapter only).
EMBED_MODEL = "e"
# The model the gateway answers from its response cache.
CACHED = "cached"
# A route like `r` whose streams commit at the upstream's first event.
EARLY = "r-early"
# nginx proxies /stream/… unbuffered (what an SSE pass-through needs) and
# everything else with its default buffering.
NGINX_STREAM_PREFIX = "/stream"
# The streaming upstream: this many content chunks, this far apart.
STREAM_CHUNKS = 8
CHUNK_DELAY_MS = 5
STREAM_PROMPT = "one two three four five six seven eight"
LOAD_PROMPT = "Say hello."
START_TIMEOUT_S = 180.0
# Deadline of one policy decision and one adapter call in the gateway's config.
PLUGIN_TIMEOUT_MS = 1000


def env_str(name: str, default: str) -> str:
    return os.environ.get(name) or default


SECS = int(env_str("PERF_SECS", "5"))
ROUNDS = int(env_str("PERF_ROUNDS", "3"))
CONCURRENCY = [int(c) for c in env_str("PERF_CONCURRENCY", "1 16 64 256").split()]
SOAK_S = int(env_str("PERF_SOAK_S", "0"))
RELOADS = int(env_str("PERF_RELOADS", "0"))
BIN = os.environ["SWITCHYARD_BIN"]
# Another build of the gateway measured in the same run (before/after a change).
BASELINE_BIN = os.environ.get("PERF_BASELINE_BIN") or None
NGINX = env_str("PERF_NGINX", "nginx")
WRK = env_str("PERF_WRK", "wrk")
TMP = Path(os.environ["PERF_TMP"])
PIDS_FILE = Path(os.environ["PERF_PIDS"])
COMMAND = env_str("PERF_COMMAND", "scripts/perf.sh")
# Streams per target and round.
STREAMS = max(3, 4 * SECS)


class PerfError(Exception):
    """A target could not be started or answered with an error."""


def log(msg: str) -> None:
    print(f"perf: {msg}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------

_running: dict[int, subprocess.Popen] = {}


def _write_pids() -> None:
    tmp = PIDS_FILE.with_suffix(".new")
    tmp.write_text("".join(f"{pid}\n" for pid in _running))
    tmp.replace(PIDS_FILE)


def spawn(args: list[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `args` with stdout and stderr into TMP/log_name, recorded in PIDS_FILE."""
    out = open(TMP / log_name, "ab")  # noqa: SIM115 - the child keeps it
    try:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    finally:
        out.close()
    _running[p.pid] = p
    _write_pids()
    return p


def stop(p: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop `p` (`sig`, then SIGKILL after 10 s) and reap it."""
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    _running.pop(p.pid, None)
    _write_pids()


def stop_all() -> None:
    for p in list(_running.values())[::-1]:
        stop(p)


def log_tail(name: str, lines: int = 20) -> str:
    try:
        text = (TMP / name).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_listening(p: subprocess.Popen, log_name: str, what: str) -> str:
    """The address `p` prints as `listening on ADDR`."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        m = LISTENING.search((TMP / log_name).read_text(errors="replace"))
        if m:
            return m.group(1)
        if p.poll() is not None:
            break
        time.sleep(0.02)
    raise PerfError(f"{what} did not start (exit {p.poll()}):\n{log_tail(log_name)}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """Direct children of `pid` (nginx's workers)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(d.name))
    return found


def cpu_ticks(pids: list[int]) -> int:
    """utime + stime of `pids` (all their threads), in clock ticks."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return total


def rss_bytes(pids: list[int]) -> int:
    """Sum of VmRSS of `pids`."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


# --- HTTP ---------------------------------------------------------------------------------


def chat_body(model: str, prompt: str, stream: bool = False) -> str:
    body: dict = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 16}
    if model == CACHED:
        body["temperature"] = 0  # deterministic: the response cache answers it
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


def post_once(addr: str, path: str, body: str, timeout: float = 10.0) -> tuple[int, bytes]:
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def first_answer(p: subprocess.Popen, addr: str, path: str, body: str, log_name: str, what: str) -> float:
    """Poll until `addr` answers `body` with a 200; the time that took from now."""
    t0 = time.perf_counter()
    deadline = t0 + START_TIMEOUT_S
    while True:
        try:
            status, _ = post_once(addr, path, body)
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        if p.poll() is not None or time.perf_counter() > deadline:
            raise PerfError(f"{what} never answered (exit {p.poll()}):\n{log_tail(log_name)}")
        time.sleep(0.002)


# --- the components -----------------------------------------------------------------------


def start_upstream(tag: str) -> tuple[subprocess.Popen, str]:
    name = f"upstream-{tag}.log"
    args = [BIN, "mock-upstream", "--listen", "127.0.0.1:0"]
    args += ["--chunks", str(STREAM_CHUNKS), "--chunk-delay-ms", str(CHUNK_DELAY_MS)]
    p = spawn(args, name)
    return p, wait_listening(p, name, "mock-upstream")


def nginx_conf(prefix: Path, workers: int, port: int, upstream: str) -> str:
    return f"""# pass-through proxy of scripts/perf.py
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
    upstream mock {{
        server {upstream};
        keepalive 256;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location {NGINX_STREAM_PREFIX}/ {{
            proxy_pass http://mock/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def start_nginx(tag: str, workers: int, upstream: str) -> tuple[subprocess.Popen, str]:
    """nginx with its own prefix, config and logs under TMP (never the system one)."""
    prefix = TMP / f"nginx-{tag}"
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, workers, port, upstream))
    name = f"nginx-{tag}.log"
    p = spawn([NGINX, "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"], name)
    return p, f"127.0.0.1:{port}"


def gateway_config(upstream: str, early: bool = True) -> Path:
    """The gateway's config; `early`: with the route EARLY (a baseline build
    from before `stream_commit` would refuse it)."""
    path = TMP / ("switchyard.toml" if early else "switchyard-baseline.toml")
    early_route = f"""
# `r` with its streams committed at the upstream's first event, not its
# first content (streams only).
[routes.{EARLY}]
policy = "ordered"
models = ["m"]
retry = {{ stream_commit = "first_event" }}
"""
    if not path.exists():
        path.write_text(
            f"""# scripts/perf.py: one model (adapter only) and one route (policy + adapter)
listen = "127.0.0.1:0"

# The plugin deadlines are raised from 50/100 ms to {PLUGIN_TIMEOUT_MS} ms: they are
# wall-clock, and a saturated 2-core machine misses the defaults now and then
# (502s), which is overload, not a measure of the path's cost.
[plugins]
policy_timeout_ms = {PLUGIN_TIMEOUT_MS}
adapter_timeout_ms = {PLUGIN_TIMEOUT_MS}

[log]
backend = "off"

[providers.mock]
adapter = "openai"
base_url = "http://{upstream}/v1"

[models.m]
provider = "mock"

# Embeddings through the same adapter.
[models.{EMBED_MODEL}]
provider = "mock"
upstream = "text-embedding-3-small"
capabilities = ["embeddings"]

[routes.r]
policy = "ordered"
models = ["m"]

{early_route if early else ""}
# The response cache: after the first request, every one is a hit.
[models.{CACHED}]
provider = "mock"
upstream = "m"
cache = true
"""
        )
    return path


def start_gateway(
    tag: str, upstream: str, cache_dir: Path, listen: str = "127.0.0.1:0", binary: str = BIN
) -> subprocess.Popen:
    env = dict(os.environ)
    env["SWITCHYARD_CACHE_DIR"] = str(cache_dir)
    env["XDG_DATA_HOME"] = str(TMP / "data")
    env["NO_PROXY"] = "127.0.0.1,localhost"
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(k, None)
    config = gateway_config(upstream, early=binary == BIN)
    args = [binary, "serve", "--config", str(config), "--listen", listen]
    return spawn(args, f"switchyard-{tag}.log", env)


# --- measurements -------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    addr: str
    model: str
    stream_path: str
    pids: Callable[[], list[int]]
    # The endpoint its load posts to (chat, or embeddings).
    path: str = CHAT
    lua: Path = field(default=Path())
    runs: dict[int, list[dict]] = field(default_factory=dict)
    # CPU ticks and requests by concurrency: a c=1 request costs more CPU
    # (two sleeps and wake-ups per request) than one under load.
    ticks_at: dict[int, int] = field(default_factory=dict)
    requests_at: dict[int, int] = field(default_factory=dict)
    rss_load: int = 0
    rss_idle: int = 0
    rss_soak: int | None = None
    ttfb: list[float] = field(default_factory=list)
    gap: list[float] = field(default_factory=list)
    start_warm: list[float] = field(default_factory=list)
    start_cold: list[float] = field(default_factory=list)
    rss_warm_start: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(out: str) -> dict:
    """Requests/sec, p50 and p99 (seconds), requests, non-2xx and socket errors of wrk's report."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rps and total and p50 and p99):
        raise PerfError(f"cannot read wrk's report:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "p50": seconds(p50.group(1)),
        "p99": seconds(p99.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket": dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True))
        if sock
        else {},
    }


def embed_body(model: str) -> str:
    return json.dumps({"model": model, "input": ["the quick brown fox", "jumps over the lazy dog"]})


def load_body(t: Target) -> str:
    return embed_body(t.model) if t.path == EMBEDDINGS else chat_body(t.model, LOAD_PROMPT)


def write_lua(t: Target) -> None:
    t.lua = TMP / f"post-{t.model}-{t.path.rsplit('/', 1)[-1]}.lua"
    body = load_body(t)
    t.lua.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n'
    )


def run_wrk(t: Target, conc: int, secs: int, record: bool = True) -> dict:
    """One wrk run against `t`; CPU and peak RSS of `t` during it."""
    pids = t.pids()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            with contextlib.suppress(OSError):
                peak[0] = max(peak[0], rss_bytes(pids))

    sampler = threading.Thread(target=sample, daemon=True)
    cmd = [WRK, "-t1", f"-c{conc}", f"-d{secs}s", "--timeout", "10s", "--latency", "-s", str(t.lua)]
    cmd.append(f"http://{t.addr}{t.path}")
    ticks0 = cpu_ticks(pids)
    sampler.start()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 60)
    finally:
        done.set()
        sampler.join()
    ticks = cpu_ticks(pids) - ticks0
    if r.returncode != 0:
        raise PerfError(f"wrk failed against {t.name} ({r.returncode}):\n{r.stdout}{r.stderr}")
    res = parse_wrk(r.stdout)
    if res["non2xx"]:
        t.errors.append(f"c={conc}: {res['non2xx']} non-2xx responses of {res['requests']}")
    if res["requests"] == 0:
        t.errors.append(f"c={conc}: no request completed")
    if record:
        t.runs.setdefault(conc, []).append(res)
        t.ticks_at[conc] = t.ticks_at.get(conc, 0) + ticks
        t.requests_at[conc] = t.requests_at.get(conc, 0) + res["requests"]
        t.rss_load = max(t.rss_load, peak[0])
    return res


def stream_once(conn: http.client.HTTPConnection, t: Target) -> tuple[float, float]:
    """One streamed answer: time to its first body byte and the mean gap between content chunks."""
    body = chat_body(t.model, STREAM_PROMPT, stream=True)
    t0 = time.perf_counter()
    conn.request("POST", t.stream_path, body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise PerfError(f"stream through {t.name}: status {resp.status}: {resp.read()[:300]!r}")
    first = None
    buf = b""
    content_at: list[float] = []
    done = False
    while True:
        data = resp.read1(65536)
        now = time.perf_counter()
        if not data:
            break
        if first is None:
            first = now - t0
        buf += data.replace(b"\r\n", b"\n")
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if event.strip() == b"data: [DONE]":
                done = True
            elif b'"content":"' in event and b'"content":""' not in event:
                content_at.append(now)
    if not done or first is None or len(content_at) < 2:
        raise PerfError(f"stream through {t.name} ended early ({len(content_at)} content chunks, [DONE]: {done})")
    gaps = [b - a for a, b in itertools.pairwise(content_at)]
    return first, statistics.mean(gaps)


def measure_streams(t: Target, n: int) -> None:
    host, port = t.addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for _ in range(n):
            ttfb, gap = stream_once(conn, t)
            t.ttfb.append(ttfb)
            t.gap.append(gap)
    finally:
        conn.close()


def stop_gateway(p: subprocess.Popen) -> None:
    stop(p, signal.SIGTERM)


def measure_start(targets: dict[str, Target], upstream: str, warm_cache: Path, round_no: int) -> None:
    """Start to first answer of a fresh process of each kind (warm and cold component cache)."""
    t0 = time.perf_counter()
    p, addr = start_upstream(f"start{round_no}")
    first_answer(p, addr, CHAT, chat_body("m", LOAD_PROMPT), f"upstream-start{round_no}.log", "mock-upstream")
    targets["upstream direct"].start_warm.append(time.perf_counter() - t0)
    stop(p)
    for workers in (1, 2):
        t = targets[f"nginx, {workers} worker{'s' if workers > 1 else ''}"]
        t0 = time.perf_counter()
        tag = f"start{round_no}-{workers}w"
        p, addr = start_nginx(tag, workers, upstream)
        first_answer(p, addr, CHAT, chat_body("m", LOAD_PROMPT), f"nginx-{tag}.log", "nginx")
        t.start_warm.append(time.perf_counter() - t0)
        stop(p, signal.SIGQUIT)
    for model, name in (("m", "Switchyard, model"), ("r", "Switchyard, route")):
        t = targets[name]
        for cold in (True, False):
            cache = TMP / f"cold-cache-{round_no}-{model}" if cold else warm_cache
            cache.mkdir(exist_ok=True)
            port = free_port()
            tag = f"start{round_no}-{model}-{'cold' if cold else 'warm'}"
            t0 = time.perf_counter()
            p = start_gateway(tag, upstream, cache, f"127.0.0.1:{port}")
            try:
                first_answer(p, f"127.0.0.1:{port}", CHAT, chat_body(model, LOAD_PROMPT), f"switchyard-{tag}.log", name)
                (t.start_cold if cold else t.start_warm).append(time.perf_counter() - t0)
                if not cold:
                    t.rss_warm_start.append(rss_bytes([p.pid]))
            finally:
                stop_gateway(p)
            if cold:
                subprocess.run(["rm", "-rf", str(cache)], check=False)


def measure_reloads(gw: subprocess.Popen, addr: str, n: int) -> list[tuple[int, int]]:
    """`n` hot reloads of the running gateway, each with a new config of the
    `ordered` policy (so the plugin itself is reloaded, not only carried
    over) and every 10th followed by requests on the new generation; the
    gateway's RSS after 10, 100 and every quarter of the `n` reloads."""
    config = TMP / "switchyard.toml"
    original = config.read_text()
    marks = sorted({10, 100, n // 4, n // 2, 3 * n // 4, n} - {0})
    trend = []
    try:
        for i in range(1, n + 1):
            config.write_text(f"{original}\n[plugins.config.ordered]\nreload = {i}\n")
            status, body = post_once(addr, "/admin/reload", "")
            if status != 200:
                raise PerfError(f"reload {i}: status {status}: {body[:300]!r}")
            if i % 10 == 0:
                for model in ("m", "r"):
                    status, body = post_once(addr, CHAT, chat_body(model, LOAD_PROMPT))
                    if status != 200:
                        raise PerfError(f"answer after reload {i}: status {status}: {body[:300]!r}")
            if i in marks:
                trend.append((i, rss_bytes([gw.pid])))
    finally:
        config.write_text(original)
    return trend


# --- the table ----------------------------------------------------------------------------


def med(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def fmt_ms(s: float | None, digits: int = 3) -> str:
    return "–" if s is None else f"{s * 1e3:.{digits}f}"


def fmt_added_us(s: float | None) -> str:
    return "–" if s is None else f"{s * 1e6:+,.0f} µs"


def fmt_mb(b: int | None) -> str:
    return "–" if not b else f"{b / 2**20:.0f} MB"


def fmt_start(xs: list[float]) -> str:
    m = med(xs)
    if m is None:
        return "–"
    return f"{m * 1e3:,.0f} ms" if m < 10 else f"{m:.1f} s"


def cpu_per_request(t: Target, conc: int | None = None) -> float | None:
    """CPU seconds per request over all load runs of `t`, or over those at `conc`."""
    cs = list(t.requests_at) if conc is None else [conc]
    n = sum(t.requests_at.get(c, 0) for c in cs)
    return sum(t.ticks_at.get(c, 0) for c in cs) / CLK_TCK / n if n else None


def table(targets: list[Target]) -> str:
    direct = targets[0]
    nginx1 = targets[1]

    def rps(t: Target, c: int) -> float | None:
        return med([r["rps"] for r in t.runs.get(c, [])])

    def lat(t: Target, c: int, q: str) -> float | None:
        return med([r[q] for r in t.runs.get(c, [])])

    ratio_c = 64 if 64 in CONCURRENCY else max(CONCURRENCY)
    head = ["target"]
    for c in CONCURRENCY:
        head += [f"c={c} req/s", f"c={c} p50 / p99 ms"]
    head += [
        "c=1 added p50 / p99" if 1 in CONCURRENCY else f"c={CONCURRENCY[0]} added p50 / p99",
        f"× nginx (1 worker), c={ratio_c}",
        "stream TTFB added",
        "inter-chunk delay added",
        "CPU per request",
        f"CPU per request, c={ratio_c}",
        "RSS idle",
        "RSS under load",
    ]
    if SOAK_S:
        head.append(f"RSS after {SOAK_S} s soak")
    head += ["start → first answer, warm cache", "cold cache"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    c_added = 1 if 1 in CONCURRENCY else CONCURRENCY[0]
    base_ttfb, base_gap = med(direct.ttfb), med(direct.gap)
    for t in targets:
        cells = [t.name]
        for c in CONCURRENCY:
            r = rps(t, c)
            cells += ["–" if r is None else f"{r:,.0f}", f"{fmt_ms(lat(t, c, 'p50'))} / {fmt_ms(lat(t, c, 'p99'))}"]
        if t is direct:
            cells.append("–")
        else:
            added = [
                None if lat(t, c_added, q) is None else lat(t, c_added, q) - lat(direct, c_added, q)
                for q in ("p50", "p99")
            ]
            cells.append(f"{fmt_added_us(added[0])} / {fmt_added_us(added[1])}")
        r, n = rps(t, ratio_c), rps(nginx1, ratio_c)
        cells.append("–" if r is None or not n else f"{r / n:.2f}")
        if t is direct:
            cells += [f"({fmt_ms(base_ttfb)} ms)", f"({fmt_ms(base_gap)} ms)"]
        else:
            ttfb, gap = med(t.ttfb), med(t.gap)
            cells.append(fmt_added_us(None if ttfb is None or base_ttfb is None else ttfb - base_ttfb))
            cells.append(fmt_added_us(None if gap is None or base_gap is None else gap - base_gap))
        cells += [f"{fmt_ms(cpu_per_request(t))} ms", f"{fmt_ms(cpu_per_request(t, ratio_c))} ms"]
        cells += [fmt_mb(t.rss_idle), fmt_mb(t.rss_load)]
        if SOAK_S:
            cells.append(fmt_mb(t.rss_soak))
        cells += [fmt_start(t.start_warm), fmt_start(t.start_cold)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def embed_table(targets: list[Target]) -> str:
    """req/s, latency and CPU per request of the embeddings targets; the
    first is the upstream direct."""
    direct = targets[0]
    head = ["target"]
    for c in CONCURRENCY:
        head += [f"c={c} req/s", f"c={c} p50 / p99 ms"]
    head += ["× direct, c=" + str(max(CONCURRENCY)), "CPU per request"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    top = max(CONCURRENCY)
    for t in targets:
        cells = [t.name]
        for c in CONCURRENCY:
            runs = t.runs.get(c, [])
            r = med([x["rps"] for x in runs])
            p50, p99 = med([x["p50"] for x in runs]), med([x["p99"] for x in runs])
            cells += ["–" if r is None else f"{r:,.0f}", f"{fmt_ms(p50)} / {fmt_ms(p99)}"]
        r, d = med([x["rps"] for x in t.runs.get(top, [])]), med([x["rps"] for x in direct.runs.get(top, [])])
        cells.append("–" if r is None or not d else f"{r / d:.2f}")
        cells.append(f"{fmt_ms(cpu_per_request(t))} ms")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def version(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    return (r.stdout + r.stderr).strip().splitlines()[0] if (r.stdout + r.stderr).strip() else "?"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


# --- the run ------------------------------------------------------------------------------


def main() -> int:
    started = datetime.datetime.now(datetime.UTC)
    log(f"secs={SECS} rounds={ROUNDS} concurrency={CONCURRENCY} soak={SOAK_S or 'off'}")
    upstream_p, upstream = start_upstream("main")
    n1, n1_addr = start_nginx("1w", 1, upstream)
    n2, n2_addr = start_nginx("2w", 2, upstream)
    warm_cache = TMP / "cache"
    warm_cache.mkdir()
    gw = start_gateway("main", upstream, warm_cache)
    log("starting the gateway (a cold component cache: this compiles the plugins)")
    gw_addr = wait_listening(gw, "switchyard-main.log", "switchyard serve")

    def workers_of(p: subprocess.Popen) -> Callable[[], list[int]]:
        return lambda: [p.pid, *children(p.pid)]

    targets = [
        Target("upstream direct", upstream, "m", CHAT, lambda: [upstream_p.pid]),
        Target("nginx, 1 worker", n1_addr, "m", NGINX_STREAM_PREFIX + CHAT, workers_of(n1)),
        Target("nginx, 2 workers", n2_addr, "m", NGINX_STREAM_PREFIX + CHAT, workers_of(n2)),
        Target("Switchyard, model", gw_addr, "m", CHAT, lambda: [gw.pid]),
        Target("Switchyard, route", gw_addr, "r", CHAT, lambda: [gw.pid]),
        Target("Switchyard, cache hit", gw_addr, CACHED, CHAT, lambda: [gw.pid]),
    ]
    procs = {"upstream direct": (upstream_p, "upstream-main.log")}
    procs |= {"nginx, 1 worker": (n1, "nginx-1w.log"), "nginx, 2 workers": (n2, "nginx-2w.log")}
    if BASELINE_BIN:
        base_cache = TMP / "cache-baseline"
        base_cache.mkdir()
        gw_b = start_gateway("baseline", upstream, base_cache, binary=BASELINE_BIN)
        log("starting the baseline gateway (PERF_BASELINE_BIN)")
        gw_b_addr = wait_listening(gw_b, "switchyard-baseline.log", "switchyard serve (baseline)")
        for name, model in (("baseline, model", "m"), ("baseline, route", "r")):
            targets.append(Target(name, gw_b_addr, model, CHAT, lambda: [gw_b.pid]))
            procs[name] = (gw_b, "switchyard-baseline.log")
    # Embeddings, measured under load only (no streams, no start times).
    embed_targets = [
        Target("upstream direct", upstream, EMBED_MODEL, "", lambda: [upstream_p.pid], EMBEDDINGS),
        Target("Switchyard, model", gw_addr, EMBED_MODEL, "", lambda: [gw.pid], EMBEDDINGS),
    ]
    if BASELINE_BIN:
        embed_targets.append(Target("baseline, model", gw_b_addr, EMBED_MODEL, "", lambda: [gw_b.pid], EMBEDDINGS))
    by_name = {t.name: t for t in targets}
    # Measured for streams only.
    early = Target("Switchyard, route, first_event", gw_addr, EARLY, CHAT, lambda: [gw.pid])
    first_answer(gw, early.addr, CHAT, chat_body(early.model, LOAD_PROMPT), "switchyard-main.log", early.name)
    for t in targets:
        write_lua(t)
        p, log_name = procs.get(t.name, (gw, "switchyard-main.log"))
        first_answer(p, t.addr, CHAT, chat_body(t.model, LOAD_PROMPT), log_name, t.name)
        measure_streams(t, 1)
        t.ttfb.clear()
        t.gap.clear()
    for t in embed_targets:
        write_lua(t)
        p, log_name = procs.get(t.name, (gw, "switchyard-main.log"))
        first_answer(p, t.addr, EMBEDDINGS, load_body(t), log_name, f"{t.name} (embeddings)")
    for t in targets:
        t.rss_idle = rss_bytes(t.pids())

    log("warming up")
    for t in targets:
        run_wrk(t, min(16, max(CONCURRENCY)), 1, record=False)

    for rnd in range(ROUNDS):
        order = targets[rnd % len(targets) :] + targets[: rnd % len(targets)]
        log(f"round {rnd + 1}/{ROUNDS}: load")
        for c in CONCURRENCY:
            for t in order:
                res = run_wrk(t, c, SECS)
                log(f"  {t.name:<18} c={c:<4} {res['rps']:>9,.0f} req/s  p50 {res['p50'] * 1e3:.3f} ms")
            for t in embed_targets[rnd % len(embed_targets) :] + embed_targets[: rnd % len(embed_targets)]:
                res = run_wrk(t, c, SECS)
                log(f"  {t.name:<18} c={c:<4} {res['rps']:>9,.0f} req/s  p50 {res['p50'] * 1e3:.3f} ms (embeddings)")
        log(f"round {rnd + 1}/{ROUNDS}: streams")
        for t in order:
            measure_streams(t, STREAMS)
        measure_streams(early, STREAMS)
        log(f"round {rnd + 1}/{ROUNDS}: start to first answer")
        measure_start(by_name, upstream, warm_cache, rnd)

    soak_trend: list[str] = []
    if SOAK_S:
        log(f"soak: {SOAK_S} s of load on the gateway (model and route alternating, c=64)")
        left, i = SOAK_S, 0
        while left > 0:
            chunk = min(60, left)
            run_wrk(targets[3 + i % 2], 64, chunk, record=False)
            left -= chunk
            i += 1
            soak_trend.append(fmt_mb(rss_bytes([gw.pid])))
        for t in targets[3:5]:
            t.rss_soak = rss_bytes([gw.pid])

    reload_rss = None
    if RELOADS:
        log(f"{RELOADS} hot reloads of the gateway")
        reload_rss = measure_reloads(gw, gw_addr, max(RELOADS, 10))

    print()
    print(f"## Switchyard vs nginx, side by side ({started:%Y-%m-%d %H:%M} UTC)")
    print()
    print(table(targets))
    print()
    print("Embeddings (`POST /v1/embeddings`, two inputs), in the same rounds:")
    print()
    print(embed_table(embed_targets))
    print()
    ratio_c = 64 if 64 in CONCURRENCY else max(CONCURRENCY)
    best_gw = max(statistics.median(r["rps"] for r in t.runs[ratio_c]) for t in targets[3:5])
    direct64 = statistics.median(r["rps"] for r in targets[0].runs[ratio_c])
    headroom = direct64 / best_gw if best_gw else float("inf")
    print(f"- Command: `{COMMAND}`")
    machine = f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.platform()}"
    print(f"- Date: {started:%Y-%m-%d %H:%M:%S} UTC; machine: {machine}")
    print(
        f'- Settings: PERF_SECS={SECS} PERF_ROUNDS={ROUNDS} PERF_CONCURRENCY="{" ".join(map(str, CONCURRENCY))}"'
        f" PERF_SOAK_S={SOAK_S or 'off'} PERF_RELOADS={RELOADS or 'off'}; {version([BIN, '--version'])},"
        f" {version([NGINX, '-v']).removeprefix('nginx version: ')}, {version([WRK, '-v']).split(' [')[0]}"
    )
    print(
        f"- Load: `wrk -t1 -cN -d{SECS}s --timeout 10s --latency` posting a small chat completion"
        f" (median of {ROUNDS} interleaved round(s)); the upstream is `switchyard mock-upstream`,"
        f" nginx proxies to it with upstream keepalive, the gateway serves `m` (adapter only) and `r`"
        f' (`ordered` policy + adapter) from one process (`[log] backend = "off"`, plugin deadlines'
        f" {PLUGIN_TIMEOUT_MS} ms), and `{CACHED}`, a model with `cache = true` asked at temperature 0:"
        " after its first request every answer is a response-cache hit (streams replayed in one burst)."
    )
    print(
        f"- Upstream headroom: direct it answers {direct64:,.0f} req/s at c={ratio_c},"
        f" {headroom:.1f}× the fastest Switchyard target"
        + ("." if headroom >= 3 else " (**under 3×: the upstream may be the bottleneck**).")
    )
    print(
        f"- Streams: {STREAMS} per target and round; the upstream sends its first (role-only) event at once,"
        f" then {STREAM_CHUNKS} content chunks {CHUNK_DELAY_MS} ms apart. TTFB is request to first body byte,"
        " the inter-chunk delay the mean gap between content chunks; added: medians minus the direct"
        " upstream's (in parentheses)."
    )
    print(
        "- CPU per request: utime+stime from /proc/PID/stat (nginx: master and workers) over all load runs"
        " ÷ requests served, and over the runs at the ratio's concurrency alone (a request at c=1 costs"
        " more: the process sleeps and wakes twice per request). RSS: VmRSS (nginx: summed over its"
        " processes); idle is after the first answers, under load the peak during the runs."
    )
    print(
        "- Start → first answer: spawn to the first 200 of a fresh process (Switchyard cold: an empty"
        " `SWITCHYARD_CACHE_DIR`; warm: the cache the running gateway filled)."
    )
    base_ttfb, early_ttfb = med(targets[0].ttfb), med(early.ttfb)
    if base_ttfb is not None and early_ttfb is not None:
        print(
            f'- Streams on a route with `stream_commit = "first_event"` (`{EARLY}`: committed at the'
            f" upstream's first event, not its first content): TTFB {fmt_ms(early_ttfb)} ms,"
            f" added {fmt_added_us(early_ttfb - base_ttfb)}; inter-chunk delay {fmt_ms(med(early.gap))} ms."
        )
    if BASELINE_BIN:
        print(
            f"- Baseline: `{BASELINE_BIN}` ({version([BASELINE_BIN, '--version'])}), a second gateway process"
            " with the same config, measured in the same interleaved rounds."
        )
    warm_rss = [r for t in targets[3:5] for r in t.rss_warm_start]
    if warm_rss:
        print(
            f"- RSS idle after a warm start (a fresh gateway, its first answer served, components from the cache):"
            f" {fmt_mb(int(statistics.median(warm_rss)))} (median of {len(warm_rss)}); the RSS idle column is the"
            " measured gateway's, which started with an empty component cache and compiled its plugins."
        )
    if reload_rss:
        trend = ", ".join(f"{i}: {fmt_mb(rss)}" for i, rss in reload_rss)
        print(
            f"- Hot reloads: {reload_rss[-1][0]} reloads, each reloading the `ordered` plugin (a new config for it)"
            f" and retiring the generation's pools; gateway RSS after N reloads: {trend}."
        )
    if soak_trend:
        print(f"- RSS of the gateway during the soak, after each minute (and at its end): {', '.join(soak_trend)}.")
    socket_errors = [
        f"{t.name} c={c}: {r['socket']}"
        for t in [*targets, *embed_targets]
        for c, runs in t.runs.items()
        for r in runs
        if any(r["socket"].values())
    ]
    if socket_errors:
        print(f"- wrk socket errors: {'; '.join(socket_errors)}")
    errors = [f"{t.name}: {e}" for t in targets for e in t.errors]
    errors += [f"{t.name} (embeddings): {e}" for t in embed_targets for e in t.errors]
    if errors:
        print()
        print("**Errors:**")
        for e in errors:
            print(f"- {e}")
        return 1
    return 0


if __name__ == "__main__":
    # perf.sh stops this with SIGTERM: unwind, so that `finally` stops what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        code = main()
    except PerfError as e:
        log(f"error: {e}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        stop_all()
    if os.environ.get("PERF_DEBUG"):
        log(f"logs kept in {TMP}; command {shlex.join(sys.argv)}")
    sys.exit(code)
