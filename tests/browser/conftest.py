"""What the console tests share: headless Chromium, pages that fail the test on any
script error, and signing in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing"
    )
    playwright = sync_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[[str], object]]:
    """``console_page(server_url)``: a page in a fresh browser context (no cookies); the
    test fails on any script error or Content-Security-Policy violation it logs."""
    contexts, errors = [], []

    def on_console(message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def open_page(base_url: str) -> object:
        context = browser.new_context(base_url=base_url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", on_console)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, errors


@pytest.fixture
def signed_in(open_page) -> Callable[[object, str], object]:
    """``signed_in(server, path)``: a page of ``path`` after signing in with the admin key."""

    def open_signed_in(server, path: str) -> object:
        page = open_page(server.url)
        page.goto(path)
        page.fill("#api-key", server.token)
        page.click("#sign-in")
        page.locator("#user").wait_for()
        return page

    return open_signed_in
