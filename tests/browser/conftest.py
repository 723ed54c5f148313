"""Fixtures for the chat widget's browser tests.

Headless Chromium from Debian's ``chromium`` package, driven by Playwright for Python
(``make widget-setup`` installs Chromium and axe-core; no browser is downloaded).

The pages are served on the port the assistant's CORS configuration allows
(``assistant.env["WEB_PORT"]``): ``web/`` as it is, plus ``/__test__/page.html``, a
generated host page whose query parameters become the widget's ``data-`` attributes.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Protocol, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from core.ports import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route

    from scripts.serve import Stack

    class RecordedPage(Page):
        """A page as ``new_page`` makes it: it records uncaught errors and dialogs."""

        errors: List[str]
        dialogs: List[str]


class NewPage(Protocol):
    """The ``new_page`` fixture: opens a page in a fresh browser context."""

    def __call__(self, phone: bool = False, viewport: Optional[Dict[str, int]] = None) -> RecordedPage: ...


ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 640}
DESKTOP = {"width": 1280, "height": 800}

# The host page a clinic might have: its stylesheet is careless on purpose, and the
# widget (in its shadow root) must look and work the same anyway.
TEST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, interactive-widget=resizes-content">
<title>Widget test page</title>
<style>
  body {{ font: 17px/1.5 system-ui, sans-serif; color: #1f2937; margin: 24px; }}
  button, input, p.sca-bubble {{ all: unset; font-size: 10px !important; background: #ff00ff !important; }}
</style>
</head>
<body>
<main>
  <h1>Clinic test page</h1>
  <p><a href="#top">A link before the widget</a></p>
</main>
<script src="/widget/widget.js" defer {attributes}></script>
</body>
</html>
"""


class _Handler(SimpleHTTPRequestHandler):
    """Serves web/ and the generated test page; quiet."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path != "/__test__/page.html":
            super().do_GET()
            return
        attributes = " ".join(
            f'data-{html.escape(key)}="{html.escape(value)}"'
            for key, value in parse_qsl(url.query, keep_blank_values=True)
        )
        body = TEST_PAGE.format(attributes=attributes).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class WebServer:
    """A threaded static server for web/ on 127.0.0.1:port."""

    def __init__(self, port: int) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), partial(_Handler, directory=str(WEB)))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def page(self, **attributes: object) -> str:
        """The test page's URL; keyword arguments become data- attributes (rasa_url -> data-rasa-url)."""
        query = urlencode({key.replace("_", "-"): str(value) for key, value in attributes.items()})
        return f"{self.url}/__test__/page.html?{query}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def web(assistant: Stack) -> Iterator[WebServer]:
    """web/ on the port the Rasa server's CORS configuration allows."""
    server = WebServer(int(assistant.env["WEB_PORT"]))
    yield server
    server.close()


@pytest.fixture(scope="session")
def other_origin_web() -> Iterator[WebServer]:
    """The same pages on an origin the Rasa server does NOT allow."""
    server = WebServer(free_port())
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: while Playwright's sync API is running it marks its
    # event loop as running, which would break the asyncio tests of later modules.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make widget-setup` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `make widget-setup` (npm ci in tests/browser)")
    return AXE


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """Opens a page in a fresh browser context (empty localStorage): new_page(phone=True).

    Every page records JavaScript errors and dialogs (``page.errors``, ``page.dialogs``);
    a test fails if the page threw an uncaught error.
    """
    contexts: List[BrowserContext] = []
    pages: List[RecordedPage] = []

    def make(phone: bool = False, viewport: Optional[Dict[str, int]] = None) -> RecordedPage:
        options: Dict[str, Any] = {"viewport": viewport or (PHONE if phone else DESKTOP)}
        if phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = cast("RecordedPage", context.new_page())  # gets its errors and dialogs here
        page.errors = []
        page.dialogs = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))

        def on_dialog(dialog: Dialog) -> None:
            page.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        pages.append(page)
        return page

    yield make
    errors = [error for page in pages for error in page.errors]
    for context in contexts:
        context.close()
    assert not errors, f"uncaught JavaScript errors: {errors}"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class HeldReplies:
    """Holds the widget's POSTs to ``url`` (``page.route``) until the test lets each one go.

    ``messages`` lists the "message" of every POST in the order the page sent it;
    ``release()`` handles the oldest request still held; ``pass_through()`` stops holding.
    """

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.messages: List[str] = []
        self.held: List[Route] = []
        self.holding = True
        page.route(url, self._handle)

    def _handle(self, route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        self.messages.append(str(json.loads(route.request.post_data or "{}").get("message")))
        if self.holding:
            self.held.append(route)
        else:
            route.continue_()

    def wait(self, count: int, timeout: float = 15.0) -> None:
        """Waits (polling, up to ``timeout`` seconds) until ``count`` POSTs have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.messages)}")
            self.page.wait_for_timeout(20)

    def release(self, action: str = "continue") -> None:
        """The oldest held request: "continue" (to Rasa), "abort" (connection refused),
        "500" (a server error) or "forget" (never answered: the page gave up on it)."""
        from playwright.sync_api import Error

        route = self.held.pop(0)
        origin = route.request.headers.get("origin", "*")
        try:
            if action == "continue":
                route.continue_()
            elif action == "abort":
                route.abort("connectionrefused")
            elif action == "500":
                route.fulfill(
                    status=500, json={"error": "boom"}, headers={"Access-Control-Allow-Origin": origin}
                )
        except Error:  # the page gave up on it already (timeout, reload)
            pass

    def pass_through(self) -> None:
        """Lets every held request and all later ones through to Rasa."""
        self.holding = False
        while self.held:
            self.release()


@pytest.fixture
def held_replies() -> Callable[[Page, str], HeldReplies]:
    """``held_replies(page, webhook_url)``: a :class:`HeldReplies` on that page."""
    return HeldReplies
