"""`GET /drift`: changes made in QBO to records we own, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from app.deps import SessionDep, StatusReader
from app.drift.models import Drift
from app.errors import InvalidInput, bad_cursor, problem_responses, reject_unknown_parameters
from app.pagination import newest_first

router = APIRouter(prefix="/drift", tags=["drift"])
PARAMETERS = frozenset(
    {"realm_id", "entity_type", "external_id", "kind", "found_by", "since", "limit", "cursor"}
)


class DriftOut(BaseModel):
    id: uuid.UUID
    realm_id: str
    entity_type: str
    external_id: str
    qbo_id: str
    kind: str
    changes: dict[str, Any]
    qbo_sync_token: str | None
    changed_at: datetime | None
    detected_at: datetime
    found_by: str
    policy: str
    action: str
    restore_event_id: uuid.UUID | None

    @classmethod
    def of(cls, drift: Drift) -> DriftOut:
        return cls(
            id=drift.id,
            realm_id=drift.realm_id,
            entity_type=drift.entity_type,
            external_id=drift.external_id,
            qbo_id=drift.qbo_id,
            kind=drift.kind,
            changes=drift.changes,
            qbo_sync_token=drift.qbo_sync_token or None,
            changed_at=drift.changed_at,
            detected_at=drift.detected_at,
            found_by=drift.found_by,
            policy=drift.policy,
            action=drift.action,
            restore_event_id=drift.restore_event_id,
        )


class DriftPage(BaseModel):
    items: list[DriftOut]
    next_cursor: str | None


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            [{"pointer": "", "parameter": "since", "detail": "an ISO 8601 time with a zone"}]
        )
    return moment


@router.get("", response_model=DriftPage, responses=problem_responses(401, 403, 422))
async def list_drift(
    request: Request,
    caller: StatusReader,
    session: SessionDep,
    realm_id: Annotated[str | None, Query(pattern=r"^[0-9]{1,32}$")] = None,
    entity_type: Annotated[
        str | None,
        Query(
            pattern="^(customer|item|invoice|payment|credit_memo|sales_receipt|refund|applied_credit)$"
        ),
    ] = None,
    external_id: Annotated[str | None, Query(pattern=r"^[\x21-\x7e]{1,100}$")] = None,
    kind: Literal["edited", "voided", "deleted", "merged", "inactive"] | None = None,
    found_by: Literal["webhook", "cdc"] | None = None,
    since: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 time with a zone")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,200}$")] = None,
) -> DriftPage:
    """Drift newest first (by when it was found), filtered; `since` is a detection time
    with a zone; pass `next_cursor` back as `cursor`."""
    reject_unknown_parameters(request.query_params, PARAMETERS)
    after = _since(since)
    query = select(Drift)
    for column, value in (
        (Drift.realm_id, realm_id),
        (Drift.entity_type, entity_type),
        (Drift.external_id, external_id),
        (Drift.kind, kind),
        (Drift.found_by, found_by),
    ):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(Drift.detected_at >= after)
    try:
        rows, next_cursor = await newest_first(
            session, query, Drift.detected_at, Drift.id, limit, cursor
        )
    except ValueError:
        raise bad_cursor() from None
    return DriftPage(items=[DriftOut.of(d) for d in rows], next_cursor=next_cursor)
