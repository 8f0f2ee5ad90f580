"""Single-flight refresh across processes: a real emulator and four separate processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.connections.models import Connection
from app.connections.tokens import read_tokens
from app.core.cipher import TokenCipher
from tests.support.helpers import free_port
from tests.support.realm import connect_realm

ROOT = Path(__file__).resolve().parents[2]
PROCESSES, PER_PROCESS = 4, 5


@pytest.fixture
def emulator_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "emulator", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/admin/clock", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_twenty_requests_from_four_processes_refresh_once(
    emulator_url: str,
    settings: Settings,
    database_url: str,
    redis_url: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    cipher = TokenCipher.from_settings(settings)
    async with httpx.AsyncClient(base_url=emulator_url) as admin:
        realm, minted = await connect_realm(
            admin, session_factory, cipher, expires_in=timedelta(minutes=1)
        )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMULATOR_URL": emulator_url,
        "LOG_LEVEL": "WARNING",
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.token_client",
            realm,
            str(PER_PROCESS),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    tokens: list[str] = []
    for proc in procs:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0
        tokens += json.loads(out)

    # Every successful token call mints a different access token, and a failed one would
    # have made the connection needs_reauth: one distinct new token means exactly one call.
    assert len(tokens) == PROCESSES * PER_PROCESS
    assert len(set(tokens)) == 1
    assert tokens[0] != minted["access_token"]
    async with session_factory() as session:
        row = (await session.scalars(select(Connection))).one()
    assert row.status == "active"
    assert read_tokens(row, cipher)[0].get_secret_value() == tokens[0]
