"""The exact response cache, end to end: real gateways in front of
mock-upstream (whose request counters say whether an upstream was asked),
driven with the official OpenAI and Anthropic SDKs and raw HTTP; two replicas
sharing a real redis-server.

A hit carries `x-switchyard-cache: hit` and `x-switchyard-cost-usd: 0`, costs
no upstream request, and is recorded in the request log with cost 0 and the
cost it saved. Only whole 2xx answers and streams that ended cleanly are
stored; a cached stream is replayed byte for byte."""

from __future__ import annotations

import hashlib
import json
import time

import openai
import pytest

from helpers import httpx, make_config, toml_table, wait_until

PRICE = 1000.0  # USD per million tokens, so every answer has a visible cost
ALPHA = "sk-alpha-0123456789abcdef0123"
BETA = "sk-beta-0123456789abcdef01234"
TEAM_A = "sk-team-a-0123456789abcdef012"
TEAM_B = "sk-team-b-0123456789abcdef012"


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def config(cache_dir, mock, *, cache=None, route=None, model=None, keys=None, log=None, providers=None, models=None):
    """Model `m` (priced) and route `r` = [m] on `mock`, both caching unless
    `model`/`route` say otherwise; `cache` is the [cache] table."""
    text = make_config(
        cache_dir=cache_dir,
        providers={"up": {"base_url": mock.url}, **(providers or {})},
        models={
            "m": {"provider": "up", "input_price": PRICE, "output_price": PRICE, "cache": True, **(model or {})},
            **(models or {}),
        },
        routes={"r": {"models": ["m"], "cache": True, **(route or {})}},
        keys=keys,
        log=log,
    )
    if cache:
        text += "\n" + toml_table("cache", cache)
    return text


def ask(client: openai.OpenAI, text: str, **kw):
    """A chat request to route `r` at temperature 0; the raw response (headers) and its parsed answer."""
    raw = client.chat.completions.with_raw_response.create(
        model=kw.pop("model", "r"),
        messages=[{"role": "user", "content": text}],
        temperature=kw.pop("temperature", 0),
        **kw,
    )
    return raw, raw.parse()


def records(gw, **params) -> list[dict]:
    r = httpx.get(f"{gw.url}/admin/requests", params={"limit": 100, **params}, timeout=10)
    r.raise_for_status()
    return r.json()["requests"]


