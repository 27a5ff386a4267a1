"""`switchyard bench`: the real binary benchmarks `mock-upstream` models of
known skill, price and latency on examples/bench/tasks.jsonl through the
gateway's own request path, ranks them per task type, writes the routing
table, caches answers, renders its report in a real browser, stops cleanly
on a budget and on Ctrl-C, and replays logged traffic onto candidates."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from browser import render

from helpers import BIN, base_env, free_port, make_config, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "bench"
TASKS = EXAMPLE / "tasks.jsonl"
ARTIFACTS = Path(os.environ.get("SWITCHYARD_ARTIFACTS", ROOT / "artifacts"))

# The example's three models (examples/bench/config.toml).
SKILLS = {
    "small": "arith=0.50,classify=0.97,extract=0.60",
    "medium": "arith=0.85,classify=0.97,extract=0.97",
    "large": "arith=0.97,classify=0.97,extract=0.97",
}
PRICES = {"small": (0.10, 0.40), "medium": (1.0, 4.0), "large": (5.0, 20.0)}
# Per task type, the cheapest model within the margin of the best.
EXPECTED_CHOICE = {"arith": "large", "classify": "small", "extract": "medium"}


def bench(cache_dir: Path, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [BIN, "bench", "--quiet", *args], env=base_env(cache_dir), capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert r.returncode == 0, f"bench failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def three_models(mock_upstream, **flags) -> tuple[dict, dict]:
    mocks = {
        name: mock_upstream("--skill-by-task", skill, "--seed", 1, *flags.get(name, ()))
        for name, skill in SKILLS.items()
    }
    providers = {name: {"base_url": m.url} for name, m in mocks.items()}
    models = {
        name: {"provider": name, "input_price": PRICES[name][0], "output_price": PRICES[name][1]} for name in mocks
    }
    return mocks, {"providers": providers, "models": models}


def write_config(tmp_path: Path, cache_dir: Path, extra: str = "", **kw) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(make_config(cache_dir=cache_dir, **kw) + "\n" + extra)
    return path


def task_type(summary: dict, name: str) -> dict:
    return next(t for t in summary["task_types"] if t["task"] == name)


def row(t: dict, target: str) -> dict:
    return next(r for r in t["targets"] if r["name"] == target)


def requests_seen(mocks: dict) -> int:
    return sum(m.stats()["chat_requests"] for m in mocks.values())


def test_bench_ranks_models_per_task_writes_the_routing_table_and_caches(mock_upstream, tmp_path, cache_dir):
    mocks, kw = three_models(mock_upstream)
    config = write_config(tmp_path, cache_dir, **kw)
    out = tmp_path / "out"
    # Two models first; adding the third later costs only its own requests.
    bench(cache_dir, "--config", str(config), "--dataset", str(TASKS), "--models", "small,medium", "--out", str(out))
    assert requests_seen(mocks) == 600
    r = bench(
        cache_dir,
        "--config",
        str(config),
        "--dataset",
        str(TASKS),
        "--models",
        "small,medium,large",
        "--out",
        str(out),
        "--concurrency",
        "16",
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks"] == 300 and summary["requests"] == {"sent": 300, "cached": 600, "errors": 0, "skipped": 0}
    assert requests_seen(mocks) == 900
    assert mocks["large"].stats()["chat_requests"] == 300
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 900 and all("score" in x for x in results)
    assert sum(x["cached"] for x in results) == 600

    skill = {name: dict(kv.split("=") for kv in s.split(",")) for name, s in SKILLS.items()}
    for task, choice in EXPECTED_CHOICE.items():
        t = task_type(summary, task)
        assert t["tasks"] == 100
        assert t["decision"]["model"] == choice, t["decision"]
        for name in SKILLS:
            q = row(t, name)["quality"]
            # The true skill lies within the 95% interval (a small margin for
            # the 5% of intervals that miss, on a fixed seed this is stable).
            assert q["lo"] - 0.05 <= float(skill[name][task]) <= q["hi"] + 0.05, (task, name, q)
        # The ranking by mean follows the skills where they differ.
        means = {name: row(t, name)["quality"]["mean"] for name in SKILLS}
        if task == "arith":
            assert means["small"] < means["medium"] < means["large"]
        # Equal skills on one seed give the same answers: a zero paired difference.
        if task == "classify":
            assert all(p["diff"]["lo"] == p["diff"]["hi"] == 0 for p in t["pairs"])
        chosen = row(t, choice)
        assert chosen["chosen"] and chosen["within_margin"] and chosen["pareto"]
    # The decision's cost: cheaper models cost less per 1k requests.
    every = task_type(summary, "all")
    assert row(every, "small")["cost_per_1k"] < row(every, "medium")["cost_per_1k"] < row(every, "large")["cost_per_1k"]
    assert every["decision"]["best"] == "large"
    assert task_type(summary, "classify")["decision"]["savings"] > 0.9  # small against large
    # The printed table marks the choice.
    assert "* small" in r.stdout and "* large" in r.stdout

    routing = (out / "routing.toml").read_text()
    assert 'policy = "task-router"' in routing
    assert (
        '"classify" = ["small", ' in routing
        and '"arith" = ["large", ' in routing
        and '"extract" = ["medium", ' in routing
    )
    routed = tmp_path / "routed.toml"
    routed.write_text(config.read_text() + "\n" + routing)
    check = subprocess.run(
        [BIN, "check", "--config", str(routed)], env=base_env(cache_dir), capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stderr

    # A re-run is answered from the cache: no upstream request at all.
    bench(
        cache_dir, "--config", str(config), "--dataset", str(TASKS), "--models", "small,medium,large", "--out", str(out)
    )
    again = json.loads((out / "summary.json").read_text())
    assert again["requests"] == {"sent": 0, "cached": 900, "errors": 0, "skipped": 0}
    assert again["spend_usd"] == 0
    assert requests_seen(mocks) == 900
    assert task_type(again, "arith")["decision"]["model"] == "large"

    # The model-router variant: tiers described by the task types, a classifier.
    bench(
        cache_dir,
        "--config",
        str(config),
        "--dataset",
        str(TASKS),
        "--models",
        "small,medium,large",
        "--out",
        str(out),
        "--emit",
        "model-router",
    )
    mr = (out / "routing.toml").read_text()
    assert 'policy = "model-router"' in mr and 'classifier = "small"' in mr and "arith tasks, like: What is" in mr
    routed.write_text(config.read_text() + "\n" + mr)
    check = subprocess.run(
        [BIN, "check", "--config", str(routed)], env=base_env(cache_dir), capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stderr


def test_example_loop_route_costs_less_at_equal_quality_on_held_out_tasks(tmp_path, cache_dir):
    """examples/bench/run.sh end to end: bench on 70% of the tasks, serve the
    emitted route, bench it against the best single model on the other 30%."""
    base = free_port_block(3)
    out = tmp_path / "loop"
    env = {**base_env(cache_dir), "SWITCHYARD_BIN": BIN, "BENCH_PORT_BASE": str(base)}
    r = subprocess.run([str(EXAMPLE / "run.sh"), str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    for f in ("summary.json", "report.html", "routing.toml"):
        assert (out / f).is_file(), f
    # Served through the gateway, each task type went to its tier's model.
    for task, model in EXPECTED_CHOICE.items():
        assert f"{task} -> {model}" in r.stdout, r.stdout
    # On tasks the decision never saw: the route against `large`.
    held = json.loads((out / "holdout" / "summary.json").read_text())
    built = json.loads((out / "summary.json").read_text())
    assert held["tasks"] + built["tasks"] == 300 and held["tasks"] > 50
    every = task_type(held, "all")
    route, large = row(every, "bench"), row(every, "large")
    assert route["kind"] == "route"
    assert route["cost_per_1k"] < 0.5 * large["cost_per_1k"], (route, large)
    pair = next(p for p in every["pairs"] if {p["a"], p["b"]} == {"bench", "large"})
    sign = 1 if pair["a"] == "bench" else -1
    assert (
        sign * pair["diff"]["mean"] >= -0.02 and min(sign * pair["diff"]["lo"], sign * pair["diff"]["hi"]) >= -0.05
    ), pair
    assert "the route costs" in r.stdout


def test_report_renders_in_chromium_without_network(mock_upstream, tmp_path, cache_dir):
    _, kw = three_models(mock_upstream)
    config = write_config(tmp_path, cache_dir, **kw)
    out = tmp_path / "out"
    bench(
        cache_dir,
        "--config",
        str(config),
        "--dataset",
        str(TASKS),
        "--models",
        "small,medium,large",
        "--out",
        str(out),
        "--limit",
        "60",
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "bench-report.png"
    page = render(out / "report.html", shot)
    assert page["requests"] == [], "the report reached for the network"
    assert page["console_errors"] == []
    assert page["sections"] == ["arith", "classify", "extract", "all"]
    assert page["scatter"] == 4 and page["latency"] == 4
    assert shot.stat().st_size > 10_000


def test_bad_inputs_are_refused_before_anything_is_sent(mock_upstream, tmp_path, cache_dir):
    mocks, kw = three_models(mock_upstream)
    config = write_config(tmp_path, cache_dir, **kw)
    lines = TASKS.read_text().splitlines()[:20]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join([*lines[:5], '{"task": "x", "promt": "typo"}', *lines[5:12], "{not json", *lines[12:]]) + "\n"
    )
    out = tmp_path / "out"
    r = bench(
        cache_dir, "--config", str(config), "--dataset", str(bad), "--models", "small", "--out", str(out), check=False
    )
    assert r.returncode != 0
    assert (
        "line 6: unknown field `promt`" in r.stderr
        and "line 14: not JSON" in r.stderr
        and "nothing was sent" in r.stderr
    )
    assert requests_seen(mocks) == 0

    r = bench(cache_dir, "--config", str(config), "--dataset", str(TASKS), "--models", "small,nope", check=False)
    assert r.returncode != 0 and "unknown model `nope`" in r.stderr and "large, medium, small" in r.stderr
    r = bench(
        cache_dir,
        "--config",
        str(config),
        "--dataset",
        str(TASKS),
        "--models",
        "small",
        "--budget-usd",
        "0",
        check=False,
    )
    assert r.returncode != 0 and "--budget-usd must be more than 0" in r.stderr
    judge = tmp_path / "judge.jsonl"
    judge.write_text('{"prompt": "hi", "eval": {"judge": "is it polite?"}}\n')
    r = bench(cache_dir, "--config", str(config), "--dataset", str(judge), "--models", "small", check=False)
    assert r.returncode != 0 and "line 1: `eval.judge` needs a judge model: pass --judge MODEL" in r.stderr
    assert requests_seen(mocks) == 0


def test_budget_stops_the_run_with_partial_results(mock_upstream, tmp_path, cache_dir):
    mocks, kw = three_models(mock_upstream)
    config = write_config(tmp_path, cache_dir, **kw)
    out = tmp_path / "out"
    # `large` costs ~$0.0002 a request here: a budget of $0.005 buys ~25.
    budget = 0.005
    r = bench(
        cache_dir,
        "--config",
        str(config),
        "--dataset",
        str(TASKS),
        "--models",
        "large",
        "--out",
        str(out),
        "--budget-usd",
        str(budget),
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] == "budget"
    assert 0 < summary["spend_usd"] <= budget
    assert 5 < summary["requests"]["sent"] < 300 and summary["requests"]["skipped"] == 300 - summary["requests"]["sent"]
    assert requests_seen(mocks) == summary["requests"]["sent"]
    assert len((out / "results.jsonl").read_text().splitlines()) == summary["requests"]["sent"]
    assert "stopped early (budget)" in r.stdout


def test_ctrl_c_stops_cleanly_with_partial_results(mock_upstream, tmp_path, cache_dir):
    slow = mock_upstream("--skill", 0.9, "--latency-ms", 200)
    config = write_config(
        tmp_path,
        cache_dir,
        providers={"slow": {"base_url": slow.url}},
        models={"slow": {"provider": "slow", "input_price": 1, "output_price": 1}},
    )
    out = tmp_path / "out"
    p = subprocess.Popen(
        [
            BIN,
            "bench",
            "--quiet",
            "--config",
            str(config),
            "--dataset",
            str(TASKS),
            "--models",
            "slow",
            "--out",
            str(out),
            "--concurrency",
            "4",
        ],
        env=base_env(cache_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once answers are coming in (a loaded machine may take a
    # while to start).
    results = out / "results.jsonl"

    def answering() -> bool:
        assert p.poll() is None, p.communicate()
        return results.is_file() and len(results.read_text().splitlines()) >= 4

    wait_until(answering, timeout=60, interval=0.05, what="the first answers")
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=20)
    assert p.returncode == 130, f"{stdout}\n{stderr}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] == "interrupted"
    sent = summary["requests"]["sent"]
    assert 4 <= sent < 300
    # Every request sent was waited for and written; none was lost.
    assert len((out / "results.jsonl").read_text().splitlines()) == sent == slow.stats()["chat_requests"]
    assert "stopped early (interrupted)" in stdout


def test_a_dataset_of_100k_lines_is_streamed_in_bounded_memory(mock_upstream, tmp_path, cache_dir):
    fast = mock_upstream("--skill", 1.0)
    config = write_config(tmp_path, cache_dir, providers={"m": {"base_url": fast.url}}, models={"m": {"provider": "m"}})
    template = [json.loads(x) for x in TASKS.read_text().splitlines()]
    padding = " Context: " + "lorem ipsum " * 80  # ~1 KB a line
    big = tmp_path / "big.jsonl"
    with big.open("w") as f:
        for i in range(100_000):
            t = dict(template[i % 300])
            t["metadata"] = {**t["metadata"], "id": f"t{i}", "note": padding}
            f.write(json.dumps(t) + "\n")
    assert big.stat().st_size > 100_000_000

    def peak(args: list[str]) -> tuple[int, subprocess.CompletedProcess]:
        p = subprocess.Popen(
            [BIN, "bench", "--quiet", *args],
            env=base_env(cache_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        hwm = 0
        while p.poll() is None:
            try:
                status = Path(f"/proc/{p.pid}/status").read_text()
                hwm = max(hwm, int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]))
            except (OSError, StopIteration, ValueError):
                pass
            time.sleep(0.1)
        out, err = p.communicate()
        return hwm, subprocess.CompletedProcess(p.args, p.returncode, out, err)

    common = ["--config", str(config), "--models", "m", "--concurrency", "32"]
    small_peak, r = peak([*common, "--dataset", str(big), "--out", str(tmp_path / "small"), "--limit", "1000"])
    assert r.returncode == 0, r.stderr
    big_peak, r = peak([*common, "--dataset", str(big), "--out", str(tmp_path / "big")])
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "big" / "summary.json").read_text())
    assert summary["tasks"] == 100_000 and summary["requests"]["sent"] == 100_000
    # 100x the tasks (and a 100 MB file) and the peak barely moves.
    assert big_peak < small_peak + 40_000, (small_peak, big_peak)  # kB


def free_port_block(n: int) -> int:
    """A base port b with b+1..b+n free."""
    import socket

    for _ in range(50):
        base = free_port() // 10 * 10
        if base + n >= 65000:
            continue
        try:
            socks = []
            for i in range(1, n + 1):
                s = socket.socket()
                s.bind(("127.0.0.1", base + i))
                socks.append(s)
            for s in socks:
                s.close()
            return base
        except OSError:
            for s in socks:
                s.close()
    pytest.fail("no block of free ports")


def test_from_log_replays_served_traffic_onto_a_candidate(mock_upstream, gateway, tmp_path, cache_dir):
    """Requests served by a route with an evaluator, logged with bodies,
    replayed offline onto a weaker model: scored by the route's evaluator,
    then head to head by a pairwise judge whose position bias cancels."""
    good = mock_upstream("--skill", 0.95, "--seed", 1)
    weak = mock_upstream("--skill", 0.4, "--seed", 1)
    judge = mock_upstream("--reply", "WINNER: A\nA is better.")
    db = tmp_path / "requests.db"
    kw = {
        "providers": {"good": {"base_url": good.url}, "weak": {"base_url": weak.url}, "judge": {"base_url": judge.url}},
        "models": {
            "good": {"provider": "good", "input_price": 5, "output_price": 20},
            "weak": {"provider": "weak", "input_price": 0.1, "output_price": 0.4},
            "judge": {"provider": "judge"},
        },
        "routes": {"main": {"models": ["good"], "evaluate": [{"evaluator": "number"}]}},
        "log": {"backend": "sqlite", "path": str(db), "bodies": True},
    }
    extra = '[evaluators.number]\nplugin = "match"\nconfig = { mode = "number" }\n'
    config = write_config(tmp_path, cache_dir, extra, **kw)
    gw = gateway(raw_config=config.read_text())
    arith = [json.loads(x) for x in TASKS.read_text().splitlines() if '"task": "arith"' in x][:40]
    client = gw.client()
    for t in arith:
        client.chat.completions.create(
            model="main", messages=t["messages"], metadata={"expected": t["expected"], "task": "arith"}
        )

    def logged() -> bool:
        r = gw.get("/admin/requests?limit=100")
        return r.status_code == 200 and len(r.json()["requests"]) >= 40

    wait_until(logged, timeout=20, what="40 requests in the log")
    served_requests = good.stats()["chat_requests"]

    out = tmp_path / "replay"
    r = bench(
        cache_dir,
        "--config",
        str(config),
        "--from-log",
        "--since",
        "1h",
        "--route",
        "main",
        "--models",
        "weak",
        "--sample",
        "30",
        "--out",
        str(out),
    )
    s = json.loads((out / "summary.json").read_text())
    assert s["tasks"] == 30 and s["targets"][0] == {"name": "served", "kind": "served"}
    every = task_type(s, "all")
    served, cand = every["targets"][0], every["targets"][1]
    assert served["quality"]["mean"] > 0.8 and cand["quality"]["mean"] < 0.7, (served, cand)
    pair = every["pairs"][0]
    assert pair["a"] == "served" and pair["b"] == "weak" and pair["diff"]["lo"] > 0, pair
    assert weak.stats()["chat_requests"] == 30 and good.stats()["chat_requests"] == served_requests
    assert "served" in r.stdout

    # Head to head: a judge that always prefers answer A. Asked in both
    # orders, every comparison is a tie: the candidate's share is 0.5.
    out2 = tmp_path / "replay-judge"
    bench(
        cache_dir,
        "--config",
        str(config),
        "--from-log",
        "--models",
        "weak",
        "--sample",
        "10",
        "--judge",
        "judge",
        "--out",
        str(out2),
    )
    results = [json.loads(x) for x in (out2 / "results.jsonl").read_text().splitlines()]
    cand_scores = [x["score"] for x in results if x["target"] == "weak"]
    assert len(cand_scores) == 10 and all(v == 0.5 for v in cand_scores), cand_scores
    assert judge.stats()["chat_requests"] == 20  # two judgements per request
    assert weak.stats()["chat_requests"] == 40  # a new output directory: a new cache
    # Cached: a replay again sends nothing to the candidate.
    bench(
        cache_dir,
        "--config",
        str(config),
        "--from-log",
        "--models",
        "weak",
        "--sample",
        "10",
        "--judge",
        "judge",
        "--out",
        str(out2),
    )
    assert weak.stats()["chat_requests"] == 40


def test_real_model_and_a_mock_in_one_bench(llama_server, mock_upstream, tmp_path, cache_dir):
    """SmolLM2 (llama.cpp) and a mock model on 15 tasks: both are in the
    table and the report; the small real model's quality is whatever it is."""
    mock = mock_upstream("--skill", 0.9, "--seed", 1)
    kw = {
        "providers": {
            "llama": {"base_url": llama_server, "first_byte_timeout_ms": 120000},
            "mock": {"base_url": mock.url},
        },
        "models": {
            "smollm2": {"provider": "llama", "input_price": 0.01, "output_price": 0.02},
            "mock": {"provider": "mock", "input_price": 1, "output_price": 2},
        },
    }
    config = write_config(tmp_path, cache_dir, **kw)
    tasks = tmp_path / "tasks.jsonl"
    lines = TASKS.read_text().splitlines()[:15]
    tasks.write_text("\n".join(json.dumps({**json.loads(x), "params": {"max_tokens": 24}}) for x in lines) + "\n")
    out = tmp_path / "out"
    r = bench(
        cache_dir,
        "--config",
        str(config),
        "--dataset",
        str(tasks),
        "--models",
        "smollm2,mock",
        "--out",
        str(out),
        "--concurrency",
        "2",
        timeout=600,
    )
    s = json.loads((out / "summary.json").read_text())
    every = task_type(s, "all")
    real = row(every, "smollm2")
    assert real["requests"] == 15 and real["errors"] == 0 and real["mean_completion_tokens"] > 0
    assert real["quality"] is not None and row(every, "mock")["quality"]["mean"] > 0.5
    html = (out / "report.html").read_text()
    assert "smollm2" in html and "mock" in html
    assert "smollm2" in r.stdout
