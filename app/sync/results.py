"""What a job run answers (`JobResult`, `JobOutcome`), and what the first transaction of a
step decided (`Step`): the shapes the loop in app.sync.engine acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from app.core.keys import EntityKey
from app.events.models import Event
from app.sync.work import Work


class JobOutcome(StrEnum):
    """How a job run for one record ended: what its caller (the realm's pump) does next."""

    IDLE = "idle"  # nothing due (or the run used up its steps: `retry_in` 0)
    RETRY = "retry"  # the next event is due again in `retry_in`
    BUDGET = "budget"  # the realm's budget is spent for `retry_in`: the pump stops
    WAITING_DEPENDENCY = "waiting_dependency"
    WAITING_CONNECTION = "waiting_connection"
    BUSY = "busy"  # another worker holds the record


@dataclass(frozen=True, slots=True)
class JobResult:
    result: JobOutcome
    handled: int = 0
    retry_in: float | None = None


@dataclass(slots=True)
class Step:
    """What the first transaction decided."""

    done: JobResult | None = None
    work: Work | None = None
    event: Event | None = None
    continue_now: bool = False
    # Records whose events waited for one that this transaction made final (dead).
    released: list[EntityKey] = field(default_factory=list)
    # Events of the record were superseded: what waited for them is released after commit.
    superseded: bool = False
