"""The suite-wide log scan (tests/fixtures/logscan.py) finds a remembered secret in a log
record or captured output, even inside a longer run of characters, and names only its kind."""

from __future__ import annotations

import logging
import secrets

import pytest

from tests.fixtures import logscan


@pytest.fixture
def private_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scan of its own, so that the planted secrets do not fail the real run."""
    monkeypatch.setattr(logscan, "_remembered", {})
    monkeypatch.setattr(logscan, "_runs", {})


@pytest.mark.usefixtures("private_scan")
def test_a_logged_secret_is_found_and_named_by_kind_only() -> None:
    key, token, unused = (secrets.token_urlsafe(32) for _ in range(3))
    logscan.remember("API key", "qbs_" + key)
    logscan.remember("QBO access token", token, None, "short")
    logscan.remember("callback secret", unused)

    logging.getLogger("app.somewhere").warning("calling with qbs_%s", key)
    logscan._take(f'{{"header": "v1={token}.tail"}}', "stderr")

    leaks = logscan.find_leaks()
    assert [kind for kind, _ in leaks] == ["API key", "QBO access token"]
    where = dict(leaks)
    assert "test_a_logged_secret_is_found_and_named_by_kind_only" in where["API key"]
    assert "(log record)" in where["API key"]
    assert all(key not in text and token not in text for leak in leaks for text in leak)


@pytest.mark.usefixtures("private_scan")
def test_clean_output_finds_nothing() -> None:
    logscan.remember("API key", "qbs_" + secrets.token_urlsafe(32))
    logging.getLogger("app.somewhere").warning("a key named %s was used", "billing")
    assert logscan.find_leaks() == []
