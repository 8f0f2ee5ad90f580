"""Browser tests need Debian's Chromium and the playwright package (never `playwright install`).

Without them a `browser` test is skipped with the command that installs them, unless
QBO_SYNC_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails the run instead.
The check runs before any fixture, so a skipped test starts no server.
"""

from __future__ import annotations

import os

import pytest

from tests.support.chromium import INSTALL_HINT, REQUIRE_BROWSER, missing_browser


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") is None:
        return
    missing = missing_browser()
    if missing is None:
        return
    if os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{missing}: {INSTALL_HINT}; {REQUIRE_BROWSER}=1 requires browser tests to run")
    pytest.skip(f"{missing}: {INSTALL_HINT}")
