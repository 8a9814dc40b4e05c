"""Debian's chromium driven by Playwright: missing, the browser tests skip, or fail where they must run.

``.ci/run`` sets ``ASYNCTASK_REQUIRE_BROWSER=1``, so CI can never pass by skipping them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ASYNCTASK_CHROMIUM", "/usr/bin/chromium")
#: Headless, and quiet: this machine's network is closed, and chromium must not try to reach it.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser():
    """One chromium for every browser test."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("ASYNCTASK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ASYNCTASK_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    """``tests/artifacts/`` (git-ignored): screenshots to look at after a run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
