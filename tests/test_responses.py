"""The Responses API (`POST /v1/responses`) end to end, with the official
`openai` SDK (`client.responses.create`, with and without `stream=True`, and
`client.responses.stream`) through the gateway to mock-upstream's OpenAI,
Anthropic, Gemini and Bedrock dialects: text, a function-tool round trip, bad
input, a stream that breaks after content, and `previous_response_id`
continued from a request log that keeps bodies."""

from __future__ import annotations

import json

import openai
import pytest

from helpers import httpx, wait_until

PROMPT = "hello responses"
EXPECTED = f"You said: {PROMPT}"
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
AWS_ENV = {
    "SY_TEST_AWS_AKID": "AKIDEXAMPLE",
    "SY_TEST_AWS_SECRET": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}
DIALECTS = ["openai", "anthropic", "gemini", "bedrock"]


def provider(dialect: str, mock) -> dict:
    """A provider of `dialect` served by `mock`, as the e2e tests of each
    adapter configure it."""
    return {
        "openai": {"adapter": "openai", "base_url": mock.url},
        "anthropic": {"adapter": "anthropic", "base_url": mock.url, "api_key_env": "SY_TEST_KEY"},
        "gemini": {"adapter": "gemini", "base_url": f"http://{mock.addr}/v1beta", "api_key_env": "SY_TEST_KEY"},
        "bedrock": {
            "adapter": "bedrock",
            "base_url": f"http://{mock.addr}",
            "options": {"region": "us-east-1"},
            "aws_credentials": {
                "access_key_id_env": "SY_TEST_AWS_AKID",
                "secret_access_key_env": "SY_TEST_AWS_SECRET",
            },
        },
    }[dialect]


@pytest.fixture
def served_by(mock_upstream, gateway):
    """`served_by(dialect, *mock_flags, **gateway_config)`: a gateway whose
    model `m` is served by a mock of that dialect; the gateway and the mock."""

    def start(dialect: str, *flags, env: dict | None = None, **config):
        up = mock_upstream(*flags)
        gw = gateway(
            providers={"up": provider(dialect, up)},
            models={"m": {"provider": "up"}},
            env={"SY_TEST_KEY": "k", **AWS_ENV, **(env or {})},
            **config,
        )
        return gw, up

    return start


def events_of(stream) -> list:
    """The events of an SDK stream, checking their numbering."""
    events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    return events


