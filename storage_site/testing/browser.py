"""Browser tests' fixtures (a pytest plugin, registered once in the root conftest.py so
that every app's browser tests share one browser): Playwright driving Debian's chromium
against the live server.

They run when /usr/bin/chromium (or WEB_TEST_CHROMIUM) is there and skip with that
reason when it is not. Screenshots go to WEB_SCREENSHOTS (default var/screenshots/),
which the summary at the end of the run names."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("WEB_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
SCREENSHOTS = Path(os.environ.get("WEB_SCREENSHOTS") or settings.BASE_DIR / "var" / "screenshots")
needs_chromium = pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no chromium at {CHROMIUM} (apt-get install chromium)")
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 740}
TIMEOUT_MS = 60_000  # a loaded machine: seven other engineers run tests beside us


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.exists() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"web: browser screenshots in {SCREENSHOTS}")
    elif not HAVE_CHROMIUM:
        terminalreporter.write_line(f"web: browser tests skipped: no chromium at {CHROMIUM}")


@pytest.fixture(scope="session")
def chromium():
    # Playwright's sync API keeps an event loop in this thread; Django's ORM calls in the
    # test body (factories, checks) are still plain synchronous code.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--disable-dev-shm-usage"])
            yield browser
            browser.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def new_page(chromium, live_server):
    """`new_page(viewport=DESKTOP)`: a page in a fresh context (no cookies), failing the test
    on any script error or dialog (an alert would mean injected script ran)."""
    contexts = []
    problems = []

    def make(viewport=DESKTOP, color_scheme="light"):
        context = chromium.new_context(viewport=viewport, base_url=live_server.url, accept_downloads=True,
                                       color_scheme=color_scheme)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture
def shot():
    """`shot(page, name)`: a full-page screenshot into SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
