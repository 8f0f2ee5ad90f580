"""What `/sync-status` says: per realm, counts, lag, throughput, errors, budget, verdict.

Every query is index-backed and bounded: counts come from `event_counts` (kept by triggers),
the oldest open event, the last success and the last error are single index seeks per
realm, and the throughput counts scan at most an hour of one realm's synced events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.connections.models import Connection, ConnectionStatus
from app.db import utcnow
from app.events.models import FINAL_STATUSES, OPEN_SQL
from app.qbo import BudgetState, RealmBudget
from app.status.models import EventCount, EventCountDelta

COMPACT_LOCK = 0x5153_0001  # advisory lock key: one compaction at a time
# Thresholds of the verdicts.
LAG_DEGRADED = timedelta(minutes=15)
STALLED = timedelta(hours=1)
RECONNECT_WARNING = timedelta(days=14)

PER_REALM = text(
    f"""
SELECT r.realm_id,
  (SELECT min(e.received_at) FROM events e
     WHERE e.realm_id = r.realm_id AND e.{OPEN_SQL}) AS oldest_open,
  (SELECT max(e.synced_at) FROM events e
     WHERE e.realm_id = r.realm_id AND e.synced_at IS NOT NULL) AS last_success,
  (SELECT count(*) FROM events e
     WHERE e.realm_id = r.realm_id AND e.synced_at IS NOT NULL
       AND e.synced_at >= :five_minutes_ago) AS synced_5m,
  (SELECT count(*) FROM events e
     WHERE e.realm_id = r.realm_id AND e.synced_at IS NOT NULL
       AND e.synced_at >= :hour_ago) AS synced_1h,
  (SELECT count(*) FROM events e
     WHERE e.realm_id = r.realm_id AND e.mismatch IS NOT NULL AND e.status = 'synced'
       AND NOT EXISTS (
         SELECT 1 FROM events later
         WHERE later.realm_id = e.realm_id AND later.entity_type = e.entity_type
           AND later.external_id = e.external_id AND later.status = 'synced'
           AND later.synced_at > e.synced_at)) AS mismatches,
  failed.id AS error_event, failed.last_error, failed.updated_at AS error_at
