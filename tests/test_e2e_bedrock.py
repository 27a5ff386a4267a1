"""Amazon Bedrock end to end: the `openai` SDK on /v1/chat/completions served
through the `bedrock` adapter by mock-upstream's Bedrock dialect (Converse,
ConverseStream in AWS event-stream framing). The gateway signs every request
with SigV4 from AWS credentials in its environment; the mock checks the
signature's form and its access key id (`--api-key`)."""

import json

import openai
import pytest

from helpers import stream_text

AKID = "AKIDEXAMPLE"
AWS_ENV = {
    "SY_TEST_AWS_AKID": AKID,
    "SY_TEST_AWS_SECRET": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "SY_TEST_AWS_TOKEN": "session-token-example",
}
MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "top_song",
            "description": "The most popular song on a radio station",
            "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}, "required": ["sign"]},
        },
    }
]


def config(bedrock_url: str, backup_url: str, auth: str = "sigv4") -> dict:
    """The `gateway` arguments of a gateway with a Bedrock provider and an
    OpenAI-dialect backup (route `with-backup` = [claude, backup])."""
    if auth == "sigv4":
        creds = {
            "aws_credentials": {
                "access_key_id_env": "SY_TEST_AWS_AKID",
                "secret_access_key_env": "SY_TEST_AWS_SECRET",
                "session_token_env": "SY_TEST_AWS_TOKEN",
            }
        }
    else:
        creds = {"api_key_env": "SY_TEST_BEDROCK_KEY"}
    return {
        "providers": {
            "aws": {"adapter": "bedrock", "base_url": bedrock_url, "options": {"region": "us-east-1"}, **creds},
            "oa": {"base_url": backup_url},
        },
        "models": {
            "claude": {"provider": "aws", "upstream": MODEL_ID, "capabilities": ["tools"]},
            "backup": {"provider": "oa"},
        },
        "routes": {"with-backup": {"models": ["claude", "backup"]}},
    }


@pytest.fixture
def to_bedrock(mock_upstream, gateway):
    """A gateway whose `claude` is served by a Bedrock-dialect upstream, with
    an OpenAI-dialect backup for failover tests."""

    def start(*flags, auth="sigv4"):
        key = AKID if auth == "sigv4" else "bedrock-api-key"
        up = mock_upstream("--api-key", key, *flags)
        backup = mock_upstream("--label", "backup")
        gw = gateway(
            **config(f"http://{up.addr}", backup.url, auth=auth),
            env={**AWS_ENV, "SY_TEST_BEDROCK_KEY": "bedrock-api-key"},
        )
        return gw, up, backup

    return start


def test_non_streaming_text_with_usage(to_bedrock):
    gw, up, _ = to_bedrock()
    raw = gw.client().chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello bedrock"}],
        max_tokens=64,
        temperature=0.3,
    )
    r = raw.parse()
    assert r.choices[0].message.content == "You said: hello bedrock"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == MODEL_ID
    assert r.id.startswith("chatcmpl-")
    assert r.usage.completion_tokens == 4
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + 4
    assert raw.headers["x-switchyard-provider"] == "aws"
    stats = up.stats()
    assert stats["chat_requests"] == 1 and stats["failures"] == 0


def test_streaming_text_with_usage(to_bedrock):
    gw, up, _ = to_bedrock()
    chunks = list(
        gw.client().chat.completions.create(
            model="claude",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "stream it over event stream framing"}],
        )
    )
    text = stream_text(chunks)
    assert text == "You said: stream it over event stream framing"
    pieces = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(pieces) == 8, pieces  # one per word: the frames were decoded one by one
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + 8
    assert up.stats()["chat_requests"] == 1


def test_tools_non_stream_stream_and_follow_up(to_bedrock):
    gw, up, _ = to_bedrock()
    c = gw.client()
    r = c.chat.completions.create(
        model="claude", tools=TOOLS, messages=[{"role": "user", "content": "top song on WZPZ"}]
    )
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "top_song" and call.id.startswith("tooluse_")
    assert json.loads(call.function.arguments) == {"input": "top song on WZPZ"}

    stream = c.chat.completions.create(
        model="claude",
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "top_song"}},
        stream=True,
        messages=[{"role": "user", "content": "top song on WKRP"}],
    )
    name, ids, args, finish = None, set(), "", None
    for ch in stream:
        for tc in ch.choices[0].delta.tool_calls or []:
            assert tc.index == 0
            name = tc.function.name or name
            if tc.id:
                ids.add(tc.id)
            args += tc.function.arguments or ""
        finish = ch.choices[0].finish_reason or finish
    assert name == "top_song" and len(ids) == 1 and finish == "tool_calls"
    assert json.loads(args) == {"input": "top song on WKRP"}

    # The follow-up: the tool result goes back as a toolResult block (the
    # mock refuses non-alternating turns and tool blocks without toolConfig).
    follow = c.chat.completions.create(
        model="claude",
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "top song on WZPZ"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "Elemental Hotel"},
        ],
    )
    assert follow.choices[0].message.content == "The tool said: Elemental Hotel"
    assert follow.choices[0].finish_reason == "stop"

    # Streamed follow-up that no longer offers the tools: the adapter still
    # sends the toolConfig Converse requires.
    chunks = list(
        c.chat.completions.create(
            model="claude",
            stream=True,
            messages=[
                {"role": "user", "content": "top song on WZPZ"},
                {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                {"role": "tool", "tool_call_id": call.id, "content": '{"song": "Elemental Hotel"}'},
            ],
        )
    )
    text = stream_text(chunks)
    assert text == 'The tool said: {"song":"Elemental Hotel"}'
    assert up.stats()["failures"] == 0


def test_throttling_fails_over_to_openai_backup(to_bedrock):
    gw, up, backup = to_bedrock("--fail-status", "429")
    c = gw.client()
    raw = c.chat.completions.with_raw_response.create(
        model="with-backup", messages=[{"role": "user", "content": "anyone?"}]
    )
    assert raw.parse().choices[0].message.content == "[backup] You said: anyone?"
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert raw.headers["x-switchyard-provider"] == "oa"
    assert up.stats()["failures"] >= 1 and backup.stats()["chat_requests"] == 1

    # Bedrock alone: every attempt rate limited → 429 in OpenAI's shape.
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 429
    assert "Throttling" in str(e.value) or "rate" in str(e.value).lower()


def test_wrong_access_key_is_refused_and_fails_over(mock_upstream, gateway):
    up = mock_upstream("--api-key", "AKIDOTHER")
    backup = mock_upstream("--label", "backup")
    gw = gateway(**config(f"http://{up.addr}", backup.url), env=AWS_ENV)
    r = gw.client().chat.completions.create(model="with-backup", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "[backup] You said: hi"
    assert up.stats()["failures"] == 1


def test_bedrock_api_key_is_a_bearer_token(to_bedrock):
    gw, up, _ = to_bedrock(auth="bearer")
    r = gw.client().chat.completions.create(model="claude", messages=[{"role": "user", "content": "keyed"}])
    assert r.choices[0].message.content == "You said: keyed"
    assert up.stats()["failures"] == 0


def test_mid_stream_break_is_an_api_error(to_bedrock):
    gw, _, _ = to_bedrock("--break-after", "2", "--chunk-delay-ms", "20")
    stream = gw.client().chat.completions.create(
        model="claude", stream=True, messages=[{"role": "user", "content": "one two three four five"}]
    )
    got: list[str] = []
    with pytest.raises(openai.APIError) as e:
        stream_text(stream, got)
    assert "".join(got) == "You said:"
    assert not isinstance(e.value, openai.APIConnectionError)
