"""Debian's chromium, driven by Playwright, for the tests that read pages as people do.

Nothing is downloaded: chromium comes from the distribution (``.ci/run`` installs it) and is
launched through its path. Outside CI, a machine without it skips these tests and says why; in
CI a missing browser is a failure, not a skip."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("LESSONLOOP_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def screenshot_folder(tmp_path: Path) -> Path:
    """A temporary folder, so a test run writes no tracked file, or the README's own
    ``docs/screenshots`` with ``LESSONLOOP_REFRESH_SCREENSHOTS=1``."""
    return DOCS_SCREENSHOTS if os.environ.get("LESSONLOOP_REFRESH_SCREENSHOTS") == "1" else tmp_path


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium for the block, or the test skipped (failed in CI) without one."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium package)")
        pytest.skip(f"no browser at {CHROMIUM}: `apt-get install chromium` to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
