"""A transport in front of the emulator that counts the queries it carries, by entity:
how tests see whether a reference list was read from QBO or served from the cache."""

from __future__ import annotations

import re
from collections import Counter

import httpx

QUERY_PATH = re.compile(r"/v3/company/[0-9]+/query$")
ENTITY = re.compile(r"\bFROM\s+(?P<entity>\w+)", re.IGNORECASE)


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes every request to `inner`; `queries` counts the queries by entity."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.queries: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if QUERY_PATH.search(request.url.path):
            found = ENTITY.search(request.url.params.get("query", ""))
            self.queries[found.group("entity") if found else ""] += 1
        return await self.inner.handle_async_request(request)
