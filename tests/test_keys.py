"""Client keys, rate limits, budgets, the admin key and the loopback-only
default, end to end: real gateways (one or two sharing a real redis-server)
in front of mock-upstream, driven with the official OpenAI and Anthropic SDKs.

Per-minute limits slide (this clock minute plus the previous one's fading
share); a test that counts requests exactly first waits for a minute with
enough time left in it (20 s or more: seconds to spare for a handful of local
requests on a loaded machine), so the count does not start to fade mid-test.
Every SDK client here has max_retries=0 (helpers.Gateway.client), so a 429
is seen as it was sent, never retried after its Retry-After."""

from __future__ import annotations

import hashlib
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import pytest

from helpers import assert_serving, httpx, stream_text, toml_table, wait_until

ALPHA = "sk-alpha-4f1d0c0a9b8e7d6c5b4a"
BETA = "sk-beta-91c2e3f4a5b6c7d8e9f0"
LIMITED = "sk-limited-0a1b2c3d4e5f60718293"
ADMIN = "sk-admin-deadbeefcafe0123456789"
WRONG = "sk-wrong-77777777777777777777"

# A prompt of ~200 bytes: mock-upstream reports ceil(bytes / 4) prompt tokens.
PROMPT = "Tell me about the gateway. " * 8
# USD per million tokens: one request (~110 tokens) costs ~$0.28 at these prices.
PRICE = 2500.0


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def minute_of(t: float) -> int:
    """The clock minute (since 1970) of the time `t`, as the gateway counts it."""
    return int(t // 60)


def ms_into_minute(t: float) -> int:
    """Milliseconds into its clock minute of the time `t`, as the gateway counts them."""
    return int(t * 1000) % 60_000


def fresh_minute(needed: float = 20.0) -> int:
    """Wait until at least `needed` seconds are left in the clock minute, so
    the minute's count does not roll over (and start to fade) mid-test; the
    minute."""
    left = 60 - time.time() % 60
    if left < needed:
        time.sleep(left + 0.5)
    return minute_of(time.time())


def start(gateway, mock, *, keys=None, limits=None, server=None, env=None, listen="127.0.0.1:0", upstreams=None):
    """A gateway in front of `mock`: models m1 (priced) and m2, route main =
    [m1]; `upstreams` (name: mock) adds a provider and a model of that name
    for each."""
    extra = upstreams or {}
    return gateway(
        providers={"up": {"base_url": mock.url}, **{name: {"base_url": m.url} for name, m in extra.items()}},
        models={
            "m1": {"provider": "up", "input_price": PRICE, "output_price": PRICE},
            "m2": {"provider": "up"},
            **{name: {"provider": name} for name in extra},
        },
        routes={"main": {"models": ["m1"]}},
        keys=keys,
        limits=limits,
        server=server,
        env=env,
        listen=listen,
    )


def base_keys(**limited):
    return {
        "alpha": {"key_env": "ALPHA_KEY"},
        "beta": {"key_sha256": sha(BETA), "models": ["main", "m1"]},
        "limited": {"key_sha256": sha(LIMITED), **limited},
    }


BASE_ENV = {"ALPHA_KEY": ALPHA, "ADMIN_KEY": ADMIN}
ADMIN_SERVER = {"admin_key_env": "ADMIN_KEY"}


def chat(client, model="main", content=PROMPT, **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)


def message(client, model="main", content=PROMPT):
    return client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": content}])


def still_serves(gw) -> None:
    """After each case the gateway answers a key without limits normally."""
    assert_serving(gw, "main", api_key=ALPHA)


def keys_view(gw) -> dict:
    """GET /admin/keys."""
    r = httpx.get(f"{gw.url}/admin/keys", headers={"x-api-key": ADMIN})
    assert r.status_code == 200, r.text
    return r.json()


def limited_view(gw) -> dict:
    """The key `limited` in GET /admin/keys."""
    return next(k for k in keys_view(gw)["keys"] if k["name"] == "limited")


def test_missing_and_wrong_keys_are_401_in_both_dialects(gateway, mock_upstream):
    gw = start(gateway, mock_upstream(), keys=base_keys(), server=ADMIN_SERVER, env=BASE_ENV)

    with pytest.raises(openai.AuthenticationError) as e:
        chat(gw.client(api_key=WRONG))
    assert e.value.status_code == 401
    assert e.value.body["code"] == "invalid_api_key"
    assert WRONG not in e.value.response.text
    r = gw.post({"model": "main", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 401 and "Missing API key" in r.json()["error"]["message"]

    with pytest.raises(anthropic.AuthenticationError) as e:
        message(gw.anthropic_client(api_key=WRONG))
    assert e.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": e.value.body["error"]["message"]},
        "request_id": e.value.response.headers["x-switchyard-request-id"],
    }
    assert WRONG not in e.value.response.text
    r = httpx.post(
        f"{gw.url}/v1/messages", json={"model": "main", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 401 and r.json()["type"] == "error"

    # Right keys, both header styles, on both endpoints.
    assert chat(gw.client(api_key=ALPHA)).choices[0].message.content.startswith("You said:")
    assert message(gw.anthropic_client(api_key=BETA)).content[0].text.startswith("You said:")
    body = {"model": "main", "messages": [{"role": "user", "content": "x"}]}
    assert gw.post(body, headers={"x-api-key": ALPHA}).status_code == 200
    r = httpx.post(
        f"{gw.url}/v1/messages",
        json={**body, "max_tokens": 5},
        headers={"authorization": f"Bearer {BETA}"},
    )
    assert r.status_code == 200, r.text

    # /healthz stays open; /v1/models needs a key and lists what it may use.
    assert gw.get("/healthz").status_code == 200
    assert gw.get("/v1/models").status_code == 401
    assert {m.id for m in gw.client(api_key=BETA).models.list()} == {"main", "m1"}
    assert {m.id for m in gw.client(api_key=ALPHA).models.list()} == {"main", "m1", "m2"}
    still_serves(gw)


def test_models_outside_a_keys_list_are_403(gateway, mock_upstream):
    gw = start(gateway, mock_upstream(), keys=base_keys(), server=ADMIN_SERVER, env=BASE_ENV)
    with pytest.raises(openai.PermissionDeniedError) as e:
        chat(gw.client(api_key=BETA), model="m2")
    assert e.value.body["code"] == "model_not_allowed"
    assert "`m2`" in e.value.body["message"] and "`beta`" in e.value.body["message"]
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        message(gw.anthropic_client(api_key=BETA), model="m2")
    assert e.value.body["error"]["type"] == "permission_error"
    # The same key may use its models; another key may use m2.
    assert chat(gw.client(api_key=BETA), model="m1").choices[0].message.content.startswith("You said:")
    assert chat(gw.client(api_key=ALPHA), model="m2").choices[0].message.content.startswith("You said:")
    still_serves(gw)


def test_requests_per_minute_limit(gateway, mock_upstream):
    gw = start(gateway, mock_upstream(), keys=base_keys(requests_per_minute=3), server=ADMIN_SERVER, env=BASE_ENV)
    fresh_minute()
    client = gw.client(api_key=LIMITED)
    for _ in range(3):
        chat(client)
    with pytest.raises(openai.RateLimitError) as e:
        chat(client)
    retry_after = int(e.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert e.value.body["code"] == "rate_limit_exceeded"
    assert "`limited`" in e.value.body["message"] and "3 requests per minute" in e.value.body["message"]
    # The Anthropic dialect says the same in its own error JSON.
    with pytest.raises(anthropic.RateLimitError) as e:
        message(gw.anthropic_client(api_key=LIMITED))
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "rate_limit_error"
    assert "retry-after" in e.value.response.headers
    # The admin view shows the key's use of its windows.
    limited = limited_view(gw)
    assert limited["requests_last_minute"] == 3 and limited["limits"]["requests_per_minute"] == 3
    assert limited["tokens_last_minute"] > 0
    # Other keys are not affected.
    still_serves(gw)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
def test_tokens_per_minute_counts_actual_usage(gateway, mock_upstream, stream):
    gw = start(gateway, mock_upstream(), keys=base_keys(tokens_per_minute=200), server=ADMIN_SERVER, env=BASE_ENV)
    fresh_minute()
    client = gw.client(api_key=LIMITED)
    if stream:
        chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))
        used = chunks[-1].usage.total_tokens
    else:
        used = chat(client).usage.total_tokens
    assert 100 <= used < 200, used  # under the limit: the next one is admitted
    second = chat(client).usage.total_tokens
    assert used + second >= 200
    with pytest.raises(openai.RateLimitError) as e:
        chat(client)
    assert "200 tokens per minute" in e.value.body["message"], e.value.body
    assert f"{used + second} used" in e.value.body["message"]
    assert int(e.value.response.headers["retry-after"]) >= 1
    still_serves(gw)


def cost_nanos(usage, price=PRICE) -> int:
    """What the gateway counts for one answer, in nano-USD."""
    return round((usage.prompt_tokens * price + usage.completion_tokens * price) * 1e3)


def test_daily_budget(gateway, mock_upstream):
    gw = start(gateway, mock_upstream(), keys=base_keys(daily_budget_usd=1.0), server=ADMIN_SERVER, env=BASE_ENV)
    client = gw.client(api_key=LIMITED)
    spent, served = 0, 0
    while spent < 1_000_000_000:
        spent += cost_nanos(chat(client).usage)
        served += 1
    assert served >= 2
    with pytest.raises(openai.APIStatusError) as e:
        chat(client)
    assert e.value.status_code == 402
    assert e.value.body["code"] == "budget_exceeded"
    msg = e.value.body["message"]
    assert "`limited`" in msg and "daily budget" in msg and "$1.0000" in msg, msg
    with pytest.raises(anthropic.APIStatusError) as e:
        message(gw.anthropic_client(api_key=LIMITED))
    assert e.value.status_code == 402 and "daily budget" in e.value.body["error"]["message"]
    # A model without prices costs nothing, but the budget is spent: refused too.
    with pytest.raises(openai.APIStatusError):
        chat(client, model="m2")
    still_serves(gw)


def test_admin_endpoints_need_the_admin_key(gateway, mock_upstream):
    gw = start(gateway, mock_upstream(), keys=base_keys(), server=ADMIN_SERVER, env=BASE_ENV)
    url = f"{gw.url}/admin/plugins"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {ALPHA}"}).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {ADMIN}"}).status_code == 200
    assert httpx.get(url, headers={"x-api-key": ADMIN}).status_code == 200
    assert httpx.post(f"{gw.url}/admin/reload").status_code == 401
    r = httpx.post(f"{gw.url}/admin/reload", headers={"x-api-key": ADMIN}, timeout=60)
    assert r.status_code == 200, r.text
    # The admin key is not a client key.
    with pytest.raises(openai.AuthenticationError):
        chat(gw.client(api_key=ADMIN))
    still_serves(gw)


def test_keys_change_with_a_reload_and_counters_survive_it(gateway, mock_upstream):
    gw = start(gateway, mock_upstream(), keys=base_keys(requests_per_minute=2), server=ADMIN_SERVER, env=BASE_ENV)
    fresh_minute(30)  # a reload as well as requests
    client = gw.client(api_key=LIMITED)
    chat(client)
    gamma = "sk-gamma-5a5a5a5a5a5a5a5a5a5a"
    with pytest.raises(openai.AuthenticationError):
        chat(gw.client(api_key=gamma))
    text = gw.config_path.read_text()
    gw.config_path.write_text(text + "\n" + toml_table("keys.gamma", {"key_sha256": sha(gamma)}))
    r = httpx.post(f"{gw.url}/admin/reload", headers={"x-api-key": ADMIN}, timeout=60)
    assert r.status_code == 200, r.text
    assert chat(gw.client(api_key=gamma)).choices[0].message.content.startswith("You said:")
    # The request counted before the reload still counts.
    chat(client)
    with pytest.raises(openai.RateLimitError):
        chat(client)
    still_serves(gw)


def test_admin_endpoints_are_closed_without_an_admin_key(gateway, mock_upstream):
    gw = start(gateway, mock_upstream(), keys=base_keys(), env=BASE_ENV)
    r = httpx.get(f"{gw.url}/admin/plugins", headers={"authorization": f"Bearer {ALPHA}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_disabled"
    assert "no admin key is configured" in gw.proc.stderr()
    still_serves(gw)


def test_keys_never_appear_in_logs(gateway, mock_upstream):
    env = {**BASE_ENV, "SWITCHYARD_LOG": "debug"}
    gw = start(gateway, mock_upstream(), keys=base_keys(requests_per_minute=1), server=ADMIN_SERVER, env=env)
    fresh_minute()
    chat(gw.client(api_key=ALPHA))
    list(chat(gw.client(api_key=BETA), stream=True))
    message(gw.anthropic_client(api_key=BETA))
    for key in (WRONG, ADMIN):
        with pytest.raises(openai.AuthenticationError):
            chat(gw.client(api_key=key))
    chat(gw.client(api_key=LIMITED))
    with pytest.raises(openai.RateLimitError):
        chat(gw.client(api_key=LIMITED))
    httpx.get(f"{gw.url}/admin/plugins", headers={"x-api-key": ADMIN})
    httpx.get(f"{gw.url}/admin/plugins", headers={"x-api-key": WRONG})
    still_serves(gw)
    log = gw.proc.stderr()
    assert "DEBUG" in log  # the log was verbose
    for key in (ALPHA, BETA, LIMITED, ADMIN, WRONG):
        assert key not in log
        # Nor a recognisable piece of one.
        assert key[3:15] not in log


def test_loopback_only_without_keys(gateway, mock_upstream):
    mock = mock_upstream()
    gw = start(gateway, mock, listen="0.0.0.0:0")
    assert gw.addr.startswith("127.0.0.1:")
    assert "loopback only" in gw.proc.stderr()
    assert chat(gw.client()).choices[0].message.content.startswith("You said:")

    # With keys, the configured address stands.
    keyed = start(gateway, mock, keys=base_keys(), server=ADMIN_SERVER, env=BASE_ENV, listen="0.0.0.0:0")
    assert keyed.addr.startswith("0.0.0.0:")
    # ... and a reload that removes every key is refused.
    text = keyed.config_path.read_text()
    keyed.config_path.write_text(text.split("\n[keys.")[0])
    r = httpx.post(f"{keyed.url}/admin/reload", headers={"x-api-key": ADMIN}, timeout=60)
    assert r.status_code == 422 and "non-loopback" in r.json()["error"]["message"], r.text
    # The file watcher may have tried the same edit; either way the keys stay.
    with pytest.raises(openai.AuthenticationError):
        chat(keyed.client(api_key=WRONG))
    keyed.config_path.write_text(text)

    # The explicit opt-out.
    public = start(gateway, mock, server={"allow_public_without_keys": True}, listen="0.0.0.0:0")
    assert public.addr.startswith("0.0.0.0:")


# --- Redis: limits and budgets shared by replicas ------------------------------------------


def redis_limits(redis, on_error="open", timeout_ms=2000):
    """[limits] with the Redis backend. The default timeout is roomy: a
    healthy Redis on a loaded machine never misses it (on_error would then
    quietly serve without limits, or refuse with 503); the tests of a dead or
    hung Redis name a short one."""
    return {"backend": "redis", "url": redis.url, "on_error": on_error, "timeout_ms": timeout_ms}


def test_two_gateways_share_one_rpm_limit(gateway, mock_upstream, redis_server):
    redis = redis_server()
    mock = mock_upstream()
    keys = base_keys(requests_per_minute=5)
    gws = [
        start(gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=redis_limits(redis)) for _ in range(2)
    ]
    fresh_minute()
    clients = [gw.client(api_key=LIMITED) for gw in gws]

    def one(i):
        try:
            chat(clients[i % 2])
            return "ok"
        except openai.RateLimitError:
            return "limited"

    # 16 requests at once, half on each gateway: exactly 5 get through.
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(one, range(16)))
    assert outcomes.count("ok") == 5 and outcomes.count("limited") == 11, outcomes
    for c in clients:
        with pytest.raises(openai.RateLimitError) as e:
            chat(c)
        assert "5 requests per minute" in e.value.body["message"]
    assert mock.stats()["requests"] >= 5
    for gw in gws:
        still_serves(gw)


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_prompt_tokens_are_reserved_at_admission(gateway, mock_upstream, redis_server, backend):
    """Requests admitted together see each other's prompts (counted at
    admission, not only when answers come back); each answer then replaces
    its estimate with the upstream's actual usage."""
    mock = mock_upstream("--latency-ms", 1000)
    limits = redis_limits(redis_server()) if backend == "redis" else None
    gw = start(gateway, mock, keys=base_keys(tokens_per_minute=400), server=ADMIN_SERVER, env=BASE_ENV, limits=limits)
    fresh_minute(30)  # requests that take a second each, and waits
    client = gw.client(api_key=LIMITED)

    def settled(expected: int) -> None:
        wait_until(
            lambda: limited_view(gw)["tokens_last_minute"] == expected,
            timeout=15,
            what=lambda: f"tokens_last_minute is {expected}: {limited_view(gw)}",
        )

    # A request that is admitted and then not served gives its prompt back.
    with pytest.raises(openai.NotFoundError):
        chat(client, model="no-such-model")
    settled(0)
    first = chat(client).usage.total_tokens
    settled(first)

    def one(_):
        try:
            return chat(client).usage.total_tokens
        except openai.RateLimitError:
            return None

    # Ten at once, each answered after a second: without the reservation all
    # ten would pass (nothing is counted until the answers return).
    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(one, range(10)))
    answered = [t for t in outcomes if t is not None]
    assert 1 <= len(answered) < 10, outcomes
    # Every estimate was replaced by the actual figure.
    settled(first + sum(answered))
    still_serves(gw)


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_max_parallel_requests(gateway, mock_upstream, redis_server, backend):
    """A key's requests in flight are capped (across both gateways with Redis);
    a slot is held until the answer is sent, or until a stream ends or its
    client goes away.

    Whatever must overlap overlaps by seconds, not by how fast the machine
    is: the answers holding the slots take 3 s, the stream read to its end
    ~6 s, and the one abandoned by its client would run for a minute."""
    fast = mock_upstream()
    upstreams = {
        "slow": mock_upstream("--latency-ms", 3000),
        "short-stream": mock_upstream("--chunks", 4, "--chunk-delay-ms", 1000),
        "long-stream": mock_upstream("--chunks", 60, "--chunk-delay-ms", 1000),
    }
    keys = base_keys(max_parallel_requests=2)
    limits = redis_limits(redis_server()) if backend == "redis" else None
    n = 2 if backend == "redis" else 1
    gws = [
        start(gateway, fast, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=limits, upstreams=upstreams)
        for _ in range(n)
    ]
    clients = [gw.client(api_key=LIMITED, timeout=60) for gw in gws]

    def one(i):
        try:
            chat(clients[i % n], model="slow")
            return "ok"
        except openai.RateLimitError as e:
            assert e.response.headers["retry-after"] == "1"
            return e.body["message"]

    # Six at once against a limit of two: two are answered, four refused.
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(one, range(6)))
    assert outcomes.count("ok") == 2, outcomes
    assert all("2 requests in flight" in o for o in outcomes if o != "ok"), outcomes

    # Answered requests give their slots back (Redis in the background, so
    # soon rather than at once).
    def both_admitted() -> bool:
        chat(clients[0])
        chat(clients[-1])
        return True

    wait_until(both_admitted, timeout=15, interval=0.2, ignoring=(openai.RateLimitError,), what="the slots come back")

    # Two open streams hold both slots, in either dialect's endpoint.
    def open_stream(i, model):
        return clients[i % n].chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
        )

    short, long = open_stream(0, "short-stream"), open_stream(1, "long-stream")
    with pytest.raises(openai.RateLimitError):
        chat(clients[0])
    with pytest.raises(anthropic.RateLimitError):
        message(gws[-1].anthropic_client(api_key=LIMITED))
    assert limited_view(gws[0])["in_flight"] == 2
    # The stream read to its end gives its slot back; the other still holds one.
    assert stream_text(short)
    wait_until(
        lambda: limited_view(gws[0])["in_flight"] == 1,
        timeout=15,
        what=lambda: f"one slot held after the first stream's end: {limited_view(gws[0])}",
    )
    # The client that goes away gives its slot back, long before its stream
    # would have ended.
    long.close()
    wait_until(
        lambda: limited_view(gws[0])["in_flight"] == 0,
        timeout=15,
        what=lambda: f"no slot held after the second stream's client left: {limited_view(gws[0])}",
    )
    chat(clients[0])
    chat(clients[-1])
    for gw in gws:
        still_serves(gw)


