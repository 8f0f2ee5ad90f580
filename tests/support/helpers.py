"""Small helpers shared by tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from arq.connections import ArqRedis
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.events.models import Event
from app.main import create_app
from app.worker.context import CONTEXT_KEY, WorkerContext


async def count_events(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


@asynccontextmanager
async def job_context(settings: Settings, redis: ArqRedis) -> AsyncIterator[dict[str, Any]]:
    """The ctx a worker hands its jobs, for calling one (a sweeper) directly; what it opened
    is closed afterwards."""
    context = WorkerContext.build(settings, redis)
    try:
        yield {CONTEXT_KEY: context}
    finally:
        await context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_app(
    *args: str, database_url: str, redis_url: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m app ARGS` as a user runs it, against the given servers (plus `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


ROOT = Path(__file__).resolve().parents[2]


def spawn_app(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m app ARGS` started in the background as a user starts it (in the checkout,
    with `env`), its output and errors written to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(
    url: str, proc: subprocess.Popen[Any], timeout: float = 90, log: Path | None = None
) -> None:
    """Poll `url` until it answers 200; fails early if `proc` exits (showing `log`'s tail)."""

    def tail() -> str:
        return log.read_text(errors="replace")[-4000:] if log and log.exists() else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the process exited early:\n{tail()}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {timeout}s:\n{tail()}")


@asynccontextmanager
async def asgi_client(
    app: Any, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client that calls an ASGI app in process, as a browser or service would over HTTP."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as c:
        yield c


@asynccontextmanager
async def started_app(
    settings: Settings, qbo_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[FastAPI]:
    """The API app of `settings`, its lifespan run (database engine, Redis, limiter) until
    the block ends; `qbo_transport` carries its calls to Intuit (an emulator app, say)."""
    application = create_app(settings, qbo_transport=qbo_transport)
    async with application.router.lifespan_context(application):
        yield application


def stack_env(data_dir: Path, port: int, emulator_port: int) -> dict[str, str]:
    """The environment of a `python -m app run` stack of its own: embedded servers under
    `data_dir` (no server URL of this run leaks in), the given ports, quiet logs."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL"}
    }
    env.update(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        EMULATOR_PORT=str(emulator_port),
        EMULATOR_URL=f"http://127.0.0.1:{emulator_port}",
        LOG_LEVEL="WARNING",
    )
    return env
