"""Secrets at rest and in answers. After a company is connected, a callback set and events
synced to the emulator: API keys exist only as SHA-256 digests, QBO tokens and the callback
secret only as Fernet ciphertext, and no API key, token, callback secret, client secret or
encryption key is in any table, in Redis, or in any answer of the read routes. (Logs: the
suite-wide scan of tests/fixtures/logscan.py.)"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
from arq.connections import ArqRedis
from fastapi import FastAPI
from sqlalchemy import select, text

from app.callbacks.models import Callback
from app.connections.models import Connection
from app.connections.tokens import read_tokens
from app.core.cipher import TokenCipher
from app.db import Base
from app.models import load_all_models
from app.security import ApiKey, hash_key
from tests.fixtures.keys import KeyFactory
from tests.fixtures.logscan import remember_secret
from tests.fixtures.world import World
from tests.support.factories import customer_event

FERNET_PREFIX = b"gAAAAA"  # version byte 0x80 and a timestamp, base64: every Fernet token
READ_ROUTES = [
    "/connections",
    "/connections/{realm}",
    "/callbacks",
    "/callbacks/deliveries",
    "/sync-status",
    "/sync-status?realm_id={realm}",
    "/metrics",
    "/events",
    "/mappings",
    "/drift",
]


async def database_text(world: World) -> str:
    """Every row of every table as PostgreSQL prints it (bytea as hex)."""
    load_all_models()
    rows: list[str] = []
    async with world.factory() as session:
        for table in Base.metadata.sorted_tables:
            # Table names from our own metadata, not input.
            query = f'SELECT t::text FROM "{table.name}" t'  # noqa: S608
            result = await session.execute(text(query))
            rows.extend(str(r) for r in result.scalars())
    return "\n".join(rows)


async def redis_text(redis: ArqRedis) -> str:
    parts: list[str] = []
    async for raw in redis.scan_iter():
        key = raw.decode(errors="replace")
        kind = (await redis.type(raw)).decode()
        # One reading command per type; anything else is named only.
        command = {
            "string": ("GET", raw),
            "hash": ("HGETALL", raw),
            "list": ("LRANGE", raw, 0, -1),
            "set": ("SMEMBERS", raw),
            "zset": ("ZRANGE", raw, 0, -1),
        }.get(kind)
        value: Any = kind
        if command:
            value = await redis.execute_command(*command)  # type: ignore[no-untyped-call]
        parts.append(f"{key} {value!r}")
    return "\n".join(parts)


def found_in(haystack: str, named: dict[str, str]) -> list[str]:
    """The names of the secrets in `haystack`, as text or as hex (a bytea column)."""
    lowered = haystack.lower()
    return sorted(
        name
        for name, value in named.items()
        if value in haystack or value.encode().hex() in lowered
    )


async def test_no_secret_in_clear_at_rest_or_in_answers(
    app: FastAPI, world: World, make_key: KeyFactory
) -> None:
    w = await world.connect()
    keys = {f"key-{i}": await make_key(f"reader-{i}") for i in range(2)}
    callback_secret = secrets.token_urlsafe(32)
    remember_secret(callback_secret, kind="callback secret")
    w.callbacks = httpx.MockTransport(lambda request: httpx.Response(204))
    put = await w.client.put(
        "/callbacks",
        json={"url": "https://hooks.example/qbo", "secret": callback_secret},
        headers=w.auth,
    )
    assert put.status_code == 200
    assert callback_secret not in put.text
    assert await w.send(customer_event("c1")) == {"synced": 1}

    cipher: TokenCipher = app.state.cipher
    async with w.factory() as session:
        connection = (await session.scalars(select(Connection))).one()
        callback = (await session.scalars(select(Callback))).one()
        stored_keys = (await session.scalars(select(ApiKey))).all()
    access, refresh = (t.get_secret_value() for t in read_tokens(connection, cipher))

    # Fernet ciphertext, readable only with the key, holding the token.
    for column, plain in (
        (connection.access_token_enc, access),
        (connection.refresh_token_enc, refresh),
        (callback.secret_enc, callback_secret),
    ):
        assert column is not None
        assert column.startswith(FERNET_PREFIX)
        assert plain.encode() not in column
        assert cipher.decrypt(column).get_secret_value() == plain

    # API keys: a SHA-256 hex digest per key, nothing else.
    all_keys = {**keys, "billing": w.auth["Authorization"].removeprefix("Bearer ")}
    digests = {row.key_hash for row in stored_keys}
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    assert {hash_key(k) for k in all_keys.values()} <= digests

    settings = w.settings
    named = {
        **{f"API key {name}": key for name, key in all_keys.items()},
        "QBO access token": access,
        "QBO refresh token": refresh,
        "callback secret": callback_secret,
        "OAuth client secret": settings.oauth_client[1].get_secret_value(),
        **{
            f"encryption key {i}": k.get_secret_value()
            for i, k in enumerate(settings.token_encryption_keys)
        },
    }
    assert found_in(await database_text(w), named) == []
    assert found_in(await redis_text(w.redis), named) == []

    for route in READ_ROUTES:
        answer = await w.client.get(route.format(realm=w.realm), headers=w.auth)
        assert answer.status_code == 200, (route, answer.text)
        assert found_in(answer.text, named) == [], route
        assert "token_enc" not in answer.text
        assert "secret" not in answer.text.lower().replace("secrets", "")
