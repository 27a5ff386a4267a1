"""Graceful shutdown: on SIGTERM the gateway stops accepting (new connections
are refused), lets every accepted request and stream finish whole, logs that
it is done and exits 0 within `server.drain_timeout_ms`; what is still open
at the drain timeout is closed and the exit is still 0."""

from __future__ import annotations

import signal
import socket
import threading
import time

from helpers import httpx, wait_until

WORDS = [f"w{i}" for i in range(20)]
REPLY = " ".join(WORDS)


def test_sigterm_during_load_loses_no_accepted_request(gateway, mock_upstream):
    # Streams of 20 chunks 200 ms apart (~4 s), and answers after 4 s: every
    # request is still open for seconds after SIGTERM. The drain timeout is
    # far beyond that; the log says whether the exit came from the requests
    # finishing or from the timeout.
    streamer = mock_upstream("--reply", REPLY, "--chunks", 20, "--chunk-delay-ms", 200)
    slow = mock_upstream("--reply", REPLY, "--latency-ms", 4000)
    drain_ms = 30000
    gw = gateway(
        providers={"s": {"base_url": streamer.url}, "l": {"base_url": slow.url}},
        models={"stream": {"provider": "s"}, "slow": {"provider": "l"}},
        server={"drain_timeout_ms": drain_ms},
    )
    n_streams, n_plain = 12, 8
    results: list[tuple[str, str, str | None]] = []
    lock = threading.Lock()

    def stream_one() -> None:
        try:
            c = gw.client(timeout=30)
            text, finish = "", None
            for chunk in c.chat.completions.create(
                model="stream", messages=[{"role": "user", "content": "hi"}], stream=True
            ):
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                    finish = chunk.choices[0].finish_reason or finish
            out = ("stream", text, finish)
        except Exception as e:  # recorded, asserted below
            out = ("stream", f"error: {e!r}", None)
        with lock:
            results.append(out)

    def plain_one() -> None:
        try:
            c = gw.client(timeout=30)
            r = c.chat.completions.create(model="slow", messages=[{"role": "user", "content": "hi"}])
            out = ("plain", r.choices[0].message.content or "", r.choices[0].finish_reason)
        except Exception as e:
            out = ("plain", f"error: {e!r}", None)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=stream_one) for _ in range(n_streams)]
    threads += [threading.Thread(target=plain_one) for _ in range(n_plain)]
    for t in threads:
        t.start()
    # Wait until every request reached its upstream: all are in flight.
    wait_until(
        lambda: streamer.stats()["chat_requests"] >= n_streams and slow.stats()["chat_requests"] >= n_plain,
        timeout=30,
        what="every request reaches its upstream",
    )
    assert streamer.stats()["chat_requests"] == n_streams
    assert slow.stats()["chat_requests"] == n_plain

    signalled = time.monotonic()
    gw.proc.popen.send_signal(signal.SIGTERM)
    wait_until(lambda: "no longer accepting" in gw.proc.stderr(), timeout=10, what="the gateway stops accepting")
    # Still draining, and no longer accepting.
    assert gw.proc.popen.poll() is None, "exited before the open requests finished"
    host, port = gw.addr.split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        refused = False
    except (ConnectionRefusedError, ConnectionResetError):
        refused = True
    assert refused, "a new connection was accepted after SIGTERM"

    for t in threads:
        t.join(timeout=60)
    code = gw.proc.popen.wait(timeout=drain_ms / 1000 + 10)
    elapsed = time.monotonic() - signalled
    assert code == 0
    assert elapsed < drain_ms / 1000, f"exit took {elapsed:.1f}s: the drain timed out"
    assert len(results) == n_streams + n_plain
    for kind, text, finish in results:
        assert text.endswith(REPLY), (kind, text)
        assert finish == "stop", (kind, text, finish)
    log = gw.proc.stderr()
    assert "no longer accepting" in log
    assert "all requests finished; exiting" in log


def test_drain_timeout_bounds_the_exit(gateway, mock_upstream):
    # One stream that would take ~40 s; the drain timeout is 1 s.
    up = mock_upstream("--reply", REPLY, "--chunks", 20, "--chunk-delay-ms", 2000)
    gw = gateway(
        providers={"s": {"base_url": up.url}},
        models={"stream": {"provider": "s"}},
        server={"drain_timeout_ms": 1000},
    )
    got: list[str] = []

    def stream_one() -> None:
        try:
            with httpx.stream(
                "POST",
                f"{gw.url}/v1/chat/completions",
                json={"model": "stream", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
                timeout=30,
            ) as r:
                for line in r.iter_lines():
                    got.append(line)
        except Exception as e:
            got.append(f"error: {e!r}")

    t = threading.Thread(target=stream_one)
    t.start()
    wait_until(lambda: up.stats()["chat_requests"] >= 1, timeout=10, what="the stream reaches its upstream")
    time.sleep(0.3)
    signalled = time.monotonic()
    gw.proc.popen.send_signal(signal.SIGTERM)
    code = gw.proc.popen.wait(timeout=30)
    elapsed = time.monotonic() - signalled
    t.join(timeout=30)
    assert code == 0
    # Not before the drain timeout, and long before the stream's end: the
    # bounds are seconds from what a loaded machine adds to the exit.
    assert 0.9 < elapsed < 10, f"exit took {elapsed:.1f}s"
    # The cut stream never ends with [DONE]: the client knows it is incomplete.
    assert "data: [DONE]" not in got
    assert "drain timeout" in gw.proc.stderr()