def metric(gw, name: str) -> float:
    text = gw.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_repeated_request_is_served_from_the_cache_and_recorded(gateway, mock_upstream, cache_dir, tmp_path):
    mock = mock_upstream()
    gw = gateway(raw_config=config(cache_dir, mock, log={"path": str(tmp_path / "log.db")}))
    client = gw.client()

    first, a = ask(client, "what is the capital of France?")
    assert first.headers["x-switchyard-cache"] == "miss"
    cost = float(first.headers["x-switchyard-cost-usd"])
    assert cost > 0
    assert mock.stats()["chat_requests"] == 1

    second, b = ask(client, "what is the capital of France?")
    assert second.headers["x-switchyard-cache"] == "hit"
    assert second.headers["x-switchyard-cost-usd"] == "0"
    assert second.headers["x-switchyard-model"] == "m"
    assert second.headers["x-switchyard-attempts"] == "0"
    assert b.id == a.id and b.choices[0].message.content == a.choices[0].message.content
    assert b.usage.total_tokens == a.usage.total_tokens
    assert mock.stats()["chat_requests"] == 1, "a hit never reaches the upstream"

    # The Anthropic dialect asks the same canonical request: the same answer.
    msg = gw.anthropic_client().messages.with_raw_response.create(
        model="r",
        max_tokens=1024,
        extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "what is the capital of France?"}],
    )
    # max_tokens makes it a different request from the OpenAI one (which had none).
    assert msg.headers["x-switchyard-cache"] == "miss"
    again = gw.anthropic_client().messages.with_raw_response.create(
        model="r",
        max_tokens=1024,
        extra_body={"temperature": 0},
        messages=[{"role": "user", "content": "what is the capital of France?"}],
    )
    assert again.headers["x-switchyard-cache"] == "hit"
    assert again.parse().content[0].text == msg.parse().content[0].text
    assert mock.stats()["chat_requests"] == 2

    # Another prompt, the model instead of the route, sampling: not the same entry.
    assert ask(client, "and of Spain?")[0].headers["x-switchyard-cache"] == "miss"
    assert ask(client, "what is the capital of France?", model="m")[0].headers["x-switchyard-cache"] == "miss"
    sampled, _ = ask(client, "what is the capital of France?", temperature=0.7)
    assert "x-switchyard-cache" not in sampled.headers, "temperature > 0 does not take part"
    unset = client.chat.completions.with_raw_response.create(
        model="r", messages=[{"role": "user", "content": "what is the capital of France?"}]
    )
    assert "x-switchyard-cache" not in unset.headers, "no temperature: the provider samples"
    assert mock.stats()["chat_requests"] == 6

    # Cache-Control: no-cache asks the upstream (and refreshes the entry).
    fresh, _ = ask(client, "what is the capital of France?", extra_headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-switchyard-cache"] == "bypass"
    assert mock.stats()["chat_requests"] == 7

    # The ledger: a hit costs 0 and saves what the first answer cost.
    def logged():
        return [r for r in records(gw, route="r") if r.get("cache") == "hit"]

    wait_until(lambda: len(logged()) == 2, timeout=10, what="two hits in the request log")
    hit = next(r for r in logged() if r["dialect"] == "openai")
    assert hit["cost_usd"] == 0
    assert hit["cost_saved_usd"] == pytest.approx(cost, rel=1e-6)
    assert hit["prompt_tokens"] == 0 and hit["completion_tokens"] == 0
    assert hit["attempts"] == []
    misses = [r for r in records(gw, route="r") if r.get("cache") == "miss"]
    assert misses and all(r["cost_usd"] > 0 and r["cost_saved_usd"] == 0 for r in misses)
    assert metric(gw, 'switchyard_cache_lookups_total{result="hit"}') == 2
    assert metric(gw, "switchyard_cache_stores_total") >= 4


def test_entries_expire_after_ttl(gateway, mock_upstream, cache_dir):
    mock = mock_upstream()
    gw = gateway(raw_config=config(cache_dir, mock, cache={"ttl_s": 3}))
    client = gw.client()
    assert ask(client, "hello")[0].headers["x-switchyard-cache"] == "miss"
    assert ask(client, "hello")[0].headers["x-switchyard-cache"] == "hit"
    time.sleep(3.5)
    assert ask(client, "hello")[0].headers["x-switchyard-cache"] == "miss"
    assert mock.stats()["chat_requests"] == 2


def test_a_route_may_cache_sampled_requests(gateway, mock_upstream, cache_dir):
    mock = mock_upstream()
    gw = gateway(raw_config=config(cache_dir, mock, route={"cache_nondeterministic": True}))
    client = gw.client()
    assert ask(client, "a poem", temperature=0.9)[0].headers["x-switchyard-cache"] == "miss"
    assert ask(client, "a poem", temperature=0.9)[0].headers["x-switchyard-cache"] == "hit"
    raw = client.chat.completions.with_raw_response.create(model="r", messages=[{"role": "user", "content": "a poem"}])
    assert raw.headers["x-switchyard-cache"] == "miss"
    assert mock.stats()["chat_requests"] == 2


def raw_stream(gw, text: str, **headers) -> httpx.Response:
    body = {
        "model": "r",
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }
    return gw.post(body, headers=headers)


def sse_text(raw: str) -> str:
    """The content of an OpenAI SSE stream's deltas."""
    out = []
    for line in raw.splitlines():
        if line.startswith("data: {"):
            for c in json.loads(line[6:]).get("choices", []):
                out.append(c.get("delta", {}).get("content") or "")
    return "".join(out)


def test_a_cached_stream_replays_identically(gateway, mock_upstream, cache_dir):
    mock = mock_upstream("--chunks", 6, "--chunk-delay-ms", 5)
    gw = gateway(raw_config=config(cache_dir, mock))
    first = raw_stream(gw, "stream me a sentence of several words")
    assert first.status_code == 200 and first.headers["x-switchyard-cache"] == "miss"
    assert first.text.rstrip().endswith("data: [DONE]")
    assert first.text.count("data: ") >= 8  # six chunks, the finish, usage, [DONE]
    second = raw_stream(gw, "stream me a sentence of several words")
    assert second.headers["x-switchyard-cache"] == "hit"
    assert second.headers["content-type"] == "text/event-stream"
    assert second.text == first.text, "the same event sequence, byte for byte"
    assert mock.stats()["chat_requests"] == 1

    # Through the SDK: the same text, and the stream shares nothing with
    # the non-streaming request of the same messages.
    chunks = gw.client().chat.completions.create(
        model="r",
        temperature=0,
        stream=True,
        messages=[{"role": "user", "content": "stream me a sentence of several words"}],
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and text == sse_text(first.text)
    assert mock.stats()["chat_requests"] == 1
    raw, _ = ask(gw.client(), "stream me a sentence of several words")
    assert raw.headers["x-switchyard-cache"] == "miss"
    assert mock.stats()["chat_requests"] == 2


def test_errors_and_broken_streams_are_never_cached(gateway, mock_upstream, cache_dir):
    good = mock_upstream()
    failing = mock_upstream("--fail-status", 500)
    breaking = mock_upstream("--chunks", 5, "--break-after", 2)
    gw = gateway(
        raw_config=config(
            cache_dir,
            good,
            providers={"bad": {"base_url": failing.url}, "cut": {"base_url": breaking.url}},
            models={
                "failing": {"provider": "bad", "cache": True},
                "breaking": {"provider": "cut", "cache": True},
            },
        )
    )
    client = gw.client()
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as e:
            ask(client, "hello", model="failing")
        assert e.value.status_code == 502
    assert failing.stats()["chat_requests"] >= 2
    before = failing.stats()["chat_requests"]
    with pytest.raises(openai.APIStatusError):
        ask(client, "hello", model="failing")
    assert failing.stats()["chat_requests"] > before, "a failure is never served from the cache"

    for _ in range(2):
        body = {
            "model": "breaking",
            "temperature": 0,
            "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six"}],
        }
        r = gw.post(body)
        assert r.headers["x-switchyard-cache"] == "miss"
        assert "stream_interrupted" in r.text and "[DONE]" not in r.text
    assert breaking.stats()["chat_requests"] == 2
    assert metric(gw, "switchyard_cache_skipped_total") >= 2


