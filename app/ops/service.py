"""What the ops console reads besides event listings (app.events.repository): hourly
activity per realm.

The query is bounded and index-backed: activity over 24 hours scans
`ix_events_realm_synced` / `ix_events_realm_failed` per realm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

HOURS = 24

HOURLY = text(
    """
SELECT r.realm_id, 'synced' AS kind, date_trunc('hour', e.synced_at) AS hour, count(*) AS n
FROM unnest(CAST(:realms AS text[])) AS r(realm_id)
JOIN events e ON e.realm_id = r.realm_id AND e.synced_at IS NOT NULL AND e.synced_at >= :since
GROUP BY 1, 3
UNION ALL
SELECT r.realm_id, 'failed', date_trunc('hour', e.updated_at), count(*)
FROM unnest(CAST(:realms AS text[])) AS r(realm_id)
JOIN events e ON e.realm_id = r.realm_id AND e.last_error IS NOT NULL AND e.updated_at >= :since
  AND e.status IN ('dead', 'retrying')
GROUP BY 1, 3
"""
)


@dataclass(frozen=True, slots=True)
class HourBar:
    """One hour of a realm's chart: records synced, and records that failed in it (retrying
    or dead at the hour of their latest error)."""

    hour: datetime
    synced: int
    failed: int


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def hourly_activity(
    session: AsyncSession, realm_ids: list[str], now: datetime
) -> dict[str, list[HourBar]]:
    """The last 24 hours per realm, oldest first, the current hour included."""
    first = _hour(now) - timedelta(hours=HOURS - 1)
    counts: dict[tuple[str, str, datetime], int] = {}
    if realm_ids:
        rows = await session.execute(HOURLY, {"realms": realm_ids, "since": first})
        counts = {(r.realm_id, r.kind, r.hour): int(r.n) for r in rows}
    hours = [first + timedelta(hours=i) for i in range(HOURS)]
    return {
        realm: [
            HourBar(h, counts.get((realm, "synced", h), 0), counts.get((realm, "failed", h), 0))
            for h in hours
        ]
        for realm in realm_ids
    }
