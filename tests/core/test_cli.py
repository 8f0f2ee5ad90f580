"""`python -m app keys ...` as a user runs it."""

from __future__ import annotations

import subprocess

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.models import Connection
from app.events.models import Event
from tests.support.factories import customer_event
from tests.support.helpers import run_app


async def test_keys_create_list_revoke(
    database_url: str, redis_url: str, client: httpx.AsyncClient
) -> None:
    created = run_app(
        "keys",
        "create",
        "--name",
        "billing",
        "--scopes",
        "events:write,events:read",
        database_url=database_url,
        redis_url=redis_url,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("qbs_")
    assert len(key) > 40

    headers = {"Authorization": f"Bearer {key}"}
    accepted = await client.post("/events", json=customer_event(), headers=headers)
    assert accepted.status_code == 202
    assert (await client.get(accepted.json()["links"]["self"], headers=headers)).json()[
        "source"
    ] == "billing"

    listed = run_app("keys", "list", database_url=database_url, redis_url=redis_url)
    assert "billing" in listed.stdout
    assert "events:read,events:write" in listed.stdout
    assert key not in listed.stdout

    again = run_app(
        "keys",
        "create",
        "--name",
        "billing",
        "--scopes",
        "events:write",
        database_url=database_url,
        redis_url=redis_url,
    )
    assert again.returncode == 2
    assert "already exists" in again.stderr

    auditor = run_app(
        "keys",
        "create",
        "--name",
        "auditor",
        "--scopes",
        "events:read_all",
        database_url=database_url,
        redis_url=redis_url,
    )
    assert auditor.returncode == 0, auditor.stderr
    wide = {"Authorization": f"Bearer {auditor.stdout.strip().splitlines()[-1]}"}
    assert (await client.get(accepted.json()["links"]["self"], headers=wide)).status_code == 200
    assert (
        "events:read_all"
        in run_app("keys", "list", database_url=database_url, redis_url=redis_url).stdout
    )

    bad_scope = run_app(
        "keys",
        "create",
        "--name",
        "x",
        "--scopes",
        "events:delete",
        database_url=database_url,
        redis_url=redis_url,
    )
    assert bad_scope.returncode == 2
    assert "unknown scope" in bad_scope.stderr

    revoked = run_app("keys", "revoke", "billing", database_url=database_url, redis_url=redis_url)
    assert revoked.returncode == 0
    assert (await client.post("/events", json=customer_event(), headers=headers)).status_code == 401
    missing = run_app("keys", "revoke", "billing", database_url=database_url, redis_url=redis_url)
    assert missing.returncode == 1


async def test_events_discard_removes_the_events_of_a_company_never_connected(
    database_url: str,
    redis_url: str,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    wrong, connected = "9130000000000001", "9130000000000002"
    for realm in (wrong, wrong, connected):
        posted = await client.post("/events", json=customer_event(realm_id=realm), headers=auth)
        assert posted.status_code == 202
    async with session_factory.begin() as session:
        session.add(Connection(realm_id=connected, environment="emulator", status="disconnected"))

    def discard(realm: str) -> subprocess.CompletedProcess[str]:
        args = ("events", "discard", "--realm-id", realm)
        return run_app(*args, database_url=database_url, redis_url=redis_url)

    # A company that was connected keeps its events: they wait for a reconnect.
    refused = discard(connected)
    assert refused.returncode == 1
    assert "has been connected" in refused.stderr
    assert "bad" in discard("not-digits").stderr
    done = discard(wrong)
    assert done.returncode == 0, done.stderr
    assert "discarded 2 events" in done.stdout
    realms = {
        r["realm_id"] for r in (await client.get("/sync-status", headers=auth)).json()["realms"]
    }
    assert realms == {connected}
    async with session_factory() as session:
        left = await session.scalars(select(Event.realm_id))
        assert sorted(left) == [connected]
    assert "no events" in discard(wrong).stdout
