"""Events per realm and status, kept by triggers on `events`.

Counting millions of events on every `/sync-status` would grow with the table. Instead,
statement-level triggers append each statement's net change per (realm, status) to
`event_count_deltas` (inserts only: writers never wait on each other), a worker cron folds
them into `event_counts` every few seconds, and a reader adds the two: exact, and read in
O(realms + recent statements).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Identity, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow


class EventCount(Base):
    __tablename__ = "event_counts"

    realm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(24), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class EventCountDelta(Base):
    __tablename__ = "event_count_deltas"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    n: Mapped[int] = mapped_column(BigInteger)


class QboCallUsage(Base):
    """QBO calls per calendar month (UTC, `YYYY-MM`), company and kind (read, write, oauth),
    folded from Redis by the worker's cron (app.status.reads): the month's count is this
    plus what Redis holds not yet folded, and survives losing Redis."""

    __tablename__ = "qbo_call_usage"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)


class QboCallFold(Base):
    """One fold of counts from Redis, by the id Redis gave it: a fold retried after a
    failure half-way is added once."""

    __tablename__ = "qbo_call_folds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    folded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReadAlert(Base):
    """A level of the month's read allowance (80, 95, 100 %) announced once per month."""

    __tablename__ = "qbo_read_alerts"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    reads: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
