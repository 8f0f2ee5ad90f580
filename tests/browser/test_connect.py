"""The ops flow in a real browser: `POST /connections`, approve on the emulator's consent page
in headless Chromium, land on "Connected to ...", then see the company active in the API.

The service runs as `python -m app run` (API, worker and emulator as real processes) against
the test PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import free_port, run_app, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parents[2]
COMPANY = "Harbor & Pine Supply"


@dataclass(frozen=True)
class Service:
    api: str
    emulator: str
    headers: dict[str, str]


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
        created = run_app(
            "keys",
            "create",
            "--name",
            "ops",
            "--scopes",
            "connections:admin",
            database_url=database_url,
            redis_url=redis_url,
        )
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip().splitlines()[-1]
        yield Service(api, emulator, {"Authorization": f"Bearer {key}"})
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


# `app` only so that the shared clean-up empties the tables this test fills.
@pytest.mark.browser
@pytest.mark.usefixtures("app")
def test_ops_connect_a_company_in_a_browser(service: Service, browser: Browser) -> None:
    started = httpx.post(f"{service.api}/connections", headers=service.headers, timeout=10)
    assert started.status_code == 201, started.text
    authorization_url = started.json()["authorization_url"]
    assert authorization_url.startswith(f"{service.emulator}/connect/oauth2?")

    page = browser.new_page()
    page.set_default_timeout(15_000)
    consent = page.goto(authorization_url)
    assert consent is not None
    assert consent.status == 200
    page.check("input[name='realm_id'][value='new']")
    page.fill("input[name='company_name']", COMPANY)
    with page.expect_response(lambda r: "/connections/callback" in r.url) as landed:
        page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()

    assert landed.value.status == 200, page.content()
    assert page.url.startswith(f"{service.api}/connections/callback?")
    assert f"Connected to {COMPANY}." in page.inner_text("body")
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == [started.json()["state"]]
    realm_id = query["realmId"][0]

    listed = httpx.get(f"{service.api}/connections", headers=service.headers, timeout=10)
    assert listed.status_code == 200, listed.text
    [connection] = [c for c in listed.json() if c["realm_id"] == realm_id]
    assert connection["company_name"] == COMPANY
    assert connection["status"] == "active"
