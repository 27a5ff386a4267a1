"""Request ids and cost on every answer: `x-switchyard-request-id` (the
client's `x-request-id` when it is a safe token, else a new UUIDv7), the id in
error bodies of both dialects and in the log line of a failed request, and
`x-switchyard-cost-usd` on non-streaming answers at the model's prices. Driven
by the official `openai` and `anthropic` SDKs."""

from __future__ import annotations

import uuid
from decimal import Decimal

import anthropic
import openai
import pytest

from helpers import wait_until

HI = [{"role": "user", "content": "hello there"}]
# USD per million tokens.
INPUT_PRICE, OUTPUT_PRICE = 2.5, 10.0


def priced_gateway(gateway, mock):
    return gateway(
        providers={"up": {"base_url": mock.url}, "down": {"base_url": "http://127.0.0.1:9/v1"}},
        models={
            "priced": {"provider": "up", "input_price": INPUT_PRICE, "output_price": OUTPUT_PRICE},
            "free": {"provider": "up"},
            "dead": {"provider": "down"},
        },
        routes={"main": {"models": ["priced"]}},
    )


def is_v7(text: str) -> bool:
    try:
        return uuid.UUID(text).version == 7
    except ValueError:
        return False


def test_every_answer_carries_a_new_id_unless_the_client_chose_a_safe_one(gateway, mock_upstream):
    gw = priced_gateway(gateway, mock_upstream())
    chat = gw.client().chat.completions
    raw = chat.with_raw_response.create(model="main", messages=HI)
    first = raw.headers["x-switchyard-request-id"]
    assert is_v7(first), first
    second = chat.with_raw_response.create(model="main", messages=HI).headers["x-switchyard-request-id"]
    assert is_v7(second) and second != first

    kept = chat.with_raw_response.create(model="main", messages=HI, extra_headers={"x-request-id": "trace-42:a.b_c"})
    assert kept.headers["x-switchyard-request-id"] == "trace-42:a.b_c"
    for unsafe in ["two words", "x" * 129, "semi;colon"]:
        r = chat.with_raw_response.create(model="main", messages=HI, extra_headers={"x-request-id": unsafe})
        got = r.headers["x-switchyard-request-id"]
        assert got != unsafe and is_v7(got), got

    # Not only chat: every endpoint answers with an id.
    for path in ["/healthz", "/v1/models", "/no/such/path"]:
        assert is_v7(gw.get(path).headers["x-switchyard-request-id"]), path

    # A stream too, in its headers.
    with chat.with_streaming_response.create(model="main", messages=HI, stream=True) as s:
        assert is_v7(s.headers["x-switchyard-request-id"])
        assert "x-switchyard-cost-usd" not in s.headers
        assert "data: [DONE]" in list(s.iter_lines())


def test_errors_name_the_request_in_both_dialects_and_in_the_log(gateway, mock_upstream):
    gw = priced_gateway(gateway, mock_upstream())
    with pytest.raises(openai.NotFoundError) as e:
        gw.client().chat.completions.create(model="no-such-model", messages=HI)
    rid = e.value.response.headers["x-switchyard-request-id"]
    assert is_v7(rid)
    assert e.value.body["request_id"] == rid  # the SDK's body is the `error` object

    with pytest.raises(anthropic.NotFoundError) as e:
        gw.anthropic_client().messages.create(model="no-such-model", max_tokens=16, messages=HI)
    rid = e.value.response.headers["x-switchyard-request-id"]
    assert e.value.body["request_id"] == rid
    assert e.value.body["type"] == "error"

    # An upstream failure: the client's id is in the header, the body and
    # the gateway's log line of the failed request.
    with pytest.raises(openai.APIStatusError) as e:
        gw.client().chat.completions.create(model="dead", messages=HI, extra_headers={"x-request-id": "find-me-7"})
    assert e.value.status_code == 502
    assert e.value.response.headers["x-switchyard-request-id"] == "find-me-7"
    assert e.value.body["request_id"] == "find-me-7"
    wait_until(
        lambda: any("find-me-7" in line and "request failed" in line for line in gw.proc.stderr().splitlines()),
        timeout=10,
        what="the failed request's log line",
    )


def test_the_cost_header_is_the_usage_at_the_model_s_prices(gateway, mock_upstream):
    gw = priced_gateway(gateway, mock_upstream())
    chat = gw.client().chat.completions
    raw = chat.with_raw_response.create(model="main", messages=HI, max_tokens=20)
    usage = raw.parse().usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    want = (
        Decimal(usage.prompt_tokens) * Decimal(str(INPUT_PRICE)) + usage.completion_tokens * Decimal(str(OUTPUT_PRICE))
    ) / Decimal(10**6)
    got = Decimal(raw.headers["x-switchyard-cost-usd"])
    assert abs(got - want) <= Decimal("1e-10"), (got, want)

    # The Anthropic dialect, the same model: the same prices.
    a = gw.anthropic_client().messages.with_raw_response.create(model="priced", max_tokens=20, messages=HI)
    u = a.parse().usage
    want = (
        Decimal(u.input_tokens) * Decimal(str(INPUT_PRICE)) + u.output_tokens * Decimal(str(OUTPUT_PRICE))
    ) / Decimal(10**6)
    assert abs(Decimal(a.headers["x-switchyard-cost-usd"]) - want) <= Decimal("1e-10")

    # A model without prices costs nothing.
    free = chat.with_raw_response.create(model="free", messages=HI)
    assert free.headers["x-switchyard-cost-usd"] == "0"
