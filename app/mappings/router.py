"""GET /mappings: which QBO record each of your records became."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from app.deps import EventsReader, SessionDep
from app.errors import bad_cursor, problem_responses
from app.events.repository import sent_by
from app.mappings.models import EntityMapping
from app.pagination import newest_first

router = APIRouter(prefix="/mappings", tags=["mappings"])


class MappingOut(BaseModel):
    realm_id: str
    entity_type: str
    external_id: str
    qbo_id: str
    sync_token: str
    last_event_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class MappingPage(BaseModel):
    items: list[MappingOut]
    next_cursor: str | None


@router.get("", response_model=MappingPage, responses=problem_responses(401, 403, 422))
async def list_mappings(
    caller: EventsReader,
    session: SessionDep,
    realm_id: Annotated[str | None, Query(pattern=r"^[0-9]{1,32}$")] = None,
    entity_type: Annotated[
        str | None,
        Query(
            pattern="^(customer|item|invoice|payment|credit_memo|sales_receipt|refund|applied_credit)$"
        ),
    ] = None,
    external_id: Annotated[str | None, Query(pattern=r"^[\x21-\x7e]{1,100}$")] = None,
    qbo_id: Annotated[str | None, Query(pattern=r"^[0-9]{1,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,200}$")] = None,
) -> MappingPage:
    """Mappings by realm, entity type and external id or QBO id; newest first.

    A key sees the mappings of the records its own source's events wrote (a record several
    sources send is each one's); `events:read_all` sees every mapping."""
    query = select(EntityMapping)
    if not caller.reads_all_sources:
        # Mappings belong to a company, not a source: a record is this source's when one of
        # its events names it (ix_events_entity_order answers this).
        query = query.where(
            sent_by(
                caller.name,
                EntityMapping.realm_id,
                EntityMapping.entity_type,
                EntityMapping.external_id,
            )
        )
    for column, value in (
        (EntityMapping.realm_id, realm_id),
        (EntityMapping.entity_type, entity_type),
        (EntityMapping.external_id, external_id),
        (EntityMapping.qbo_id, qbo_id),
    ):
        if value is not None:
            query = query.where(column == value)
    try:
        rows, next_cursor = await newest_first(
            session, query, EntityMapping.created_at, EntityMapping.id, limit, cursor
        )
    except ValueError:
        raise bad_cursor() from None
    return MappingPage(
        items=[MappingOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor,
    )
