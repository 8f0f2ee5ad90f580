"""Migrations go up, all the way down, and up again, and match the models exactly."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError

from app.db import Base, create_engine
from app.devservers import create_database, drop_database
from app.models import load_all_models

ROOT = Path(__file__).resolve().parents[2]


def _config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


async def _tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def _diff(url: str) -> list[Any]:
    load_all_models()

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_and_no_drift(server_database_url: str) -> None:
    name = f"qbo_sync_migrations_{secrets.token_hex(4)}"
    url = await create_database(server_database_url, name)
    try:
        cfg = _config(url)
        await asyncio.to_thread(command.upgrade, cfg, "head")
        expected = {t.name for t in Base.metadata.sorted_tables}
        assert await _tables(url) == expected
        assert await _diff(url) == []

        await asyncio.to_thread(command.downgrade, cfg, "base")
        assert await _tables(url) == set()

        await asyncio.to_thread(command.upgrade, cfg, "head")
        assert await _tables(url) == expected
        assert await _diff(url) == []
    finally:
        await drop_database(server_database_url, name)


async def test_one_qbo_record_per_caller_record_is_enforced(server_database_url: str) -> None:
    """Mappings that already share a QBO record stop the upgrade, named; once one is left
    per QBO record it goes through, and a second link of one QBO record is refused."""
    name = f"qbo_sync_migrations_{secrets.token_hex(4)}"
    url = await create_database(server_database_url, name)
    insert = text(
        "INSERT INTO entity_mappings (id, realm_id, entity_type, external_id, qbo_id, "
        "sync_token, created_at, updated_at) VALUES (:id, '1', 'customer', :ext, '7', '0', "
        "now(), now())"
    )
    engine = create_engine(url, pool_size=1)
    try:
        cfg = _config(url)
        await asyncio.to_thread(command.upgrade, cfg, "0005")
        async with engine.begin() as conn:
            for ext in ("cust-41", "cust-42"):
                await conn.execute(insert, {"id": uuid.uuid4(), "ext": ext})
        with pytest.raises(RuntimeError, match="realm 1 customer 7: cust-41, cust-42"):
            await asyncio.to_thread(command.upgrade, cfg, "head")

        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM entity_mappings WHERE external_id = 'cust-42'"))
        await asyncio.to_thread(command.upgrade, cfg, "head")
        with pytest.raises(IntegrityError, match="uq_entity_mappings_qbo"):
            async with engine.begin() as conn:
                await conn.execute(insert, {"id": uuid.uuid4(), "ext": "cust-42"})
    finally:
        await engine.dispose()
        await drop_database(server_database_url, name)
