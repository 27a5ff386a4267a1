"""POST /v1/embeddings end to end: the official `openai` SDK's
`client.embeddings.create` through the gateway to every dialect of
mock-upstream that embeds (OpenAI, Azure's deployment path, Gemini
`embedContent`/`batchEmbedContents`, Bedrock InvokeModel with Titan and
Cohere bodies); failover; a key's token limit; the cost header and the
request record; refusals naming the field; and `switchyard check` refusing
`embeddings` on an adapter without them. mock-upstream's vectors are
deterministic (the same text always gets the same unit vector), so answers
can be compared across dialects and encodings."""

from __future__ import annotations

import base64
import hashlib
import math
import struct

import openai
import pytest

from helpers import httpx

AWS_ENV = {"SY_TEST_AWS_AKID": "AKIDEXAMPLE", "SY_TEST_AWS_SECRET": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
AWS_CREDS = {
    "aws_credentials": {"access_key_id_env": "SY_TEST_AWS_AKID", "secret_access_key_env": "SY_TEST_AWS_SECRET"}
}
EMB = ["embeddings"]
PRICE = 1000.0  # USD per million input tokens


def start(gateway, up, *, backup=None, keys=None, env=None, server=None):
    """A gateway in front of mock `up` with an embeddings model per dialect,
    a chat model, and routes; `backup` adds a second OpenAI provider."""
    root = f"http://{up.addr}"
    providers = {
        "oa": {"base_url": up.url},
        "az": {"adapter": "azure-openai", "base_url": root, "api_key_env": "AZ_KEY"},
        "gem": {"adapter": "gemini", "base_url": f"{root}/v1beta", "api_key_env": "GEM_KEY"},
        "aws": {"adapter": "bedrock", "base_url": root, "options": {"region": "us-east-1"}, **AWS_CREDS},
    }
    models = {
        "emb": {"provider": "oa", "upstream": "text-embedding-3-small", "capabilities": EMB, "input_price": PRICE},
        "small-window": {"provider": "oa", "capabilities": EMB, "context_window": 16},
        "azure-emb": {"provider": "az", "upstream": "emb-deployment", "capabilities": EMB},
        "gemini-emb": {"provider": "gem", "upstream": "text-embedding-004", "capabilities": EMB},
        "titan": {"provider": "aws", "upstream": "amazon.titan-embed-text-v2:0", "capabilities": EMB},
        "cohere": {"provider": "aws", "upstream": "cohere.embed-english-v3", "capabilities": EMB},
        "chat": {"provider": "oa"},
    }
    routes = {"mixed": {"models": ["chat", "emb"]}}
    if backup is not None:
        providers["backup"] = {"base_url": backup.url}
        models["emb-backup"] = {"provider": "backup", "upstream": "text-embedding-3-small", "capabilities": EMB}
        routes["failover"] = {"models": ["emb", "emb-backup"]}
    return gateway(
        providers=providers,
        models=models,
        routes=routes,
        keys=keys,
        server=server,
        env={"AZ_KEY": "az", "GEM_KEY": "gem", **AWS_ENV, **(env or {})},
    )


def unit(v) -> bool:
    return abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-4


@pytest.fixture
def gw(gateway, mock_upstream):
    return start(gateway, mock_upstream())


@pytest.mark.parametrize("model", ["emb", "azure-emb", "gemini-emb", "titan", "cohere"])
def test_a_string_through_every_dialect(gw, model):
    client = gw.client()
    raw = client.embeddings.with_raw_response.create(model=model, input="hello world")
    r = raw.parse()
    assert r.object == "list" and r.model == model
    assert len(r.data) == 1 and r.data[0].index == 0 and r.data[0].object == "embedding"
    assert len(r.data[0].embedding) == 16 and unit(r.data[0].embedding)
    assert r.usage.prompt_tokens == r.usage.total_tokens == 3  # ceil(11 bytes / 4)
    assert raw.headers["x-switchyard-model"] == model
    # The same text gets the same vector in every dialect.
    same = client.embeddings.create(model="emb", input="hello world").data[0].embedding
    assert r.data[0].embedding == pytest.approx(same, abs=1e-6)


@pytest.mark.parametrize("model", ["emb", "azure-emb", "gemini-emb", "cohere"])
def test_a_list_keeps_its_order(gw, model):
    client = gw.client()
    texts = ["first", "second", "third"]
    r = client.embeddings.create(model=model, input=texts)
    assert [d.index for d in r.data] == [0, 1, 2]
    for text, d in zip(texts, r.data, strict=True):
        alone = client.embeddings.create(model="emb", input=text).data[0].embedding
        assert d.embedding == pytest.approx(alone, abs=1e-6)
    assert r.data[0].embedding != r.data[1].embedding


@pytest.mark.parametrize("model", ["emb", "azure-emb", "gemini-emb", "titan"])
def test_dimensions_are_honoured(gw, model):
    r = gw.client().embeddings.create(model=model, input="dims", dimensions=5)
    assert len(r.data[0].embedding) == 5 and unit(r.data[0].embedding)


def test_base64_is_little_endian_f32_of_the_float_answer(gw):
    client = gw.client()
    floats = client.embeddings.create(model="emb", input=["a", "b"], encoding_format="float")
    raw = httpx.post(
        f"{gw.url}/v1/embeddings", json={"model": "emb", "input": ["a", "b"], "encoding_format": "base64"}, timeout=20
    )
    assert raw.status_code == 200, raw.text
    for d, f in zip(raw.json()["data"], floats.data, strict=True):
        b = base64.b64decode(d["embedding"])
        assert list(struct.unpack(f"<{len(b) // 4}f", b)) == pytest.approx(f.embedding, abs=1e-7)
    # The SDK asks for base64 by default and decodes it itself.
    sdk = client.embeddings.create(model="emb", input=["a", "b"])
    assert sdk.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-7)


