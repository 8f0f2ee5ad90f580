"""The service as a user starts it, for browser tests: `python -m app run` (API, worker and
emulator as real processes) on free ports against the test PostgreSQL and Redis, and a
headless Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import free_port, run_app, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Service:
    api: str
    emulator: str
    headers: dict[str, str]  # of an API key holding connections:admin
    database_url: str
    redis_url: str

    def key(self, name: str, scopes: str) -> str:
        """A new API key, made with the CLI as an operator makes one."""
        created = run_app(
            "keys",
            "create",
            "--name",
            name,
            "--scopes",
            scopes,
            database_url=self.database_url,
            redis_url=self.redis_url,
        )
        assert created.returncode == 0, created.stderr
        return created.stdout.strip().splitlines()[-1]


@pytest.fixture
def service(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Service]:
    """`python -m app run` on free ports, with an admin key; stopped with SIGTERM."""
    port, emulator_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("QBO_") and k not in {"TEST_DATABASE_URL", "TEST_REDIS_URL"}
    }
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DATA_DIR=str(tmp_path / "data"),
        HOST="127.0.0.1",
        PORT=str(port),
        EMULATOR_PORT=str(emulator_port),
        EMULATOR_URL=f"http://127.0.0.1:{emulator_port}",
        QBO_ENVIRONMENT="emulator",
        LOG_LEVEL="WARNING",
    )
    api, emulator = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}"
    log = tmp_path / "runner.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"{api}/health/ready", proc, 60, log)
        wait_ready(f"{emulator}/", proc, 60, log)
        service = Service(api, emulator, {}, database_url, redis_url)
        admin = service.key("ops", "connections:admin")
        yield Service(api, emulator, {"Authorization": f"Bearer {admin}"}, database_url, redis_url)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (
        f"the runner did not stop cleanly:\n{log.read_text(errors='replace')[-4000:]}"
    )


@pytest.fixture
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
