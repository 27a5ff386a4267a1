"""The attempt loop: capability filtering before the policy, retries with
backoff and Retry-After, circuit breakers, and the request deadline."""

import time

import openai
import pytest

from helpers import httpx, stream_text

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def ask(client, model, text="hello", **kw):
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **kw
    )


def test_images_go_to_vision_models_only(mock_upstream, gateway):
    text_only, vision = mock_upstream("--label", "text"), mock_upstream("--label", "vision")
    gw = gateway(
        providers={"t": {"base_url": text_only.url}, "v": {"base_url": vision.url}},
        models={
            "text-model": {"provider": "t", "capabilities": ["tools"]},
            "vision-model": {"provider": "v", "capabilities": ["vision", "tools"]},
        },
        routes={"main": {"models": ["text-model", "vision-model"]}, "blind": {"models": ["text-model"]}},
    )
    c = gw.client()
    # Plain text: the first model in order.
    assert ask(c, "main").parse().choices[0].message.content == "[text] You said: hello"
    # With an image: only the vision model qualifies, although it is second.
    raw = c.chat.completions.with_raw_response.create(
        model="main", messages=[{"role": "user", "content": [{"type": "text", "text": "what is it"}, IMAGE]}]
    )
    assert raw.parse().choices[0].message.content == "[vision] You said: what is it"
    assert raw.headers["x-switchyard-model"] == "vision-model"
    # No vision model at all: a clear 400 naming the reason, nothing sent upstream.
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="blind", messages=[{"role": "user", "content": [IMAGE]}])
    assert e.value.code == "no_capable_model"
    assert "text-model" in str(e.value) and "vision" in str(e.value)
    assert text_only.stats()["chat_requests"] == 1


def test_context_window_is_respected(mock_upstream, gateway):
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    gw = gateway(
        providers={"s": {"base_url": small.url}, "b": {"base_url": big.url}},
        models={"small": {"provider": "s", "context_window": 200}, "big": {"provider": "b", "context_window": 100000}},
        routes={"main": {"models": ["small", "big"]}, "only-small": {"models": ["small"]}},
    )
    c = gw.client()
    long_text = "The quick brown fox jumps over the lazy dog. " * 60  # ~600 tokens
    assert ask(c, "main", "short").parse().choices[0].message.content == "[small] You said: short"
    assert ask(c, "main", long_text).headers["x-switchyard-model"] == "big"
    # A large max_tokens counts too.
    assert ask(c, "main", "short", max_tokens=500).headers["x-switchyard-model"] == "big"
    with pytest.raises(openai.BadRequestError) as e:
        ask(c, "only-small", long_text)
    assert e.value.code == "context_length_exceeded"
    assert "context window of 200" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        ask(c, "small", long_text)


def test_retries_then_fails_over(mock_upstream, gateway):
    bad, good = mock_upstream("--fail-status", "500"), mock_upstream()
    gw = gateway(
        providers={"bad": {"base_url": bad.url}, "good": {"base_url": good.url}},
        models={"m-bad": {"provider": "bad"}, "m-good": {"provider": "good"}},
        routes={"main": {"models": ["m-bad", "m-good"], "retry": {"attempts_per_target": 3, "backoff_ms": 10}}},
        breaker={"consecutive_failures": 100},
    )
    raw = ask(gw.client(), "main")
    assert raw.parse().choices[0].message.content == "You said: hello"
    assert raw.headers["x-switchyard-attempts"] == "4"
    assert bad.stats()["chat_requests"] == 3
    assert good.stats()["chat_requests"] == 1


def test_retry_after_is_honoured(mock_upstream, gateway):
    limited = mock_upstream("--fail-status", "429", "--retry-after", "1")
    gw = gateway(
        providers={"p": {"base_url": limited.url}},
        models={"m": {"provider": "p"}},
        routes={"main": {"models": ["m"], "retry": {"attempts_per_target": 2, "max_retry_after_ms": 1500}}},
        breaker={"consecutive_failures": 100},
    )
    t = time.monotonic()
    with pytest.raises(openai.RateLimitError) as e:
        ask(gw.client(), "main")
    waited = time.monotonic() - t
    assert limited.stats()["chat_requests"] == 2
    assert waited >= 0.95, f"the gateway retried after {waited:.2f}s, before Retry-After"
    assert e.value.response.headers["retry-after"] == "1"


def test_retry_after_longer_than_accepted_fails_over_at_once(mock_upstream, gateway):
    limited = mock_upstream("--fail-status", "429", "--retry-after", "30")
    good = mock_upstream()
    gw = gateway(
        providers={"p": {"base_url": limited.url}, "g": {"base_url": good.url}},
        models={"m": {"provider": "p"}, "g": {"provider": "g"}},
        routes={"main": {"models": ["m", "g"], "retry": {"attempts_per_target": 3}}},
    )
    raw = ask(gw.client(), "main")
    assert raw.headers["x-switchyard-model"] == "g"
    assert limited.stats()["chat_requests"] == 1