def test_a_route_tries_its_embeddings_models_and_fails_over(gateway, mock_upstream):
    up = mock_upstream("--fail-status", 503)
    backup = mock_upstream()
    gw = start(gateway, up, backup=backup)
    raw = gw.client().embeddings.with_raw_response.create(model="failover", input="x")
    assert raw.headers["x-switchyard-model"] == "emb-backup"
    assert raw.headers["x-switchyard-attempts"] == "2"
    assert raw.headers["x-switchyard-plan"] == "emb,emb-backup"
    assert len(raw.parse().data) == 1
    assert up.stats()["failures"] >= 1 and backup.stats()["requests"] >= 1


def test_a_route_serves_embeddings_from_its_embeddings_models_only(gw):
    raw = gw.client().embeddings.with_raw_response.create(model="mixed", input="x")
    assert raw.headers["x-switchyard-model"] == "emb"
    assert raw.headers["x-switchyard-plan"] == "emb"
    # Chat on the same route goes to the chat model.
    r = gw.client().chat.completions.create(model="mixed", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "You said: hi"


def test_cost_header_and_request_record(gw):
    raw = gw.client().embeddings.with_raw_response.create(model="emb", input="a" * 40)
    assert raw.parse().usage.prompt_tokens == 10
    assert float(raw.headers["x-switchyard-cost-usd"]) == pytest.approx(10 * PRICE / 1e6)
    rid = raw.headers["x-switchyard-request-id"]
    rec = httpx.get(f"{gw.url}/admin/requests/{rid}", timeout=10).json()
    assert rec["model"] == "emb" and rec["prompt_tokens"] == 10 and rec["completion_tokens"] == 0
    assert rec["cost_usd"] == pytest.approx(10 * PRICE / 1e6)


def test_a_keys_token_limit_counts_embeddings(gateway, mock_upstream):
    key = "sk-embed-0123456789abcdef"
    keys = {"k": {"key_sha256": hashlib.sha256(key.encode()).hexdigest(), "tokens_per_minute": 30}}
    gw = start(gateway, mock_upstream(), keys=keys)
    client = gw.client(api_key=key)
    # 100 bytes: 25 tokens each; the second is admitted (25 < 30), the third is not.
    for _ in range(2):
        client.embeddings.create(model="emb", input="x" * 100)
    with pytest.raises(openai.RateLimitError) as e:
        client.embeddings.create(model="emb", input="x" * 100)
    assert "30 tokens per minute" in e.value.body["message"], e.value.body
    with pytest.raises(openai.AuthenticationError):
        gw.client(api_key="sk-wrong-000000000000").embeddings.create(model="emb", input="x")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": 5, "input": "x"}, "model"),
        ({"model": "emb"}, "input"),
        ({"model": "emb", "input": ""}, "input"),
        ({"model": "emb", "input": []}, "input"),
        ({"model": "emb", "input": [1, 2, 3]}, "input"),
        ({"model": "emb", "input": [[1, 2]]}, "input"),
        ({"model": "emb", "input": {"text": "x"}}, "input"),
        ({"model": "emb", "input": "x", "dimensions": -1}, "dimensions"),
        ({"model": "emb", "input": "x", "dimensions": "8"}, "dimensions"),
        ({"model": "emb", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "chat", "input": "x"}, "model"),
        ({"model": "small-window", "input": "x" * 200}, "input"),
    ],
)
def test_bad_requests_name_the_field(gw, body, param):
    r = httpx.post(f"{gw.url}/v1/embeddings", json=body, timeout=20)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param, err
    assert err["type"] == "invalid_request_error"


def test_a_chat_model_and_an_embeddings_model_refuse_the_other_endpoint(gw):
    client = gw.client()
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="chat", input="x")
    assert e.value.body["param"] == "model" and "embeddings" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="emb", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["param"] == "model" and "embeddings model" in e.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="x")


def test_titan_refuses_a_list(gw):
    with pytest.raises(openai.BadRequestError) as e:
        gw.client().embeddings.create(model="titan", input=["a", "b"])
    assert "one text a request" in e.value.body["message"]


def test_check_refuses_embeddings_on_an_adapter_without_them(config_text, run_check, tmp_path):
    log = {"path": str(tmp_path / "requests.db")}
    text = config_text(
        log=log,
        # `check` reads the key variable; any variable that is set will do.
        providers={"claude": {"adapter": "anthropic", "base_url": "http://127.0.0.1:9", "api_key_env": "HOME"}},
        models={"emb": {"provider": "claude", "capabilities": EMB}},
    )
    r = run_check(text)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "models.emb.capabilities" in out and "anthropic" in out, out
    ok = config_text(
        log=log,
        providers={"oa": {"base_url": "http://127.0.0.1:9"}},
        models={"emb": {"provider": "oa", "capabilities": EMB}},
    )
    r = run_check(ok)
    assert r.returncode == 0, r.stdout + r.stderr
