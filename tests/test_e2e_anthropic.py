"""The Anthropic dialect both ways, with the official SDKs as clients:
the `anthropic` SDK on /v1/messages served by an OpenAI-dialect upstream, and
the `openai` SDK on /v1/chat/completions served by an Anthropic-dialect
upstream (mock-upstream speaks both)."""

import json

import anthropic
import openai
import pytest

from helpers import httpx, stream_text

TOOLS_ANTHROPIC = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
TOOLS_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def to_openai(mock_upstream, gateway):
    """A gateway whose models are served by an OpenAI-dialect upstream."""
    up = mock_upstream("--api-key", "up-key")
    gw = gateway(
        providers={"oa": {"adapter": "openai", "base_url": up.url, "api_key_env": "OA_KEY"}},
        models={"gpt-x": {"provider": "oa"}},
        routes={"main": {"models": ["gpt-x"]}},
        env={"OA_KEY": "up-key"},
    )
    return gw, up


@pytest.fixture
def to_anthropic(mock_upstream, gateway):
    """A gateway whose `claude` is served by an Anthropic-dialect upstream,
    with an OpenAI-dialect backup for failover tests."""

    def start(*flags):
        up = mock_upstream("--api-key", "ant-key", *flags)
        backup = mock_upstream("--label", "backup")
        gw = gateway(
            providers={
                "ant": {"adapter": "anthropic", "base_url": up.url, "api_key_env": "ANT_KEY"},
                "oa": {"adapter": "openai", "base_url": backup.url},
            },
            models={"claude": {"provider": "ant", "upstream": "claude-sonnet-4-5"}, "backup": {"provider": "oa"}},
            routes={"with-backup": {"models": ["claude", "backup"]}},
            env={"ANT_KEY": "ant-key"},
        )
        return gw, up, backup

    return start


def test_anthropic_sdk_non_streaming(to_openai):
    gw, up = to_openai
    c = gw.anthropic_client()
    msg = c.messages.create(
        model="main", max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "hello claude"}]
    )
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "You said: hello claude"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens == 4
    assert msg.id.startswith("msg_")
    assert up.stats()["chat_requests"] == 1


def test_anthropic_sdk_streaming(to_openai):
    gw, _ = to_openai
    c = gw.anthropic_client()
    with c.messages.stream(
        model="main", max_tokens=64, messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "You said: stream me please"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5
    assert final.usage.input_tokens > 0


def test_anthropic_sdk_raw_event_sequence(to_openai):
    gw, _ = to_openai
    c = gw.anthropic_client()
    events = [
        e.type
        for e in c.messages.create(
            model="main", max_tokens=64, stream=True, messages=[{"role": "user", "content": "a b"}]
        )
    ]
    assert events[0] == "message_start"
    assert events[1] == "content_block_start"
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[2:-3]) == {"content_block_delta"}


def test_anthropic_stream_reports_input_tokens_in_message_start(to_openai):
    """Anthropic's API fills usage.input_tokens in message_start, and clients
    read it there: an OpenAI-dialect upstream reports usage only at the end,
    so the gateway sends its count of the prompt first."""
    gw, _ = to_openai
    c = gw.anthropic_client()
    prompt = "count these words please " * 20
    events = list(
        c.messages.create(model="main", max_tokens=64, stream=True, messages=[{"role": "user", "content": prompt}])
    )
    start = events[0]
    assert start.type == "message_start"
    estimate = start.message.usage.input_tokens
    # ~4 bytes a token, plus framing: the right magnitude, never 0.
    assert len(prompt) // 8 <= estimate <= len(prompt), estimate
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.usage.output_tokens > 0


def test_anthropic_sdk_tools_round_trip(to_openai):
    gw, _ = to_openai
    c = gw.anthropic_client()
    first = c.messages.create(
        model="main", max_tokens=64, tools=TOOLS_ANTHROPIC, messages=[{"role": "user", "content": "weather in Paris"}]
    )
    assert first.stop_reason == "tool_use"
    tool = next(b for b in first.content if b.type == "tool_use")
    assert tool.name == "get_weather"
    assert tool.input == {"input": "weather in Paris"}
    second = c.messages.create(
        model="main",
        max_tokens=64,
        tools=TOOLS_ANTHROPIC,
        messages=[
            {"role": "user", "content": "weather in Paris"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "15 degrees"}]},
        ],
    )
    assert second.content[0].text == "The tool said: 15 degrees"

    # Streamed tool use reassembles into the same input.
    with c.messages.stream(
        model="main", max_tokens=64, tools=TOOLS_ANTHROPIC, messages=[{"role": "user", "content": "weather in Rome"}]
    ) as stream:
        final = stream.get_final_message()
    tool = next(b for b in final.content if b.type == "tool_use")
    assert tool.input == {"input": "weather in Rome"} and final.stop_reason == "tool_use"


