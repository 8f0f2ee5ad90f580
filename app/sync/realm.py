"""QBO calls for one realm as the sync engine makes them: a valid token on every call, one
refresh on a 401, and one immediate resend of a write QBO answered with HTTP 500."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from app.config import Settings
from app.connections.refresh import TokenKeeper, with_access_token
from app.core.failures import Category
from app.core.metrics import Metrics
from app.qbo import QboClient, QboError, RealmBudget
from app.sync.payloads import body_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RealmApi:
    settings: Settings
    keeper: TokenKeeper
    realm_id: str
    transport: httpx.AsyncBaseTransport | None = None
    budget: RealmBudget | None = None
    http: httpx.AsyncClient | None = None
    metrics: Metrics | None = None

    def _client(self, token: SecretStr) -> QboClient:
        return QboClient(
            self.settings,
            self.realm_id,
            token,
            self.transport,
            budget=self.budget,
            http=self.http,
            recorder=self.metrics,
        )

    async def write(
        self, entity: str, body: dict[str, Any], requestid: str, operation: str = "save"
    ) -> dict[str, Any]:
        """POST a body (see QboClient.write). Intuit asks to resubmit a 500 once: the same
        requestid makes that safe. Raises QboError, ConnectionUnavailable, RefreshFailed."""
        payload = body_json(body)

        async def call(token: SecretStr) -> dict[str, Any]:
            return await self._client(token).write(entity, payload, requestid, operation)

        try:
            return await with_access_token(self.keeper, self.realm_id, call)
        except QboError as err:
            if err.category is not Category.TRANSIENT or not err.retry_limit:
                raise
            logger.info(
                "QBO answered %s; resubmitting once",
                err.status,
                extra={"realm_id": self.realm_id, "intuit_tid": err.intuit_tid},
            )
        return await with_access_token(self.keeper, self.realm_id, call)

    async def batch(self, items: list[str], requestid: str) -> list[dict[str, Any]]:
        async def call(token: SecretStr) -> list[dict[str, Any]]:
            return await self._client(token).batch(items, requestid)

        return await with_access_token(self.keeper, self.realm_id, call)

    async def read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        async def call(token: SecretStr) -> dict[str, Any]:
            return await self._client(token).read(entity, qbo_id)

        return await with_access_token(self.keeper, self.realm_id, call)

    async def query(self, statement: str) -> list[dict[str, Any]]:
        async def call(token: SecretStr) -> list[dict[str, Any]]:
            return await self._client(token).query(statement)

        return await with_access_token(self.keeper, self.realm_id, call)

    async def cdc(self, entities: list[str], changed_since: datetime) -> dict[str, Any]:
        async def call(token: SecretStr) -> dict[str, Any]:
            return await self._client(token).cdc(entities, changed_since)

        return await with_access_token(self.keeper, self.realm_id, call)
