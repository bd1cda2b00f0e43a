"""A real headless Chromium for the page tests: Debian's ``chromium`` driven by Playwright for Python.

Playwright's own browser download is never used (``.ci/run`` installs Debian's chromium; nothing
runs ``playwright install``): the browser is launched from :data:`CHROMIUM` with a fresh profile.
Without it (or without the ``playwright`` package) the tests skip with the reason, unless
``NEURAXON_REQUIRE_TOOLS=1`` (CI), where they fail.

Screenshots go to ``$NEURAXON_SCREENSHOT_DIR`` when set (``NEURAXON_SCREENSHOT_DIR=docs/img`` refreshes
the README's images), else to the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Debian's chromium (``apt install chromium``).
CHROMIUM = Path(os.environ.get("NEURAXON_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Skip (or fail, with ``NEURAXON_REQUIRE_TOOLS``) when the browser or Playwright is missing."""
    missing = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} not found (apt install chromium; .ci/run installs it)"
    if missing is not None:
        if os.environ.get("NEURAXON_REQUIRE_TOOLS"):
            pytest.fail(f"browser tests need chromium and playwright (NEURAXON_REQUIRE_TOOLS is set): {missing}")
        pytest.skip(missing)


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a test saves its screenshot ``name``."""
    target = os.environ.get("NEURAXON_SCREENSHOT_DIR")
    directory = (ROOT / target if not Path(target).is_absolute() else Path(target)) if target else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


@dataclass
class BrowserPage:
    """A page, with every console error and uncaught exception it produced."""

    page: Any
    errors: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def chromium_page(tmp_path: Path, *, width: int = 1280, height: int = 900) -> AsyncIterator[BrowserPage]:
    """A page of a fresh headless Chromium profile; console errors are collected, not ignored."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": width, "height": height})
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            seen = BrowserPage(page)
            page.on("console", lambda msg: seen.errors.append(f"console: {msg.text}") if msg.type == "error"
                    else None)
            page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))
            yield seen
        finally:
            await context.close()
