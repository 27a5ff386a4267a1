"""The `gemini` and `azure-openai` adapters end to end: the official `openai`
SDK against the gateway, served by mock-upstream's Gemini dialect
(`/v1beta/models/{model}:generateContent`, key in `x-goog-api-key`) and by its
OpenAI dialect under Azure's deployment paths (key in `api-key`)."""

from __future__ import annotations

import json

import openai
import pytest

from helpers import httpx, stream_text

PROMPT = "hello gemini"
EXPECTED = f"You said: {PROMPT}"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]


def user(text: str = PROMPT) -> list[dict]:
    return [{"role": "user", "content": text}]


def gemini_url(mock) -> str:
    return f"http://{mock.addr}/v1beta"


@pytest.fixture
def to_gemini(mock_upstream, gateway):
    """A gateway whose `gem` is served by a Gemini-dialect mock that demands
    its key; route `with-backup` = [gem, backup] where `backup` is an
    OpenAI-dialect mock."""

    def start(*flags, key: str = "gem-key"):
        up = mock_upstream("--api-key", "gem-key", *flags)
        backup = mock_upstream("--label", "backup")
        gw = gateway(
            providers={
                "google": {"adapter": "gemini", "base_url": gemini_url(up), "api_key_env": "GEM_KEY"},
                "oa": {"adapter": "openai", "base_url": backup.url},
            },
            models={
                "gem": {"provider": "google", "upstream": "gemini-2.5-flash", "capabilities": ["tools"]},
                "backup": {"provider": "oa"},
            },
            routes={"with-backup": {"models": ["gem", "backup"]}, "only-gem": {"models": ["gem"]}},
            env={"GEM_KEY": key},
        )
        return gw, up, backup

    return start


def test_non_streaming_text(to_gemini):
    gw, up, backup = to_gemini()
    raw = gw.client().chat.completions.with_raw_response.create(
        model="gem",
        messages=[{"role": "system", "content": "Be brief."}, *user()],
        temperature=0.2,
        max_tokens=64,
    )
    assert raw.headers["x-switchyard-provider"] == "google"
    r = raw.parse()
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == EXPECTED
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gemini-2.5-flash"
    assert r.id.startswith("mock-")
    assert r.usage.completion_tokens == len(EXPECTED.split())
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert up.stats()["chat_requests"] == 1 and up.stats()["failures"] == 0
    assert backup.stats()["chat_requests"] == 0


def test_the_key_travels_as_x_goog_api_key(to_gemini):
    gw, up, _ = to_gemini(key="wrong-key")
    raw = gw.client().chat.completions.with_raw_response.create(model="with-backup", messages=user())
    # Refused (401 UNAUTHENTICATED, an auth error): the route moves on.
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert raw.parse().choices[0].message.content == f"[backup] {EXPECTED}"
    assert up.stats()["failures"] == 1


def test_streaming_text_with_usage(to_gemini):
    gw, up, _ = to_gemini()
    stream = gw.client().chat.completions.create(
        model="gem", messages=user(), stream=True, stream_options={"include_usage": True}
    )
    text, finishes, usages, roles = [], [], [], 0
    for chunk in stream:
        if chunk.usage is not None:
            usages.append(chunk.usage)
        for c in chunk.choices:
            roles += c.delta.role == "assistant"
            text.append(c.delta.content or "")
            if c.finish_reason:
                finishes.append(c.finish_reason)
        assert chunk.model == "gemini-2.5-flash"
    assert "".join(text) == EXPECTED
    assert len([t for t in text if t]) == len(EXPECTED.split()), "one chunk per word"
    assert roles == 1
    assert finishes == ["stop"]
    assert len(usages) == 1
    assert usages[0].completion_tokens == len(EXPECTED.split()) and usages[0].prompt_tokens > 0
    assert up.stats()["chat_requests"] == 1


