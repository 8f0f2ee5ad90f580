"""Accounting API routes under /v3/company/{realmId}: entities, query, batch, cdc.

Routes only parse the URL and body and pick the model operation; `gateway.serve`
does the rest (auth, limits, faults, requestid, counters).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.emulator import entities, faults, sending
from app.emulator.gateway import serve
from app.emulator.jsonio import BadJson, loads, meta_time, parse_time
from app.emulator.query import execute, parse
from app.emulator.rules import Json, WriteContext, parse_id
from app.emulator.store import ENTITY_PATHS, TRANSACTION_ENTITIES, WRITABLE_ENTITIES, clone

router = APIRouter(prefix="/v3/company/{realm_id}")
CDC_MAX_OBJECTS = 1000
CDC_MAX_DAYS = 30


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise faults.malformed_json("No content to map due to end-of-input")
    try:
        return loads(raw)
    except BadJson as exc:
        raise faults.malformed_json(f"Unexpected character: {exc}") from exc


def _faulting(exc: faults.QboFault) -> Any:
    """An action that answers a Fault found while reading the request."""

    def action(_: WriteContext) -> Json:
        raise exc

    return action


def run_query(ctx: WriteContext, text: str) -> Json:
    """Parse and run a query for the context's company; answers `{"QueryResponse": ...}`."""
    query = parse(text, ctx.store.config.max_query_results)
    return {"QueryResponse": execute(ctx.company, query)}


@router.get("/query")
async def query_get(request: Request, realm_id: str) -> Response:
    text = request.query_params.get("query", "")
    return await serve(request, realm_id, "GET query", lambda ctx: run_query(ctx, text))


@router.post("/query")
async def query_post(request: Request, realm_id: str) -> Response:
    text = (await request.body()).decode("utf-8", "replace")
    return await serve(request, realm_id, "POST query", lambda ctx: run_query(ctx, text))


@router.post("/batch")
async def batch(request: Request, realm_id: str) -> Response:
    try:
        body = await _json_body(request)
    except faults.QboFault as exc:
        return await serve(request, realm_id, "POST batch", _faulting(exc), is_batch=True)
    return await serve(
        request, realm_id, "POST batch", lambda ctx: run_batch(ctx, body), is_batch=True
    )


def run_batch(ctx: WriteContext, body: Any) -> Json:
    """Run each BatchItemRequest on its own; a Fault stays inside its item (HTTP 200)."""
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise faults.required_param("BatchItemRequest")
    limit = ctx.store.config.max_batch_items
    if len(items) > limit:
        raise faults.batch_too_large(len(items), limit)
    answers: list[Json] = []
    for item in items:
        bid = item.get("bId") if isinstance(item, dict) else None
        try:
            result = _batch_item(ctx, item)
        except faults.QboFault as fault:
            result = {"Fault": fault.fault_json()}
        result["bId"] = bid
        answers.append(result)
    return {"BatchItemResponse": answers}


def _batch_item(ctx: WriteContext, item: Any) -> Json:
    if not isinstance(item, dict) or not item.get("bId"):
        raise faults.required_param("bId")
    if "Query" in item:
        return run_query(ctx, str(item["Query"]))
    entity = next((k for k in item if k[:1].isupper() and k not in ("Query",)), None)
    if entity is None:
        raise faults.required_param("BatchItemRequest entity")
    if entity not in WRITABLE_ENTITIES:
        raise faults.unsupported_operation(f"{item.get('operation', 'create')} on {entity}")
    operation = str(item.get("operation", "create")).lower()
    data = item[entity]
    if operation == "create":
        return {entity: entities.create(ctx, entity, data)}
    if operation == "update":
        return {entity: entities.update(ctx, entity, data)}
    if operation == "delete":
        return {entity: entities.delete(ctx, entity, data)}
    raise faults.unsupported_operation(operation)


@router.get("/cdc")
async def cdc(request: Request, realm_id: str) -> Response:
    names = request.query_params.get("entities", "")
    since = request.query_params.get("changedSince", "")
    return await serve(request, realm_id, "GET cdc", lambda ctx: run_cdc(ctx, names, since))


