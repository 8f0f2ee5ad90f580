"""API keys: generation, hashing, scopes and the `api_keys` table."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

KEY_PREFIX = "qbs_"
# The name becomes the `source` of every event sent with the key.
KEY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


class Scope(StrEnum):
    EVENTS_WRITE = "events:write"
    # The events of the key's own source (its name), and the mappings of their records.
    EVENTS_READ = "events:read"
    # Every source's events and every mapping; includes events:read.
    EVENTS_READ_ALL = "events:read_all"
    CONNECTIONS_ADMIN = "connections:admin"
    STATUS_READ = "status:read"


# A scope also grants the scopes listed here.
INCLUDES: dict[Scope, frozenset[Scope]] = {Scope.EVENTS_READ_ALL: frozenset({Scope.EVENTS_READ})}


def grants(held: str, needed: Scope) -> bool:
    """Whether holding scope `held` admits a route that needs `needed`."""
    if held == needed.value:
        return True
    try:
        return needed in INCLUDES.get(Scope(held), frozenset())
    except ValueError:  # a scope this version does not know grants nothing
        return False


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


def hash_key(key: str) -> str:
    """SHA-256 is enough: keys are 256-bit random, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(raw: str) -> list[Scope]:
    """Parse `a,b,c`; raises ValueError naming an unknown scope."""
    scopes = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            scopes.append(Scope(part))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {part!r} (known: {known})") from None
    if not scopes:
        raise ValueError("at least one scope is required")
    return sorted(set(scopes))


async def create_api_key(session: AsyncSession, name: str, scopes: list[Scope]) -> str:
    """Store a new key's hash and return the key itself, which is never stored.

    Raises ValueError when an active or revoked key already has that name.
    """
    if not KEY_NAME.fullmatch(name):
        raise ValueError("a key name is 1-100 letters, digits, '.', '_' or '-'")
    existing = await session.scalar(select(ApiKey).where(ApiKey.name == name))
    if existing is not None:
        raise ValueError(f"a key named {name!r} already exists")
    key = generate_key()
    session.add(ApiKey(name=name, key_hash=hash_key(key), scopes=[s.value for s in scopes]))
    await session.flush()
    return key


async def revoke_api_key(session: AsyncSession, name: str) -> bool:
    key = await session.scalar(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return False
    key.revoked_at = utcnow()
    return True


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """A valid, unrevoked key: its name (the `source` of its events) and its scopes."""

    name: str
    scopes: frozenset[str]

    def holds(self, scope: Scope) -> bool:
        """Whether the key holds `scope`, itself or through a scope that includes it."""
        return any(grants(held, scope) for held in self.scopes)

    @property
    def reads_all_sources(self) -> bool:
        return Scope.EVENTS_READ_ALL.value in self.scopes


_keys = ApiKey.__table__.c
FIND_ACTIVE_KEY = select(_keys.name, _keys.scopes, _keys.key_hash).where(
    _keys.key_hash == bindparam("digest"), _keys.revoked_at.is_(None)
)


async def find_active_key(
    connection: AsyncConnection | AsyncSession, presented: str
) -> ActiveKey | None:
    """Look the key up by its hash; None for an unknown or revoked key.

    The lookup is by hash through an index, so timing reveals nothing about the key;
    `secrets.compare_digest` re-checks the stored hash to keep that explicit.
    """
    digest = hash_key(presented)
    row = (await connection.execute(FIND_ACTIVE_KEY, {"digest": digest})).first()
    if row is None or not secrets.compare_digest(row.key_hash, digest):
        return None
    return ActiveKey(row.name, frozenset(row.scopes))
