"""Sessions of the ops console: a random id in a signed, HttpOnly cookie, the rest in Redis.

The cookie carries only `<id>.<HMAC>`; Redis holds who logged in and the session's CSRF
token, under the id's SHA-256 (a Redis dump reveals no usable cookie). Logging out deletes
the Redis entry, so a copied cookie dies with the session; revoking the API key ends every
session made with it at the next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from arq.connections import ArqRedis
from pydantic import SecretStr

COOKIE = "qbo_ops"
LOGIN_COOKIE = "qbo_ops_login"  # the login form's CSRF token (double submit), before a session
_SIGNING_CONTEXT = b"qbo-sync ops console session cookie v1"


def signing_key(encryption_key: SecretStr) -> bytes:
    """A key for cookie signatures derived from the first token encryption key, so that an
    installation has one secret to manage; the derivation keeps the two uses apart."""
    return hmac.new(encryption_key.get_secret_value().encode(), _SIGNING_CONTEXT, "sha256").digest()


def _mac(key: bytes, value: str) -> str:
    digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, value: str) -> str:
    return f"{value}.{_mac(key, value)}"


def unsign(key: bytes, signed: str | None) -> str | None:
    """The value of a cookie this service signed; None for a missing or forged one."""
    if not signed or "." not in signed:
        return None
    value, mac = signed.rsplit(".", 1)
    return value if hmac.compare_digest(mac, _mac(key, value)) else None


@dataclass(frozen=True, slots=True)
class OpsSession:
    session_id: str
    key_name: str
    csrf: str

    def csrf_matches(self, presented: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), presented.encode())


def _redis_key(session_id: str) -> str:
    return f"qbo:ops:session:{hashlib.sha256(session_id.encode()).hexdigest()}"


class OpsSessions:
    """Create, read and end console sessions; each lives `lifetime` from its login."""

    def __init__(self, redis: ArqRedis, key: bytes, lifetime: timedelta) -> None:
        self._redis = redis
        self._key = key
        self._lifetime = lifetime

    @property
    def max_age(self) -> int:
        return int(self._lifetime.total_seconds())

    async def create(self, key_name: str) -> tuple[OpsSession, str]:
        """A new session for the holder of API key `key_name`; returns it and its cookie."""
        session = OpsSession(secrets.token_urlsafe(32), key_name, secrets.token_urlsafe(32))
        record = json.dumps({"key_name": key_name, "csrf": session.csrf})
        await self._redis.set(_redis_key(session.session_id), record, ex=self.max_age)
        return session, sign(self._key, session.session_id)

    async def read(self, cookie: str | None) -> OpsSession | None:
        session_id = unsign(self._key, cookie)
        if session_id is None:
            return None
        raw = await self._redis.get(_redis_key(session_id))
        if raw is None:
            return None
        record = json.loads(raw)
        return OpsSession(session_id, str(record["key_name"]), str(record["csrf"]))

    async def end(self, session: OpsSession) -> None:
        await self._redis.delete(_redis_key(session.session_id))

    def login_token(self) -> tuple[str, str]:
        """(token for the login form, signed cookie value holding it)."""
        token = secrets.token_urlsafe(32)
        return token, sign(self._key, token)

    def login_token_matches(self, cookie: str | None, presented: str) -> bool:
        expected = unsign(self._key, cookie)
        return expected is not None and hmac.compare_digest(expected.encode(), presented.encode())