def test_breaker_stops_traffic_to_a_dead_target(mock_upstream, gateway):
    dead, good = mock_upstream("--fail-status", "503"), mock_upstream()
    gw = gateway(
        providers={"dead": {"base_url": dead.url}, "good": {"base_url": good.url}},
        models={"m-dead": {"provider": "dead"}, "m-good": {"provider": "good"}},
        routes={"main": {"models": ["m-dead", "m-good"]}},
        breaker={"consecutive_failures": 3, "cooldown_ms": 60000},
    )
    c = gw.client()
    attempts = [int(ask(c, "main", f"q{i}").headers["x-switchyard-attempts"]) for i in range(12)]
    assert dead.stats()["chat_requests"] == 3, "the breaker opened after 3 failures"
    assert good.stats()["chat_requests"] == 12
    assert attempts[:3] == [2, 2, 2] and attempts[3:] == [1] * 9


def test_breaker_half_open_probe_recovers(mock_upstream, gateway):
    flaky = mock_upstream("--fail-status", "500", "--fail-rate", "1.0")
    good = mock_upstream()
    gw = gateway(
        providers={"f": {"base_url": flaky.url}, "g": {"base_url": good.url}},
        models={"m-f": {"provider": "f"}, "m-g": {"provider": "g"}},
        routes={"main": {"models": ["m-f", "m-g"]}},
        # Seconds of cool-down: the requests meant to meet an open breaker
        # come right after it opened, well inside it on a loaded machine too.
        breaker={"consecutive_failures": 2, "cooldown_ms": 3000},
    )
    c = gw.client()
    for i in range(4):
        ask(c, "main", f"q{i}")
    assert flaky.stats()["chat_requests"] == 2
    time.sleep(3.2)
    # After the cool-down one probe goes through (and fails again here).
    ask(c, "main", "probe")
    assert flaky.stats()["chat_requests"] == 3
    ask(c, "main", "after")
    assert flaky.stats()["chat_requests"] == 3, "a failed probe re-opens the breaker"


def test_all_breakers_open_is_503(mock_upstream, gateway):
    dead = mock_upstream("--fail-status", "500")
    gw = gateway(
        providers={"d": {"base_url": dead.url}},
        models={"m": {"provider": "d"}},
        routes={"main": {"models": ["m"]}},
        breaker={"consecutive_failures": 2, "cooldown_ms": 60000},
    )
    c = gw.client()
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(c, "main")
    with pytest.raises(openai.APIStatusError) as e:
        ask(c, "main")
    assert e.value.status_code == 503
    assert "circuit breaker is open" in str(e.value)
    assert dead.stats()["chat_requests"] == 2


def test_request_deadline(mock_upstream, gateway):
    hung = mock_upstream("--hang")
    gw = gateway(
        providers={"h": {"base_url": hung.url, "first_byte_timeout_ms": 30000}},
        models={"m": {"provider": "h"}},
        routes={"main": {"models": ["m"], "retry": {"deadline_ms": 400}}},
    )
    t = time.monotonic()
    with pytest.raises(openai.APIStatusError) as e:
        ask(gw.client(), "main")
    assert e.value.status_code == 504
    assert time.monotonic() - t < 10


@pytest.mark.parametrize("commit", ["content", "first_event"])
def test_stream_commit(mock_upstream, gateway, commit):
    """`retry.stream_commit`: by default a stream that breaks before its
    first content fails over; with `first_event` the client gets the
    upstream's opening event at once, and the same break ends the stream."""
    broken = mock_upstream("--break-after", 0, "--chunk-delay-ms", 20)
    slow = mock_upstream("--chunk-delay-ms", 5000, "--chunks", 1)
    gw = gateway(
        providers={"broken": {"base_url": broken.url}, "slow": {"base_url": slow.url}, "good": {"base_url": slow.url}},
        models={"m-broken": {"provider": "broken"}, "m-slow": {"provider": "slow"}, "m-good": {"provider": "good"}},
        routes={
            "breaks": {"models": ["m-broken", "m-good"], "retry": {"stream_commit": commit}},
            "slow": {"models": ["m-slow"], "retry": {"stream_commit": commit}},
        },
        breaker={"consecutive_failures": 100},
    )
    client = gw.client()
    stream = client.chat.completions.create(model="breaks", messages=[{"role": "user", "content": "hi"}], stream=True)
    if commit == "content":
        assert stream_text(stream) == "You said: hi"
    else:
        with pytest.raises(openai.APIError) as ei:
            stream_text(stream)
        assert ei.value.code == "stream_interrupted", ei.value.body
    # The first body byte: at once with `first_event` (the upstream opens its
    # stream at once and sends content 5 s later; 4 s is margin for a loaded
    # machine), never before the content otherwise.
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    started = time.monotonic()
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=30) as r:
        assert r.status_code == 200
        chunks = r.iter_raw()
        next(chunks)
        first = time.monotonic() - started
        rest = b"".join(chunks)
    assert b"[DONE]" in rest
    if commit == "content":
        assert first >= 5.0, first
    else:
        assert first < 4.0, first
