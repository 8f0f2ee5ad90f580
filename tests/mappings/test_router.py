"""GET /mappings: lookup by realm, entity type, external id or QBO id."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import utcnow
from app.mappings.models import EntityMapping


async def test_lookup_and_pagination(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    start = utcnow()
    async with session_factory() as session:
        for i in range(5):
            session.add(
                EntityMapping(
                    realm_id="111",
                    entity_type="customer" if i < 3 else "invoice",
                    external_id=f"x{i}",
                    qbo_id=str(100 + i),
                    sync_token="0",
                    created_at=start + timedelta(seconds=i),
                )
            )
        session.add(
            EntityMapping(
                realm_id="222", entity_type="customer", external_id="x0", qbo_id="9", sync_token="3"
            )
        )
        await session.commit()

    by_external = await client.get(
        "/mappings",
        params={"realm_id": "111", "entity_type": "customer", "external_id": "x1"},
        headers=auth,
    )
    assert [m["qbo_id"] for m in by_external.json()["items"]] == ["101"]
    by_qbo = await client.get("/mappings", params={"realm_id": "222", "qbo_id": "9"}, headers=auth)
    assert [(m["external_id"], m["sync_token"]) for m in by_qbo.json()["items"]] == [("x0", "3")]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"realm_id": "111", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/mappings", params=params, headers=auth)).json()
        seen += [m["external_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["x4", "x3", "x2", "x1", "x0"]

    bad = await client.get("/mappings", params={"cursor": "nope"}, headers=auth)
    assert bad.status_code == 422