FROM unnest(CAST(:realms AS text[])) AS r(realm_id)
LEFT JOIN LATERAL (
  SELECT e.id, e.last_error, e.updated_at FROM events e
  WHERE e.realm_id = r.realm_id AND e.last_error IS NOT NULL
  ORDER BY e.updated_at DESC LIMIT 1
) failed ON true
"""  # noqa: S608 - a constant; values are bound parameters
)


async def event_counts(
    session: AsyncSession, realm_id: str | None = None
) -> dict[tuple[str, str], int]:
    """Events per (realm, status): the folded counts plus the deltas not yet folded."""
    parts = [
        select(EventCount.realm_id, EventCount.status, EventCount.n),
        select(EventCountDelta.realm_id, EventCountDelta.status, EventCountDelta.n),
    ]
    if realm_id is not None:
        parts = [
            parts[0].where(EventCount.realm_id == realm_id),
            parts[1].where(EventCountDelta.realm_id == realm_id),
        ]
    both = union_all(*parts).subquery()
    total = func.sum(both.c.n)
    rows = await session.execute(
        select(both.c.realm_id, both.c.status, total)
        .group_by(both.c.realm_id, both.c.status)
        .having(total != 0)
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


async def compact_event_counts(session: AsyncSession) -> int:
    """Fold the deltas into the counts (one process at a time); returns the rows touched."""
    if not await session.scalar(select(func.pg_try_advisory_xact_lock(COMPACT_LOCK))):
        return 0
    return int(await session.scalar(select(func.event_counts_compact())) or 0)


@dataclass
class RealmReport:
    realm_id: str
    connection: Connection | None
    counts: dict[str, int] = field(default_factory=dict)
    oldest_open: datetime | None = None
    last_success: datetime | None = None
    synced_5m: int = 0
    synced_1h: int = 0
    # Records whose last synced write QBO booked with other totals than the caller's.
    mismatches: int = 0
    last_error: dict[str, Any] | None = None
    budget: BudgetState | None = None
    verdict: str = "ok"
    reason: str = ""


async def realm_reports(
    session: AsyncSession, budget: RealmBudget | None, realm_id: str | None = None
) -> list[RealmReport]:
    """A report per realm that has a connection or events (one realm with `realm_id`)."""
    now = utcnow()
    connections_query = select(Connection)
    if realm_id is not None:
        connections_query = connections_query.where(Connection.realm_id == realm_id)
    connections = {c.realm_id: c for c in await session.scalars(connections_query)}
    reports: dict[str, RealmReport] = {r: RealmReport(r, c) for r, c in connections.items()}
    for (realm, status), n in (await event_counts(session, realm_id)).items():
        reports.setdefault(realm, RealmReport(realm, None)).counts[status] = n
    if not reports:
        return []
    rows = await session.execute(
        PER_REALM,
        {
            "realms": sorted(reports),
            "five_minutes_ago": now - timedelta(minutes=5),
            "hour_ago": now - timedelta(hours=1),
        },
    )
    for row in rows:
        report = reports[row.realm_id]
        report.oldest_open = row.oldest_open
        report.last_success = row.last_success
        report.synced_5m = int(row.synced_5m)
        report.synced_1h = int(row.synced_1h)
        report.mismatches = int(row.mismatches)
        if row.last_error:
            report.last_error = {
                **row.last_error,
                "event_id": str(row.error_event),
                "at": row.last_error.get("at") or row.error_at.isoformat(),
            }
    for report in reports.values():
        if budget is not None:
            try:
                report.budget = await budget.state(report.realm_id)
            except Exception:
                report.budget = None
        report.verdict, report.reason = verdict(report, now)
    return [reports[r] for r in sorted(reports)]


def _open(report: RealmReport) -> int:
    return sum(n for status, n in report.counts.items() if status not in FINAL_STATUSES)


def verdict(report: RealmReport, now: datetime) -> tuple[str, str]:
    """`ok`, `degraded` or `failing`, and why, in words."""
    waiting = _open(report)
    connection = report.connection
    lag = now - report.oldest_open if report.oldest_open else timedelta(0)
    problems: list[str] = []
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        state = "not connected" if connection is None else connection.status.replace("_", " ")
        if waiting:
            return "failing", f"{state}: {waiting} events wait for the company to be connected"
        problems.append(state)
    if (
        waiting
        and lag >= STALLED
        and (report.last_success is None or now - report.last_success >= STALLED)
    ):
        return "failing", f"nothing synced for an hour while {waiting} events wait"
    dead = report.counts.get("dead", 0)
    retrying = report.counts.get("retrying", 0)
    if dead:
        problems.append(f"{dead} dead events need attention")
    if retrying:
        problems.append(f"{retrying} events retrying after errors")
    if lag >= LAG_DEGRADED:
        problems.append(f"the oldest waiting event is {int(lag.total_seconds() // 60)} minutes old")
    if report.budget is not None and report.budget.paused_for > 0:
        problems.append(f"QBO throttled this company; paused {report.budget.paused_for:.0f} s")
    reconnect_by = connection.refresh_token_hard_expires_at if connection else None
    if reconnect_by is not None and reconnect_by - now <= RECONNECT_WARNING:
        problems.append(f"reconnect before {reconnect_by:%Y-%m-%d}")
    if problems:
        return "degraded", "; ".join(problems)
    if waiting:
        return "ok", f"syncing: {waiting} events in progress"
    return "ok", "up to date"


def overall(reports: list[RealmReport]) -> tuple[str, str]:
    order = {"ok": 0, "degraded": 1, "failing": 2}
    worst = max((r.verdict for r in reports), key=order.__getitem__, default="ok")
    named = [f"{r.realm_id}: {r.reason}" for r in reports if r.verdict == worst]
    if worst == "ok":
        return "ok", f"{len(reports)} companies, all ok"
    return worst, "; ".join(named)
