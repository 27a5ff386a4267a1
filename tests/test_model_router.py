"""Model-powered routing end to end: the `model-router` policy asks a
classifier model (a mock-upstream with a fixed reply) through the host's
`complete` import which tier a request needs; the host caches answers, gives
up after the policy's timeout and never counts the wait against the policy's
own deadline. Also the outcome hook: a policy that learns from `observe`
through the route's state store."""

import time
from pathlib import Path

from helpers import dump, wait_until


def router_gateway(gateway, mocks: dict, routes: dict, plugin_dir: Path | None = None, policy_ms: int = 50):
    """A gateway with one provider and one model per mock, named alike."""
    plugins = {"policy_timeout_ms": policy_ms, **({"dir": plugin_dir} if plugin_dir else {})}
    return gateway(
        plugins=plugins,
        providers={name: {"base_url": mock.url} for name, mock in mocks.items()},
        models={name: {"provider": name} for name in mocks},
        routes=routes,
    )


def smart_route(timeout_ms=10000, cache_ttl_ms=60000, classifier="tiny") -> dict:
    """Route `smart`: the model-router over small and big. The classifier's
    default timeout is roomy, so a classifier that answers is never timed out
    on a loaded machine; the test of the timeout names a short one."""
    return {
        "policy": "model-router",
        "models": ["small", "big"],
        "policy_config": {
            "classifier": classifier,
            "tiers": {"simple": ["small"], "complex": ["big"]},
            "descriptions": {"simple": "greetings", "complex": "proofs and code"},
            "default": "simple",
            "timeout_ms": timeout_ms,
            "cache_ttl_ms": cache_ttl_ms,
        },
    }


def ask(gw, text: str, model="smart"):
    raw = gw.client().chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    labels = dict(kv.split("=", 1) for kv in raw.headers["x-switchyard-labels"].split(",") if "=" in kv)
    return raw.parse().choices[0].message.content, labels


def test_the_classifier_picks_the_tier_and_its_answers_are_cached(mock_upstream, gateway):
    tiny = mock_upstream("--reply", "Complex.")
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    gw = router_gateway(gateway, {"tiny": tiny, "small": small, "big": big}, {"smart": smart_route()})
    text, labels = ask(gw, "prove that there are infinitely many primes")
    assert text.startswith("[big]"), text
    assert labels == {"policy": "model-router", "tier": "complex", "classifier": "answered"}
    assert tiny.stats()["chat_requests"] == 1
    # The same prompt again: the host's cache answers, the classifier is not asked.
    text, labels = ask(gw, "prove that there are infinitely many primes")
    assert text.startswith("[big]") and labels["classifier"] == "cached"
    assert tiny.stats()["chat_requests"] == 1
    # Another prompt is classified afresh.
    ask(gw, "and another one")
    assert tiny.stats()["chat_requests"] == 2
    # The policy never saw the key of the classifier's provider, and the
    # classifier request is an ordinary chat request with the system prompt.
    assert small.stats()["chat_requests"] == 0 and big.stats()["chat_requests"] == 3


def test_a_slow_classifier_falls_back_to_the_default_tier(mock_upstream, gateway):
    tiny = mock_upstream("--hang")  # never answers
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    gw = router_gateway(gateway, {"tiny": tiny, "small": small, "big": big}, {"smart": smart_route(timeout_ms=300)})
    started = time.monotonic()
    text, labels = ask(gw, "prove it")
    elapsed = time.monotonic() - started
    assert text.startswith("[small]"), text
    assert labels["tier"] == "simple" and labels["classifier"] == "failed"
    # 300 ms, and seconds to spare; without the timeout the client gives up at 20 s.
    assert elapsed < 10, f"the classifier's timeout did not hold: {elapsed:.2f} s"


def test_waiting_for_the_classifier_does_not_count_against_the_policy_deadline(mock_upstream, gateway):
    # The policy may run 50 ms; the classifier takes 400 ms to answer.
    tiny = mock_upstream("--reply", "complex", "--latency-ms", 400)
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    mocks = {"tiny": tiny, "small": small, "big": big}
    gw = router_gateway(gateway, mocks, {"smart": smart_route()}, policy_ms=50)
    text, labels = ask(gw, "write the code")
    assert text.startswith("[big]") and labels["classifier"] == "answered", (text, labels)


def test_a_failing_or_unknown_classifier_falls_back(mock_upstream, gateway):
    tiny = mock_upstream("--fail-status", 500)
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    routes = {"smart": smart_route(), "loop": smart_route(classifier="smart")}
    gw = router_gateway(gateway, {"tiny": tiny, "small": small, "big": big}, routes)
    text, labels = ask(gw, "prove it")
    assert text.startswith("[small]") and labels["classifier"] == "failed"
    # A classifier that names a route (here: itself) is refused, not recursed into.
    text, labels = ask(gw, "prove it", model="loop")
    assert text.startswith("[small]") and labels["classifier"] == "failed"
    log = gw.proc.log_path.read_text()
    assert "not a route" in log
    # An answer naming no tier: the default tier, labelled as such.
    tiny2 = mock_upstream("--reply", "I am not sure")
    gw2 = router_gateway(gateway, {"tiny": tiny2, "small": small, "big": big}, {"smart": smart_route()})
    text, labels = ask(gw2, "prove it")
    assert text.startswith("[small]") and labels["classifier"] == "unparsed"


def test_a_policy_learns_from_outcomes(mock_upstream, gateway, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    dump("test-policy", plugin_dir / "test-policy.wasm")
    a, b = mock_upstream("--label", "a"), mock_upstream("--label", "b")
    routes = {"learn": {"policy": "test-policy", "models": ["a", "b"], "policy_config": {"mode": "learn"}}}
    gw = router_gateway(gateway, {"a": a, "b": b}, routes, plugin_dir=plugin_dir)
    _, labels = ask(gw, "one", model="learn")
    assert labels["seen"] == "0"
    for i in range(20):
        ask(gw, f"q{i}", model="learn")

    # Outcomes are delivered off the request path: wait for them.
    def learned() -> dict | None:
        _, labels = ask(gw, "again", model="learn")
        return labels if int(labels["seen"]) >= 20 else None

    labels = wait_until(learned, timeout=30, what="the policy has seen the outcomes of the 20 requests")
    assert labels["last"] == "a:ok"
