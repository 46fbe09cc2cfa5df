"""A real headless Chromium for the tests that need a browser: Debian's `chromium` driven by
Playwright's Python API (its own browser download does not work offline). Tests that use it skip,
saying why, where either is missing; CI installs both (see .ci/run)."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]  # CI runs as root


@pytest.fixture
def chromium():
    """A launched headless Chromium (a Playwright Browser), closed after the test."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
