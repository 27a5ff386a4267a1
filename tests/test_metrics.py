"""`GET /metrics`: Prometheus counters that follow real traffic: attempts by
result, tokens and cost at the configured prices (streams included), policy
fallbacks, reloads, HTTP statuses."""

import re

import openai
import pytest

LINE = re.compile(r"^(\w+)\{?(.*?)\}? ([0-9.eE+-]+|NaN|\+Inf)$")


def scrape(gw) -> dict[tuple[str, frozenset], float]:
    r = gw.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    out = {}
    for line in r.text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, line
        labels = frozenset(tuple(kv.split("=", 1)) for kv in re.findall(r'\w+="[^"]*"', m.group(2)))
        out[(m.group(1), frozenset((k, v.strip('"')) for k, v in labels))] = float(m.group(3))
    return out


def value(metrics, name, **labels) -> float:
    want = frozenset(labels.items())
    hits = [v for (n, ls), v in metrics.items() if n == name and want <= ls]
    assert hits, (name, labels)
    return sum(hits)


def test_metrics_follow_traffic(mock_upstream, gateway):
    good = mock_upstream()
    bad = mock_upstream("--fail-status", 500)
    gw = gateway(
        providers={"good": {"base_url": good.url}, "bad": {"base_url": bad.url}},
        models={
            "m": {"provider": "good", "input_price": 2.0, "output_price": 6.0},
            "broken": {"provider": "bad"},
        },
        routes={
            "main": {"models": ["broken", "m"]},
            "misconfigured": {"policy": "task-router", "models": ["m"], "policy_config": {"tiers": 1}},
        },
    )
    c = gw.client()
    prompt = completion = 0
    for i in range(3):
        r = c.chat.completions.create(model="main", messages=[{"role": "user", "content": f"hello number {i}"}])
        prompt += r.usage.prompt_tokens
        completion += r.usage.completion_tokens
    chunks = list(
        c.chat.completions.create(
            model="m",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "a streamed one"}],
        )
    )
    usage = chunks[-1].usage
    prompt += usage.prompt_tokens
    completion += usage.completion_tokens
    r = c.chat.completions.create(model="misconfigured", messages=[{"role": "user", "content": "x"}])
    prompt += r.usage.prompt_tokens
    completion += r.usage.completion_tokens
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])

    m = scrape(gw)
    assert value(m, "switchyard_attempts_total", model="broken", result="upstream") == 3
    assert value(m, "switchyard_attempts_total", model="m", result="ok") == 5
    assert value(m, "switchyard_tokens_total", model="m", kind="prompt") == prompt
    assert value(m, "switchyard_tokens_total", model="m", kind="completion") == completion
    assert value(m, "switchyard_cost_usd_total", model="m") == pytest.approx(
        (prompt * 2.0 + completion * 6.0) / 1e6, rel=1e-6
    )
    assert value(m, "switchyard_attempt_duration_seconds_count", model="m") == 5
    assert value(m, "switchyard_http_requests_total", endpoint="chat_completions", status="200") == 5
    assert value(m, "switchyard_http_requests_total", endpoint="chat_completions", status="404") == 1
    assert value(m, "switchyard_policy_fallbacks_total", route="misconfigured", reason="policy-error") == 1
    assert value(m, "switchyard_in_flight", model="m") == 0
    assert value(m, "switchyard_generation") == 1
    # The warm pool: three decisions on `main` made at most a few instances.
    assert 1 <= value(m, "switchyard_policy_instances_created_total", route="main") <= 3
