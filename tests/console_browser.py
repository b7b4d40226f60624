"""Driving the web console in headless Chromium (Debian's /usr/bin/chromium, through Playwright)
for tests/test_console.py: the browser, logging in, and screenshots kept as test artifacts."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.png_codec import color_counts

CHROMIUM = os.environ.get("OPENKVS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
TOKEN_KEY = "openkvs.token"


def log_in(page: Page, token: str) -> None:
    """Fills the login form on the current page and waits for it to go away."""
    page.locator("#login-token").fill(token)
    page.locator("#login-submit").click()
    expect(page.locator("#login-page")).to_have_count(0)
    expect(page.locator("#user-name")).to_contain_text("Signed in as")


def open_logged_in(page: Page, path: str, token: str) -> None:
    """Opens a console path in a fresh tab: the login form first, then that page."""
    page.goto(path)
    log_in(page, token)


def error_text(page: Page) -> str:
    banner = page.locator("#error [data-testid=error-message]")
    expect(banner).to_be_visible()
    return banner.inner_text()


def keep_screenshot(page: Page, backend: str, name: str, full_page: bool = False) -> Path:
    """Saves the page as artifacts/console/<backend>/<name>.png and checks it is not blank."""
    folder = ARTIFACTS / backend
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    data = page.screenshot(path=str(path), full_page=full_page)
    counts = color_counts(data)
    total = sum(counts.values())
    _, most = counts.most_common(1)[0]
    # A blank (or all-error-page) screen is one colour or very nearly: ours have text, tables,
    # a dark header bar and buttons.
    assert len(counts) > 50, f"{path}: only {len(counts)} colours"
    assert most / total < 0.9, f"{path}: {most / total:.0%} of the pixels are one colour"
    return path
