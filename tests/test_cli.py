"""`python -m app keys ...` as a user runs it."""

from __future__ import annotations

import httpx

from tests.factories import customer_event
from tests.helpers import run_app


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
