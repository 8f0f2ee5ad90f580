"""QBO calls for one realm as the sync engine makes them: a valid token on every call, one
refresh on a 401, and one immediate resend of a write QBO answered with HTTP 500; and each
write as it is recorded for its event (`write_request`, `SentLog`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from app.config import Settings
from app.connections.refresh import TokenKeeper, with_access_token
from app.core.failures import Category
from app.core.metrics import Metrics
from app.qbo import (
    QboClient,
    QboError,
    ReadMeter,
    ReadPurpose,
    RealmBudget,
    company_path,
    write_params,
)
from app.sync.payloads import body_json, json_ready

logger = logging.getLogger(__name__)

Json = dict[str, Any]


def write_request(
    realm_id: str,
    minor_version: int | str,
    entity: str,
    body: Json,
    requestid: str,
    operation: str = "save",
) -> Json:
    """One write as an event keeps it (`sent_request`) and a preview shows it: `method`,
    `path` (no host), `query` and `body`, JSON values with Decimals as the text of the
    numbers sent (`json_ready`). `operation` is one of the client's (`save`, `delete`,
    `void_invoice`, `void_payment`)."""
    return {
        "method": "POST",
        "path": f"{company_path(realm_id)}/{entity.lower()}",
        "query": write_params(operation, requestid, str(minor_version)),
        "body": json_ready(body),
    }


def batch_request(
    realm_id: str, minor_version: int | str, items: list[Json], requestid: str
) -> Json:
    """A batch call as `write_request` shapes a write: its body is the BatchItemRequest."""
    return {
        "method": "POST",
        "path": f"{company_path(realm_id)}/batch",
        "query": write_params("save", requestid, str(minor_version)),
        "body": {"BatchItemRequest": json_ready(items)},
    }


def send_request(
    realm_id: str, minor_version: int | str, entity: str, qbo_id: str, send_to: str | None
) -> Json:
    """A send (QBO e-mails a sales form) as `write_request` shapes a write: no body."""
    query = {"minorversion": str(minor_version)}
    if send_to is not None:
        query["sendTo"] = send_to
    return {
        "method": "POST",
        "path": f"{company_path(realm_id)}/{entity.lower()}/{qbo_id}/send",
        "query": query,
        "body": {},
    }


@dataclass(slots=True)
class SentLog:
    """The writes sent for one event, as `write_request` shapes them: `last` is the one
    that left last (None: nothing left yet), what the event keeps as `sent_request`."""

    last: Json | None = None

    def noting(self, request: Json) -> Callable[[], None]:
        """What the client calls as `request` leaves (each try of it)."""

        def sent() -> None:
            self.last = request

        return sent


@dataclass(frozen=True, slots=True)
class RealmApi:
    settings: Settings
    keeper: TokenKeeper
    realm_id: str
    transport: httpx.AsyncBaseTransport | None = None
    budget: RealmBudget | None = None
    http: httpx.AsyncClient | None = None
    metrics: Metrics | None = None
    # Where the writes that leave are noted (see `write` and `batch`).
    sent: SentLog | None = None
    meter: ReadMeter | None = None

    def _client(self, token: SecretStr, request: Json | None = None) -> QboClient:
        return QboClient(
            self.settings,
            self.realm_id,
            token,
            self.transport,
            budget=self.budget,
            http=self.http,
            recorder=self.metrics,
            on_send=self.sent.noting(request) if self.sent and request else None,
            meter=self.meter,
        )

    async def write(
        self, entity: str, body: dict[str, Any], requestid: str, operation: str = "save"
    ) -> dict[str, Any]:
        """POST a body (see QboClient.write). Intuit asks to resubmit a 500 once: the same
        requestid makes that safe. Once the request leaves, `sent` notes it
        (`write_request`). Raises QboError, ConnectionUnavailable, RefreshFailed."""
        payload = body_json(body)
        request = None
        if self.sent is not None:
            minor = self.settings.qbo_minor_version
            request = write_request(self.realm_id, minor, entity, body, requestid, operation)

        async def call(token: SecretStr) -> dict[str, Any]:
            client = self._client(token, request)
            return await client.write(entity, payload, requestid, operation)

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

    async def batch(self, items: list[Json], requestid: str) -> list[dict[str, Any]]:
        """POST BatchItemRequests (see QboClient.batch); once the call leaves, `sent`
        notes it (`batch_request`)."""
        payload = [body_json(item) for item in items]
        request = None
        if self.sent is not None:
            minor = self.settings.qbo_minor_version
            request = batch_request(self.realm_id, minor, items, requestid)

        async def call(token: SecretStr) -> list[dict[str, Any]]:
            return await self._client(token, request).batch(payload, requestid)

        return await with_access_token(self.keeper, self.realm_id, call)

    async def send(self, entity: str, qbo_id: str, send_to: str | None) -> dict[str, Any]:
        """E-mail a synced sales form from QBO (see QboClient.send): sent once, never
        resubmitted here; `sent` notes it as it leaves. Raises QboError,
        ConnectionUnavailable, RefreshFailed."""
        request = None
        if self.sent is not None:
            minor = self.settings.qbo_minor_version
            request = send_request(self.realm_id, minor, entity, qbo_id, send_to)

        async def call(token: SecretStr) -> dict[str, Any]:
            return await self._client(token, request).send(entity, qbo_id, send_to)

        return await with_access_token(self.keeper, self.realm_id, call)

    async def read(
        self, entity: str, qbo_id: str, *, purpose: ReadPurpose = ReadPurpose.SYNC
    ) -> dict[str, Any]:
        """A metered read, made for `purpose` (what it may spend of the month's reads)."""

        async def call(token: SecretStr) -> dict[str, Any]:
            return await self._client(token).read(entity, qbo_id, purpose=purpose)

        return await with_access_token(self.keeper, self.realm_id, call)

    async def query(
        self, statement: str, *, purpose: ReadPurpose = ReadPurpose.SYNC
    ) -> list[dict[str, Any]]:
        async def call(token: SecretStr) -> list[dict[str, Any]]:
            return await self._client(token).query(statement, purpose=purpose)

        return await with_access_token(self.keeper, self.realm_id, call)

    async def cdc(
        self,
        entities: list[str],
        changed_since: datetime,
        *,
        purpose: ReadPurpose = ReadPurpose.CDC_SWEEP,
    ) -> dict[str, Any]:
        async def call(token: SecretStr) -> dict[str, Any]:
            return await self._client(token).cdc(entities, changed_since, purpose=purpose)

        return await with_access_token(self.keeper, self.realm_id, call)
