"""The short chaos run (`python -m bench.chaos --short`): the whole system as processes,
every fault of `make chaos` once or more, then QBO's books checked against the callers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_chaos_run_loses_duplicates_and_mismatches_nothing() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QBO_", "DATABASE_", "REDIS_", "TEST_"))
    }
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--short"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    found = re.fullmatch(
        r"chaos: events=(\d+) synced=(\d+) explained=(\d+) lost=(\d+) duplicates=(\d+)"
        r" mismatched=(\d+) faults=(\d+)",
        last,
    )
    assert found, output[-4000:]
    events, synced, explained, lost, duplicates, mismatched, faults = map(int, found.groups())
    assert (lost, duplicates, mismatched) == (0, 0, 0), output[-4000:]
    assert events > 100
    assert synced + explained == events
    assert faults >= 12  # kills, burst, flush, restarts, revoke, lost refresh, reconnects
    assert run.returncode == 0, output[-4000:]
    for fault in (
        "SIGKILL worker",
        "Redis FLUSHALL",
        "Redis restart",
        "PostgreSQL restart",
        "QBO 500/503/timeouts",
        "connection revoked",
        "refresh answer lost",
        "reconnect",
    ):
        assert fault in run.stdout, fault
