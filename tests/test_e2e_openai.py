"""End-to-end tests: the real gateway in front of `mock-upstream` providers,
driven by the official `openai` SDK (raw `httpx` where the SDK would not send
the request in question)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from helpers import free_port, httpx, make_test_certs, stream_text, wait_until

PROMPT = "hello from the tests"
EXPECTED = f"You said: {PROMPT}"


def user(text: str = PROMPT) -> list[dict]:
    return [{"role": "user", "content": text}]


def words(text: str) -> int:
    return len(text.split())


def one_good_gateway(gateway, mock, **provider_extra):
    """A gateway with route `main` = [m-good] on one mock."""
    return gateway(
        providers={"good": {"base_url": mock.url, **provider_extra}},
        models={"m-good": {"provider": "good"}},
        routes={"main": {"models": ["m-good"]}},
    )


def failover_gateway(gateway, first, second, first_extra=None, second_extra=None):
    """Route `main` = [m-bad, m-good]; `only-bad` = [m-bad]; `only-good` = [m-good]."""
    return gateway(
        providers={
            "bad": {"base_url": first.url, **(first_extra or {})},
            "good": {"base_url": second.url, **(second_extra or {})},
        },
        models={"m-bad": {"provider": "bad", "upstream": "gpt-bad"}, "m-good": {"provider": "good"}},
        routes={
            "main": {"models": ["m-bad", "m-good"]},
            "only-bad": {"models": ["m-bad"]},
            "only-good": {"models": ["m-good"]},
        },
    )


def collect_stream(stream):
    """Text, finish reasons and usage chunks of an SDK stream."""
    text, finishes, usages, chunks = [], [], [], 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usages.append(chunk.usage)
        for c in chunk.choices:
            if c.delta.content:
                text.append(c.delta.content)
            if c.finish_reason:
                finishes.append(c.finish_reason)
    return "".join(text), finishes, usages, chunks


# 1. Non-streaming ------------------------------------------------------------


@pytest.mark.parametrize("model", ["main", "m-good"])
def test_non_streaming_answer_usage_and_headers(gateway, mock_upstream, model):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    raw = gw.client().chat.completions.with_raw_response.create(model=model, messages=user())
    assert raw.http_response.status_code == 200
    assert raw.headers["x-switchyard-model"] == "m-good"
    assert raw.headers["x-switchyard-provider"] == "good"
    assert raw.headers["x-switchyard-attempts"] == "1"
    assert "x-switchyard-simulated" not in raw.headers
    resp = raw.parse()
    assert resp.object == "chat.completion"
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == EXPECTED
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens > 0
    assert resp.usage.completion_tokens == words(EXPECTED)
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert up.stats()["chat_requests"] == 1


# 2. Streaming ----------------------------------------------------------------


def test_streaming_with_usage(gateway, mock_upstream):
    up = mock_upstream("--chunk-delay-ms", 5)
    gw = one_good_gateway(gateway, up)
    stream = gw.client().chat.completions.create(
        model="main", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert stream_text(chunks) == EXPECTED
    # One content chunk per word at least: the answer really was streamed.
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= words(EXPECTED)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1
    last = chunks[-1]
    assert last is usage_chunks[0], "the usage chunk must be the last one"
    assert last.choices == []
    assert last.usage.completion_tokens == words(EXPECTED)
    assert last.usage.prompt_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1, "all chunks of one stream share an id"


def test_streaming_without_usage(gateway, mock_upstream):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    raw = gw.client().chat.completions.with_raw_response.create(model="main", messages=user(), stream=True)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-switchyard-model"] == "m-good"
    text, finishes, usages, _ = collect_stream(raw.parse())
    assert text == EXPECTED
    assert finishes == ["stop"]
    assert usages == []


def test_streaming_raw_sse_ends_with_done(gateway, mock_upstream):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    body = {"model": "main", "messages": user(), "stream": True}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=20) as r:
        assert r.status_code == 200
        data = "".join(r.iter_text())
    events = [e for e in data.split("\n\n") if e.strip()]
    assert all(e.startswith("data: ") for e in events), events
    assert events[-1] == "data: [DONE]"
    assert data.count("[DONE]") == 1
    payloads = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    assert "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads if p["choices"]) == EXPECTED


# 3. Failover -----------------------------------------------------------------


def test_failover_from_500_to_healthy(gateway, mock_upstream):
    bad = mock_upstream("--fail-status", 500)
    good = mock_upstream()
    gw = failover_gateway(gateway, bad, good)
    raw = gw.client().chat.completions.with_raw_response.create(model="main", messages=user())
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert raw.headers["x-switchyard-model"] == "m-good"
    assert raw.headers["x-switchyard-provider"] == "good"
    assert raw.parse().choices[0].message.content == EXPECTED
    b, g = bad.stats(), good.stats()
    assert b["chat_requests"] == 1 and b["failures"] == 1
    assert g["chat_requests"] == 1 and g["failures"] == 0


def test_upstream_400_is_passed_back_without_failover(gateway, mock_upstream):
    bad = mock_upstream("--fail-status", 400)
    good = mock_upstream()
    gw = failover_gateway(gateway, bad, good)
    with pytest.raises(openai.BadRequestError) as ei:
        gw.client().chat.completions.create(model="main", messages=user())
    assert ei.value.status_code == 400
    assert bad.stats()["chat_requests"] == 1
    assert good.stats()["chat_requests"] == 0, "a 400 must not fail over"


# 4. Rate limits --------------------------------------------------------------


def test_429_with_retry_after_is_passed_back(gateway, mock_upstream):
    limited = mock_upstream("--fail-status", 429, "--retry-after", 7)
    good = mock_upstream()
    gw = failover_gateway(gateway, limited, good)
    with pytest.raises(openai.RateLimitError) as ei:
        gw.client().chat.completions.create(model="only-bad", messages=user())
    e = ei.value
    assert e.status_code == 429
    assert e.response.headers.get("retry-after") == "7"
    assert "m-bad" in e.body["message"]
    assert limited.stats()["chat_requests"] == 1
    assert good.stats()["chat_requests"] == 0


def test_429_retry_after_is_the_minimum_of_the_upstreams(gateway, mock_upstream):
    slow = mock_upstream("--fail-status", 429, "--retry-after", 7)
    soon = mock_upstream("--fail-status", 429, "--retry-after", 3)
    gw = failover_gateway(gateway, slow, soon)
    with pytest.raises(openai.RateLimitError) as ei:
        gw.client().chat.completions.create(model="main", messages=user())
    assert ei.value.status_code == 429
    assert ei.value.response.headers.get("retry-after") == "3"
    assert slow.stats()["chat_requests"] == 1 and soon.stats()["chat_requests"] == 1


def test_429_fails_over_to_healthy(gateway, mock_upstream):
    limited = mock_upstream("--fail-status", 429, "--retry-after", 7)
    good = mock_upstream()
    gw = failover_gateway(gateway, limited, good)
    raw = gw.client().chat.completions.with_raw_response.create(model="main", messages=user())
    assert raw.http_response.status_code == 200
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert raw.headers["x-switchyard-model"] == "m-good"
    assert raw.parse().choices[0].message.content == EXPECTED
    assert limited.stats()["failures"] == 1


# 5. Streams that break -------------------------------------------------------


def test_mid_stream_break_raises_api_error(gateway, mock_upstream):
    up = mock_upstream("--break-after", 2, "--chunk-delay-ms", 20)
    gw = one_good_gateway(gateway, up)
    stream = gw.client().chat.completions.create(model="main", messages=user(), stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError) as ei:
        stream_text(stream, got)
    e = ei.value
    # A dropped connection would also be an APIError; the gateway must say
    # in-band that the stream was interrupted.
    assert not isinstance(e, openai.APIConnectionError), repr(e)
    assert e.code == "stream_interrupted", e.body
    text = "".join(got)
    assert text, "some content must have arrived before the break"
    assert EXPECTED.startswith(text) and text != EXPECTED, text


def test_mid_stream_break_raw_has_error_event_and_no_done(gateway, mock_upstream):
    # The chunk delay makes the mock flush each chunk: without it hyper drops
    # the buffered chunks with the reset and nothing arrives before the break.
    up = mock_upstream("--break-after", 2, "--chunk-delay-ms", 20)
    gw = one_good_gateway(gateway, up)
    body = {"model": "main", "messages": user(), "stream": True}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=20) as r:
        assert r.status_code == 200
        data = "".join(r.iter_text())
    events = [e for e in data.split("\n\n") if e.strip()]
    assert "[DONE]" not in data
    last = json.loads(events[-1][len("data: ") :])
    assert last["error"]["code"] == "stream_interrupted"
    assert "m-good" in last["error"]["message"]


@pytest.mark.parametrize(
    "flags",
    [
        ("--fail-status", "503"),
        ("--hang",),
        ("--break-after", "0"),  # breaks after the role chunk, before any content
        ("--chunk-delay-ms", "3000"),  # role chunk at once, then silence
    ],
    ids=["503", "hang", "break-before-content", "stall-before-content"],
)
def test_stream_fails_over_before_content(gateway, mock_upstream, flags):
    bad = mock_upstream(*flags)
    good = mock_upstream()
    gw = failover_gateway(gateway, bad, good, first_extra={"first_byte_timeout_ms": 300, "idle_timeout_ms": 300})
    started = time.monotonic()
    raw = gw.client().chat.completions.with_raw_response.create(
        model="main", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert raw.headers["x-switchyard-model"] == "m-good"
    text, finishes, usages, _ = collect_stream(raw.parse())
    assert text == EXPECTED
    assert finishes == ["stop"]
    assert len(usages) == 1
    assert time.monotonic() - started < 10
    assert bad.stats()["chat_requests"] == 1
    assert good.stats()["chat_requests"] == 1


# 6. Client errors ------------------------------------------------------------


def test_malformed_json_is_400(gateway, mock_upstream):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    r = gw.post(b'{"model": "main", "messages": [')
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert isinstance(err["message"], str) and err["message"]
    assert set(err) >= {"message", "type", "param", "code"}
    r = gw.post(b'{"model": "main", "messages": [{"role": "user", "content": "x"}]} trailing')
    assert r.status_code == 400
    assert up.stats()["chat_requests"] == 0


def test_wrong_field_type_names_the_field(gateway, mock_upstream):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    with pytest.raises(openai.BadRequestError) as ei:
        gw.client().chat.completions.create(model="main", messages=user(), temperature="hot")  # type: ignore[arg-type]
    assert ei.value.status_code == 400
    assert ei.value.param == "temperature"
    assert "temperature" in ei.value.body["message"]

    r = gw.post({"model": "main", "messages": [{"role": "user", "content": 5}]})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "messages[0].content"
    assert up.stats()["chat_requests"] == 0


def test_unknown_model_is_404(gateway, mock_upstream):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    with pytest.raises(openai.NotFoundError) as ei:
        gw.client().chat.completions.create(model="no-such-model", messages=user())
    assert ei.value.status_code == 404
    assert ei.value.code == "model_not_found"
    assert "no-such-model" in ei.value.body["message"]
    with pytest.raises(openai.NotFoundError) as ei:
        gw.client().chat.completions.create(model="no-such-model", messages=user(), stream=True)
    assert ei.value.code == "model_not_found"
    assert up.stats()["chat_requests"] == 0


def test_body_too_large_is_413(gateway, mock_upstream):
    up = mock_upstream()
    gw = gateway(
        providers={"good": {"base_url": up.url}},
        models={"m-good": {"provider": "good"}},
        routes={"main": {"models": ["m-good"]}},
        server={"max_body_bytes": 4096},
    )
    big = "x" * 8000
    with pytest.raises(openai.APIStatusError) as ei:
        gw.client().chat.completions.create(model="main", messages=user(big))
    assert ei.value.status_code == 413
    assert ei.value.code == "request_too_large"

    # Without a Content-Length (chunked upload) the limit holds too.
    payload = json.dumps({"model": "main", "messages": user(big)}).encode()

    def chunks():
        for i in range(0, len(payload), 1000):
            yield payload[i : i + 1000]

    r = gw.post(chunks())
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"

    # Just under the limit is accepted.
    ok = gw.client().chat.completions.create(model="main", messages=user("y" * 3000))
    assert ok.choices[0].message.content == "You said: " + "y" * 3000
    assert up.stats()["chat_requests"] == 1


# 7. Every attempt fails ------------------------------------------------------


def test_all_attempts_failing_is_502_naming_both(gateway, mock_upstream):
    first = mock_upstream("--fail-status", 500)
    second = mock_upstream("--fail-status", 500)
    gw = failover_gateway(gateway, first, second)
    with pytest.raises(openai.InternalServerError) as ei:
        gw.client().chat.completions.create(model="main", messages=user())
    e = ei.value
    assert e.status_code == 502
    assert e.code == "upstream_failed"
    msg = e.body["message"]
    for name in ("m-bad", "bad", "m-good", "good"):
        assert f"`{name}`" in msg, msg
    assert first.stats()["chat_requests"] == 1 and second.stats()["chat_requests"] == 1


def test_all_attempts_timing_out_is_504(gateway, mock_upstream):
    first = mock_upstream("--hang")
    second = mock_upstream("--hang")
    fast = {"first_byte_timeout_ms": 300}
    gw = failover_gateway(gateway, first, second, first_extra=fast, second_extra=fast)
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError) as ei:
        gw.client().chat.completions.create(model="main", messages=user())
    elapsed = time.monotonic() - started
    assert ei.value.status_code == 504
    assert ei.value.code == "upstream_timeout"
    assert "m-bad" in ei.value.body["message"] and "m-good" in ei.value.body["message"]
    assert 0.55 <= elapsed < 10, elapsed  # two 300 ms attempts, no more
    assert first.stats()["chat_requests"] == 1 and second.stats()["chat_requests"] == 1


def test_stream_all_attempts_timing_out_is_504(gateway, mock_upstream):
    first = mock_upstream("--hang")
    second = mock_upstream("--hang")
    fast = {"first_byte_timeout_ms": 300}
    gw = failover_gateway(gateway, first, second, first_extra=fast, second_extra=fast)
    with pytest.raises(openai.InternalServerError) as ei:
        for _ in gw.client().chat.completions.create(model="main", messages=user(), stream=True):
            pass
    assert ei.value.status_code == 504
    assert ei.value.code == "upstream_timeout"


# 8. API keys -----------------------------------------------------------------


def test_provider_key_is_injected_and_client_key_is_not_forwarded(gateway, mock_upstream):
    upstream_key = "sk-upstream-secret"
    client_key = "sk-client-key"
    keyed = mock_upstream("--api-key", upstream_key)  # wants the provider key
    wants_client_key = mock_upstream("--api-key", client_key)  # would accept a forwarded client key
    wrong = mock_upstream("--api-key", upstream_key)  # gets the wrong key from the env
    gw = gateway(
        providers={
            "keyed": {"base_url": keyed.url, "api_key_env": "SY_TEST_GOOD_KEY"},
            "nokey": {"base_url": wants_client_key.url},
            "wrong": {"base_url": wrong.url, "api_key_env": "SY_TEST_WRONG_KEY"},
        },
        models={
            "m-keyed": {"provider": "keyed"},
            "m-nokey": {"provider": "nokey"},
            "m-wrong": {"provider": "wrong"},
        },
        env={"SY_TEST_GOOD_KEY": upstream_key, "SY_TEST_WRONG_KEY": "sk-not-the-key"},
    )
    client = gw.client(api_key=client_key)

    ok = client.chat.completions.create(model="m-keyed", messages=user())
    assert ok.choices[0].message.content == EXPECTED
    assert keyed.stats()["failures"] == 0

    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model="m-nokey", messages=user())
    assert ei.value.status_code == 502
    s = wants_client_key.stats()
    assert s["chat_requests"] == 1 and s["failures"] == 1, "the client's key must not reach the upstream"

    with pytest.raises(openai.APIStatusError) as ei:
        client.chat.completions.create(model="m-wrong", messages=user())
    assert ei.value.status_code == 502
    assert "sk-not-the-key" not in json.dumps(ei.value.body)
    s = wrong.stats()
    assert s["chat_requests"] == 1 and s["failures"] == 1


# 9. Tools --------------------------------------------------------------------

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]},
        },
    },
    {"type": "function", "function": {"name": "other_tool", "parameters": {"type": "object"}}},
]
TOOL_PROMPT = "weather in Paris?"


def test_tool_call_non_streaming_and_follow_up(gateway, mock_upstream):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    client = gw.client()
    resp = client.chat.completions.create(model="main", messages=user(TOOL_PROMPT), tools=TOOLS)
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"input": TOOL_PROMPT}

    # A named tool_choice picks that tool.
    named = client.chat.completions.create(
        model="main",
        messages=user(TOOL_PROMPT),
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "other_tool"}},
    )
    assert named.choices[0].message.tool_calls[0].function.name == "other_tool"

    follow = client.chat.completions.create(
        model="main",
        messages=[
            *user(TOOL_PROMPT),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ],
        tools=TOOLS,
    )
    assert follow.choices[0].finish_reason == "stop"
    assert follow.choices[0].message.content == "The tool said: sunny, 21 C"
    assert not follow.choices[0].message.tool_calls


def test_tool_call_streaming_and_follow_up(gateway, mock_upstream):
    up = mock_upstream()
    gw = one_good_gateway(gateway, up)
    client = gw.client()
    stream = client.chat.completions.create(model="main", messages=user(TOOL_PROMPT), tools=TOOLS, stream=True)
    calls: dict[int, dict] = {}
    finishes, deltas = [], 0
    for chunk in stream:
        for c in chunk.choices:
            if c.finish_reason:
                finishes.append(c.finish_reason)
            for tc in c.delta.tool_calls or []:
                deltas += 1
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
    assert finishes == ["tool_calls"]
    assert list(calls) == [0]
    call = calls[0]
    assert deltas >= 2, "arguments should arrive in several deltas"
    assert call["id"]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"input": TOOL_PROMPT}

    follow = client.chat.completions.create(
        model="main",
        messages=[
            *user(TOOL_PROMPT),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call["id"], "content": "rain"},
        ],
        tools=TOOLS,
        stream=True,
    )
    text, finishes, _, _ = collect_stream(follow)
    assert text == "The tool said: rain"
    assert finishes == ["stop"]


# 10. switchyard check --------------------------------------------------------


def _check_config(config_text, **over):
    base = {
        "providers": {"up": {"base_url": "http://127.0.0.1:9/v1"}},
        "models": {"m-1": {"provider": "up"}},
        "routes": {"main": {"models": ["m-1"]}},
    }
    return config_text(**{**base, **over})


def test_check_good_config(run_check, config_text):
    r = run_check(_check_config(config_text))
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout
    assert "1 providers" in r.stdout and "1 models" in r.stdout and "1 routes" in r.stdout


def test_check_bad_provider_reference_names_the_key(run_check, config_text):
    r = run_check(_check_config(config_text, models={"m-1": {"provider": "nope"}}))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("switchyard: "), r.stderr
    assert "no provider named `nope`" in r.stderr, r.stderr
    # The key path names model and field; `m-1` is a valid bare TOML key, so
    # the quoted and the bare spelling name the same key.
    assert r.stderr.startswith(("switchyard: models.m-1.provider: ", 'switchyard: models."m-1".provider: ')), r.stderr


def test_check_bad_route_reference_names_the_key(run_check, config_text):
    r = run_check(_check_config(config_text, routes={"main": {"models": ["m-1", "m-2"]}}))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("switchyard: routes.main.models[1]: "), r.stderr
    assert "no model named `m-2`" in r.stderr


def test_check_unknown_key_is_named(run_check, config_text):
    text = _check_config(config_text).replace('adapter = "openai"', 'adaptr = "openai"\nadapter = "openai"')
    r = run_check(text)
    assert r.returncode == 1
    assert "providers.up" in r.stderr
    assert "unknown field `adaptr`" in r.stderr, r.stderr


# 11. The embedded default ----------------------------------------------------


def test_embedded_default_is_simulated(default_gateway):
    gw = default_gateway()
    assert gw.get("/healthz").status_code == 200
    raw = gw.client().chat.completions.with_raw_response.create(model="default", messages=user())
    assert raw.headers.get("x-switchyard-simulated") == "true"
    assert raw.headers["x-switchyard-model"] in ("sim-fast", "sim-smart")
    content = raw.parse().choices[0].message.content
    assert "[simulated]" in content
    assert PROMPT in content

    stream = gw.client().chat.completions.create(model="sim-smart", messages=user(), stream=True)
    text, finishes, _, _ = collect_stream(stream)
    assert "[simulated]" in text and PROMPT in text
    assert finishes == ["stop"]

    models = gw.client().models.list()
    ids = sorted(m.id for m in models.data)
    assert ids == ["default", "sim-fast", "sim-smart"]


def test_models_endpoint_lists_routes_and_models(gateway, mock_upstream):
    up = mock_upstream()
    gw = failover_gateway(gateway, up, up)
    ids = sorted(m.id for m in gw.client().models.list().data)
    assert ids == ["m-bad", "m-good", "main", "only-bad", "only-good"]


# 12. Concurrency -------------------------------------------------------------


def test_concurrent_streams(gateway, mock_upstream):
    # Each stream takes over 4 s (12 frames 400 ms apart): seconds more than
    # starting all of them takes, even on a loaded machine.
    up = mock_upstream("--chunk-delay-ms", 400)
    gw = one_good_gateway(gateway, up)
    client = gw.client(timeout=30)
    n = 50
    barrier = threading.Barrier(n)
    spans: list[tuple[float, float]] = []

    def one(i: int) -> tuple[str, str]:
        prompt = f"request number {i} of the batch"
        barrier.wait(timeout=60)
        stream = client.chat.completions.create(
            model="main", messages=user(prompt), stream=True, stream_options={"include_usage": True}
        )
        opened = time.monotonic()
        text, finishes, usages, _ = collect_stream(stream)
        spans.append((opened, time.monotonic()))
        assert finishes == ["stop"] and len(usages) == 1
        return text, f"You said: {prompt}"

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    for got, want in results:
        assert got == want
    assert up.stats()["chat_requests"] == n
    # At some moment every stream was open at once: they were served side by
    # side, not one (or a few) at a time.
    most = max(sum(1 for start, end in spans if start <= t < end) for t, _ in spans)
    assert most == n, f"at most {most} of {n} streams were open at once: requests were not served concurrently"


NGINX_TLS_CONF = """
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    log_format proto '$server_port $server_protocol $ssl_protocol $status';
    access_log {prefix}/access.log proto;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    ssl_certificate {certs}/server.pem;
    ssl_certificate_key {certs}/server.key;
    server {{
        listen 127.0.0.1:{h2} ssl http2;
        location / {{ proxy_pass http://{upstream}; proxy_http_version 1.1; proxy_buffering off; }}
    }}
    server {{
        listen 127.0.0.1:{h1} ssl;
        location / {{ proxy_pass http://{upstream}; proxy_http_version 1.1; proxy_buffering off; }}
    }}
}}
"""


def test_an_https_upstream_over_http2_and_http1(gateway, mock_upstream, tmp_path):
    """The broker speaks TLS to a provider: HTTP/2 when the server offers it
    (ALPN), HTTP/1.1 otherwise, and only to a certificate it trusts (here a
    test CA, through SSL_CERT_FILE). nginx terminates TLS in front of
    mock-upstream and logs the protocol of each request it got."""
    certs = tmp_path / "certs"
    make_test_certs(certs)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    mock = mock_upstream()
    h2, h1 = free_port(), free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_TLS_CONF.format(prefix=prefix, certs=certs, upstream=mock.addr, h2=h2, h1=h1))
    nginx = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(prefix / "stderr.log", "wb"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    try:

        def listening() -> bool:
            for port in (h2, h1):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                except OSError:
                    return False
            return True

        wait_until(listening, timeout=10, what="nginx listening")
        providers = {
            "tls-h2": {"base_url": f"https://127.0.0.1:{h2}/v1"},
            "tls-h1": {"base_url": f"https://127.0.0.1:{h1}/v1"},
        }
        models = {"m-h2": {"provider": "tls-h2"}, "m-h1": {"provider": "tls-h1"}}
        gw = gateway(providers=providers, models=models, env={"SSL_CERT_FILE": str(certs / "ca.pem")})
        client = gw.client()
        for model in ("m-h2", "m-h1"):
            r = client.chat.completions.create(model=model, messages=user())
            assert r.choices[0].message.content == EXPECTED
            stream = client.chat.completions.create(model=model, messages=user(), stream=True)
            assert stream_text(stream) == EXPECTED
        log = (prefix / "access.log").read_text().splitlines()
        seen = {tuple(line.split()) for line in log}
        # (port, protocol, status) of each request; every one over TLS.
        assert all(s[2].startswith("TLSv1.") for s in seen), seen
        assert {(s[0], s[1], s[3]) for s in seen} == {(str(h2), "HTTP/2.0", "200"), (str(h1), "HTTP/1.1", "200")}

        # Without the test CA the certificate is not trusted: nothing is
        # sent, the client gets the gateway's 502.
        untrusting = gateway(providers=providers, models=models)
        with pytest.raises(openai.APIStatusError) as ei:
            untrusting.client().chat.completions.create(model="m-h2", messages=user())
        assert ei.value.status_code == 502
        assert "certificate" in json.dumps(ei.value.body).lower(), ei.value.body
        assert (prefix / "access.log").read_text().splitlines() == log
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
