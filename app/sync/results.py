"""What a job run answers (`JobResult`), and what the first transaction of a step decided
(`Step`): the shapes the loop in app.sync.engine acts on."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.events.models import Event
from app.events.service import EntityKey
from app.sync.work import Work


@dataclass(frozen=True, slots=True)
class JobResult:
    result: str  # idle | retry | budget | waiting_dependency | waiting_connection | busy
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
