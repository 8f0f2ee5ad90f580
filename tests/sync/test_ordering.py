"""Which events are moot and which goes next (pure)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.events.models import EventStatus
from app.sync.ordering import maybe_applied, plan

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class Ev:
    operation: str
    minute: int = 0
    status: EventStatus = EventStatus.PENDING
    last_error: dict[str, Any] | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def occurred_at(self) -> datetime:
        return T0 + timedelta(minutes=self.minute)


def test_the_newest_upsert_wins() -> None:
    events = [Ev("upserted", 0), Ev("upserted", 1), Ev("upserted", 2)]
    result = plan(events, None)
    assert [i for i, _ in result.superseded] == [events[0].id, events[1].id]
    assert result.next is events[2]
    assert str(events[1].id) in result.superseded[0][1]  # the next newer one


def test_a_void_or_delete_in_between_keeps_order() -> None:
    events = [Ev("upserted", 0), Ev("voided", 1), Ev("upserted", 2)]
    result = plan(events, None)
    assert result.superseded == []
    assert result.next is events[0]


def test_deactivation_is_moot_after_a_newer_upsert_but_not_before_one() -> None:
    first = [Ev("deactivated", 0), Ev("upserted", 1)]
    assert [i for i, _ in plan(first, None).superseded] == [first[0].id]
    second = [Ev("upserted", 0), Ev("deactivated", 1)]
    result = plan(second, None)
    assert result.superseded == []
    assert result.next is second[0]
    twice = [Ev("deactivated", 0), Ev("deactivated", 1)]
    assert [i for i, _ in plan(twice, None).superseded] == [twice[0].id]


def test_a_late_arrival_older_than_qbo_state_is_moot() -> None:
    late = Ev("upserted", 1)
    result = plan([late], T0 + timedelta(minutes=5))
    assert result.superseded == [(late.id, "older than the state QBO already holds")]
    assert result.next is None
    # Voids are applied whatever their age.
    void = Ev("voided", 1)
    assert plan([void], T0 + timedelta(minutes=5)).next is void


def test_an_event_qbo_may_hold_is_never_superseded() -> None:
    lost = Ev("upserted", 0, status=EventStatus.RETRYING, last_error={"ambiguous": True})
    dying = Ev("upserted", 1, status=EventStatus.SYNCING)
    newest = Ev("upserted", 2)
    result = plan([lost, dying, newest], None)
    assert result.superseded == []
    assert result.next is lost
    assert maybe_applied(lost)
    assert maybe_applied(dying)
    assert not maybe_applied(newest)