def post(gw, body, **kw):
    """A raw POST /v1/responses (bytes and str are sent as they are)."""
    content = json.dumps(body) if isinstance(body, dict) else body
    return httpx.post(
        f"{gw.url}/v1/responses", content=content, headers={"content-type": "application/json"}, timeout=20, **kw
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_with_and_without_stream(served_by, dialect):
    gw, up = served_by(dialect)
    client = gw.client()
    raw = client.responses.with_raw_response.create(
        model="m", input=PROMPT, instructions="Be brief.", max_output_tokens=64, metadata={"team": "a"}
    )
    r = raw.parse()
    assert r.object == "response" and r.status == "completed"
    # The response's id is the request's: `resp_` + x-switchyard-request-id.
    assert r.id == "resp_" + raw.headers["x-switchyard-request-id"]
    assert r.output_text == EXPECTED
    (item,) = r.output
    assert item.type == "message" and item.role == "assistant" and item.status == "completed"
    assert item.id.startswith("msg_")
    assert item.content[0].type == "output_text"
    assert r.incomplete_details is None and r.error is None
    assert r.instructions == "Be brief." and r.max_output_tokens == 64 and r.metadata == {"team": "a"}
    assert r.usage.input_tokens > 0 and r.usage.output_tokens == len(EXPECTED.split())
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.usage.input_tokens_details.cached_tokens == 0
    assert r.usage.output_tokens_details.reasoning_tokens == 0

    events = events_of(client.responses.create(model="m", input=PROMPT, stream=True))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == len(EXPECTED.split()), "one delta per word"
    assert "".join(deltas) == EXPECTED
    created, done = events[0].response, events[-1].response
    assert created.status == "in_progress" and created.output == [] and created.usage is None
    assert done.id == created.id and done.status == "completed"
    assert done.output_text == EXPECTED
    assert done.usage.output_tokens == len(EXPECTED.split()) and done.usage.input_tokens > 0
    assert up.stats()["chat_requests"] == 2


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_function_tool_round_trip(served_by, dialect):
    gw, up = served_by(dialect)
    client = gw.client()
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.responses.create(model="m", input=question, tools=TOOLS)
    (call,) = r.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert call.call_id and call.id.startswith("fc_")
    assert json.loads(call.arguments) == {"input": "What is the weather in Paris?"}
    assert r.tools[0].name == "get_weather" and r.tool_choice == "auto"

    # The client runs the function and sends its output with the turn so far.
    follow = client.responses.create(
        model="m",
        tools=TOOLS,
        input=[
            *question,
            *[o.model_dump(exclude_none=True) for o in r.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert follow.output_text == "The tool said: sunny"

    # The call streamed: the item, its arguments in pieces, the item done.
    events = events_of(
        client.responses.create(
            model="m", input=question, tools=TOOLS, tool_choice={"type": "function", "name": "get_weather"}, stream=True
        )
    )
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "function_call" and added.item.name == "get_weather"
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    (done_args,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done_args.arguments == args and done_args.item_id == added.item.id
    assert json.loads(args) == {"input": "What is the weather in Paris?"}
    (final,) = events[-1].response.output
    assert final.type == "function_call" and final.call_id == added.item.call_id and final.arguments == args
    assert up.stats()["chat_requests"] == 3


def test_the_stream_helper_accumulates_the_answer(served_by):
    gw, _ = served_by("openai")
    with gw.client().responses.stream(model="m", input=PROMPT) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == EXPECTED and final.output_text == EXPECTED


def test_json_schema_and_sampling_fields_reach_the_upstream(served_by):
    gw, _ = served_by("openai")
    fmt = {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True}
    r = gw.client().responses.create(
        model="m", input=PROMPT, text={"format": fmt}, temperature=0.3, top_p=0.5, tool_choice="none", tools=TOOLS
    )
    assert r.output_text == EXPECTED, "tool_choice none: no call"
    assert r.text.format.type == "json_schema" and r.text.format.name == "answer"
    assert (r.temperature, r.top_p, r.tool_choice) == (0.3, 0.5, "none")


def test_a_stream_that_breaks_after_content_ends_failed(served_by):
    # The chunk delay makes the mock flush each chunk before the break.
    gw, up = served_by("openai", "--break-after", 2, "--chunk-delay-ms", 20)
    events = events_of(gw.client().responses.create(model="m", input=PROMPT, stream=True))
    types = [e.type for e in events]
    assert types[-2:] == ["error", "response.failed"], types
    assert "response.completed" not in types
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas and EXPECTED.startswith(deltas) and deltas != EXPECTED, deltas
    error, failed = events[-2], events[-1].response
    assert error.code == "stream_interrupted" and error.message
    assert failed.status == "failed" and failed.error.code == "server_error"
    assert failed.output[0].status == "incomplete"
    assert up.stats()["chat_requests"] == 1, "no failover after content"


# Bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": "x", "temperature": "hot"}, "temperature"),
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}]},
            "input[0].content[0].text",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": "x"}, {"type": "reasoning", "id": "rs_1"}]},
            "input[1].type",
        ),
        ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "mcp"}]}, "tools[1].type"),
        ({"model": "m", "input": "x", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"model": "m"}, "input"),
    ],
    ids=[
        "wrong-type",
        "input-not-a-list",
        "unknown-role",
        "wrong-part-field",
        "unknown-item-type",
        "built-in-tool",
        "second-built-in-tool",
        "wrong-int",
        "no-input",
    ],
)
def test_bad_input_is_a_400_naming_the_field(served_by, body, param):
    gw, up = served_by("openai")
    r = post(gw, body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param, err
    assert param in err["message"], err
    assert r.headers["x-switchyard-request-id"]
    assert up.stats()["chat_requests"] == 0


def test_the_sdk_sees_built_in_tools_refused(served_by):
    gw, up = served_by("openai")
    for i, tool in enumerate(
        [
            {"type": "web_search_preview"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "code_interpreter", "container": {"type": "auto"}},
        ]
    ):
        with pytest.raises(openai.BadRequestError) as e:
            gw.client().responses.create(model="m", input=PROMPT, tools=[*TOOLS, tool])
        assert e.value.param == "tools[1].type", i
        assert tool["type"] in e.value.message
    assert up.stats()["chat_requests"] == 0


def test_an_oversized_input_is_the_same_413_as_chat(served_by):
    gw, up = served_by("openai", server={"max_body_bytes": 4096})
    big = "word " * 2000
    r = post(gw, {"model": "m", "input": big})
    chat = gw.post({"model": "m", "messages": [{"role": "user", "content": big}]})
    assert r.status_code == chat.status_code == 413
    assert r.json()["error"]["code"] == chat.json()["error"]["code"] == "request_too_large"
    assert r.json()["error"]["message"] == chat.json()["error"]["message"]
    assert up.stats()["chat_requests"] == 0


def test_previous_response_id_needs_a_log_that_keeps_bodies(served_by):
    gw, up = served_by("openai")  # the default log keeps no bodies
    first = gw.client().responses.create(model="m", input=PROMPT)
    assert first.store is False, "nothing is stored, and the response says so"
    with pytest.raises(openai.BadRequestError) as e:
        gw.client().responses.create(model="m", input="and?", previous_response_id=first.id)
    assert e.value.param == "previous_response_id"
    assert "previous_response_id" in e.value.message and "bodies" in e.value.message
    assert up.stats()["chat_requests"] == 1


def test_wrong_methods_and_paths(served_by):
    gw, _ = served_by("openai")
    r = httpx.get(f"{gw.url}/v1/responses", timeout=10)
    assert r.status_code == 405
    r = httpx.post(f"{gw.url}/v1/respond", json={}, timeout=10)
    assert r.status_code == 404 and "/v1/responses" in r.json()["error"]["message"]


# previous_response_id --------------------------------------------------------


def logged(served_by, tmp_path, **log):
    return served_by("openai", log={"path": str(tmp_path / "requests.db"), "bodies": True, **log})


def test_previous_response_id_continues_a_stored_conversation(served_by, tmp_path):
    gw, up = logged(served_by, tmp_path)
    client = gw.client()
    first = client.responses.create(model="m", input="My name is Ada.", instructions="Be brief.")
    assert first.store is True
    # The second turn streams; the third continues from it.
    events = events_of(
        client.responses.create(model="m", input="What is my name?", previous_response_id=first.id, stream=True)
    )
    second = events[-1].response
    assert second.output_text == "You said: What is my name?"
    assert second.previous_response_id == first.id
    third = client.responses.create(model="m", input="What is my name?", previous_response_id=second.id)
    alone = client.responses.create(model="m", input="What is my name?")
    # The upstream counts the prompt it was sent: the earlier turns were in it.
    assert alone.usage.input_tokens < second.usage.input_tokens < third.usage.input_tokens

    # A function call answered in the next request, which names the first.
    asked = client.responses.create(model="m", input="Weather in Paris?", tools=TOOLS)
    (call,) = asked.output
    answered = client.responses.create(
        model="m",
        tools=TOOLS,
        previous_response_id=asked.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert answered.output_text == "The tool said: sunny"
    assert up.stats()["chat_requests"] == 6

    for bad in ["resp_nope", "nope", asked.id + "x"]:
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(model="m", input="x", previous_response_id=bad)
        assert e.value.param == "previous_response_id" and e.value.code == "previous_response_not_found"
    not_stored = client.responses.create(model="m", input="x", store=False)
    assert not_stored.store is False
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="m", input="x", previous_response_id=not_stored.id)
    assert "store: false" in e.value.message


def test_a_record_cut_by_body_max_bytes_is_refused(served_by, tmp_path):
    gw, _ = logged(served_by, tmp_path, body_max_bytes=200)
    client = gw.client()
    short = client.responses.create(model="m", input="hi")
    long = client.responses.create(model="m", input="word " * 100)
    assert client.responses.create(model="m", input="and?", previous_response_id=short.id).output_text
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="m", input="and?", previous_response_id=long.id)
    assert e.value.param == "previous_response_id"
    assert "body_max_bytes" in e.value.message


