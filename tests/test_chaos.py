"""Chaos: three upstreams injecting ~30% faults (500, 429, stalls past the
timeout, streams cut before and after content) and one hard down. 2,000
requests, half streaming: every request succeeds except streams cut after
content reached the client (those end with a clean error event), and the
breaker stops traffic to the dead upstream after its threshold."""

import concurrent.futures as cf

import openai

from helpers import stream_text


def test_chaos(mock_upstream, gateway):
    dead = mock_upstream("--fail-status", "500")
    chaotic = [mock_upstream("--chaos", "0.3", "--label", f"c{i}") for i in range(3)]
    providers = {"dead": {"base_url": dead.url}}
    models = {"m-dead": {"provider": "dead"}}
    for i, m in enumerate(chaotic):
        # A chaos stall is 2 s before the first byte: 1 s tells it from a
        # healthy answer on a loaded machine by a second either way. The
        # mock streams without pauses, so only load could stall mid-stream;
        # the idle timeout leaves room for that.
        providers[f"p{i}"] = {"base_url": m.url, "first_byte_timeout_ms": 1000, "idle_timeout_ms": 10000}
        models[f"m{i}"] = {"provider": f"p{i}"}
    gw = gateway(
        providers=providers,
        models=models,
        routes={
            "main": {
                "models": ["m-dead", "m0", "m1", "m2"],
                "retry": {"attempts_per_target": 3, "backoff_ms": 5, "max_backoff_ms": 20},
            }
        },
        # 12 failures in a row: certain for the dead upstream, ~0.3^12 for a
        # chaotic one, so only the dead one's breaker opens.
        breaker={"consecutive_failures": 12, "error_rate": 0.95, "window": 100, "cooldown_ms": 600000},
    )

    def one(i):
        c = gw.client(timeout=60)
        msg = [{"role": "user", "content": f"request {i}"}]
        try:
            if i % 2:
                chunks = c.chat.completions.create(model="main", messages=msg, stream=True)
                text = stream_text(chunks)
            else:
                text = c.chat.completions.create(model="main", messages=msg).choices[0].message.content
        except openai.APIError as e:
            return ("error", i, getattr(e, "code", None), str(e))
        return ("ok", i, text, None)

    with cf.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(2000)))

    errors = [r for r in results if r[0] == "error"]
    late_breaks = sum(m.stats()["late_breaks"] for m in chaotic)
    # The only failures are streams cut after content: they cannot fail over.
    for r in errors:
        assert r[1] % 2 == 1, f"a non-streaming request failed: {r}"
        assert r[2] == "stream_interrupted", f"unexpected failure: {r}"
    assert len(errors) == late_breaks, (len(errors), late_breaks)
    for kind, i, text, _ in results:
        if kind == "ok":
            assert text.endswith(f"] You said: request {i}"), text
    # Faults really happened, and the dead upstream saw exactly the breaker's threshold.
    assert sum(m.stats()["failures"] for m in chaotic) > 300
    # 12 to open it, plus at most one per client already on its way there.
    at_open = dead.stats()["chat_requests"]
    assert 12 <= at_open <= 12 + 16, at_open
    with cf.ThreadPoolExecutor(16) as pool:
        more = list(pool.map(one, range(2000, 2100)))
    assert dead.stats()["chat_requests"] == at_open, "an open breaker sent no more traffic"
    for r in more:
        assert r[0] == "ok" or (r[1] % 2 == 1 and r[2] == "stream_interrupted"), r
