"""The operator page at /ui, in a real browser: Playwright drives Debian's
Chromium (headless, no sandbox, no background networking, a fresh profile)
against the real gateway and mock-upstream. Screenshots of each view are
saved as test artifacts."""

import os
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM
from browser import CHROMIUM_ARGS as FLAGS
from playwright.sync_api import Page, expect, sync_playwright

from helpers import dump, httpx, wait_until

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("SWITCHYARD_ARTIFACTS", ROOT / "artifacts"))
ADMIN = "admin-secret-123"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))  # type: ignore[attr-defined]
    # Nothing leaves 127.0.0.1.
    pg.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1") else route.abort()
    )
    yield pg
    ctx.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), full_page=True)


def with_key(page: Page, key: str) -> None:
    page.add_init_script(f"sessionStorage.setItem('switchyard-admin-key', {key!r})")


def tab(page: Page, view: str) -> None:
    page.click(f"#tabs button[data-view={view}]")
    expect(page.locator(f"#view-{view}")).to_be_visible()


def test_the_page_asks_for_the_admin_key_and_serves_nothing_without_it(mock_upstream, gateway, page, monkeypatch):
    m = mock_upstream()
    monkeypatch.setenv("SY_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("SY_CLIENT_KEY", "client-key-1")
    gw = gateway(
        providers={"p": {"base_url": m.url}},
        models={"m": {"provider": "p"}},
        server={"admin_key_env": "SY_ADMIN_KEY"},
        keys={"app": {"key_env": "SY_CLIENT_KEY"}},
    )
    # The page is public; every admin endpoint it reads is not.
    assert gw.get("/ui").status_code == 200
    for path in ("/admin/stats", "/admin/events", "/admin/reports", "/admin/requests", "/admin/plugins"):
        assert httpx.get(f"{gw.url}{path}", timeout=5).status_code == 401, path
        assert (
            httpx.get(f"{gw.url}{path}", headers={"authorization": "Bearer client-key-1"}, timeout=5).status_code == 401
        ), path
    r = httpx.get(f"{gw.url}/admin/stats", headers={"authorization": f"Bearer {ADMIN}"}, timeout=5)
    assert r.status_code == 200 and r.json()["models"][0]["name"] == "m"

    page.goto(f"{gw.url}/ui")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#app")).to_be_hidden()
    page.fill("#key", "wrong")
    page.click("#login button")
    expect(page.locator("#login-error")).to_contain_text("Invalid admin key")
    expect(page.locator("#app")).to_be_hidden()
    shot(page, "login")
    page.fill("#key", ADMIN)
    page.click("#login button")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#tiles .tile")).to_have_count(7)
    # Only the refused key's answers were errors.
    assert all("401" in e for e in page.console_errors), page.console_errors  # type: ignore[attr-defined]


@pytest.fixture
def failover_gateway(mock_upstream, gateway, tmp_path):
    bad, good = mock_upstream("--fail-status", "500"), mock_upstream()
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    gw = gateway(
        providers={"bad": {"base_url": bad.url}, "good": {"base_url": good.url}},
        models={"flaky": {"provider": "bad"}, "steady": {"provider": "good", "input_price": 1, "output_price": 2}},
        routes={"main": {"models": ["flaky", "steady"]}},
        breaker={"consecutive_failures": 3, "cooldown_ms": 60000},
        plugins={"dir": plugin_dir},
        log={"backend": "sqlite", "path": str(tmp_path / "requests.db")},
    )
    gw.plugin_dir = plugin_dir  # type: ignore[attr-defined]
    return gw


def test_a_request_appears_within_two_seconds_with_its_attempts(failover_gateway, page):
    gw = failover_gateway
    page.goto(f"{gw.url}/ui")
    expect(page.locator("#app")).to_be_visible()
    tab(page, "requests")
    r = gw.client().chat.completions.with_raw_response.create(
        model="main", messages=[{"role": "user", "content": "hello"}]
    )
    rid = r.headers["x-switchyard-request-id"]
    row = page.locator(f'#requests-table tr[data-id="{rid}"]')
    # By design within ~2 s (a tick a second, and a second look for the
    # log's batch); the margin keeps a loaded machine from failing it.
    expect(row).to_be_visible(timeout=5000)
    row.click()
    detail = page.locator("#request-detail")
    expect(detail).to_contain_text(rid)
    attempts = detail.locator("tr.attempt")
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0)).to_contain_text("flaky")
    expect(attempts.nth(1)).to_contain_text("steady")
    expect(detail).to_contain_text("flaky → steady")
    shot(page, "requests")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_faults_open_the_breaker_and_the_charts_move(failover_gateway, page):
    gw = failover_gateway
    page.goto(f"{gw.url}/ui")
    expect(page.locator("#app")).to_be_visible()
    line = page.locator('#charts path[data-series="req/s"]')
    expect(line).to_have_count(1)
    before = line.get_attribute("d")
    c = gw.client()
    for _ in range(6):
        c.chat.completions.create(model="main", messages=[{"role": "user", "content": "x"}])
    wait_until(lambda: line.get_attribute("d") != before, timeout=5, what="the requests chart moves")
    shot(page, "traffic")
    tab(page, "models")
    expect(page.locator('#models-table tr[data-model="flaky"] .breaker')).to_contain_text("open", timeout=5000)
    expect(page.locator('#models-table tr[data-model="steady"] .breaker')).to_contain_text("closed")
    shot(page, "models")
    tab(page, "spend")
    expect(page.locator("#spend-tables table")).to_have_count(6)
    expect(page.locator("#spend-tables")).to_contain_text("steady")
    shot(page, "spend")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_replaced_plugin_shows_without_a_page_reload_and_a_refused_one_shows_why(failover_gateway, page, tmp_path):
    gw = failover_gateway
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    ordered = dump("ordered", blobs / "ordered.wasm")
    other = dump("test-policy", blobs / "other.wasm")
    page.goto(f"{gw.url}/ui")
    expect(page.locator("#app")).to_be_visible()
    tab(page, "routes")
    gen = page.locator("#generation")
    expect(gen).to_have_attribute("data-generation", "1")
    row = page.locator('#routes-table tr[data-route="main"]')
    expect(row).to_contain_text("ordered")

    # A new file in the plugin directory: the generation moves on by itself.
    target = gw.plugin_dir / "ordered.wasm"
    shutil.copyfile(ordered, target)
    wait_until(
        lambda: int(gen.get_attribute("data-generation") or 0) >= 2, timeout=20, what="a new generation on the page"
    )
    expect(row).to_contain_text("rust")
    g2 = int(gen.get_attribute("data-generation") or 0)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(other, tmp)
    tmp.rename(target)
    wait_until(
        lambda: int(gen.get_attribute("data-generation") or 0) > g2, timeout=20, what="the replaced plugin's generation"
    )

    # The reload button runs the pipeline.
    g3 = int(gen.get_attribute("data-generation") or 0)
    page.click("#reload")
    expect(page.locator("#reload-result")).to_contain_text("serving")
    wait_until(lambda: int(gen.get_attribute("data-generation") or 0) > g3, timeout=10, what="the reload's generation")

    # A broken file is refused: the page says why, the old version serves.
    target.write_bytes(b"\x00asm\x01\x00\x00\x00 garbage")
    refused = page.locator("#reload-refused")
    expect(refused).to_be_visible(timeout=20000)
    expect(refused).to_contain_text("ordered")
    shot(page, "routes")
    assert gw.client().chat.completions.create(model="main", messages=[{"role": "user", "content": "still"}]).choices
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_bench_reports_are_listed_and_shown(mock_upstream, gateway, page, tmp_path):
    reports = tmp_path / "reports"
    run = reports / "run-1"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(
        '{"started_at": "2026-12-04T09:00:00Z", "dataset": "tasks.jsonl", "tasks": 3, "spend_usd": 0.01, "targets": [],'
        ' "task_types": [{"task": "arith", "decision": {"model": "large", "savings": 0, "baseline": "large"}}]}'
    )
    (run / "report.html").write_text("<!doctype html><title>r</title><h1 id=x>Bench report body</h1>")
    m = mock_upstream()
    gw = gateway(
        providers={"p": {"base_url": m.url}}, models={"m": {"provider": "p"}}, server={"reports_dir": str(reports)}
    )
    assert gw.get("/admin/reports/..%2F..%2Fetc/report.html").status_code == 404
    page.goto(f"{gw.url}/ui")
    expect(page.locator("#app")).to_be_visible()
    tab(page, "reports")
    row = page.locator('#reports-table tr[data-report="run-1"]')
    expect(row).to_contain_text("arith → large")
    row.click()
    frame = page.frame_locator("#report-frame")
    expect(frame.locator("#x")).to_have_text("Bench report body")
    shot(page, "reports")
    assert page.console_errors == []  # type: ignore[attr-defined]