def test_a_broken_response_cannot_be_continued(served_by, tmp_path):
    gw, _ = served_by(
        "openai", "--break-after", 1, "--chunk-delay-ms", 20, log={"path": str(tmp_path / "r.db"), "bodies": True}
    )
    events = events_of(gw.client().responses.create(model="m", input=PROMPT, stream=True))
    assert events[-1].type == "response.failed"
    rid = events[-1].response.id
    url = f"{gw.url}/admin/requests/{rid.removeprefix('resp_')}"
    record = wait_until(
        lambda: (r := httpx.get(url, timeout=10)).status_code == 200 and r.json(), timeout=10, what="the record"
    )
    assert record["outcome"] == "broken" and record["dialect"] == "responses"
    with pytest.raises(openai.BadRequestError) as e:
        gw.client().responses.create(model="m", input="x", previous_response_id=rid)
    assert "did not complete" in e.value.message


def test_only_the_key_that_made_a_response_continues_it(served_by, tmp_path):
    gw, _ = served_by(
        "openai",
        log={"path": str(tmp_path / "r.db"), "bodies": True},
        keys={"alpha": {"key_env": "ALPHA_KEY"}, "beta": {"key_env": "BETA_KEY"}},
        env={"ALPHA_KEY": "sk-alpha-0123456789abcdef", "BETA_KEY": "sk-beta-0123456789abcdef"},
    )
    first = gw.client("sk-alpha-0123456789abcdef").responses.create(model="m", input="secret")
    again = gw.client("sk-alpha-0123456789abcdef").responses.create(
        model="m", input="and?", previous_response_id=first.id
    )
    assert again.output_text == "You said: and?"
    with pytest.raises(openai.BadRequestError) as e:
        gw.client("sk-beta-0123456789abcdef").responses.create(model="m", input="and?", previous_response_id=first.id)
    assert e.value.code == "previous_response_not_found"
