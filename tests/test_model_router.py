"""Model-powered routing end to end: the `model-router` policy asks a
classifier model (a mock-upstream with a fixed reply) through the host's
`complete` import which tier a request needs; the host caches answers, gives
up after the policy's timeout and never counts the wait against the policy's
own deadline. Also the outcome hook: a policy that learns from `observe`
through the route's state store."""

import time
from pathlib import Path

from test_hot_reload import dump


def router_config(cache_dir, providers: dict, routes: str, plugin_dir: Path | None = None, policy_ms: int = 50) -> str:
    text = f'listen = "127.0.0.1:0"\n[plugins]\ncache_dir = "{cache_dir}"\npolicy_timeout_ms = {policy_ms}\n'
    if plugin_dir:
        text += f'dir = "{plugin_dir}"\n'
    for name, mock in providers.items():
        text += f'[providers.{name}]\nadapter = "openai"\nbase_url = "{mock.url}"\n[models.{name}]\nprovider = "{name}"\n'
    return text + routes


def smart_route(timeout_ms=1500, cache_ttl_ms=60000, classifier="tiny") -> str:
    return f"""
[routes.smart]
policy = "model-router"
models = ["small", "big"]
[routes.smart.policy_config]
classifier = "{classifier}"
tiers = {{ simple = ["small"], complex = ["big"] }}
descriptions = {{ simple = "greetings", complex = "proofs and code" }}
default = "simple"
timeout_ms = {timeout_ms}
cache_ttl_ms = {cache_ttl_ms}
"""


def ask(gw, text: str, model="smart"):
    raw = gw.client().chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}]
    )
    labels = dict(kv.split("=", 1) for kv in raw.headers["x-switchyard-labels"].split(",") if "=" in kv)
    return raw.parse().choices[0].message.content, labels


def test_the_classifier_picks_the_tier_and_its_answers_are_cached(mock_upstream, gateway, cache_dir):
    tiny = mock_upstream("--reply", "Complex.")
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    gw = gateway(raw_config=router_config(cache_dir, {"tiny": tiny, "small": small, "big": big}, smart_route()))
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


def test_a_slow_classifier_falls_back_to_the_default_tier(mock_upstream, gateway, cache_dir):
    tiny = mock_upstream("--reply", "complex", "--latency-ms", 3000)
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    gw = gateway(
        raw_config=router_config(cache_dir, {"tiny": tiny, "small": small, "big": big}, smart_route(timeout_ms=300))
    )
    started = time.monotonic()
    text, labels = ask(gw, "prove it")
    elapsed = time.monotonic() - started
    assert text.startswith("[small]"), text
    assert labels["tier"] == "simple" and labels["classifier"] == "failed"
    assert elapsed < 2.5, f"the classifier's timeout did not hold: {elapsed:.2f} s"


def test_waiting_for_the_classifier_does_not_count_against_the_policy_deadline(mock_upstream, gateway, cache_dir):
    # The policy may run 50 ms; the classifier takes 400 ms to answer.
    tiny = mock_upstream("--reply", "complex", "--latency-ms", 400)
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    gw = gateway(
        raw_config=router_config(cache_dir, {"tiny": tiny, "small": small, "big": big}, smart_route(), policy_ms=50)
    )
    text, labels = ask(gw, "write the code")
    assert text.startswith("[big]") and labels["classifier"] == "answered", (text, labels)


def test_a_failing_or_unknown_classifier_falls_back(mock_upstream, gateway, cache_dir):
    tiny = mock_upstream("--fail-status", 500)
    small, big = mock_upstream("--label", "small"), mock_upstream("--label", "big")
    routes = smart_route() + smart_route(classifier="smart").replace("[routes.smart", "[routes.loop")
    gw = gateway(raw_config=router_config(cache_dir, {"tiny": tiny, "small": small, "big": big}, routes))
    text, labels = ask(gw, "prove it")
    assert text.startswith("[small]") and labels["classifier"] == "failed"
    # A classifier that names a route (here: itself) is refused, not recursed into.
    text, labels = ask(gw, "prove it", model="loop")
    assert text.startswith("[small]") and labels["classifier"] == "failed"
    log = gw.proc.log_path.read_text()
    assert "not a route" in log
    # An answer naming no tier: the default tier, labelled as such.
    tiny2 = mock_upstream("--reply", "I am not sure")
    gw2 = gateway(raw_config=router_config(cache_dir, {"tiny": tiny2, "small": small, "big": big}, smart_route()))
    text, labels = ask(gw2, "prove it")
    assert text.startswith("[small]") and labels["classifier"] == "unparsed"


def test_a_policy_learns_from_outcomes(mock_upstream, gateway, cache_dir, tmp_path):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    dump("test-policy", plugin_dir / "test-policy.wasm")
    a, b = mock_upstream("--label", "a"), mock_upstream("--label", "b")
    routes = """
[routes.learn]
policy = "test-policy"
models = ["a", "b"]
policy_config = { mode = "learn" }
"""
    gw = gateway(raw_config=router_config(cache_dir, {"a": a, "b": b}, routes, plugin_dir=plugin_dir))
    _, labels = ask(gw, "one", model="learn")
    assert labels["seen"] == "0"
    # Outcomes are delivered off the request path: wait for them.
    deadline = time.monotonic() + 5
    seen = 0
    for i in range(20):
        _, labels = ask(gw, f"q{i}", model="learn")
        seen = int(labels["seen"])
    while time.monotonic() < deadline and seen < 20:
        _, labels = ask(gw, "again", model="learn")
        seen = int(labels["seen"])
    assert seen >= 20, labels
    assert labels["last"] == "a:ok"
