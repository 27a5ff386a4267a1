"""Bad input never gets more than a clean error in the client's dialect, and
after every case the gateway still answers normally: oversized and malformed
bodies, wrong field types, invalid UTF-8, a wrong content type, slow clients
(headers or body trickling in, or nothing at all), more connections than
allowed, and model names that could bend an upstream URL."""

from __future__ import annotations

import json
import socket
import time

import pytest

from helpers import CHAT_PATHS as PATHS
from helpers import assert_serving, httpx

HEADER_TIMEOUT_MS = 1000
BODY_TIMEOUT_MS = 1000
MAX_CONNECTIONS = 4


@pytest.fixture
def gw(gateway, mock_upstream):
    up = mock_upstream()
    return gateway(
        providers={"up": {"base_url": up.url}},
        models={"good": {"provider": "up"}, "meta-llama/Llama-3-8b": {"provider": "up"}},
        server={
            "max_body_bytes": 65536,
            "header_read_timeout_ms": HEADER_TIMEOUT_MS,
            "body_read_timeout_ms": BODY_TIMEOUT_MS,
            "max_connections": MAX_CONNECTIONS,
        },
    )


def good_body(model: str = "good") -> dict:
    return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def send(gw, dialect: str, content, content_type: str = "application/json", timeout: float = 10):
    if isinstance(content, dict):
        content = json.dumps(content)
    return httpx.post(
        f"{gw.url}{PATHS[dialect]}", content=content, headers={"content-type": content_type}, timeout=timeout
    )


def assert_error(r, dialect: str, status: int, param: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    if dialect == "openai":
        err = body["error"]
        assert err["type"] == "invalid_request_error", body
        if param is not None:
            assert err["param"] == param, body
    else:
        assert body["type"] == "error", body
        err = body["error"]
        assert err["type"] in ("invalid_request_error", "request_too_large", "timeout_error"), body
        if param is not None:
            assert param in err["message"], body
    return err["message"]


@pytest.mark.parametrize("dialect", PATHS)
def test_body_too_large_is_413(gw, dialect):
    body = good_body()
    body["messages"][0]["content"] = "x" * 70000
    assert_error(send(gw, dialect, body), dialect, 413)
    # Chunked (no content-length) is cut off at the limit too.
    chunks = (b"x" * 8192 for _ in range(16))
    r = httpx.post(f"{gw.url}{PATHS[dialect]}", content=chunks, headers={"content-type": "application/json"})
    assert_error(r, dialect, 413)
    assert_serving(gw, "good", dialects=PATHS)


@pytest.mark.parametrize("dialect", PATHS)
@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b'{"model": "good", "messages": [}', b"", b"[]", b'{"model":"good"} trailing', b"null"],
)
def test_malformed_json_is_400(gw, dialect, raw):
    assert_error(send(gw, dialect, raw), dialect, 400)
    assert_serving(gw, "good", dialects=PATHS)


@pytest.mark.parametrize("dialect", PATHS)
@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"messages": "hi"}, "messages"),
        ({"model": 7}, "model"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"stream": "yes"}, "stream"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ],
)
def test_wrong_field_types_are_400_naming_the_field(gw, dialect, patch, param):
    body = {**good_body(), **patch}
    assert_error(send(gw, dialect, body), dialect, 400, param)
    assert_serving(gw, "good", dialects=PATHS)


def test_openai_empty_content_array_is_400_with_the_sdk(gw):
    import openai

    client = gw.client()
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="good", messages=[{"role": "user", "content": []}])
    assert e.value.status_code == 400
    assert e.value.param == "messages[0].content"
    assert "empty array" in e.value.message
    # An empty string is accepted, as by the Chat Completions API.
    r = client.chat.completions.create(model="good", messages=[{"role": "user", "content": ""}])
    assert r.choices[0].message.content is not None
    assert_serving(gw, "good", dialects=PATHS)


@pytest.mark.parametrize(
    ("messages", "index"),
    [
        ([{"role": "user", "content": []}], 0),
        ([{"role": "user", "content": ""}], 0),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": []}, {"role": "user", "content": "b"}], 1),
    ],
)
def test_anthropic_empty_content_is_400_with_the_sdk(gw, messages, index):
    import anthropic

    client = gw.anthropic_client()
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="good", max_tokens=16, messages=messages)
    assert e.value.status_code == 400
    assert e.value.body["error"]["type"] == "invalid_request_error"
    assert f"messages.{index}: all messages must have non-empty content" in e.value.message
    # A final assistant message may be empty (a prefill).
    r = client.messages.create(
        model="good", max_tokens=16, messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]
    )
    assert r.content[0].text
    assert_serving(gw, "good", dialects=PATHS)


@pytest.mark.parametrize("dialect", PATHS)
def test_invalid_utf8_is_400(gw, dialect):
    raw = b'{"model": "good", "max_tokens": 16, "messages": [{"role": "user", "content": "caf\xe9 \xff\xfe"}]}'
    assert_error(send(gw, dialect, raw), dialect, 400)
    # A lone surrogate escape is not valid text either.
    raw = b'{"model": "good", "max_tokens": 16, "messages": [{"role": "user", "content": "\\ud800"}]}'
    assert_error(send(gw, dialect, raw), dialect, 400)
    assert_serving(gw, "good", dialects=PATHS)


