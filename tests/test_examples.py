"""Every example config validates with `switchyard check`, and the failover
example serves real traffic exactly as its comment says."""

import subprocess
import tomllib
from pathlib import Path

import pytest

from helpers import BIN, base_env

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.toml"))


# The variables `aws_credentials` reads when it names none.
AWS_DEFAULTS = {"access_key_id_env": "AWS_ACCESS_KEY_ID", "secret_access_key_env": "AWS_SECRET_ACCESS_KEY"}


def secret_variables(path: Path) -> set[str]:
    """The environment variables holding the secrets of the example's
    providers: every `api_key_env`, and the key id and secret of every
    `aws_credentials` (the session token is optional)."""
    out = set()
    for provider in tomllib.loads(path.read_text()).get("providers", {}).values():
        if "api_key_env" in provider:
            out.add(provider["api_key_env"])
        if "aws_credentials" in provider:
            aws = provider["aws_credentials"]
            out.update(aws.get(k, default) for k, default in AWS_DEFAULTS.items())
    return out


def test_there_are_examples():
    assert len(EXAMPLES) >= 9


def test_every_adapter_has_an_example():
    adapters = {
        p["adapter"] for path in EXAMPLES for p in tomllib.loads(path.read_text()).get("providers", {}).values()
    }
    assert {"openai", "azure-openai", "anthropic", "gemini", "bedrock"} <= adapters, adapters


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_checks(path: Path, cache_dir: Path):
    env = base_env(cache_dir)
    # Keys are only read, never sent: any value satisfies the check.
    for var in secret_variables(path):
        env[var] = "test-key"
    r = subprocess.run([BIN, "check", "--config", str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout


def test_example_key_variables_are_required(cache_dir: Path):
    path = next(p for p in EXAMPLES if p.name == "openai.toml")
    env = base_env(cache_dir)
    env.pop("OPENAI_API_KEY", None)
    r = subprocess.run([BIN, "check", "--config", str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "providers.openai.api_key_env" in r.stderr and "OPENAI_API_KEY" in r.stderr, r.stderr


def test_bedrock_example_needs_both_auth_styles(cache_dir: Path):
    """One provider signs with AWS credentials, the other sends a Bedrock API
    key: the check names whichever secret is missing."""
    path = next(p for p in EXAMPLES if p.name == "bedrock.toml")
    assert secret_variables(path) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_BEARER_TOKEN_BEDROCK"}
    for missing, key in [
        ("AWS_SECRET_ACCESS_KEY", "providers.bedrock.aws_credentials.secret_access_key_env"),
        ("AWS_BEARER_TOKEN_BEDROCK", "providers.bedrock-key.api_key_env"),
    ]:
        env = base_env(cache_dir)
        for var in secret_variables(path) - {missing}:
            env[var] = "test-key"
        env.pop(missing, None)
        r = subprocess.run([BIN, "check", "--config", str(path)], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stdout
        assert key in r.stderr and missing in r.stderr, r.stderr


def test_failover_example_serves(mock_upstream, gateway):
    flaky = mock_upstream("--fail-status", "500", "--fail-rate", "0.5")
    steady = mock_upstream()
    text = next(p for p in EXAMPLES if p.name == "failover.toml").read_text()
    text = text.replace("http://127.0.0.1:9101/v1", flaky.url).replace("http://127.0.0.1:9102/v1", steady.url)
    gw = gateway(raw_config=text)
    client = gw.client()
    attempts = []
    for i in range(20):
        raw = client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": f"hello {i}"}]
        )
        assert raw.parse().choices[0].message.content == f"You said: hello {i}"
        attempts.append(int(raw.headers["x-switchyard-attempts"]))
    # Both paths were taken: some answered first try, some after failover.
    assert 1 in attempts and 2 in attempts, attempts
    f, s = flaky.stats(), steady.stats()
    # Every request succeeded exactly once; the only failures were flaky's
    # (fewer than 20 requests reach it if its breaker opens).
    assert f["chat_requests"] + s["chat_requests"] == 20 + f["failures"]
    assert f["failures"] == attempts.count(2)
