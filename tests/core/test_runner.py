"""`python -m app run` (what `make run` starts) on a machine with no servers configured."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.cli import build_parser
from app.config import Settings
from app.runner import emulator_args
from tests.support.factories import customer_event
from tests.support.helpers import free_port, stack_env, wait_ready

ROOT = Path(__file__).resolve().parents[2]


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


@pytest.mark.slow
def test_run_starts_everything_embedded_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    env = stack_env(tmp_path / "data", port, emulator_port)
    api = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    first = start()
    try:
        wait_ready(f"{api}/health/ready", first)
        wait_ready(f"http://127.0.0.1:{emulator_port}/", first)
        # Another command, with no URLs either, finds the same embedded servers.
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "keys",
                "create",
                "--name",
                "billing",
                "--scopes",
                "events:write,events:read",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        key = created.stdout.strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {key}"}
        posted = httpx.post(f"{api}/events", json=customer_event(), headers=headers, timeout=10)
        assert posted.status_code == 202
        emulator = f"http://127.0.0.1:{emulator_port}"
        company = httpx.post(f"{emulator}/admin/companies", json={"name": "Kept"}, timeout=10)
        realm = company.json()["realm_id"]
    finally:
        output = _stop(first)
    assert f"API            {api}" in output
    assert "keys create" in output
    assert f"DATA_DIR={tmp_path / 'data'} .venv/bin/python -m app keys create" in output
    assert "stopped" in output

    second = start()
    try:
        wait_ready(f"{api}/health/ready", second)
        event = httpx.get(f"{api}{posted.json()['links']['self']}", headers=headers, timeout=10)
        assert event.status_code == 200
        # The emulator's companies are kept under DATA_DIR too.
        wait_ready(f"{emulator}/", second)
        kept = httpx.get(f"{emulator}/admin/companies/{realm}", timeout=10)
        assert kept.status_code == 200
        assert kept.json()["name"] == "Kept"
        # The worker ran: with no connection for the realm, the event waits for one.
        deadline = time.monotonic() + 30
        while event.json()["status"] != "waiting_connection" and time.monotonic() < deadline:
            time.sleep(0.5)
            event = httpx.get(f"{api}{posted.json()['links']['self']}", headers=headers)
        assert event.json()["status"] == "waiting_connection"
        # ... and readiness knows it is alive (its first heartbeat may follow the API's start).
        deadline = time.monotonic() + 30
        workers = ""
        while workers != "ok: 1 alive" and time.monotonic() < deadline:
            workers = httpx.get(f"{api}/health/ready", timeout=10).json()["checks"]["workers"]
            time.sleep(0.5)
        assert workers == "ok: 1 alive"
    finally:
        _stop(second)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == "", "a server outlived the runner"


def test_run_keeps_the_emulators_state_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", port=8123, emulator_port=8124)
    args = emulator_args(settings, "verifier")
    state_file = tmp_path / "data" / "emulator" / "state.json"
    assert args[args.index("--state-file") + 1] == str(state_file)
    assert args[args.index("--port") + 1] == "8124"
    assert args[args.index("--webhook-url") + 1] == "http://127.0.0.1:8123/webhooks/intuit"


def test_the_emulators_verifier_token_reaches_it_whatever_its_first_character() -> None:
    """A random token (secrets.token_urlsafe) begins with "-" about once in 64 runs."""
    settings = Settings(port=8123, emulator_port=8124)
    for verifier in ("-Ab3_token", "--x", "plain"):
        parsed = build_parser().parse_args(emulator_args(settings, verifier))
        assert parsed.webhook_verifier_token == verifier
