"""The suite's one conftest: it only registers the fixture plugins of tests/fixtures/.

Every shared fixture lives in one module there (database and app, API keys, emulators,
the end-to-end world, browser, ...); plain helpers live in tests/support/. No test module
imports another; both folders are rewritten by pytest so their asserts explain themselves.
"""

import pytest

pytest.register_assert_rewrite("tests.fixtures", "tests.support")

pytest_plugins = [
    "tests.fixtures.logscan",
    "tests.fixtures.database",
    "tests.fixtures.keys",
    "tests.fixtures.emulator",
    "tests.fixtures.world",
    "tests.fixtures.qbo",
    "tests.fixtures.ops",
    "tests.fixtures.signed",
    "tests.fixtures.drift",
    "tests.fixtures.browser",
    "tests.fixtures.company_settings",
]