def test_anthropic_sdk_errors_are_in_anthropic_shape(to_openai):
    gw, up = to_openai
    c = gw.anthropic_client()
    with pytest.raises(anthropic.NotFoundError) as e:
        c.messages.create(model="nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="main", max_tokens="lots", messages=[{"role": "user", "content": "x"}])
    assert "max_tokens" in e.value.body["error"]["message"]
    r = gw.get("/healthz")
    assert r.status_code == 200
    raw = httpx.post(f"{gw.url}/v1/messages", content=b"{not json", headers={"content-type": "application/json"})
    assert raw.status_code == 400
    assert raw.json()["error"]["type"] == "invalid_request_error"
    assert up.stats()["chat_requests"] == 0


def test_openai_sdk_served_by_anthropic_upstream(to_anthropic):
    gw, up, _ = to_anthropic()
    c = gw.client()
    r = c.chat.completions.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi there"}],
    )
    assert r.choices[0].message.content == "You said: hi there"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 4 and r.usage.total_tokens == r.usage.prompt_tokens + 4
    assert r.model == "claude-sonnet-4-5"

    chunks = list(
        c.chat.completions.create(
            model="claude",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "stream it now"}],
        )
    )
    text = stream_text(chunks)
    assert text == "You said: stream it now"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert up.stats()["chat_requests"] == 2


def test_openai_sdk_tools_via_anthropic_upstream(to_anthropic):
    gw, _, _ = to_anthropic()
    c = gw.client()
    r = c.chat.completions.create(
        model="claude", tools=TOOLS_OPENAI, messages=[{"role": "user", "content": "weather in Oslo"}]
    )
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"input": "weather in Oslo"}

    stream = c.chat.completions.create(
        model="claude", tools=TOOLS_OPENAI, stream=True, messages=[{"role": "user", "content": "weather in Oslo"}]
    )
    name, args, finish = None, "", None
    for ch in stream:
        for tc in ch.choices[0].delta.tool_calls or []:
            name = tc.function.name or name
            args += tc.function.arguments or ""
        finish = ch.choices[0].finish_reason or finish
    assert name == "get_weather" and json.loads(args) == {"input": "weather in Oslo"} and finish == "tool_calls"

    follow = c.chat.completions.create(
        model="claude",
        tools=TOOLS_OPENAI,
        messages=[
            {"role": "user", "content": "weather in Oslo"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "-3 degrees"},
        ],
    )
    assert follow.choices[0].message.content == "The tool said: -3 degrees"


def test_anthropic_overloaded_fails_over(to_anthropic):
    gw, up, backup = to_anthropic("--fail-status", "529")
    c = gw.client()
    raw = c.chat.completions.with_raw_response.create(
        model="with-backup", messages=[{"role": "user", "content": "anyone?"}]
    )
    assert raw.parse().choices[0].message.content == "[backup] You said: anyone?"
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert up.stats()["failures"] == 1 and backup.stats()["chat_requests"] == 1


def test_anthropic_only_model_overloaded_is_503(to_anthropic):
    gw, _, _ = to_anthropic("--fail-status", "529", "--retry-after", "4")
    with pytest.raises(openai.APIStatusError) as e:
        gw.client().chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 503
    assert e.value.response.headers["retry-after"] == "4"
    assert "overloaded" in str(e.value)


def test_anthropic_mid_stream_break(to_anthropic):
    gw, _, _ = to_anthropic("--break-after", "2", "--chunk-delay-ms", "20")
    stream = gw.client().chat.completions.create(
        model="claude", stream=True, messages=[{"role": "user", "content": "one two three four five"}]
    )
    got: list[str] = []
    with pytest.raises(openai.APIError) as e:
        stream_text(stream, got)
    assert "".join(got) == "You said:"
    assert not isinstance(e.value, openai.APIConnectionError)


def test_anthropic_sdk_end_to_end_through_anthropic_adapter(to_anthropic):
    gw, up, _ = to_anthropic()
    c = gw.anthropic_client()
    msg = c.messages.create(model="claude", max_tokens=32, messages=[{"role": "user", "content": "same dialect"}])
    assert msg.content[0].text == "You said: same dialect"
    with c.messages.stream(model="claude", max_tokens=32, messages=[{"role": "user", "content": "a b c"}]) as s:
        assert "".join(s.text_stream) == "You said: a b c"
    assert up.stats()["chat_requests"] == 2