def test_redis_over_tls(gateway, mock_upstream, redis_server):
    """`rediss://` with the CA named by `ca_file`: the shared limit holds; a
    gateway that does not trust the server's certificate never talks to it
    (with on_error = "closed", its requests get 503)."""
    redis = redis_server(tls=True)
    mock = mock_upstream()
    keys = base_keys(requests_per_minute=2)
    tls = {**redis_limits(redis, on_error="closed"), "ca_file": str(redis.ca_file)}
    gws = [start(gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=tls) for _ in range(2)]
    fresh_minute()
    chat(gws[0].client(api_key=LIMITED))
    chat(gws[1].client(api_key=LIMITED))
    for gw in gws:
        with pytest.raises(openai.RateLimitError):
            chat(gw.client(api_key=LIMITED))
    assert keys_view(gws[0])["backend"] == "redis"
    assert limited_view(gws[0])["requests_last_minute"] == 2
    # Without the CA the handshake fails: the store is unreachable.
    untrusting = start(
        gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=redis_limits(redis, on_error="closed")
    )
    with pytest.raises(openai.InternalServerError) as e:
        chat(untrusting.client(api_key=LIMITED))
    assert e.value.status_code == 503 and e.value.body["code"] == "limits_unavailable", e.value.body
    for gw in gws:
        still_serves(gw)