def test_tools_call_and_follow_up(to_gemini):
    gw, up, _ = to_gemini()
    c = gw.client()
    asked = user("weather in Oslo")
    r = c.chat.completions.create(model="gem", messages=asked, tools=TOOLS)
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.id == "call_0_0" and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"input": "weather in Oslo"}

    # Streamed: the call arrives whole, with its id and name.
    stream = c.chat.completions.create(model="gem", messages=asked, tools=TOOLS, stream=True)
    calls, finish = {}, None
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            entry = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = tc.id or entry["id"]
            entry["name"] = tc.function.name or entry["name"]
            entry["arguments"] += tc.function.arguments or ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["id"] == "call_0_0" and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"input": "weather in Oslo"}

    # The tool result goes back as a functionResponse named after the call.
    follow = c.chat.completions.create(
        model="gem",
        tools=TOOLS,
        messages=[
            *asked,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "-3 degrees"},
        ],
    )
    assert follow.choices[0].message.content == "The tool said: -3 degrees"
    assert follow.choices[0].finish_reason == "stop"

    # Forcing a function names it; `none` turns tools off.
    forced = c.chat.completions.create(
        model="gem", messages=asked, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_time"}}
    )
    assert forced.choices[0].message.tool_calls[0].function.name == "get_time"
    off = c.chat.completions.create(model="gem", messages=asked, tools=TOOLS, tool_choice="none")
    assert off.choices[0].message.content == "You said: weather in Oslo"
    assert up.stats()["failures"] == 0


def test_429_fails_over_to_openai_dialect(to_gemini):
    gw, up, backup = to_gemini("--fail-status", "429", "--retry-after", "5")
    raw = gw.client().chat.completions.with_raw_response.create(model="with-backup", messages=user())
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert raw.headers["x-switchyard-model"] == "backup"
    assert raw.parse().choices[0].message.content == f"[backup] {EXPECTED}"
    assert up.stats()["failures"] == 1 and backup.stats()["chat_requests"] == 1

    # Alone, the rate limit comes back with the upstream's hint.
    with pytest.raises(openai.RateLimitError) as e:
        gw.client().chat.completions.create(model="only-gem", messages=user())
    assert e.value.status_code == 429
    assert e.value.response.headers["retry-after"] == "5"
    assert "gem" in e.value.body["message"]


def test_mid_stream_break_is_an_api_error(to_gemini):
    gw, _, backup = to_gemini("--break-after", "2", "--chunk-delay-ms", "20")
    stream = gw.client().chat.completions.create(
        model="with-backup", stream=True, messages=user("one two three four five")
    )
    got: list[str] = []
    with pytest.raises(openai.APIError) as e:
        stream_text(stream, got)
    assert not isinstance(e.value, openai.APIConnectionError), repr(e.value)
    assert e.value.code == "stream_interrupted", e.value.body
    assert "".join(got) == "You said:"
    assert backup.stats()["chat_requests"] == 0, "no failover once content was sent"


def test_azure_openai_deployment_and_api_key(mock_upstream, gateway):
    up = mock_upstream("--api-key", "az-key")
    gw = gateway(
        providers={"azure": {"adapter": "azure-openai", "base_url": f"http://{up.addr}", "api_key_env": "AZ_KEY"}},
        models={"gpt-4o": {"provider": "azure", "upstream": "gpt-4o-prod"}},
        env={"AZ_KEY": "az-key"},
    )
    c = gw.client()
    r = c.chat.completions.create(model="gpt-4o", messages=user("hello azure"))
    assert r.choices[0].message.content == "You said: hello azure"
    assert r.usage.completion_tokens == 4

    text, usage = "", None
    for chunk in c.chat.completions.create(
        model="gpt-4o", messages=user("stream azure"), stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
        text += "".join(ch.delta.content or "" for ch in chunk.choices)
    assert text == "You said: stream azure"
    assert usage is not None and usage.completion_tokens == 4

    # The same mock refuses the request without the key.
    direct = httpx.post(
        f"http://{up.addr}/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21",
        json={"messages": user()},
        timeout=10,
    )
    assert direct.status_code == 401
    assert up.stats()["chat_requests"] == 3 and up.stats()["failures"] == 1
