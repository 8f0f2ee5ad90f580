"""`python -m app run`: everything a laptop needs, in one command, stopped cleanly by Ctrl-C.

Attaches to (or starts) the embedded servers when no URLs are set, applies migrations, then
runs the API, one worker and, when no Intuit client id is configured, the QBO emulator, as
child processes; the emulator keeps its state under DATA_DIR too. SIGINT or SIGTERM stops
the children, then the embedded servers.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from app.config import Settings

STOP_TIMEOUT_S = 15


def _spawn(name: str, args: list[str], env: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    return name, subprocess.Popen([sys.executable, "-m", "app", *args], env=env)


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for name, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {STOP_TIMEOUT_S}s; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()


def emulator_state_file(settings: Settings) -> Path:
    """Where `run` keeps the emulator's companies, records and tokens: under DATA_DIR, like
    the embedded servers' data, so that connections survive a restart."""
    return Path(settings.data_dir) / "emulator" / "state.json"


def emulator_args(settings: Settings, verifier: str) -> list[str]:
    """The `python -m app` arguments of the emulator `run` starts: its port, its state file,
    and its webhooks sent to this API, signed with `verifier`."""
    webhook_url = f"http://{settings.host}:{settings.port}/webhooks/intuit"
    return [
        "emulator",
        "--port",
        str(settings.emulator_port),
        "--state-file",
        str(emulator_state_file(settings)),
        "--webhook-url",
        webhook_url,
        # One argument: a token may begin with "-", which argparse would take for an option.
        f"--webhook-verifier-token={verifier}",
    ]


def run_all(settings: Settings, *, with_emulator: bool) -> int:
    """Run until a signal arrives or a child dies; returns the exit code for the shell."""
    from app.devservers import with_servers
    from app.migrate import migrate_to_head

    embedded = [
        n
        for n, v in (("PostgreSQL", settings.database_url), ("Redis", settings.redis_url))
        if v is None
    ]
    if embedded:
        print(f"starting embedded {' and '.join(embedded)} under {settings.data_dir}/ ...")
    settings = with_servers(settings)
    database_url, redis_url = settings.server_urls()
    migrate_to_head(settings)

    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = redis_url
    start_emulator = with_emulator and settings.uses_emulator and not settings.qbo_client_id

    stopping = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    children = []
    if start_emulator:
        # The emulator tells the API of every change, as Intuit's webhooks do, signed with
        # the verifier token the API checks (a fresh one per run unless one is configured).
        token = settings.qbo_webhook_verifier_token
        verifier = token.get_secret_value() if token else secrets.token_urlsafe(24)
        env["QBO_WEBHOOK_VERIFIER_TOKEN"] = verifier
        children.append(_spawn("emulator", emulator_args(settings, verifier), env))
    children.append(_spawn("api", ["serve"], env))
    children.append(_spawn("worker", ["worker"], env))

    api = f"http://{settings.host}:{settings.port}"
    # Commands in another terminal find the embedded servers through DATA_DIR.
    default_dir = Settings.model_fields["data_dir"].default
    same_data_dir = (
        f"DATA_DIR={settings.data_dir} " if embedded and settings.data_dir != default_dir else ""
    )
    lines = [
        "",
        "qbo-sync is running",
        f"  API            {api}   (docs: {api}/docs, health: {api}/health/ready)",
    ]
    if start_emulator:
        lines.append(f"  QBO emulator   {settings.emulator_url}   (companies and records: /)")
        lines.append(f"                 its webhooks go to {api}/webhooks/intuit")
    lines += [
        "  worker         1 arq worker (sync, webhooks and CDC, callbacks, sweepers)",
        "",
        "Create an API key in another terminal:",
        f"  {same_data_dir}.venv/bin/python -m app keys create --name billing"
        " --scopes events:write,events:read",
        "Stop with Ctrl-C.",
        "",
    ]
    print("\n".join(lines), flush=True)

    exit_code = 0
    while not stopping:
        for name, proc in children:
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping", file=sys.stderr)
                exit_code = 1
                stopping = True
                break
        time.sleep(0.3)
    print("stopping ...", flush=True)
    _stop(children)
    print("stopped", flush=True)
    return exit_code
