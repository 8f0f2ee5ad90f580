"""Events per realm and status, kept by triggers on `events`.

Counting millions of events on every `/sync-status` would grow with the table. Instead,
statement-level triggers append each statement's net change per (realm, status) to
`event_count_deltas` (inserts only: writers never wait on each other), a worker cron folds
them into `event_counts` every few seconds, and a reader adds the two: exact, and read in
O(realms + recent statements).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


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
