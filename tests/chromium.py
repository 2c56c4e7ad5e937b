"""Debian's chromium driven by Playwright, for the tests that need a real browser.

`make test` installs Debian's chromium when it is missing (as root on Debian); the browser
binary Playwright itself would download is never used. Tests skip, saying why, where playwright
or chromium is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_chromium() -> Iterator:
    """A headless Chromium for a fixture to yield (closed after), or a skip."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (dev extra)")
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium on PATH: on Debian `apt-get install chromium` "
                    "(make test does it when run as root)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs the tests as root, where Chromium's sandbox refuses to start.
        instance = playwright.chromium.launch(executable_path=binary,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield instance
        instance.close()
