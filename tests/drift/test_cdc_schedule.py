"""The CDC schedule: once a day for a company whose webhooks arrive, idle or not; every
interval for one whose webhooks never came or stopped coming."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connections.models import Connection
from app.db import utcnow
from app.drift.jobs import WEBHOOK_ANSWER, WEBHOOK_MEMORY, cdc_due_realms
from app.drift.models import CdcCheckpoint, ChangeStatus, FoundBy, QboChange
from app.events.models import Event, EventStatus

INTERVAL = timedelta(minutes=15)
DAILY = timedelta(days=1)


def _connection(realm: str) -> Connection:
    return Connection(realm_id=realm, environment="emulator", status="active")


def _write(realm: str, at: datetime, n: int) -> Event:
    """A record of ours synced (written to QBO) at `at`."""
    return Event(
        source="test",
        event_id=f"{realm}-{n}",
        realm_id=realm,
        entity_type="customer",
        external_id=f"c{n}",
        operation="upserted",
        payload={"data": {"external_id": f"c{n}"}},
        payload_hash="0" * 64,
        occurred_at=at,
        status=EventStatus.SYNCED,
        synced_at=at,
    )


def _webhook(realm: str, at: datetime, n: int) -> QboChange:
    return QboChange(
        dedupe_key=f"hook:{realm}:{n}",
        realm_id=realm,
        entity="Customer",
        qbo_id=str(n),
        operation="Update",
        found_by=FoundBy.WEBHOOK.value,
        received_at=at,
        status=ChangeStatus.DONE,
    )


async def test_an_idle_company_with_webhooks_stays_on_the_daily_sweep(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    now = utcnow()
    long_ago = now - WEBHOOK_MEMORY - timedelta(days=3)
    async with session_factory() as session:
        for realm in ("idle", "stopped", "never", "pending"):
            session.add(_connection(realm))
            session.add(CdcCheckpoint(realm_id=realm, changed_since=now, last_run_at=now))
        # Idle since its last write, whose webhook came back: nothing changed since.
        session.add_all([_write("idle", long_ago, 1), _webhook("idle", long_ago, 1)])
        # A write of ours two days after the last webhook, and none followed it.
        session.add_all([_webhook("stopped", long_ago, 1)])
        session.add(_write("stopped", long_ago + timedelta(days=2), 1))
        # Writes, and never a webhook.
        session.add(_write("never", long_ago, 1))
        # Quiet for long, then a write too recent to tell whether its webhook will come.
        session.add_all([_write("pending", long_ago, 1), _webhook("pending", long_ago, 1)])
        session.add(_write("pending", now + timedelta(hours=2) - WEBHOOK_ANSWER / 2, 2))
        await session.commit()

    async def due(after: timedelta) -> set[str]:
        async with session_factory() as session:
            return set(await cdc_due_realms(session, INTERVAL, DAILY, now=now + after))

    # Two hours after the last pass: the sweep of every interval is due, the daily one not.
    assert await due(timedelta(hours=2)) == {"stopped", "never"}
    # A day after it, every company's.
    assert await due(timedelta(days=1, minutes=1)) == {"idle", "stopped", "never", "pending"}
    # When the month's reads run low, only the daily sweeps.
    async with session_factory() as session:
        low = await cdc_due_realms(
            session, INTERVAL, DAILY, daily_only=True, now=now + timedelta(hours=2)
        )
    assert low == []