def refusal(request) -> openai.RateLimitError | None:
    """The 429 refusing `request()`, or None if it was served."""
    try:
        request()
    except openai.RateLimitError as e:
        return e
    return None


def test_the_minute_slides_across_its_boundary(gateway, mock_upstream, redis_server):
    """A burst in one clock minute still counts in the next: a fixed window
    would admit a second full burst, the sliding minute admits only what has
    faded, and Retry-After names the moment a request would pass. In-process
    and Redis (its Lua script) alike.

    The limit is 2 a minute, so 2 × (60 - t)/60 of the burst is left t
    seconds into the next minute: 1 (rounded down) until t = 30 s, where one
    more request fits and the next is refused. The checks start 2 s into
    that minute, so they have 28 s for a few local requests, and the
    expected Retry-After comes from the clock read around the refused
    request, wherever that falls."""
    redis = redis_server()
    mock = mock_upstream()
    keys = base_keys(requests_per_minute=2)
    gws = {
        "memory": start(gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV),
        "redis": start(gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=redis_limits(redis)),
    }
    clients = {name: gw.client(api_key=LIMITED) for name, gw in gws.items()}
    burst = fresh_minute(20)
    for c in clients.values():
        chat(c)
        chat(c)
        with pytest.raises(openai.RateLimitError):
            chat(c)
    assert minute_of(time.time()) == burst, "the burst did not fit in the 20 s left of its minute"

    def share_is_one(t: float) -> bool:
        """Whether 1 of the burst counts at the time `t` (what follows expects)."""
        return minute_of(t) == burst + 1 and ms_into_minute(t) < 30_000

    time.sleep((burst + 1) * 60 + 2 - time.time())
    for name, c in clients.items():
        chat(c)  # 1 left of the burst + this one = 2
        before = time.time()
        e = refusal(lambda c=c: chat(c))
        after = time.time()
        assert share_is_one(after), "over 28 s for a few requests"
        assert e is not None, f"{name}: a second request in the new minute was served: the minute did not slide"
        retry_after = int(e.response.headers["retry-after"])
        # The moment a request passes: 30 s into the minute. The refusal was
        # decided between `before` and `after`; allow a second either way
        # for rounding.
        soonest = (30_000 - ms_into_minute(after)) // 1000
        latest = -(-(30_000 - ms_into_minute(before)) // 1000) + 1
        assert soonest <= retry_after <= latest, (name, retry_after, soonest, latest, e.body)
        assert f"retry in {retry_after} s" in e.body["message"], e.body
        limited = limited_view(gws[name])
        assert share_is_one(time.time()), "over 28 s for a few requests"
        assert limited["requests_last_minute"] == 2, (name, limited)
    for gw in gws.values():
        still_serves(gw)


def test_two_gateways_share_one_budget(gateway, mock_upstream, redis_server):
    redis = redis_server()
    mock = mock_upstream()
    keys = base_keys(daily_budget_usd=1.0)
    gws = [
        start(gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=redis_limits(redis)) for _ in range(2)
    ]
    clients = [gw.client(api_key=LIMITED) for gw in gws]
    spent, served, refused = 0, 0, 0
    for i in range(12):
        try:
            spent += cost_nanos(chat(clients[i % 2]).usage)
            served += 1
        except openai.APIStatusError as e:
            assert e.status_code == 402 and e.body["code"] == "budget_exceeded"
            refused += 1
        # Usage is written to Redis in the background after each answer: the
        # next request goes once it is there (both gateways read the same
        # figure), as a client's next request would after a pause.
        wait_until(
            lambda want=spent: round(limited_view(gws[0])["spend_today_usd"] * 1e9) == want,
            timeout=15,
            what=lambda want=spent: f"the spend in Redis is {want} nano-USD: {limited_view(gws[0])}",
        )
    per = spent // served
    for gw in gws:
        assert keys_view(gw)["backend"] == "redis"
        assert round(limited_view(gw)["spend_today_usd"] * 1e9) == spent
    # One budget: exactly as many answers as one gateway would give.
    assert served == -(-1_000_000_000 // per), (served, per)
    assert refused == 12 - served
    for gw in gws:
        still_serves(gw)


def quick(request, within: float = 3.0):
    """`request()`, answered (or refused) within `within` seconds: many times
    a Redis `timeout_ms` of 200 ms, and seconds more than a local request
    takes on a loaded machine, yet far less than a request waiting on a Redis
    that does not answer (until its client's timeout)."""
    started = time.monotonic()
    try:
        return request()
    finally:
        took = time.monotonic() - started
        assert took < within, f"a request took {took:.1f} s: it waited on Redis"


def test_redis_going_away_fails_open_or_closed_as_configured(gateway, mock_upstream, redis_server):
    redis = redis_server()
    mock = mock_upstream()
    keys = base_keys(requests_per_minute=1000)
    limits = {on_error: redis_limits(redis, on_error, timeout_ms=200) for on_error in ("open", "closed")}
    opened = start(gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=limits["open"])
    closed = start(gateway, mock, keys=keys, server=ADMIN_SERVER, env=BASE_ENV, limits=limits["closed"])
    for gw in (opened, closed):
        chat(gw.client(api_key=LIMITED))

    redis.kill()
    went_away = time.monotonic()
    for i in range(6):
        # No request waits on the dead Redis: each is answered in well under
        # 3 s, loaded machine or not (one that waited would run into its
        # client's 10 s timeout).
        r = quick(lambda: chat(opened.client(api_key=LIMITED, timeout=10)))
        assert r.choices[0].message.content.startswith("You said:")
        with pytest.raises(openai.InternalServerError) as e:
            quick(lambda: chat(closed.client(api_key=LIMITED, timeout=10)))
        assert e.value.status_code == 503 and e.value.body["code"] == "limits_unavailable"
        with pytest.raises(anthropic.InternalServerError) as e:
            quick(lambda: message(closed.anthropic_client(api_key=LIMITED, timeout=10)))
        assert e.value.status_code == 503 and e.value.body["type"] == "error"
        time.sleep(0.3 if i < 5 else 0)
    # Keys without limits never touch Redis.
    assert chat(closed.client(api_key=ALPHA)).choices[0].message.content.startswith("You said:")
    # Logged, but not once per request: at most once every 10 s (and a line
    # or two more), however long the requests above took.
    allowed = 3 + int((time.monotonic() - went_away) // 10)
    for gw in (opened, closed):
        assert gw.proc.popen.poll() is None
        log = gw.proc.stderr()
        assert "limits: Redis admission failed" in log or "limits: Redis accounting failed" in log
        assert log.count("limits: Redis") <= allowed, log

    # Redis comes back: the fail-closed gateway serves again within seconds.
    redis.start()
    wait_until(
        lambda: chat(closed.client(api_key=LIMITED, timeout=10)),
        timeout=30,
        interval=0.3,
        ignoring=(openai.InternalServerError,),
        what=lambda: f"the fail-closed gateway serves again; its log:\n{closed.proc.stderr()}",
    )
    assert "Redis answers again" in closed.proc.stderr()
    for gw in (opened, closed):
        still_serves(gw)


def test_a_hung_redis_costs_at_most_its_timeout(gateway, mock_upstream, redis_server):
    """Redis stops answering (SIGSTOP) rather than going away: requests wait at
    most `timeout_ms` for it, then are served without it (fail open)."""
    redis = redis_server()
    gw = start(
        gateway,
        mock_upstream(),
        keys=base_keys(requests_per_minute=1000),
        server=ADMIN_SERVER,
        env=BASE_ENV,
        limits=redis_limits(redis, "open", timeout_ms=200),
    )
    # A request that waited on the hung Redis would run into this timeout.
    client = gw.client(api_key=LIMITED, timeout=10)
    chat(client)
    redis.popen.send_signal(signal.SIGSTOP)
    try:
        for _ in range(5):
            quick(lambda: chat(client))
    finally:
        redis.popen.send_signal(signal.SIGCONT)
    still_serves(gw)


def test_config_errors_name_the_key(run_check, config_text, mock_upstream):
    def check(**kw):
        return run_check(
            config_text(
                providers={"up": {"base_url": "http://127.0.0.1:9/v1"}},
                models={"m1": {"provider": "up"}},
                **kw,
            )
        )

    r = check(keys={"a": {"key_sha256": "abc"}})
    assert r.returncode == 1 and "keys.a.key_sha256" in r.stderr, r.stderr
    r = check(keys={"a": {"key_sha256": sha("x"), "key_env": "X"}})
    assert r.returncode == 1 and "keys.a" in r.stderr and "exactly one" in r.stderr, r.stderr
    r = check(keys={"a": {"key_sha256": sha("x"), "models": ["nope"]}})
    assert r.returncode == 1 and "keys.a.models[0]" in r.stderr, r.stderr
    r = check(keys={"a": {"key_env": "SWITCHYARD_TEST_SURELY_UNSET"}})
    assert r.returncode == 1 and "keys.a.key_env" in r.stderr, r.stderr
    r = check(keys={"a": {"key_sha256": sha("x")}}, limits={"backend": "redis"})
    assert r.returncode == 1 and "limits.url" in r.stderr, r.stderr
    r = check(keys={"a": {"key_sha256": sha("x"), "requests_per_minute": 0}})
    assert r.returncode == 1 and "keys.a.requests_per_minute" in r.stderr, r.stderr
    r = check(keys={"a": {"key_sha256": sha("x"), "daily_budget_usd": 2.5}})
    assert r.returncode == 0, r.stderr
