"""A connected realm: a company in an emulator and its tokens stored as the service stores them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET
from app.connections.models import Connection
from app.connections.tokens import store_tokens
from app.core.cipher import TokenCipher
from app.db import utcnow


async def connect_realm(
    emulator: httpx.AsyncClient,
    factory: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
    *,
    expires_in: timedelta = timedelta(hours=1),
) -> tuple[str, dict[str, Any]]:
    """Create a company, mint this service's token pair there and store it; returns
    (realm id, the minted answer)."""
    realm = (await emulator.post("/admin/companies", json={"name": "Acme Books"})).json()[
        "realm_id"
    ]
    minted = (
        await emulator.post(
            f"/admin/companies/{realm}/tokens",
            json={"client_id": EMULATOR_CLIENT_ID, "client_secret": EMULATOR_CLIENT_SECRET},
        )
    ).json()
    async with factory() as session:
        connection = Connection(
            realm_id=realm,
            environment="emulator",
            status="active",
            company_name="Acme Books",
            access_token_expires_at=utcnow() + expires_in,
            last_refreshed_at=utcnow(),
        )
        store_tokens(
            session,
            connection,
            SecretStr(minted["access_token"]),
            SecretStr(minted["refresh_token"]),
            cipher=cipher,
        )
        await session.commit()
    return realm, minted