def run_cdc(ctx: WriteContext, names: str, since_text: str) -> Json:
    """Objects of the listed entities changed since a moment, at most 1000 in all.

    Per entity: active objects by LastUpdatedTime, then deletions by deletion time (as
    `status: Deleted` stubs stamped with it); the cap is shared in the listed order.
    """
    if not names.strip():
        raise faults.required_param("entities")
    if not since_text.strip():
        raise faults.required_param("changedSince")
    since = parse_time(since_text)
    if since is None:
        raise faults.business_validation(f"Invalid changedSince: {since_text}")
    if since < ctx.store.now() - timedelta(days=CDC_MAX_DAYS):
        raise faults.business_validation(
            "changedSince cannot be more than 30 days in the past for Change Data Capture."
        )
    by_name = {v.casefold(): v for v in ENTITY_PATHS.values()}
    responses: list[Json] = []
    budget = CDC_MAX_OBJECTS
    for raw in names.split(","):
        entity = by_name.get(raw.strip().casefold())
        if entity is None:
            raise faults.invalid_query(f"invalid context declaration: {raw.strip()}")
        changed = [
            r
            for r in ctx.company.table(entity).values()
            if (t := parse_time(r["MetaData"]["LastUpdatedTime"])) is not None and t >= since
        ]
        changed.sort(key=lambda r: parse_time(r["MetaData"]["LastUpdatedTime"]) or since)
        deleted = sorted(
            (when, int(record_id))
            for record_id, when in ctx.company.deleted.get(entity, {}).items()
            if when >= since
        )
        objects: list[Json] = [clone(r) for r in changed[:budget]]
        for when, record_id in deleted[: budget - len(objects)]:
            objects.append(
                {
                    "domain": "QBO",
                    "status": "Deleted",
                    "Id": str(record_id),
                    "MetaData": {"LastUpdatedTime": meta_time(when, ctx.store.tz)},
                }
            )
        budget -= len(objects)
        if objects:
            responses.append({entity: objects, "startPosition": 1, "maxResults": len(objects)})
        else:
            responses.append({})
    return {"CDCResponse": [{"QueryResponse": responses}]}


@router.get("/preferences")
async def preferences(request: Request, realm_id: str) -> Response:
    return await serve(
        request,
        realm_id,
        "GET preferences",
        lambda ctx: {"Preferences": clone(ctx.company.table("Preferences")["1"])},
    )


@router.post("/{entity_path}")
async def write(request: Request, realm_id: str, entity_path: str) -> Response:
    operation = request.query_params.get("operation", "").lower()
    include = request.query_params.get("include", "").lower()
    endpoint = f"POST {entity_path}" + (f"?operation={operation}" if operation else "")
    entity = ENTITY_PATHS.get(entity_path)
    try:
        if entity is None or entity not in WRITABLE_ENTITIES:
            raise faults.unsupported_operation(
                f"Could not find resource for relative : {request.url.path}"
            )
        body = await _json_body(request)
    except faults.QboFault as exc:
        return await serve(request, realm_id, endpoint, _faulting(exc))
    return await serve(
        request, realm_id, endpoint, lambda ctx: _write(ctx, entity, operation, include, body)
    )


def _write(ctx: WriteContext, entity: str, operation: str, include: str, body: Any) -> Json:
    if operation == "delete":
        return {entity: entities.delete(ctx, entity, body)}
    if operation == "void":
        if entity not in entities.VOID_BY_OPERATION:
            # Payments are voided with operation=update&include=void, not operation=void.
            raise faults.unsupported_operation(f"void for {entity}")
        return {entity: entities.void(ctx, entity, body)}
    if operation == "update" and "void" in include.split(","):
        if entity not in entities.VOID_BY_INCLUDE:
            raise faults.unsupported_operation(f"update&include=void for {entity}")
        return {entity: entities.void(ctx, entity, body)}
    if operation in ("", "create", "update"):
        return {entity: entities.create(ctx, entity, body)}
    raise faults.unsupported_operation(operation)


@router.post("/{entity_path}/{record_id}/send")
async def send(request: Request, realm_id: str, entity_path: str, record_id: str) -> Response:
    """E-mail a form (no body; `sendTo` optional): see `app.emulator.sending`."""
    entity = ENTITY_PATHS.get(entity_path)
    send_to = request.query_params.get("sendTo")
    path = request.url.path
    return await serve(
        request,
        realm_id,
        f"POST {entity_path}/send",
        lambda ctx: sending.send_form(ctx, entity, record_id, send_to, path),
    )


@router.get("/{entity_path}/{record_id}/pdf")
async def pdf(request: Request, realm_id: str, entity_path: str, record_id: str) -> Response:
    """A form as `application/pdf`: see `app.emulator.sending`."""
    entity = ENTITY_PATHS.get(entity_path)
    path = request.url.path
    return await serve(
        request,
        realm_id,
        f"GET {entity_path}/pdf",
        lambda ctx: sending.form_pdf(ctx, entity, record_id, path),
    )


@router.get("/{entity_path}/{record_id}")
async def read(request: Request, realm_id: str, entity_path: str, record_id: str) -> Response:
    entity = ENTITY_PATHS.get(entity_path)
    return await serve(
        request,
        realm_id,
        f"GET {entity_path}",
        lambda ctx: _read(ctx, entity, record_id, request.url.path),
    )


def _read(ctx: WriteContext, entity: str | None, record_id: str, path: str) -> Json:
    if entity is None or entity == "Preferences":
        raise faults.unsupported_operation(f"Could not find resource for relative : {path}")
    record_key = parse_id(record_id)
    if entity == "CompanyInfo":
        record_key = record_id
    record = ctx.company.get(entity, record_key)
    if record is None:
        raise faults.object_not_found(entity in TRANSACTION_ENTITIES)
    return {entity: clone(record)}


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
async def unsupported(request: Request, realm_id: str, rest: str) -> Response:
    exc = faults.unsupported_operation(f"Could not find resource for relative : {request.url.path}")
    return await serve(request, realm_id, f"{request.method} {rest}", _faulting(exc))
