"""An emulator given a state file (as `python -m app run` starts it) keeps its companies,
records and tokens across a restart; one without keeps everything in memory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.emulator.app import SaveAfterChanges, create_app, store_of
from app.emulator.config import EmulatorConfig
from app.emulator.persist import StateFile, StateFileError
from tests.fixtures.qbo import Qbo, make_qbo
from tests.support.helpers import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
REDIRECT = "http://127.0.0.1:9/connections/callback"


def _start(port: int, state_file: Path) -> subprocess.Popen[bytes]:
    args = ["emulator", "--port", str(port), "--state-file", str(state_file)]
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args, "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down cleanly, then re-raises the signal it caught.
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)


def _consent(base: str, realm_id: str) -> str:
    """Approve the consent page for an existing company, as a person would; returns the code."""
    query = {"client_id": "dev-client", "redirect_uri": REDIRECT, "state": "s1"}
    page = httpx.get(f"{base}/connect/oauth2", params=query, timeout=10)
    assert realm_id in page.text, "the consent page offers the company again"
    decision = httpx.post(
        f"{base}/connect/oauth2/decision",
        data={**query, "realm_id": realm_id, "action": "approve"},
        timeout=10,
    )
    assert decision.status_code == 302, decision.text
    return parse_qs(urlsplit(decision.headers["location"]).query)["code"][0]


@pytest.mark.slow
def test_a_restarted_emulator_keeps_companies_records_and_tokens(tmp_path: Path) -> None:
    port, state_file = free_port(), tmp_path / "emulator" / "state.json"
    base = f"http://127.0.0.1:{port}"
    first = _start(port, state_file)
    try:
        wait_ready(f"{base}/", first)
        realm = httpx.post(f"{base}/admin/companies", json={"name": "Kept Ltd"}).json()["realm_id"]
        tokens = httpx.post(
            f"{base}/admin/companies/{realm}/tokens",
            json={"client_id": "dev-client", "client_secret": "dev-secret"},
        ).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}
        made = httpx.post(
            f"{base}/v3/company/{realm}/customer",
            json={"DisplayName": "Ada", "Balance": 0},
            params={"requestid": "req-1"},
            headers=bearer,
        )
        assert made.status_code == 200, made.text
        customer = made.json()["Customer"]
    finally:
        _stop(first)
    assert state_file.exists()
    assert state_file.stat().st_mode & 0o077 == 0, "tokens are in it: owner-only"

    second = _start(port, state_file)
    try:
        wait_ready(f"{base}/", second)
        companies = httpx.get(f"{base}/admin/companies").json()
        assert [c["realm_id"] for c in companies] == [realm]
        # The access token issued before the restart still reads the record ...
        read = httpx.get(f"{base}/v3/company/{realm}/customer/{customer['Id']}", headers=bearer)
        assert read.status_code == 200, read.text
        assert read.json()["Customer"]["DisplayName"] == "Ada"
        # ... a repeated requestid is still answered from memory, not created twice ...
        again = httpx.post(
            f"{base}/v3/company/{realm}/customer",
            json={"DisplayName": "Ada", "Balance": 0},
            params={"requestid": "req-1"},
            headers=bearer,
        )
        assert again.json()["Customer"]["Id"] == customer["Id"]
        # ... the refresh token still refreshes (no invalid_grant) ...
        refreshed = httpx.post(
            f"{base}/oauth2/v1/tokens/bearer",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=("dev-client", "dev-secret"),
        )
        assert refreshed.status_code == 200, refreshed.text
        # ... new ids do not collide with old ones, and the company can be reconnected.
        other = httpx.post(
            f"{base}/v3/company/{realm}/customer", json={"DisplayName": "Bo"}, headers=bearer
        )
        assert other.json()["Customer"]["Id"] != customer["Id"]
        code = _consent(base, realm)
        exchanged = httpx.post(
            f"{base}/oauth2/v1/tokens/bearer",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
            auth=("dev-client", "dev-secret"),
        )
        assert exchanged.status_code == 200, exchanged.text
    finally:
        _stop(second)


async def _invoiced(qbo: Qbo) -> dict[str, Any]:
    customer = await qbo.customer("Decimal Dan")
    return await qbo.invoice(customer["Id"], "10.10", "0.20")


async def test_changes_reach_the_file_without_a_shutdown_and_amounts_stay_exact(
    tmp_path: Path,
) -> None:
    state_file = tmp_path / "state.json"
    config = EmulatorConfig(frozen_clock=True, seed=7, state_file=str(state_file))
    qbo, app = await make_qbo(config)
    invoice = await _invoiced(qbo)
    await qbo.client.aclose()
    # Written shortly after the change, with no shutdown (a killed emulator loses little).
    for _ in range(200):
        if state_file.exists():
            break
        await asyncio.sleep(0.05)
    again = store_of(create_app(config))
    company = again.company(qbo.realm_id)
    assert company is not None
    stored = company.get("Invoice", invoice["Id"])
    assert stored is not None
    assert stored["TotalAmt"] == Decimal("10.30")
    assert isinstance(stored["TotalAmt"], Decimal)
    assert stored == store_of(app).companies[qbo.realm_id].get("Invoice", invoice["Id"])
    assert company.listener is not None, "a restored company still sends webhooks"
    assert again.now() >= store_of(app).now(), "time never runs backwards across a restart"


def test_an_unreadable_state_file_is_refused_naming_it(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"format": 99}))
    with pytest.raises(StateFileError, match=r"state\.json"):
        create_app(EmulatorConfig(state_file=str(state_file)))


async def test_without_a_state_file_everything_stays_in_memory() -> None:
    qbo, app = await make_qbo()
    await _invoiced(qbo)
    await qbo.client.aclose()
    assert store_of(app).config.state_file is None
    assert app.state.state_file is None
    assert not any(
        isinstance(m.cls, type) and m.cls is SaveAfterChanges for m in app.user_middleware
    )


async def test_company_sales_settings_survive_a_restart(tmp_path: Path) -> None:
    qbo, _ = await make_qbo(automated_sales_tax=True, allow_shipping=True, tax_rounding="rate")
    try:
        company = qbo.store.company(qbo.realm_id)
        assert company is not None
        StateFile(tmp_path / "state.json", qbo.store).save()
        fresh = store_of(create_app(EmulatorConfig(frozen_clock=True)))
        assert StateFile(tmp_path / "state.json", fresh).load()
        kept = fresh.company(qbo.realm_id)
        assert kept is not None
        assert kept.sales == company.sales
        assert (kept.sales.automated_sales_tax, kept.sales.tax_rounding) == (True, "rate")
    finally:
        await qbo.client.aclose()
