"""What stands in front of every Accounting API call: bearer-token check, per-realm
limits, fault injection, requestid replay and counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC
from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import HTMLResponse, Response

from app.emulator import faults
from app.emulator.chaos import (
    GATEWAY_TIMEOUT_HTML,
    SERVICE_UNAVAILABLE_HTML,
    Outcome,
    decide,
)
from app.emulator.company import Company, Memo
from app.emulator.jsonio import JSON_MEDIA_TYPE, QboJSONResponse, response_time
from app.emulator.rules import Json, WriteContext
from app.emulator.store import Store
from app.emulator.tokens import AccessCheck


def get_store(request: Request) -> Store:
    """The Store of the app serving this request."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]
# A model operation: the JSON body of its answer, or a whole answer (a PDF).
Action = Callable[[WriteContext], Json | Response]


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def fault_response(store: Store, fault: faults.QboFault) -> Response:
    """A Fault as a whole answer: `{"Fault": ..., "time": ...}` with its HTTP status."""
    body = {"Fault": fault.fault_json(), "time": response_time(store.now(), store.tz)}
    return QboJSONResponse(body, status_code=fault.status, headers=fault.headers)


def auth_failed(store: Store, detail: str) -> Response:
    """401 in the lower-case shape, with the WWW-Authenticate header QBO sends."""
    body = faults.auth_fault_body(detail, int(store.now().timestamp() * 1000))
    return QboJSONResponse(
        body,
        status_code=401,
        headers={"WWW-Authenticate": faults.WWW_AUTHENTICATE},
        media_type="application/json",
    )


def write_context(store: Store, company: Company, include: str = "") -> WriteContext:
    """The context a model operation runs in; `include` is the URL's include= flags."""
    flags = include.lower().split(",")
    return WriteContext(
        store=store,
        company=company,
        stamp=store.meta_now(),
        today=store.now().astimezone(store.tz).date(),
        allow_duplicate_doc_number="allowduplicatedocnum" in flags,
    )


def _run(store: Store, ctx: WriteContext, action: Action) -> tuple[Response, bool]:
    """Run the model operation; returns the answer and whether a requestid may memo it."""
    try:
        body = action(ctx)
    except faults.QboFault as fault:
        # Business faults are answers too: QBO replays them for a repeated requestid.
        return fault_response(store, fault), fault.status == 400
    if isinstance(body, Response):
        return body, True
    body["time"] = response_time(store.now(), store.tz)
    return QboJSONResponse(body), True


async def _hold(request: Request, seconds: float) -> None:
    """Keep the connection open without answering until the client gives up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, remaining))


async def serve(
    request: Request,
    realm_id: str,
    endpoint: str,
    action: Action,
    *,
    is_batch: bool = False,
) -> Response:
    """Answer one Accounting API call as QBO's front door would.

    Order: token (401) -> company/realm (403) -> limits (429) -> added latency ->
    requestid replay -> injected 500/503 (nothing applied) -> the operation ->
    injected timeout (applied, answer withheld, then 504).
    """
    store = get_store(request)
    verdict, detail = store.tokens.check_access(bearer_token(request), realm_id)
    company = store.company(realm_id)
    response: Response
    if verdict not in (AccessCheck.OK, AccessCheck.WRONG_REALM):
        response = auth_failed(store, detail)
    elif verdict is AccessCheck.WRONG_REALM or company is None:
        response = fault_response(store, faults.forbidden_realm())
    elif not _read_allowed(store, bearer_token(request), endpoint):
        quota = store.config.reads.monthly_quota or 0
        response = fault_response(store, faults.monthly_quota(quota))
    else:
        response = await _serve_admitted(request, store, company, action, is_batch)
    if company is not None:
        counters = company.counters
        counters.served += 1
        counters.by_endpoint[endpoint] += 1
        counters.by_status[str(response.status_code)] += 1
        if response.status_code == 429:
            counters.throttled += 1
    return response


def metered(endpoint: str) -> bool:
    """Whether Intuit meters a call as a read (CorePlus): a GET, or a query by POST."""
    return endpoint.startswith("GET ") or endpoint == "POST query"


def _read_allowed(store: Store, token: str | None, endpoint: str) -> bool:
    """Count a metered read for its app and month, unless the month's quota is used up
    (then False: nothing counted, the read is refused)."""
    if not metered(endpoint) or token is None:
        return True
    grant = store.tokens.grant_for_access(token)
    if grant is None:
        return True
    key = (grant.client_id, store.now().astimezone(UTC).strftime("%Y-%m"))
    used = store.read_usage.get(key, 0)
    quota = store.config.reads.monthly_quota
    if quota is not None and used >= quota:
        return False
    store.read_usage[key] = used + 1
    return True


async def _serve_admitted(
    request: Request, store: Store, company: Company, action: Action, is_batch: bool
) -> Response:
    limits = store.config.limits
    if not company.limiter.admit(limits, store.clock.elapsed(), is_batch):
        return fault_response(store, faults.throttled())
    try:
        settings = company.faults
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        requestid = request.query_params.get("requestid") or None
        if requestid is not None and requestid in company.requestids:
            memo = company.requestids[requestid]
            return Response(memo.body, status_code=memo.status, media_type=memo.media_type)
        outcome = decide(settings, store.rng)
        if outcome is Outcome.ERROR_500:
            return fault_response(store, faults.system_error())
        if outcome is Outcome.ERROR_503:
            return HTMLResponse(SERVICE_UNAVAILABLE_HTML, status_code=503)
        response, memoable = _run(
            store, write_context(store, company, request.query_params.get("include", "")), action
        )
        if requestid is not None and memoable:
            company.requestids[requestid] = Memo(
                response.status_code, bytes(response.body), response.media_type or JSON_MEDIA_TYPE
            )
        if outcome is Outcome.TIMEOUT:
            hold = settings.timeout_hold_seconds
            await _hold(request, store.config.timeout_hold_seconds if hold is None else hold)
            return HTMLResponse(GATEWAY_TIMEOUT_HTML, status_code=504)
        return response
    finally:
        company.limiter.release()


def time_of(store: Store) -> str:
    """The `time` value for an answer built outside `serve`."""
    return response_time(store.now(), store.tz)