def test_keys_see_only_their_scope(gateway, mock_upstream, cache_dir):
    mock = mock_upstream()
    keys = {
        "alpha": {"key_sha256": sha(ALPHA)},
        "beta": {"key_sha256": sha(BETA)},
        "team-a": {"key_sha256": sha(TEAM_A), "cache_scope": "team"},
        "team-b": {"key_sha256": sha(TEAM_B), "cache_scope": "team"},
    }
    gw = gateway(raw_config=config(cache_dir, mock, keys=keys))
    assert ask(gw.client(ALPHA), "secret plans")[0].headers["x-switchyard-cache"] == "miss"
    assert ask(gw.client(ALPHA), "secret plans")[0].headers["x-switchyard-cache"] == "hit"
    assert ask(gw.client(BETA), "secret plans")[0].headers["x-switchyard-cache"] == "miss", "another key's answers"
    assert ask(gw.client(TEAM_A), "secret plans")[0].headers["x-switchyard-cache"] == "miss"
    assert ask(gw.client(TEAM_B), "secret plans")[0].headers["x-switchyard-cache"] == "hit", "a shared scope"
    assert mock.stats()["chat_requests"] == 3


def test_two_replicas_share_answers_through_redis(gateway, mock_upstream, redis_server, cache_dir):
    redis = redis_server()
    mock = mock_upstream("--chunks", 4)
    text = config(cache_dir, mock, cache={"backend": "redis", "url": redis.url})
    one = gateway(raw_config=text)
    two = gateway(raw_config=text)
    assert ask(one.client(), "shared question")[0].headers["x-switchyard-cache"] == "miss"
    # The store runs off the request path: wait for it to land.
    wait_until(
        lambda: ask(two.client(), "shared question")[0].headers["x-switchyard-cache"] == "hit",
        timeout=5,
        what="the second replica's hit",
    )
    assert mock.stats()["chat_requests"] <= 2
    first = raw_stream(one, "a shared stream of words")
    assert first.headers["x-switchyard-cache"] == "miss"
    wait_until(
        lambda: raw_stream(two, "a shared stream of words").headers["x-switchyard-cache"] == "hit",
        timeout=5,
        what="the shared stream",
    )
    assert raw_stream(two, "a shared stream of words").text == first.text
    # Redis down: every request is served upstream, none fails.
    redis.kill()
    before = mock.stats()["chat_requests"]
    raw, answer = ask(two.client(), "shared question")
    assert answer.choices[0].message.content
    assert raw.headers["x-switchyard-cache"] == "miss"
    assert mock.stats()["chat_requests"] == before + 1


def test_check_names_bad_cache_keys(run_check, cache_dir, mock_upstream):
    mock = mock_upstream()
    bad = config(cache_dir, mock, route={"cache": False, "cache_nondeterministic": True})
    r = run_check(bad)
    assert r.returncode == 1 and "routes.r.cache_nondeterministic" in r.stderr
    r = run_check(config(cache_dir, mock, cache={"backend": "redis"}))
    assert r.returncode == 1 and "cache.url" in r.stderr
    r = run_check(config(cache_dir, mock, cache={"ttl_s": 0}))
    assert r.returncode == 1 and "cache.ttl_s" in r.stderr
