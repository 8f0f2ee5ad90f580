"""Answers of the preview and validate routes: the QBO request a write is (or was), and
what the engine would do with an event."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.sync.preview import Verdict

ValidationOutcome = Literal["create", "update", "wait", "refused", "not_connected"]


class QboRequest(BaseModel):
    method: str = Field(description="POST: every write to QBO is one.")
    path: str = Field(
        description="`/v3/company/<realm>/<entity>` (`/batch` for a batch call), without the host."
    )
    query: dict[str, str] = Field(
        description="`requestid` (the same on every retry of this write), `minorversion`, and "
        "for a void or delete its `operation` (a payment's void: `operation=update&include=void`)."
    )
    body: dict[str, Any] = Field(
        description="The JSON body. Amounts, quantities and rates are strings holding exactly "
        "the number sent (QBO gets them as bare JSON numbers). A batch call's body holds only "
        "this event's BatchItemRequest."
    )


class Why(BaseModel):
    """Why no request is given, and what the event waits for."""

    reason: str | None = Field(None, description="Why there is no request (or none now).")
    field: str | None = Field(
        None, description="JSON pointer of the event's field at fault (`/data/terms`)."
    )
    waiting_for: str | None = Field(
        None, description="`<entity type>:<external id>` of the record the event waits for."
    )
    waiting_event_id: uuid.UUID | None = Field(
        None, description="The open (or dead) event of that record the event waits for."
    )
    waiting_event_status: str | None = None


class PreviewOut(Why):
    id: uuid.UUID
    status: str = Field(description="The event's status.")
    source: Literal["next", "sent"] = Field(
        description="next: the write the engine would send now (the event is not final); "
        "sent: the last request sent for it (synced, dead or superseded)."
    )
    outcome: Verdict | None = Field(
        None,
        description="With source next: create, update (any write to its mapped record), wait, "
        "refused (it would die), not_connected, superseded.",
    )
    request: QboRequest | None = Field(
        None, description="The request; null when none can be built now, or none was sent."
    )


class DuplicateOf(BaseModel):
    id: uuid.UUID = Field(description="The stored event with this event_id (this API key's).")
    status: str
    same_body: bool = Field(
        description="true: POST /events would answer 200 with the stored event; false: 409."
    )


class ValidationOut(Why):
    outcome: ValidationOutcome = Field(
        description="create, update (any write to its mapped record), wait (for a parent not "
        "in QBO yet, or an event that goes first), refused (the event would die: `reason`, "
        "`field`), not_connected (it would wait for a reconnect)."
    )
    request: QboRequest | None = Field(None, description="The request the engine would send now.")
    duplicate: DuplicateOf | None = Field(
        None, description="Set when this key already sent an event with this event_id."
    )
