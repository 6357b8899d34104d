"""Browser tests: Debian's Chromium driven by Playwright against the live server and the sandboxes.

* The browser is /usr/bin/chromium (bin/setup installs it with apt); Playwright's own browser
  download is never used. A missing Chromium FAILS the tests (CI must not go green without them).
* Each test gets a fresh browser profile: Playwright's launch() creates a new user-data dir for
  every browser, and TMPDIR points the driver at the test's tmp_path so it lives there.
* Playwright's sync API runs an asyncio loop in this thread, and Django refuses ORM calls from a
  thread with a running loop; the tests' own ORM reads are plain synchronous reads, so
  DJANGO_ALLOW_ASYNC_UNSAFE is set for them (the live server runs in its own threads anyway).
* Tasks run in-process (eager) here; the real-worker path is tests/orders/test_e2e_sandbox.py.
* Screenshots of every step go to test-artifacts/screens/ (gitignored; README "Browser tests").
"""

import contextlib
import os
import re
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db.backends.signals import connection_created

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "test-artifacts" / "screens"
CHROMIUM = os.environ.get("ESIMSHOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
}


def wait_for(condition, *, timeout=20.0, what="condition"):
    """Poll a condition with a deadline (never a fixed sleep standing in for a wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="session")
def chromium_executable():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is missing ({CHROMIUM} is not an executable). The browser tests drive Debian's chromium: "
            "run bin/setup (it runs `apt-get install chromium`) or set ESIMSHOP_CHROMIUM to a Chromium binary.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def shop(chromium_executable, live_shop, settings, transactional_db):
    """The live shop (tests/conftest.py) with the sandbox catalogue synced."""
    settings.QPAY_USD_TO_MNT_RATE = Decimal("3450")
    from catalog.services import sync_catalog

    result = sync_catalog()
    assert result.fetched > 1000, result
    return live_shop


@contextlib.contextmanager
def closing_connections_opened_meanwhile():
    """Close every database connection this thread opened inside the block when it ends.

    While Playwright's sync API runs its event loop in this thread, Django keeps a separate
    connection per asyncio context, so the tests' own ORM reads open a connection that
    connections.close_all() at teardown never sees. It stayed open to the end of the run:
    DROP DATABASE waited PostgreSQL's 5 s for it, failed, and left test_<db> behind.
    """
    opened, this_thread = [], threading.get_ident()

    def record(sender, connection, **kwargs):
        if threading.get_ident() == this_thread:  # the live server's threads close their own
            opened.append(connection)

    connection_created.connect(record, weak=False)
    try:
        yield
    finally:
        connection_created.disconnect(record)
        for connection in opened:
            connection.close()


@pytest.fixture
def browser(chromium_executable, tmp_path, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the driver puts the fresh profile here
    from playwright.sync_api import sync_playwright

    with closing_connections_opened_meanwhile(), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Watch:
    """Collects what must not happen in any page: JS errors, console errors (CSP violations are
    reported there) and requests to anywhere but the shop (it must work offline)."""

    def __init__(self, base_url):
        self.host = urlsplit(base_url).netloc
        self.errors, self.external = [], []

    def attach(self, context):
        context.on("page", self._page)
        context.on("request", self._request)
        for page in context.pages:
            self._page(page)
        return context

    def _page(self, page):
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: self._console(page, msg))

    def _console(self, page, msg):
        source = (msg.location or {}).get("url", "")
        if msg.type == "error":
            self.errors.append(f"{page.url}: {msg.text} ({source})")

    def _request(self, request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != self.host:
            self.external.append(request.url)

    def assert_clean(self):
        assert self.errors == [], self.errors
        assert self.external == [], self.external


@pytest.fixture
def screens(request):
    """screens(page, "01-home") writes test-artifacts/screens/<test>-01-home.png; returns the path."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"^test_", "", request.node.name)
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", prefix)[:40]
    for old in SCREENS.glob(f"{prefix}-*.png"):
        old.unlink()
    taken = []

    def shoot(target, name, **kwargs):
        path = SCREENS / f"{prefix}-{name}.png"
        target.screenshot(path=str(path), **kwargs)
        taken.append(path)
        return path

    shoot.taken = taken
    return shoot
