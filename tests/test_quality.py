"""Answer quality end to end: evaluators score a sample of a route's answers
off the request path, the rolling quality per (route, model, score) raises
an alert (and one webhook delivery) when a model regresses, policies see the
measured quality, the application's feedback lands on the right record, a
shadow model is compared without any client seeing its answers, and 0.1.0
plugins serve beside 0.2.0 ones. Upstreams are `mock-upstream` playing models
of known skill on `examples/bench/tasks.jsonl`; the client is the official
`openai` SDK."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from helpers import dump, httpx, make_config, wait_until

ROOT = Path(__file__).resolve().parent.parent
TASKS = [json.loads(line) for line in (ROOT / "examples/bench/tasks.jsonl").read_text().splitlines()]
# Arithmetic and classification answers compare as exact strings.
EXACT = [t for t in TASKS if t["task"] in ("arith", "classify")]


def ask(client: openai.OpenAI, model: str, task: dict[str, Any]) -> Any:
    return client.chat.completions.create(
        model=model, messages=task["messages"], metadata={"expected": str(task["expected"])}
    )


def quality_series(gw) -> list[dict[str, Any]]:
    r = gw.get("/admin/quality")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["series"] if isinstance(body, dict) else body


def samples(gw, route: str, model: str, score: str = "match") -> int:
    for s in quality_series(gw):
        if (s["route"], s["model"], s["score"]) == (route, model, score):
            return int(s["observed"])
    return 0


def alerts(gw) -> list[dict[str, Any]]:
    r = gw.get("/admin/alerts")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["alerts"] if isinstance(body, dict) else body


def config(
    cache_dir: Path,
    mocks: dict[str, Any],
    models: dict[str, dict[str, Any]],
    route: str,
    extra: str,
    plugins: dict[str, Any] | None = None,
) -> str:
    base = make_config(
        cache_dir=cache_dir,
        providers={name: {"base_url": m.url} for name, m in mocks.items()},
        models=models,
        plugins=plugins,
    )
    return base + "\n" + route + "\n" + extra


MATCH = '[evaluators.match]\nplugin = "match"\nconfig = { mode = "exact" }\n'


class Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        n = int(self.headers.get("content-length", 0))
        self.received.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_regression_is_alerted_after_the_change_and_not_before(gateway, mock_upstream, cache_dir):
    mock = mock_upstream("--skill", 0.9, "--skill-after", "300:0.75", "--seed", 7)
    received: list[dict[str, Any]] = []
    handler = type("H", (Hook,), {"received": received})
    hook = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        text = config(
            cache_dir,
            {"sim": mock},
            {"m": {"provider": "sim", "input_price": 1.0, "output_price": 2.0}},
            '[routes.r]\nmodels = ["m"]\nevaluate = [{ evaluator = "match", sample = 1.0 }]\n',
            MATCH
            + "[quality]\nbaseline_samples = 250\nthreshold = 10.0\n"
            + f'[quality.webhook]\nurl = "http://127.0.0.1:{hook.server_address[1]}/alerts"\n',
        )
        gw = gateway(raw_config=text)
        client = gw.client()
        tasks = (EXACT * 3)[:600]
        for t in tasks[:300]:
            ask(client, "r", t)
        wait_until(lambda: samples(gw, "r", "m") >= 300, timeout=30, what="300 scores")
        assert alerts(gw) == [], "no alert before the change"
        for t in tasks[300:]:
            ask(client, "r", t)
        wait_until(lambda: samples(gw, "r", "m") >= 600, timeout=30, what="600 scores")
        opened = [a for a in alerts(gw) if a["route"] == "r" and a["model"] == "m"]
        assert len(opened) == 1, opened
        a = opened[0]
        assert a["score"] == "match" and a["baseline"] > 0.85 and a["current"] < a["baseline"]
        # The detector starts after the 250 baseline samples; the change is
        # at sample 300.
        delay = a["samples"] - 50
        assert 0 < delay <= 200, a
        wait_until(lambda: received, timeout=10, what="the webhook delivery")
        assert [e["event"] for e in received] == ["alert.opened"], received
        assert received[0]["route"] == "r" and received[0]["model"] == "m"
        metrics = httpx.get(f"{gw.url}/metrics", timeout=10).text
        assert 'switchyard_quality_alerts_total{route="r",model="m",score="match"} 1' in metrics
        assert 'switchyard_evaluations_total{evaluator="match",result="scored"} 600' in metrics
    finally:
        hook.shutdown()


def test_cost_aware_moves_off_a_cheap_model_that_regresses(gateway, mock_upstream, cache_dir):
    cheap = mock_upstream("--skill", 0.3, "--seed", 3)
    good = mock_upstream("--skill", 0.97, "--seed", 3)
    text = config(
        cache_dir,
        {"cheap": cheap, "good": good},
        {
            "cheap": {"provider": "cheap", "input_price": 0.1, "output_price": 0.2, "quality": 0.9},
            "good": {"provider": "good", "input_price": 5.0, "output_price": 10.0, "quality": 0.95},
        },
        '[routes.r]\npolicy = "cost-aware"\nmodels = ["cheap", "good"]\n'
        "policy_config = { min_quality = 0.8 }\n"
        'evaluate = [{ evaluator = "match", sample = 1.0 }]\n',
        MATCH + "[quality]\nmin_samples = 30\n",
    )
    gw = gateway(raw_config=text)
    client = gw.client()
    first = [ask(client, "r", t).model for t in EXACT[:40]]
    # The config says the cheap model is good enough: it serves first.
    assert first[:20].count(first[0]) == 20, first
    wait_until(lambda: samples(gw, "r", "cheap") >= 30, timeout=30, what="30 scores of the cheap model")
    served = []
    for t in EXACT[40:100]:
        r = client.chat.completions.with_raw_response.create(
            model="r", messages=t["messages"], metadata={"expected": str(t["expected"])}
        )
        served.append(r.headers["x-switchyard-model"])
    # Its measured quality (~0.3) replaced the configured 0.9: traffic moved.
    assert served.count("good") == len(served), served


def test_feedback_lands_on_the_callers_own_record(gateway, mock_upstream, cache_dir):
    mock = mock_upstream()
    text = config(
        cache_dir,
        {"sim": mock},
        {"m": {"provider": "sim"}},
        '[routes.r]\nmodels = ["m"]\n',
        '[keys.alice]\nkey_sha256 = "{a}"\n[keys.bob]\nkey_sha256 = "{b}"\n'.format(
            a=__import__("hashlib").sha256(b"sk-alice").hexdigest(),
            b=__import__("hashlib").sha256(b"sk-bob").hexdigest(),
        )
        + '[server]\nadmin_key_env = "ADMIN_KEY"\n',
    )
    gw = gateway(raw_config=text, env={"ADMIN_KEY": "adm"})
    r = gw.client(api_key="sk-alice").chat.completions.with_raw_response.create(
        model="r", messages=[{"role": "user", "content": "rate me"}]
    )
    rid = r.headers["x-switchyard-request-id"]
    fb = {"request_id": rid, "name": "thumbs", "value": 1, "comment": "great"}
    other = httpx.post(f"{gw.url}/v1/feedback", json=fb, headers={"authorization": "Bearer sk-bob"}, timeout=10)
    assert other.status_code == 404, other.text
    assert other.json()["error"]["code"] == "request_not_found"
    nokey = httpx.post(f"{gw.url}/v1/feedback", json=fb, timeout=10)
    assert nokey.status_code == 401, nokey.text
    bad = httpx.post(
        f"{gw.url}/v1/feedback", json={**fb, "value": 7}, headers={"authorization": "Bearer sk-alice"}, timeout=10
    )
    assert bad.status_code == 400 and "between 0 and 1" in bad.json()["error"]["message"]
    ok = httpx.post(f"{gw.url}/v1/feedback", json=fb, headers={"authorization": "Bearer sk-alice"}, timeout=10)
    assert ok.status_code == 200, ok.text

    def scored() -> list[dict[str, Any]]:
        rec = httpx.get(f"{gw.url}/admin/requests/{rid}", headers={"authorization": "Bearer adm"}, timeout=10)
        return rec.json().get("scores", []) if rec.status_code == 200 else []

    scores = wait_until(scored, timeout=10, what="the feedback on the record")
    assert scores == [
        {
            "request_id": rid,
            "at_ms": scores[0]["at_ms"],
            "source": "feedback",
            "name": "thumbs",
            "value": 1.0,
            "explanation": "great",
            "model": "m",
            "route": "r",
        }
    ]


def test_a_shadow_model_is_compared_and_capped_without_touching_clients(gateway, mock_upstream, cache_dir):
    served = mock_upstream("--skill", 0.95, "--seed", 5)
    cand = mock_upstream("--skill", 0.4, "--seed", 5)
    text = config(
        cache_dir,
        {"served": served, "cand": cand},
        {
            "m": {"provider": "served", "input_price": 1.0, "output_price": 1.0},
            "cand": {"provider": "cand", "input_price": 1000.0, "output_price": 1000.0},
        },
        '[routes.r]\nmodels = ["m"]\nevaluate = [{ evaluator = "match", sample = 1.0 }]\n'
        'shadow = { model = "cand", sample = 1.0, max_shadow_usd_per_day = 0.5 }\n',
        MATCH,
    )
    gw = gateway(raw_config=text)
    client = gw.client()
    answers = [ask(client, "r", t) for t in EXACT[:60]]
    # Every client answer came from the served model.
    assert {a.model for a in answers} == {answers[0].model}

    def report() -> dict[str, Any] | None:
        body = gw.get("/admin/shadow").json()
        rows = body["comparisons"]
        return body if rows and rows[0]["comparisons"] >= 10 else None

    body = wait_until(report, timeout=30, what="shadow comparisons")
    row = body["comparisons"][0]
    assert (row["route"], row["served"], row["candidate"], row["score"]) == ("r", "m", "cand", "match")
    # The candidate's skill is far below the served model's: it loses.
    assert row["losses"] > row["wins"] and row["ci95"][1] < 0.5, row
    # Shadow spend is capped for the day: later mirrors were skipped.
    spend = body["routes"]["r"]
    assert spend["capped"] > 0 and spend["spent_today_usd"] >= 0.5, spend
    # ... and recorded in the log as the operator's, not a client's.
    recs = httpx.get(f"{gw.url}/admin/requests", params={"limit": 1000}, timeout=10).json()["requests"]
    shadows = [r for r in recs if r.get("shadow")]
    assert shadows and all("key" not in r and r["model"] == "cand" for r in shadows)
    assert shadows[0]["labels"]["shadow_of"] in {r["id"] for r in recs if not r.get("shadow")}


@pytest.mark.parametrize("kind", ["policy", "adapter"])
def test_0_1_0_plugins_serve_beside_0_2_0_ones(gateway, mock_upstream, cache_dir, tmp_path, kind):
    fixtures = ROOT / "host/tests/fixtures/wit-0.1.0"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "openai-v010.wasm").write_bytes((fixtures / "openai.wasm").read_bytes())
    (plugins / "cost-aware-v010.wasm").write_bytes((fixtures / "cost-aware.wasm").read_bytes())
    mock = mock_upstream()
    gw = gateway(
        providers={"old": {"base_url": mock.url, "adapter": "openai-v010"}, "new": {"base_url": mock.url}},
        models={"via-old": {"provider": "old", "input_price": 1, "output_price": 1}, "via-new": {"provider": "new"}},
        routes={
            "old-policy": {"policy": "cost-aware-v010", "models": ["via-old", "via-new"]},
            "new-policy": {"policy": "cost-aware", "models": ["via-new"]},
        },
        plugins={"dir": str(plugins)},
    )
    listing = {p["name"]: p for p in gw.get("/admin/plugins").json()["plugins"]}
    assert listing["openai-v010"]["wit_version"] == "0.1.0"
    assert listing["cost-aware-v010"]["wit_version"] == "0.1.0"
    assert listing["openai"]["wit_version"] == "0.2.0" and listing["cost-aware"]["wit_version"] == "0.2.0"
    client = gw.client()
    model = "old-policy" if kind == "policy" else "via-old"
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "old and new"}])
    assert r.choices[0].message.content == "You said: old and new"
    stream = client.chat.completions.create(
        model="via-old", messages=[{"role": "user", "content": "streamed"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "You said: streamed"


def test_hostile_evaluators_are_counted_and_never_touch_the_request(gateway, mock_upstream, cache_dir, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    dump("test-evaluator", plugins / "hostile-eval.wasm")
    mock = mock_upstream("--reply", "fine")
    modes = ["trap", "loop", "alloc", "out-of-range", "error", "length"]
    evaluators = "".join(f'[evaluators.{m}]\nplugin = "hostile-eval"\nconfig = {{ mode = "{m}" }}\n' for m in modes)
    rules = ", ".join(f'{{ evaluator = "{m}" }}' for m in modes)
    text = config(
        cache_dir,
        {"sim": mock},
        {"m": {"provider": "sim"}},
        f'[routes.r]\nmodels = ["m"]\nevaluate = [{rules}]\n',
        evaluators,
        plugins={"dir": str(plugins), "evaluator_timeout_ms": 200, "memory_limit_mb": 16},
    )
    gw = gateway(raw_config=text)
    client = gw.client()
    for i in range(5):
        r = client.chat.completions.create(model="r", messages=[{"role": "user", "content": f"q{i}"}])
        assert r.choices[0].message.content == "fine"

    def counts() -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for line in httpx.get(f"{gw.url}/metrics", timeout=10).text.splitlines():
            if line.startswith("switchyard_evaluations_total{"):
                labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1 : line.index("}")].split(","))
                ev, res = labels["evaluator"].strip('"'), labels["result"].strip('"')
                out.setdefault(ev, {})[res] = float(line.rsplit(" ", 1)[1])
        return out

    want = {"trap": "fault", "loop": "fault", "alloc": "fault", "out-of-range": "fault", "error": "error"}
    got = wait_until(
        lambda: (c := counts()) and all(c.get(m, {}).get(r) == 5 for m, r in want.items()) and c,
        timeout=60,
        what=lambda: f"every evaluator run 5 times: {counts()}",
    )
    assert got["length"] == {"scored": 5}, got
    # The faults are the plugin's, as for any plugin.
    plugin = next(p for p in gw.get("/admin/plugins").json()["plugins"] if p["name"] == "hostile-eval")
    assert plugin["kind"] == "evaluator" and plugin["wit_version"] == "0.2.0"
    assert plugin["errors"]["trap"] >= 5 and plugin["errors"]["deadline"] >= 5, plugin["errors"]
    assert plugin["errors"]["memory_limit"] >= 5 and plugin["errors"]["bad_return"] >= 5, plugin["errors"]
    # The gateway still serves, and the well-behaved evaluator scored every answer.
    assert client.chat.completions.create(model="r", messages=[{"role": "user", "content": "still"}]).choices
    assert samples(gw, "r", "m", "length") >= 5


def test_a_judges_model_calls_are_logged_as_the_evaluators_own(gateway, mock_upstream, cache_dir, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    dump("test-evaluator", plugins / "judging.wasm")
    served = mock_upstream("--reply", "an answer")
    judge = mock_upstream("--reply", "SCORE: 5")
    text = config(
        cache_dir,
        {"served": served, "judge": judge},
        {
            "m": {"provider": "served", "input_price": 1.0, "output_price": 1.0},
            "judge-model": {"provider": "judge", "input_price": 3.0, "output_price": 15.0},
        },
        '[routes.r]\nmodels = ["m"]\nevaluate = [{ evaluator = "j" }]\n',
        '[evaluators.j]\nplugin = "judging"\nconfig = { mode = "judge", model = "judge-model" }\n',
        plugins={"dir": str(plugins)},
    )
    gw = gateway(raw_config=text)
    r = gw.client().chat.completions.with_raw_response.create(model="r", messages=[{"role": "user", "content": "hi"}])
    rid = r.headers["x-switchyard-request-id"]

    def logged() -> list[dict[str, Any]]:
        recs = httpx.get(f"{gw.url}/admin/requests", params={"limit": 100}, timeout=10).json()["requests"]
        return [x for x in recs if x.get("labels", {}).get("evaluates") == rid]

    (call,) = wait_until(logged, timeout=20, what="the judge's call in the log")
    assert call["labels"]["evaluator"] == "j" and call["model"] == "judge-model" and "key" not in call
    assert call["dialect"] == "evaluator" and call["cost_usd"] > 0
    rec = wait_until(
        lambda: (x := httpx.get(f"{gw.url}/admin/requests/{rid}", timeout=10).json()).get("scores") and x,
        timeout=20,
        what="the judge's score on the record",
    )
    assert rec["scores"][0]["source"] == "evaluator:j" and rec["scores"][0]["explanation"] == "SCORE: 5"


def test_a_pairwise_evaluator_judges_the_shadow_head_to_head(gateway, mock_upstream, cache_dir, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    dump("test-evaluator", plugins / "pairwise.wasm")
    short = mock_upstream("--reply", "short")
    long = mock_upstream("--reply", "a much longer answer")
    text = config(
        cache_dir,
        {"short": short, "long": long},
        {"m": {"provider": "short"}, "cand": {"provider": "long"}},
        '[routes.r]\nmodels = ["m"]\nshadow = { model = "cand", sample = 1.0, compare = "longer" }\n',
        '[evaluators.longer]\nplugin = "pairwise"\nconfig = { mode = "pair-longer" }\n',
        plugins={"dir": str(plugins)},
    )
    gw = gateway(raw_config=text)
    for i in range(8):
        r = gw.client().chat.completions.create(model="r", messages=[{"role": "user", "content": f"q{i}"}])
        assert r.choices[0].message.content == "short"

    def row() -> dict[str, Any] | None:
        rows = [x for x in gw.get("/admin/shadow").json()["comparisons"] if x["score"] == "compare:longer"]
        return rows[0] if rows and rows[0]["comparisons"] >= 8 else None

    r = wait_until(row, timeout=20, what="8 head-to-head comparisons")
    # Asked in both orders, the longer candidate is preferred every time.
    assert (r["wins"], r["ties"], r["losses"]) == (8, 0, 0) and r["ci95"][0] > 0.6, r


def test_an_evaluator_file_replaced_on_disk_takes_over(gateway, mock_upstream, cache_dir, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    dump("test-evaluator", plugins / "mine.wasm")
    mock = mock_upstream("--reply", "I'm sorry, but I can't help with that.")
    text = config(
        cache_dir,
        {"sim": mock},
        {"m": {"provider": "sim"}},
        '[routes.r]\nmodels = ["m"]\nevaluate = [{ evaluator = "mine" }]\n',
        '[evaluators.mine]\nplugin = "mine"\n',
        plugins={"dir": str(plugins)},
    )
    gw = gateway(raw_config=text)
    client = gw.client()
    client.chat.completions.create(model="r", messages=[{"role": "user", "content": "one"}])
    wait_until(lambda: samples(gw, "r", "m", "length") == 1, timeout=10, what="a length score")
    # The built-in refusal evaluator, dropped in under the same name.
    tmp = tmp_path / "refusal.wasm"
    dump("refusal", tmp)
    tmp.replace(plugins / "mine.wasm")

    def swapped() -> bool:
        client.chat.completions.create(model="r", messages=[{"role": "user", "content": "again"}])
        return samples(gw, "r", "m", "refusal") >= 1

    wait_until(swapped, timeout=20, interval=0.3, what="scores from the replaced evaluator")
    series = {s["score"]: s for s in quality_series(gw) if s["route"] == "r"}
    assert series["refusal"]["rolling"]["mean"] == 0.0, series


def test_a_pair_judge_biased_to_one_position_gives_ties(gateway, mock_upstream, cache_dir):
    served = mock_upstream("--reply", "Paris")
    cand = mock_upstream("--reply", "Lyon")
    # A judge that always prefers the first answer it is shown.
    judge = mock_upstream("--reply", "WINNER: A\nREASON: the first one reads better.")
    text = config(
        cache_dir,
        {"served": served, "cand": cand, "judge": judge},
        {"m": {"provider": "served"}, "cand": {"provider": "cand"}, "judge-model": {"provider": "judge"}},
        '[routes.r]\nmodels = ["m"]\nshadow = { model = "cand", sample = 1.0, compare = "pairwise" }\n',
        '[evaluators.pairwise]\nplugin = "judge"\n'
        'config = { mode = "pair", model = "judge-model", rubric = "Which answer is correct?" }\n',
    )
    gw = gateway(raw_config=text)
    for i in range(6):
        gw.client().chat.completions.create(model="r", messages=[{"role": "user", "content": f"capital {i}?"}])

    def row() -> dict[str, Any] | None:
        rows = [x for x in gw.get("/admin/shadow").json()["comparisons"] if x["score"] == "compare:pairwise"]
        return rows[0] if rows and rows[0]["comparisons"] >= 6 else None

    r = wait_until(row, timeout=30, what="6 judged comparisons")
    # Asked in both orders, the bias cancels: every comparison is a tie.
    assert (r["wins"], r["ties"], r["losses"]) == (0, 6, 0), r
