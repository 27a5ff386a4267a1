"""A page as a person sees it: :func:`render` opens a local HTML file (the
bench's ``report.html``) in headless Chromium through Playwright, with every
request other than the file itself (and ``data:``/``about:`` URLs) aborted, and
returns what the page asked for, what went wrong in it and what it shows, with
a full-page screenshot to look at.

Chromium is Debian's (``apt-get install chromium``), not a Playwright download:
``SWITCHYARD_CHROMIUM`` names another binary. Run it by hand with
``python tests/browser.py report.html shot.png`` (prints the result as JSON).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from playwright.sync_api import ConsoleMessage, Request, Route, sync_playwright

CHROMIUM = os.environ.get("SWITCHYARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


def render(html_path: Path, screenshot: Path) -> dict[str, Any]:
    """Open `html_path` in headless Chromium, save a full-page screenshot to
    `screenshot` and return ``requests`` (every URL the page asked for other
    than itself, allowed or not), ``console_errors`` (console errors, failed
    loads and uncaught exceptions), the counts ``svg_charts`` (``svg.chart``),
    ``scatter`` (``svg.scatter``) and ``latency`` (``svg.latency``),
    ``sections`` (the ``data-task`` of each ``section.task``, in order) and
    ``title``."""
    page_url = Path(html_path).resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []

    def is_page(url: str) -> bool:
        return urldefrag(url).url == page_url

    def on_request(request: Request) -> None:
        if not is_page(request.url):
            requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_route(route: Route) -> None:
        url = route.request.url
        if is_page(url) or url.startswith(("data:", "about:")):
            route.continue_()
        else:
            route.abort()

    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            context = browser.new_context(service_workers="block")
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("request", on_request)
            page.on("console", on_console)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: None if is_page(r.url) else errors.append(f"failed: {r.url}"))
            page.route("**/*", on_route)
            page.goto(page_url, wait_until="load")
            page.screenshot(path=str(screenshot), full_page=True)
            result = {
                "requests": requests,
                "console_errors": errors,
                "svg_charts": page.locator("svg.chart").count(),
                "scatter": page.locator("svg.scatter").count(),
                "latency": page.locator("svg.latency").count(),
                "sections": page.eval_on_selector_all("section.task", "els => els.map(e => e.dataset.task)"),
                "title": page.title(),
            }
            context.close()
        finally:
            browser.close()
    # Copies: the handlers hold the lists until the browser is gone.
    return {**result, "requests": list(requests), "console_errors": list(errors)}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: browser.py PAGE.html SCREENSHOT.png")
    print(json.dumps(render(Path(sys.argv[1]), Path(sys.argv[2])), indent=2))
