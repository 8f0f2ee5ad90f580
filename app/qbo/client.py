"""The QBO Accounting API: reads, queries and writes for one realm with one access token.

Every write carries a `requestid`, so that QBO answers a repeat with the original result
instead of writing twice; transport failures are retried inside one call (tenacity, at most
3 tries) with the same requestid. Errors are classified by `app.qbo.errors`, keeping
Intuit's transaction id (`Intuit-Tid`): Intuit support asks for it.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.config import QboEnvironment, Settings
from app.core.failures import Category
from app.qbo.errors import QboError, classify, lost_answer, tid_from
from app.qbo.limiter import RealmBudget
from app.qbo.meter import CallKind, ReadMeter, ReadPurpose, ReadsWait, call_kind

API_BASE_URLS = {
    QboEnvironment.SANDBOX: "https://sandbox-quickbooks.api.intuit.com",
    QboEnvironment.PRODUCTION: "https://quickbooks.api.intuit.com",
}
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TRANSPORT_TRIES = 3
# Where a batch answer and its items keep the call's transaction id (`Intuit-Tid` header).
TID_KEY = "intuit_tid"
# After a 429 without Retry-After the realm pauses this long (Intuit's window is a minute),
# plus up to THROTTLE_JITTER seconds so that paused workers do not return in step.
THROTTLE_PAUSE = 60.0
THROTTLE_JITTER = 10.0
# How each write operation is spelled in QBO's URLs; a payment is voided by an update.
OPERATIONS: dict[str, dict[str, str]] = {
    "save": {},
    "delete": {"operation": "delete"},
    "void_invoice": {"operation": "void"},
    "void_payment": {"operation": "update", "include": "void"},
}


def company_path(realm_id: str) -> str:
    """The path of a realm's Accounting API; an entity's is below it, in lower case
    (`/v3/company/<realm>/invoice`), and so is `batch`."""
    return f"/v3/company/{realm_id}"


def write_params(operation: str, requestid: str, minor_version: str) -> dict[str, str]:
    """The query of a write (`operation` one of OPERATIONS) or of a batch (`save`)."""
    return {**OPERATIONS[operation], "requestid": requestid, "minorversion": minor_version}


class CallRecorder(Protocol):
    """Where a client reports each request it sent; the caller that builds the client
    chooses it (the service passes its Redis metrics, `app.core.metrics.Metrics`). Must
    not raise: a lost measurement is not worth failing a call for."""

    async def qbo_request(self, endpoint: str, status: str, seconds: float) -> None:
        """One request: `endpoint` as `GET customer`, the HTTP status (`none` without an
        answer) and its latency."""


def throttle_delay(retry_after: float | None, rng: random.Random | None = None) -> float:
    """Seconds to pause after a 429: `Retry-After` when QBO sent one, else a minute, plus
    up to 10 s of jitter so that paused jobs do not all return in the same second."""
    rng = rng or random.SystemRandom()
    pause = retry_after if retry_after is not None else THROTTLE_PAUSE
    return pause + rng.uniform(0.0, THROTTLE_JITTER)


def http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A pooled client for a process's QBO API calls: reused connections start sending at
    once, so a request reaches QBO close to the moment its budget slot was granted."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=TIMEOUT,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )


def api_base_url(settings: Settings) -> str:
    if settings.uses_emulator:
        return settings.emulator_url.rstrip("/")
    return API_BASE_URLS[settings.qbo_environment]


@dataclass(frozen=True, slots=True)
class CompanyProfile:
    name: str | None
    country: str | None
    company_info: dict[str, Any]
    preferences: dict[str, Any]


async def read_company(
    settings: Settings,
    realm_id: str,
    access_token: SecretStr,
    transport: httpx.AsyncBaseTransport | None = None,
    budget: RealmBudget | None = None,
    recorder: CallRecorder | None = None,
    meter: ReadMeter | None = None,
) -> CompanyProfile:
    """CompanyInfo and Preferences of a realm (two reads, for the sync: a connect's).
    Raises QboError (and BudgetWait)."""
    client = QboClient(
        settings,
        realm_id,
        access_token,
        transport,
        budget=budget,
        recorder=recorder,
        meter=meter,
    )
    company = await client.read("CompanyInfo", realm_id)
    preferences = await client.read("Preferences")
    return CompanyProfile(
        name=company.get("CompanyName"),
        country=company.get("Country"),
        company_info=company,
        preferences=preferences,
    )


class QboClient:
    """Calls for one realm with one access token (get it from `with_access_token`).

    With a `budget`, every request (each transport try included) first takes a slot of the
    realm's shared budget, and a 429 pauses the realm for every worker. Pass a long-lived
    `http` client (see `http_client`) to reuse connections; without one each call opens its
    own. A `recorder` hears of every request sent (each transport try included), and so
    does `on_send`, as the request leaves: once its budget slot is granted, before any
    answer (a request the spent budget held back never left).
    """

    def __init__(
        self,
        settings: Settings,
        realm_id: str,
        access_token: SecretStr,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        retry_wait_max: float = 2.0,
        budget: RealmBudget | None = None,
        http: httpx.AsyncClient | None = None,
        recorder: CallRecorder | None = None,
        on_send: Callable[[], None] | None = None,
        meter: ReadMeter | None = None,
    ) -> None:
        self._realm_id = realm_id
        self._meter = meter
        self._http = http
        self._recorder = recorder
        self._on_send = on_send
        self._budget = budget
        self._base = f"{api_base_url(settings)}{company_path(realm_id)}"
        self._minor = str(settings.qbo_minor_version)
        self._headers = {
            "Authorization": f"Bearer {access_token.get_secret_value()}",
            "Accept": "application/json",
        }
        self._transport = transport
        self._wait_max = retry_wait_max

    async def write(
        self, entity: str, payload: str, requestid: str, operation: str = "save"
    ) -> dict[str, Any]:
        """POST a create, sparse update, delete or void; returns the entity QBO answered.

        `payload` is the JSON text (see `app.sync.payloads.body_json`); `requestid` (at most
        50 characters) must be the same on every retry of this write. Raises QboError; an
        `ambiguous` one means the write may have been applied though no answer came.
        """
        if not 0 < len(requestid) <= 50:
            raise ValueError("a requestid has 1 to 50 characters")
        params = write_params(operation, requestid, self._minor)
        body = await self._send(
            "POST",
            f"{self._base}/{entity.lower()}",
            params,
            content=payload,
            write=True,
        )
        return _entity(body, entity)

    async def batch(self, items: list[str], requestid: str) -> list[dict[str, Any]]:
        """POST up to 30 BatchItemRequests, each given as JSON text (see
        `app.sync.payloads.body_json`); returns the BatchItemResponse list (match by `bId`;
        a Fault stays in its item). `requestid` (at most 36 characters) must be the same on
        every retry of this batch. Raises QboError for the call as a whole."""
        if not 0 < len(requestid) <= 36:
            raise ValueError("a batch requestid has 1 to 36 characters")
        content = '{"BatchItemRequest":[' + ",".join(items) + "]}"
        params = write_params("save", requestid, self._minor)
        body = await self._send(
            "POST", f"{self._base}/batch", params, content=content, write=True, batch=True
        )
        answers = body.get("BatchItemResponse")
        if not isinstance(answers, list):
            raise QboError(Category.TRANSIENT, 200, note="the batch answer holds no items")
        # Item Faults carry no transaction id of their own: they get the call's.
        tid = body.get(TID_KEY)
        return [{**a, TID_KEY: tid} if tid else a for a in answers if isinstance(a, dict)]

    async def send(self, entity: str, qbo_id: str, send_to: str | None = None) -> dict[str, Any]:
        """E-mail a sales form from QBO (`POST /<entity>/<id>/send`, `sendTo` the address,
        else the record's BillEmail; no body, Content-Type application/octet-stream: Invoice
        reference, "Send an invoice",
        https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice);
        returns the entity with its `EmailStatus` and `DeliveryInfo`. Sent at most once per
        call: a send carries no requestid, so a lost answer is not repeated here (the caller
        reads the record to tell). Raises QboError."""
        params = {"minorversion": self._minor}
        if send_to is not None:
            params["sendTo"] = send_to
        body = await self._send(
            "POST",
            f"{self._base}/{entity.lower()}/{qbo_id}/send",
            params,
            content="",
            content_type="application/octet-stream",
            write=True,
            repeatable=False,
        )
        return _entity(body, entity)

    async def pdf(
        self, entity: str, qbo_id: str, *, purpose: ReadPurpose = ReadPurpose.PDF
    ) -> bytes:
        """The QBO-rendered PDF of a sales form (`GET /<entity>/<id>/pdf`, Accept
        application/pdf; Invoice reference, "Get an invoice as PDF"). A metered read.
        Raises QboError, ReadsWait."""
        response = await self._exchange(
            "GET",
            f"{self._base}/{entity.lower()}/{qbo_id}/pdf",
            {"minorversion": self._minor},
            accept="application/pdf",
            purpose=purpose,
        )
        if not response.content.startswith(b"%PDF"):
            raise QboError(Category.TRANSIENT, response.status_code, note="the answer is no PDF")
        return response.content

    async def read(
        self,
        entity: str,
        qbo_id: str | None = None,
        *,
        purpose: ReadPurpose = ReadPurpose.SYNC,
    ) -> dict[str, Any]:
        """The current record (with its SyncToken), or a company-wide one such as Preferences
        when `qbo_id` is None. A metered read. Raises QboError, ReadsWait."""
        path = f"{self._base}/{entity.lower()}" + (f"/{qbo_id}" if qbo_id else "")
        body = await self._send("GET", path, {"minorversion": self._minor}, purpose=purpose)
        return _entity(body, entity)

    async def cdc(
        self,
        entities: list[str],
        changed_since: datetime,
        *,
        purpose: ReadPurpose = ReadPurpose.CDC_SWEEP,
    ) -> dict[str, Any]:
        """Change Data Capture: every listed entity's objects changed since a moment (at most
        30 days back), deletions as `{"status": "Deleted", "Id": ...}`; at most 1000 objects
        per answer. Returns the whole body (`CDCResponse`, `time`). One metered read.
        Raises QboError, ReadsWait."""
        params = {
            "entities": ",".join(entities),
            "changedSince": changed_since.isoformat(timespec="seconds"),
            "minorversion": self._minor,
        }
        return await self._send("GET", f"{self._base}/cdc", params, purpose=purpose)

    async def query(
        self, statement: str, *, purpose: ReadPurpose = ReadPurpose.SYNC
    ) -> list[dict[str, Any]]:
        """Rows of a `SELECT * FROM <Entity> ...` (quote values with `query_literal`). A
        metered read. Raises QboError, ReadsWait."""
        body = await self._send(
            "GET",
            f"{self._base}/query",
            {"query": statement, "minorversion": self._minor},
            purpose=purpose,
        )
        response = body.get("QueryResponse", {})
        rows = next((v for v in response.values() if isinstance(v, list)), [])
        return [r for r in rows if isinstance(r, dict)]

    async def _send(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        *,
        content: str | None = None,
        content_type: str = "application/json",
        write: bool = False,
        batch: bool = False,
        repeatable: bool = True,
        purpose: ReadPurpose | None = None,
    ) -> dict[str, Any]:
        response = await self._exchange(
            method,
            url,
            params,
            content=content,
            content_type=content_type,
            write=write,
            batch=batch,
            repeatable=repeatable,
            purpose=purpose,
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise QboError(Category.TRANSIENT, response.status_code, note="unreadable answer")
        tid = tid_from(response.headers)
        if batch and tid:
            body[TID_KEY] = tid
        return body

    async def _exchange(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        *,
        content: str | None = None,
        content_type: str = "application/json",
        accept: str | None = None,
        write: bool = False,
        batch: bool = False,
        repeatable: bool = True,
        purpose: ReadPurpose | None = None,
    ) -> httpx.Response:
        """One request, metered (a read waits while the month's reads are held back), its
        transport errors retried when `repeatable`; a Fault raised."""
        kind = call_kind(method, _endpoint(url, self._base))
        if kind is CallKind.READ and self._meter is not None:
            purpose = purpose or ReadPurpose.SYNC
            await self._meter.admit(self._realm_id, purpose)
        headers = dict(self._headers)
        if content is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        async with contextlib.AsyncExitStack() as stack:
            http = self._http
            if http is None:
                http = await stack.enter_async_context(
                    httpx.AsyncClient(transport=self._transport, timeout=TIMEOUT)
                )
            try:
                # Safe to repeat: a write carries the same requestid on every try.
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(httpx.TransportError),
                    stop=stop_after_attempt(TRANSPORT_TRIES if repeatable else 1),
                    wait=wait_random_exponential(multiplier=0.2, max=self._wait_max),
                ):
                    with attempt:
                        response = await self._request(
                            http,
                            method,
                            url,
                            params,
                            content,
                            headers,
                            batch=batch,
                            kind=kind,
                            purpose=purpose,
                        )
            except RetryError as err:
                cause = err.last_attempt.exception() or err
                raise lost_answer(cause, write=write) from None
        error = classify(response.status_code, response.content, dict(response.headers))
        if error is not None:
            if kind is CallKind.READ and error.monthly_quota:
                # Not a throttle: the realm stays open for writes; reads wait for the month.
                if self._meter is not None:
                    await self._meter.spend_month()
                    wait = self._meter.seconds_to_next_month()
                else:
                    wait = THROTTLE_PAUSE
                why = f"QBO refused a read: the month's reads are used up ({error.message})"
                raise ReadsWait(self._realm_id, wait, purpose or ReadPurpose.SYNC, why) from error
            if error.category is Category.THROTTLED and self._budget is not None:
                error.retry_after = await self._budget.pause(
                    self._realm_id, throttle_delay(error.retry_after)
                )
            raise error
        return response

    async def _request(
        self,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        params: dict[str, str],
        content: str | None,
        headers: dict[str, str],
        *,
        batch: bool,
        kind: CallKind,
        purpose: ReadPurpose | None,
    ) -> httpx.Response:
        async with contextlib.AsyncExitStack() as stack:
            if self._budget is not None:
                await stack.enter_async_context(self._budget.slot(self._realm_id, batch=batch))
            if self._on_send is not None:
                self._on_send()
            if self._meter is not None:
                # Counted as it leaves: Intuit meters what it receives, answered or not.
                await self._meter.count(self._realm_id, kind, purpose)
            started = time.perf_counter()
            status = "none"
            try:
                response = await http.request(
                    method, url, params=params, content=content, headers=headers
                )
                status = str(response.status_code)
                return response
            finally:
                await self._record(method, url, status, time.perf_counter() - started)
        raise AssertionError("unreachable")

    async def _record(self, method: str, url: str, status: str, seconds: float) -> None:
        if self._recorder is not None:
            endpoint = f"{method} {_endpoint(url, self._base)}"
            await self._recorder.qbo_request(endpoint, status, seconds)


def _endpoint(url: str, base: str) -> str:
    """`customer`, `query`, `batch`, `companyinfo`, ...: the path after the realm, no ids."""
    rest = url.removeprefix(base).strip("/")
    return rest.split("/", 1)[0] or "company"


def _entity(body: dict[str, Any], entity: str) -> dict[str, Any]:
    """The object in `{"<Entity>": {...}, "time": ...}`, whatever the case of the key."""
    for key, value in body.items():
        if key.lower() == entity.lower() and isinstance(value, dict):
            return value
    raise QboError(Category.TRANSIENT, 200, note=f"the answer holds no {entity}")
