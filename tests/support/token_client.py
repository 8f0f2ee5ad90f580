"""Run as its own process by the single-flight test: N concurrent token requests for a realm,
with this process's own engine; prints the tokens it got as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from app.config import get_settings
from app.connections.refresh import TokenKeeper, access_token
from app.core.cipher import TokenCipher
from app.db import create_engine, create_session_factory
from app.qbo import LazyOAuth


async def main(realm_id: str, count: int) -> list[str]:
    settings = get_settings()
    engine = create_engine(settings.server_urls()[0], pool_size=count)
    keeper = TokenKeeper(
        settings=settings,
        session_factory=create_session_factory(engine),
        oauth=LazyOAuth(settings, None),
        cipher=TokenCipher.from_settings(settings),
    )
    try:
        tokens = await asyncio.gather(*(access_token(keeper, realm_id) for _ in range(count)))
    finally:
        await engine.dispose()
    return [t.get_secret_value() for t in tokens]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))  # noqa: T201
