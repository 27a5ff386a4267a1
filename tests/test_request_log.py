"""The request ledger end to end: one record per chat request in the request
log (SQLite by default, PostgreSQL shared by replicas), each matching what
its client saw (id, attempts, tokens, cost); `/admin/requests`,
`/admin/spend` and `switchyard logs`; a database that stops under load
costs records (counted), never requests; stores that cannot be used are
reported by `switchyard check` and loudly by `serve`, which keeps serving.
Clients are the official `openai` and `anthropic` SDKs (raw httpx only to
leave a stream mid-way)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from helpers import BIN, httpx, make_test_certs, wait_until

HI = [{"role": "user", "content": "hello there, ledger"}]
INPUT_PRICE, OUTPUT_PRICE = 2.5, 10.0


def records(gw, admin_key: str | None = None, **params: Any) -> list[dict[str, Any]]:
    headers = {"authorization": f"Bearer {admin_key}"} if admin_key else {}
    r = httpx.get(f"{gw.url}/admin/requests", params={"limit": 1000, **params}, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["requests"]


def metric(gw, name: str, admin_key: str | None = None) -> float:
    headers = {"authorization": f"Bearer {admin_key}"} if admin_key else {}
    for line in httpx.get(f"{gw.url}/metrics", headers=headers, timeout=10).text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def ledger_gateway(gateway, mock_upstream, **extra: Any):
    good = mock_upstream()
    overloaded = mock_upstream("--fail-status", 503)
    breaking = mock_upstream("--break-after", 2, "--chunks", 6)
    slow = mock_upstream("--chunks", 20, "--chunk-delay-ms", 100)
    return gateway(
        providers={
            "good": {"base_url": good.url},
            "overloaded": {"base_url": overloaded.url},
            "breaking": {"base_url": breaking.url},
            "slow": {"base_url": slow.url},
        },
        models={
            "priced": {"provider": "good", "input_price": INPUT_PRICE, "output_price": OUTPUT_PRICE},
            # Priced by the built-in catalog.
            "gpt-4o-mini": {"provider": "good"},
            # Priced by nobody.
            "local": {"provider": "good", "upstream": "my-local-model"},
            "busy": {"provider": "overloaded", "input_price": 1.0, "output_price": 1.0},
            "cut": {"provider": "breaking", "input_price": 1.0, "output_price": 1.0},
            "trickle": {"provider": "slow", "input_price": 1.0, "output_price": 1.0},
        },
        routes={"failover": {"models": ["busy", "priced"], "retry": {"attempts_per_target": 1}}},
        **extra,
    )


def test_every_request_leaves_one_record_matching_what_its_client_saw(gateway, mock_upstream):
    gw = ledger_gateway(gateway, mock_upstream)
    oa = gw.client()
    an = gw.anthropic_client()
    seen: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def saw(rid: str, **what: Any) -> None:
        with lock:
            assert rid not in seen
            seen[rid] = what

    def complete(model: str) -> None:
        raw = oa.chat.completions.with_raw_response.create(model=model, messages=HI)
        body = raw.parse()
        h = raw.headers
        saw(
            h["x-switchyard-request-id"],
            kind="complete",
            model=h["x-switchyard-model"],
            attempts=int(h["x-switchyard-attempts"]),
            cost=Decimal(h["x-switchyard-cost-usd"]),
            usage=(body.usage.prompt_tokens, body.usage.completion_tokens),
        )

    def anthropic_complete() -> None:
        raw = an.messages.with_raw_response.create(model="priced", max_tokens=50, messages=HI)
        body = raw.parse()
        h = raw.headers
        saw(
            h["x-switchyard-request-id"],
            kind="complete",
            model="priced",
            attempts=1,
            cost=Decimal(h["x-switchyard-cost-usd"]),
            usage=(body.usage.input_tokens, body.usage.output_tokens),
        )

    def stream(model: str) -> None:
        with oa.chat.completions.with_streaming_response.create(
            model=model, messages=HI, stream=True, stream_options={"include_usage": True}
        ) as resp:
            rid = resp.headers["x-switchyard-request-id"]
            usage = None
            try:
                for chunk in resp.parse():
                    if chunk.usage:
                        usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            except openai.APIError:
                saw(rid, kind="broken")
                return
        saw(rid, kind="stream", usage=usage)

    def unknown() -> None:
        with pytest.raises(openai.NotFoundError) as e:
            oa.chat.completions.create(model="no-such-model", messages=HI)
        saw(e.value.response.headers["x-switchyard-request-id"], kind="error", status=404)

    def leave_mid_stream() -> None:
        body = {"model": "trickle", "messages": HI, "stream": True}
        with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=20) as r:
            rid = r.headers["x-switchyard-request-id"]
            for _ in r.iter_bytes():
                break  # the first content arrived: leave
        saw(rid, kind="left")

    jobs = (
        [lambda: complete("priced")] * 12
        + [lambda: complete("gpt-4o-mini")] * 4
        + [lambda: complete("local")] * 2
        + [lambda: complete("failover")] * 6
        + [anthropic_complete] * 4
        + [lambda: stream("priced")] * 8
        + [lambda: stream("cut")] * 3
        + [unknown] * 3
        + [leave_mid_stream] * 3
    )
    with ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(j) for j in jobs]:
            f.result()
    assert len(seen) == len(jobs)

    rows = wait_until(
        lambda: r if len(r := records(gw)) >= len(jobs) else None,
        timeout=20,
        what=lambda: f"{len(records(gw))} of {len(jobs)} records",
    )
    assert metric(gw, "switchyard_log_dropped_total") == 0
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == set(seen), "one record per request, no other"
    assert [r["started_at_ms"] for r in rows] == sorted((r["started_at_ms"] for r in rows), reverse=True)

    for rid, what in seen.items():
        r = by_id[rid]
        kind = what["kind"]
        if kind == "complete":
            assert (r["status"], r["outcome"], r["model"]) == (200, "ok", what["model"]), r
            assert len(r["attempts"]) == what["attempts"], r
            assert (r["prompt_tokens"], r["completion_tokens"]) == what["usage"], r
            assert r["tokens_estimated"] is False
            # The header is the record's cost, to its ten decimals.
            assert abs(Decimal(repr(r["cost_usd"])) - what["cost"]) < Decimal("1e-10"), (r["cost_usd"], what)
            assert r["cost_known"] is (what["model"] != "local"), r
            assert r["bytes_in"] > 0 and r["bytes_out"] > 0
            assert 0 <= r["overhead_ms"] <= r["duration_ms"]
        if kind == "complete" and r["requested"] == "failover":
            assert r["route"] == "failover" and r["policy"] == "ordered"
            assert sorted(r["plan"]) == ["busy", "priced"]
            *failed, served = r["attempts"]
            assert (served["model"], served["outcome"], served["status"]) == ("priced", "ok", 200), served
            # Once busy's failures count against it, the policy puts it
            # last: no failover then.
            assert r["failovers"] == len(failed) <= 1
            for f in failed:
                assert (f["model"], f["outcome"], f["status"]) == ("busy", "overloaded", 503), f
        if kind == "stream":
            assert (r["status"], r["outcome"], r["stream"]) == (200, "ok", True), r
            assert (r["prompt_tokens"], r["completion_tokens"]) == what["usage"], r
            expected = (what["usage"][0] * INPUT_PRICE + what["usage"][1] * OUTPUT_PRICE) / 1e6
            assert r["cost_usd"] == pytest.approx(expected, rel=1e-9)
            assert r["ttft_ms"] is not None and r["ttft_ms"] <= r["duration_ms"]
            assert r["attempts"][0]["ttft_ms"] is not None
        if kind == "broken":
            assert (r["outcome"], r["model"]) == ("broken", "cut"), r
            assert r["attempts"][-1]["outcome"] == "broken" and "broke" in r["error"]
            assert r["completion_tokens"] > 0, "what was sent before the break is counted"
        if kind == "error":
            assert (r["status"], r["outcome"], r["attempts"], r.get("model")) == (404, "error", [], None), r
            assert "no-such-model" in r["error"] and r["cost_usd"] == 0
        if kind == "left":
            assert (r["status"], r["outcome"], r["model"]) == (499, "client_closed", "trickle"), r

    # One record with its attempts, and the spend it adds up to.
    rid = next(i for i, w in seen.items() if by_id[i]["requested"] == "failover")
    one = gw.get(f"/admin/requests/{rid}")
    assert one.status_code == 200 and one.json() == by_id[rid]
    missing = gw.get("/admin/requests/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "request_not_found"
    spend = {s["group"]: s for s in gw.get("/admin/spend?by=model&since=1h").json()["spend"]}
    for model in ("priced", "gpt-4o-mini"):
        mine = [r for r in rows if r.get("model") == model]
        assert spend[model]["requests"] == len(mine)
        assert spend[model]["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in mine), rel=1e-9)
    assert spend["cut"]["errors"] == 3 and spend["-"]["requests"] == 3

    # Filters.
    assert {r["id"] for r in records(gw, status="error")} == {i for i, r in by_id.items() if r["outcome"] != "ok"}
    assert len(records(gw, route="failover")) == 6
    assert len(records(gw, model="gpt-4o-mini", limit=2)) == 2
    assert gw.get("/admin/requests?limit=0").status_code == 400
    assert gw.get("/admin/requests?since=yesterday").status_code == 400
    assert gw.get("/admin/spend?by=color").status_code == 400

    # The histograms saw every request.
    total = metric(gw, 'switchyard_request_duration_seconds_count{route="",model="priced"}')
    assert total > 0
    failovers = sum(r["failovers"] for r in rows)
    assert failovers >= 1
    assert f'switchyard_failovers_total{{route="failover",reason="overloaded"}} {failovers}' in gw.get("/metrics").text


def test_switchyard_logs_reads_the_same_records(gateway, mock_upstream, tmp_path: Path):
    db = tmp_path / "requests.db"
    gw = ledger_gateway(gateway, mock_upstream, log={"path": str(db)})
    oa = gw.client()
    ids = [
        oa.chat.completions.with_raw_response.create(model=m, messages=HI).headers["x-switchyard-request-id"]
        for m in ["priced", "priced", "failover"]
    ]
    wait_until(lambda: len(records(gw)) == 3, timeout=20, what="3 records")
    run = lambda *a: subprocess.run(  # noqa: E731
        [BIN, "logs", "--config", str(gw.config_path), *a], capture_output=True, text=True, timeout=30
    )
    out = run("--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in lines] == ids[::-1]
    table = run("--route", "failover")
    assert table.returncode == 0 and ids[2] in table.stdout and ids[0] not in table.stdout
    assert table.stdout.splitlines()[0].split()[:3] == ["time", "(UTC)", "id"]
    spend = run("spend", "--by", "model", "--json")
    assert spend.returncode == 0, spend.stderr
    rows = {r["group"]: r for r in map(json.loads, spend.stdout.splitlines())}
    assert rows["priced"]["requests"] == 3 and rows["priced"]["failovers"] == 1
    bad = run("--since", "someday")
    assert bad.returncode != 0 and "someday" in bad.stderr


def test_postgres_replicas_log_every_request_and_spend_matches_the_clients(gateway, mock_upstream, postgres):
    pg = postgres()
    mock = mock_upstream()
    cfg = {
        "providers": {"up": {"base_url": mock.url}},
        "models": {"priced": {"provider": "up", "input_price": INPUT_PRICE, "output_price": OUTPUT_PRICE}},
        "keys": {"team-a": {"key_env": "TEAM_A_KEY"}},
        "server": {"admin_key_env": "ADMIN_KEY"},
        "log": {"backend": "postgres", "url": pg.url_without_password, "password_env": "PGPASS"},
    }
    env = {"TEAM_A_KEY": "sk-team-a", "PGPASS": pg.password, "ADMIN_KEY": "sk-admin"}
    replicas = [gateway(env=env, **cfg) for _ in range(2)]
    clients = [g.client(api_key="sk-team-a") for g in replicas]
    costs: list[Decimal] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        raw = clients[i % 2].chat.completions.with_raw_response.create(
            model="priced", messages=[{"role": "user", "content": f"question {i} " * (1 + i % 7)}]
        )
        with lock:
            costs.append(Decimal(raw.headers["x-switchyard-cost-usd"]))

    n = 200
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(n)))
    wait_until(
        lambda: pg.query("select count(*) from requests", db="switchyard") == str(n),
        timeout=30,
        what=lambda: pg.query("select count(*) from requests", db="switchyard") + f" rows of {n}",
    )
    assert all(metric(g, "switchyard_log_dropped_total", "sk-admin") == 0 for g in replicas)
    spend = subprocess.run(
        [BIN, "logs", "spend", "--config", str(replicas[0].config_path), "--by", "key", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PGPASS": pg.password, "TEAM_A_KEY": "sk-team-a", "ADMIN_KEY": "sk-admin", "PATH": "/usr/bin:/bin"},
    )
    assert spend.returncode == 0, spend.stderr
    (row,) = [json.loads(line) for line in spend.stdout.splitlines()]
    assert (row["group"], row["requests"]) == ("team-a", n)
    # Each header rounds to 1e-10 USD.
    assert abs(Decimal(repr(row["cost_usd"])) - sum(costs)) < Decimal(n) * Decimal("1e-10")
    # Either replica's admin API reads what both wrote.
    assert len(records(replicas[1], "sk-admin")) == n


def test_a_stopped_database_costs_records_never_requests(gateway, mock_upstream, postgres):
    pg = postgres()
    mock = mock_upstream()
    gw = gateway(
        providers={"up": {"base_url": mock.url}},
        models={"m": {"provider": "up"}},
        log={"backend": "postgres", "url": pg.url, "queue": 200},
    )
    oa = gw.client(timeout=10)
    stop = threading.Event()
    sent = [0]
    slowest = [0.0]
    failures: list[str] = []

    def load() -> None:
        while not stop.is_set():
            t = time.monotonic()
            try:
                oa.chat.completions.create(model="m", messages=HI)
            except Exception as e:  # every failure is reported below
                failures.append(repr(e))
            slowest[0] = max(slowest[0], time.monotonic() - t)
            sent[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sent[0] >= 100, timeout=30, what="100 requests")
        pg.sigstop()
        frozen_at = sent[0]
        wait_until(lambda: sent[0] >= frozen_at + 300, timeout=60, what="300 requests while the database is frozen")
        pg.kill()
        killed_at = sent[0]
        wait_until(lambda: sent[0] >= killed_at + 200, timeout=60, what="200 requests while the database is down")
        pg.restart()
        wait_until(
            lambda: int(pg.query("select count(*) from requests", db="switchyard")) > frozen_at,
            timeout=30,
            what="writing to resume after the database returned",
        )
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == [], failures[:3]
    # A request never waits for the log: none took as long as the writer's
    # 5 s timeouts, which it would have while the database was frozen (the
    # margin is for a loaded machine, not a latency figure).
    assert slowest[0] < 4.0, slowest[0]

    def settled() -> bool:
        rows = int(pg.query("select count(*) from requests", db="switchyard"))
        return rows + metric(gw, "switchyard_log_dropped_total") == sent[0]

    wait_until(settled, timeout=30, what="every request written or counted as dropped")
    assert metric(gw, "switchyard_log_dropped_total") > 0


def test_stores_that_cannot_be_used_are_reported_and_serving_goes_on(gateway, mock_upstream, postgres, tmp_path):
    mock = mock_upstream()
    base = {"providers": {"up": {"base_url": mock.url}}, "models": {"m": {"provider": "up"}}}

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as c:
        c.execute("pragma user_version = 99")
    pg = postgres()
    cases = {
        "corrupt": ({"path": str(corrupt)}, "corrupt.db"),
        "newer": ({"path": str(newer)}, "schema version 99"),
        "unwritable": ({"path": "/proc/switchyard/requests.db"}, "/proc/switchyard"),
    }
    for name, (log, says) in cases.items():
        gw = gateway(log=log, **base)
        check = subprocess.run([BIN, "check", "--config", str(gw.config_path)], capture_output=True, text=True)
        assert check.returncode != 0 and says in check.stderr, (name, check.stderr)
        # serve said so at start, and serves.
        assert "THE REQUEST LOG IS OFF" in gw.proc.stderr(), name
        assert gw.client().chat.completions.create(model="m", messages=HI).choices[0].message.content
        r = gw.get("/admin/requests")
        assert r.status_code == 503 and says in r.json()["error"]["message"], (name, r.text)

    # A wrong PostgreSQL password: `check` refuses; serve keeps trying in the
    # background, serves, and says why.
    gw = gateway(log={"backend": "postgres", "url": pg.url.replace(pg.password, "wrong")}, **base)
    check = subprocess.run([BIN, "check", "--config", str(gw.config_path)], capture_output=True, text=True)
    assert check.returncode != 0 and "password" in check.stderr, check.stderr
    assert "wrong" not in check.stderr, "the password is never printed"
    assert gw.anthropic_client().messages.create(model="m", max_tokens=10, messages=HI).content
    wait_until(lambda: "password" in gw.proc.stderr(), timeout=10, what="the log to name the password problem")
    wait_until(
        lambda: metric(gw, "switchyard_log_dropped_total") >= 1, timeout=15, what="the record counted as dropped"
    )


def test_postgres_over_tls_checks_the_servers_certificate(gateway, mock_upstream, postgres, tmp_path: Path):
    pg = postgres(tls=True)
    mock = mock_upstream()
    base = {"providers": {"up": {"base_url": mock.url}}, "models": {"m": {"provider": "up"}}}
    # The server refuses connections without TLS (hostssl only), so a
    # written row was written over TLS.
    gw = gateway(log={"backend": "postgres", "url": pg.url, "ca_file": str(pg.ca_file)}, **base)
    check = subprocess.run([BIN, "check", "--config", str(gw.config_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    gw.client().chat.completions.create(model="m", messages=HI)
    wait_until(lambda: pg.query("select count(*) from requests", db="switchyard") == "1", timeout=15, what="the row")
    # Without TLS the server says no; with another CA the certificate is refused.
    plain = gateway(log={"backend": "postgres", "url": pg.url}, **base)
    check = subprocess.run([BIN, "check", "--config", str(plain.config_path)], capture_output=True, text=True)
    assert check.returncode != 0 and "no encryption" in check.stderr, check.stderr
    other = tmp_path / "other-ca"
    make_test_certs(other)
    wrong = gateway(log={"backend": "postgres", "url": pg.url, "ca_file": str(other / "ca.pem")}, **base)
    check = subprocess.run([BIN, "check", "--config", str(wrong.config_path)], capture_output=True, text=True)
    assert check.returncode != 0 and "certificate" in check.stderr.lower(), check.stderr


def test_an_older_log_is_upgraded_at_start(gateway, mock_upstream, tmp_path: Path):
    db = tmp_path / "v1.db"
    with sqlite3.connect(db) as c:
        # A version-1 file as the first release wrote it: no cached_tokens,
        # prompt or answer columns.
        c.executescript(
            """
            create table requests (id text primary key, started_at_ms integer not null,
              duration_ms real not null, key text, dialect text not null, requested text not null,
              route text, policy text, labels text not null, plan text not null, attempts text not null,
              failovers integer not null, model text, provider text, status integer not null,
              outcome text not null, error text, stream integer not null, prompt_tokens integer not null,
              completion_tokens integer not null, tokens_estimated integer not null, cost_usd real not null,
              cost_known integer not null, bytes_in integer not null, bytes_out integer not null,
              ttft_ms real, upstream_ms real not null, overhead_ms real not null);
            pragma user_version = 1;
            """
        )
    mock = mock_upstream()
    gw = gateway(
        providers={"up": {"base_url": mock.url}},
        models={"m": {"provider": "up"}},
        log={"path": str(db), "bodies": True},
    )
    gw.client().chat.completions.create(model="m", messages=HI)
    (r,) = wait_until(lambda: records(gw), timeout=10, what="the record")
    assert "hello there, ledger" in r["prompt"] and r["answer"]
    with sqlite3.connect(db) as c:
        assert c.execute("pragma user_version").fetchone()[0] >= 2


def test_the_embedded_default_logs_to_the_data_directory(default_gateway):
    gw = default_gateway()
    client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
    client.messages.create(model="default", max_tokens=20, messages=HI)
    log = gw.proc.log_path
    db = log.parent / f"{log.stem}-data" / "switchyard" / "requests.db"
    wait_until(lambda: db.is_file() and records(gw), timeout=10, what=f"a record in {db}")