@pytest.mark.parametrize("dialect", PATHS)
@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_wrong_content_type_is_400(gw, dialect, ctype):
    # OpenAI answers a non-JSON content type with 400 invalid_request_error.
    msg = assert_error(send(gw, dialect, good_body(), content_type=ctype), dialect, 400)
    assert "Content-Type" in msg
    # JSON with a charset parameter is fine.
    assert send(gw, dialect, good_body(), content_type="application/json; charset=utf-8").status_code == 200
    assert_serving(gw, "good", dialects=PATHS)


@pytest.mark.parametrize("dialect", PATHS)
@pytest.mark.parametrize(
    "model",
    [
        "good\r\nx-injected: 1",
        "good\n",
        "../../admin",
        "good/../../etc/passwd",
        "./good",
        "a b",
        "good\t",
        "a\\b",
        "good?x=1",
        "good#frag",
        "good%2F..",
        "bad\u0000",
        "",
    ],
)
def test_model_names_that_could_bend_a_url_are_400(gw, dialect, model):
    assert_error(send(gw, dialect, good_body(model)), dialect, 400, "model")
    assert_serving(gw, "good", dialects=PATHS)


def test_model_names_with_slashes_colons_and_dots_work(gw):
    r = send(gw, "openai", good_body("meta-llama/Llama-3-8b"))
    assert r.status_code == 200, r.text
    r = send(gw, "openai", good_body("anthropic.claude-3-haiku-20240307-v1:0"))
    assert r.status_code == 404  # valid name, just not configured
    assert r.json()["error"]["code"] == "model_not_found"


def connect(gw) -> socket.socket:
    host, port = gw.addr.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def closed_within(s: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed `s` within `seconds`, and what it sent."""
    s.settimeout(seconds)
    got = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                return True, got
            got += chunk
    except TimeoutError:
        return False, got
    except ConnectionResetError:
        return True, got
    return False, got


def test_slow_headers_are_cut_off(gw):
    s = connect(gw)
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: {gw.addr}\r\ncontent-type: application/json\r\n".encode()
    start = time.monotonic()
    closed = False
    try:
        # One byte every 200 ms, never finishing the head, for up to 15 s: a
        # gateway timing each read instead of the whole head keeps it all along.
        for b in head:
            s.send(bytes([b]))
            time.sleep(0.2)
            if time.monotonic() - start > 15:
                break
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    if not closed:
        closed, _ = closed_within(s, 5)
    elapsed = time.monotonic() - start
    assert closed, "a client trickling its headers kept its connection"
    # Cut off at the header timeout: seconds to spare, and far short of the trickle.
    assert elapsed < HEADER_TIMEOUT_MS / 1000 + 6, f"cut off after {elapsed:.1f} s"
    s.close()
    assert_serving(gw, "good", dialects=PATHS)


def test_idle_connection_is_closed(gw):
    s = connect(gw)
    closed, _ = closed_within(s, HEADER_TIMEOUT_MS / 1000 + 9)
    assert closed, "a connection that never sent a request was kept open"
    s.close()
    assert_serving(gw, "good", dialects=PATHS)


@pytest.mark.parametrize("dialect", PATHS)
def test_body_that_stops_midway_gets_408_and_is_closed(gw, dialect):
    s = connect(gw)
    body = json.dumps(good_body()).encode()
    head = (
        f"POST {PATHS[dialect]} HTTP/1.1\r\nhost: {gw.addr}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    s.sendall(head + body[:10])
    closed, got = closed_within(s, BODY_TIMEOUT_MS / 1000 + 9)
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert closed, "the connection stayed open after the body timeout"
    payload = json.loads(got.split(b"\r\n\r\n", 1)[1])
    if dialect == "openai":
        assert payload["error"]["code"] == "request_timeout"
    else:
        assert payload["type"] == "error"
    s.close()
    assert_serving(gw, "good", dialects=PATHS)


def test_connections_beyond_the_limit_wait_and_the_gateway_keeps_answering(gw):
    start = time.monotonic()
    # Fill every connection slot with clients that send nothing: each is hung
    # up on a header timeout after the gateway accepted it, so not before
    # `start` + the header timeout.
    hogs = [connect(gw) for _ in range(MAX_CONNECTIONS)]
    # One more client waits for a slot (queued behind the hogs, which the
    # gateway accepts first), and is served once an idle one is closed.
    r = send(gw, "openai", good_body(), timeout=30)
    waited = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert waited >= HEADER_TIMEOUT_MS / 1000 * 0.95, f"served after {waited:.2f}s: the limit did not hold"
    for h in hogs:
        closed, _ = closed_within(h, 10)
        assert closed
        h.close()
    # Many more clients than slots, all served in turn.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: send(gw, "openai", good_body(), timeout=30).status_code, range(32)))
    assert results == [200] * 32
    assert_serving(gw, "good", dialects=PATHS)


def test_idle_keep_alive_connection_is_closed(gw):
    s = connect(gw)
    body = json.dumps(good_body()).encode()
    s.sendall(
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {gw.addr}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    s.settimeout(20)
    got = s.recv(65536)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    closed, _ = closed_within(s, HEADER_TIMEOUT_MS / 1000 + 9)
    assert closed, "an idle keep-alive connection was kept past the header timeout"
    s.close()
    assert_serving(gw, "good", dialects=PATHS)


def test_config_refuses_upstream_names_that_could_bend_a_url(config_text, run_check):
    for upstream in ["../admin", "a/../../b", "a\r\nb", "a b"]:
        text = config_text(
            providers={"up": {"base_url": "http://127.0.0.1:9/v1"}},
            models={"m": {"provider": "up", "upstream": upstream}},
        )
        r = run_check(text)
        assert r.returncode == 1, (upstream, r.stdout)
        assert "models.m.upstream" in r.stderr, r.stderr
