"""Which of an entity's open events to send next, and which a newer one has made moot.

Pure: the engine passes the entity's open events in apply order (`occurred_at`, then
arrival) and the time of the event QBO last got, and acts on the plan.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from app.events.models import EventStatus

# Carries the whole state of the record: a newer one makes older ones moot.
FULL_STATE = "upserted"
# Changes one flag; moot after a newer full state, or a newer change of the same kind.
FLAG_OPERATIONS = frozenset({"deactivated"})


class OpenEvent(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def operation(self) -> str: ...
    @property
    def status(self) -> EventStatus: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def last_error(self) -> dict[str, Any] | None: ...


def maybe_applied(event: OpenEvent) -> bool:
    """Whether QBO may already have applied this event: its last write got no answer
    (`ambiguous`), or a worker died while sending it (still `syncing`). Such an event is
    never superseded: it is sent again with its own requestid, or adopted, first."""
    return event.status == EventStatus.SYNCING or bool((event.last_error or {}).get("ambiguous"))


@dataclass(frozen=True, slots=True)
class Plan:
    superseded: list[tuple[uuid.UUID, str]]  # (event id, why)
    next: OpenEvent | None


def plan(events: Sequence[OpenEvent], last_applied_at: datetime | None) -> Plan:
    """Mark moot events and pick the next one to send.

    An upsert or deactivation is superseded when a later upsert of the entity follows with
    no void or delete between them, when a later deactivation follows a deactivation, or
    when it is older than what QBO already holds (`last_applied_at`): a late arrival.
    Voids and deletes are never superseded. Neither is an event that may have been applied.
    """
    superseded: list[tuple[uuid.UUID, str]] = []
    for index, event in enumerate(events):
        if event.operation != FULL_STATE and event.operation not in FLAG_OPERATIONS:
            continue
        if maybe_applied(event):
            continue
        newer = _newer_state(events[index + 1 :], event.operation)
        if newer is not None:
            superseded.append((event.id, f"superseded by event {newer.id}"))
        elif last_applied_at is not None and event.occurred_at < last_applied_at:
            superseded.append((event.id, "older than the state QBO already holds"))
    moot = {event_id for event_id, _ in superseded}
    return Plan(superseded, next((e for e in events if e.id not in moot), None))


def _newer_state(later: Sequence[OpenEvent], operation: str) -> OpenEvent | None:
    for event in later:
        if event.operation == FULL_STATE:
            return event
        if event.operation in FLAG_OPERATIONS and operation in FLAG_OPERATIONS:
            return event
        if event.operation not in FLAG_OPERATIONS:
            return None  # a void or delete in between: order matters
    return None
