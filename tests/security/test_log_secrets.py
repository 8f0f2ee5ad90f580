"""No secret ever reaches a log: the end-to-end tests run again with every log line kept,
and every secret they used (API keys, QBO access and refresh tokens, the OAuth client secret,
the encryption keys) is searched for in that output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITES = [
    "tests/e2e",
    "tests/connections",
    "tests/status",
    "tests/metrics",
    "tests/ops",
    "tests/callbacks",
]


def test_no_secret_appears_in_the_logs_of_the_end_to_end_suite(
    tmp_path: Path, server_database_url: str, redis_url: str
) -> None:
    if os.environ.get("QBO_SYNC_SECRETS_FILE"):
        pytest.skip("this is the scanned run itself")
    secrets_file = tmp_path / "secrets"
    env = {
        **os.environ,
        "QBO_SYNC_SECRETS_FILE": str(secrets_file),
        "TEST_DATABASE_URL": server_database_url,
        "TEST_REDIS_URL": redis_url,
    }
    env.pop("QBO_SYNC_REQUIRE_BROWSER", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *SUITES,
            "-q",
            "-s",
            "-p",
            "no:logging",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert output.count('{"ts": ') > 500  # the service's JSON log lines were all kept
    secrets = {s for s in secrets_file.read_text().splitlines() if len(s) >= 12}
    assert len(secrets) > 50  # keys and tokens were really used
    leaked = sorted(s[:6] + "..." for s in secrets if s in output)
    assert leaked == []
