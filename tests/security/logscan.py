"""A pytest plugin of the whole suite: no secret a test used may appear in any log record or
in any test's captured stdout/stderr. At the end of the run, each secret remembered through
`tests.conftest.remember_secret` (API keys, QBO tokens, the OAuth client secret, encryption
keys, callback secrets) is searched for in everything collected; a find fails the run and
names the kind of secret and the first test whose output held it, never the secret itself.

Cheap by design: `Logger.handle` is wrapped rather than a root handler added, because every
app's lifespan (`configure_logging`) replaces the root handlers. Each record is formatted once
as the service formats it (JSON), and only its distinct runs of secret-like characters (at
least `MIN_LENGTH` long) are kept, with the first place each was seen: log lines repeat a lot,
so that is far smaller than the text, and the final search is a set lookup per run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from app.logs import JsonFormatter

# Shorter values (an id, a word) would match by chance; every real secret is far longer.
MIN_LENGTH = 12
# Every character our secrets are made of (url-safe and standard base64, hex, JWT dots).
SECRET_CHARS = re.compile(rf"[A-Za-z0-9+/=_.~-]{{{MIN_LENGTH},}}")

_remembered: dict[str, str] = {}  # secret -> its kind
_runs: dict[str, str] = {}  # distinct secret-like run -> where it was first seen
_where = "start-up"
_leaks: list[tuple[str, str]] = []
_formatter = JsonFormatter()


def remember(kind: str, *values: str | None) -> None:
    """Record secrets of `kind` (e.g. "API key") to be searched for at the end of the run."""
    for value in values:
        # A value with other characters (a made-up token in a test) is searched for by its
        # long runs; real secrets are one run.
        for run in SECRET_CHARS.findall(value or ""):
            _remembered.setdefault(run, kind)


def _take(text: str, source: str) -> None:
    for run in SECRET_CHARS.findall(text):
        if run not in _runs:
            _runs[run] = f"{_where} ({source})"


def _take_record(record: logging.LogRecord) -> None:
    try:
        line = _formatter.format(record)
    except Exception:  # a record that cannot be formatted is not printed either
        return
    _take(line, "log record")


def _candidates(run: str) -> Iterator[str]:
    """Each MIN_LENGTH-long window of `run`: a secret inside it starts at one of them."""
    for start in range(len(run) - MIN_LENGTH + 1):
        yield run[start : start + MIN_LENGTH]


def find_leaks() -> list[tuple[str, str]]:
    """(kind, where first seen) of each remembered secret found in the collected output."""
    by_prefix: dict[str, list[str]] = {}
    for secret in _remembered:
        by_prefix.setdefault(secret[:MIN_LENGTH], []).append(secret)
    found: dict[str, str] = {}
    for run, where in _runs.items():
        if run in _remembered:
            found.setdefault(run, where)
            continue
        for start, window in enumerate(_candidates(run)):
            for secret in by_prefix.get(window, ()):
                if run.startswith(secret, start):
                    found.setdefault(secret, where)
    return sorted((_remembered[secret], where) for secret, where in found.items())


def pytest_configure(config: pytest.Config) -> None:
    patch = pytest.MonkeyPatch()
    original = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        _take_record(record)
        original(self, record)

    patch.setattr(logging.Logger, "handle", handle)
    config.add_cleanup(patch.undo)


def pytest_runtest_logstart(nodeid: str) -> None:
    global _where
    _where = nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Log records were taken as they were made; the rest of the output is taken here.
    for name, content in report.sections:
        if name.startswith(("Captured stdout", "Captured stderr")):
            _take(content, name.lower().removeprefix("captured "))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _leaks[:] = find_leaks()
    if _leaks and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _leaks:
        return
    terminalreporter.section("secrets in the output", sep="=", red=True, bold=True)
    for kind, where in _leaks:
        terminalreporter.write_line(f"{kind}: in the output of {where}")
