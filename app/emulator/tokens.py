"""OAuth 2.0 grants, authorization codes and tokens, as Intuit's token service keeps them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

from app.emulator.clock import Clock
from app.emulator.config import EmulatorConfig

ACCESS_PREFIX = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.."


class TokenError(Exception):
    """An OAuth error answer: `{"error": ..., "error_description": ...}` with a status."""

    def __init__(self, error: str, description: str | None = None, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status

    def as_json(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


@dataclass
class Grant:
    """One connection of an app (client) to a company, born from a consent."""

    grant_id: str
    client_id: str
    client_secret: str
    realm_id: str
    scope: str
    hard_expires_at: float
    refresh_token: str
    refresh_issued_at: float
    refresh_expires_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    grant_id: str
    expires_at: float


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    realm_id: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class IssuedTokens:
    """A token answer before rendering."""

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    hard_expires_in: int
    realm_id: str

    def as_json(self, include_hard_expiry: bool) -> dict[str, Any]:
        """Intuit's field set; the hard expiry only when the client asked for it."""
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "x_refresh_token_expires_in": self.refresh_expires_in,
            "access_token": self.access_token,
        }
        if include_hard_expiry:
            body["x_refresh_token_hard_expires_in"] = self.hard_expires_in
        return body


class AccessCheck(Enum):
    """Verdict on a bearer token presented to the Accounting API."""

    OK = "ok"
    MISSING = "missing"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WRONG_REALM = "wrong_realm"


class TokenStore:
    """Clients, codes, grants and tokens of one emulator, timed by its clock."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.clients: dict[str, str] = dict(config.clients)
        self.grants: dict[str, Grant] = {}
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh_index: dict[str, str] = {}
        self.superseded: dict[str, str] = {}
        # Refreshes whose answer is lost after the grant rotated (a chaos knob).
        self.lose_refresh_replies = 0

    def reset(self) -> None:
        """Forget grants, codes and tokens; registered clients stay."""
        self.grants.clear()
        self.codes.clear()
        self.access.clear()
        self.refresh_index.clear()
        self.superseded.clear()

    def register_client(self, client_id: str, client_secret: str) -> None:
        """Accept this client from now on; once any is registered, only registered ones pass."""
        self.clients[client_id] = client_secret

    def known_client(self, client_id: str) -> bool:
        """Whether the authorization page should accept this client_id."""
        return not self.clients or client_id in self.clients

    def check_client(self, client_id: str, client_secret: str) -> None:
        """Authenticate the client; raises TokenError invalid_client (401) on failure."""
        if not client_id:
            raise TokenError("invalid_client", status=401)
        if self.clients and self.clients.get(client_id) != client_secret:
            raise TokenError("invalid_client", status=401)

    def issue_code(self, client_id: str, redirect_uri: str, realm_id: str, scope: str) -> str:
        """A single-use authorization code for a consent just given."""
        code = "AB11" + secrets.token_urlsafe(30)
        self.codes[code] = AuthCode(
            client_id,
            redirect_uri,
            realm_id,
            scope,
            self.clock.timestamp() + self.config.auth_code_ttl_seconds,
        )
        return code

    def exchange_code(
        self, client_id: str, client_secret: str, code: str, redirect_uri: str
    ) -> IssuedTokens:
        """The authorization_code grant. Raises TokenError invalid_grant for a used,
        expired, unknown or foreign code, or a redirect_uri that differs."""
        self.check_client(client_id, client_secret)
        entry = self.codes.get(code)
        if entry is None or entry.client_id != client_id:
            raise TokenError("invalid_grant")
        if entry.used or entry.expires_at <= self.clock.timestamp():
            raise TokenError("invalid_grant")
        if redirect_uri and redirect_uri != entry.redirect_uri:
            raise TokenError("invalid_grant", "Invalid redirect_uri")
        entry.used = True
        return self.mint(entry.realm_id, client_id, client_secret, entry.scope)

    def mint(self, realm_id: str, client_id: str, client_secret: str, scope: str) -> IssuedTokens:
        """Open a new grant for a realm and issue its first token pair."""
        now = self.clock.timestamp()
        grant = Grant(
            grant_id=secrets.token_hex(8),
            client_id=client_id,
            client_secret=client_secret,
            realm_id=realm_id,
            scope=scope,
            hard_expires_at=now + self.config.refresh_token_hard_ttl_seconds,
            refresh_token=self._new_refresh_token(),
            refresh_issued_at=now,
            refresh_expires_at=now + self.config.refresh_token_ttl_seconds,
        )
        self.grants[grant.grant_id] = grant
        self.refresh_index[grant.refresh_token] = grant.grant_id
        return self._issue_access(grant, now)

    def refresh(self, client_id: str, client_secret: str, refresh_token: str) -> IssuedTokens:
        """The refresh_token grant, with rotation.

        The refresh token value changes once `refresh_rotation_seconds` have passed since
        it was issued; the superseded value then fails with invalid_grant, like any
        revoked, expired or unknown one, or one presented by another client.
        """
        self.check_client(client_id, client_secret)
        now = self.clock.timestamp()
        grant_id = self.refresh_index.get(refresh_token)
        grant = self.grants.get(grant_id) if grant_id else None
        if grant is None:
            raise TokenError("invalid_grant", "Incorrect or invalid refresh token")
        if grant.client_id != client_id or (
            not self.clients and grant.client_secret != client_secret
        ):
            raise TokenError("invalid_grant", "Incorrect Token type or clientID")
        if grant.revoked or now >= grant.refresh_expires_at or now >= grant.hard_expires_at:
            raise TokenError("invalid_grant", "Token invalid")
        if now - grant.refresh_issued_at >= self.config.refresh_rotation_seconds:
            del self.refresh_index[grant.refresh_token]
            self.superseded[grant.refresh_token] = grant.grant_id
            grant.refresh_token = self._new_refresh_token()
            grant.refresh_issued_at = now
            self.refresh_index[grant.refresh_token] = grant.grant_id
        grant.refresh_expires_at = min(
            now + self.config.refresh_token_ttl_seconds, grant.hard_expires_at
        )
        return self._issue_access(grant, now)

    def revoke(self, client_id: str, client_secret: str, token: str) -> None:
        """Revoke the grant that an access or refresh token belongs to (disconnects the app).

        Raises TokenError invalid_client for bad client credentials; an unknown token is
        accepted silently, as RFC 7009 asks.
        """
        self.check_client(client_id, client_secret)
        grant = self._grant_for(token)
        if grant is not None and grant.client_id == client_id:
            grant.revoked = True

    def revoke_realm(self, realm_id: str) -> int:
        """Revoke every grant of a realm, as if the user disconnected the app; returns count."""
        count = 0
        for grant in self.grants.values():
            if grant.realm_id == realm_id and not grant.revoked:
                grant.revoked = True
                count += 1
        return count

    def check_access(self, token: str | None, realm_id: str | None) -> tuple[AccessCheck, str]:
        """Verdict and 401 detail text for a bearer token used on `realm_id`."""
        if not token:
            return AccessCheck.MISSING, "Authorization header is missing"
        entry = self.access.get(token)
        if entry is None:
            return AccessCheck.UNKNOWN, "Malformed bearer token"
        grant = self.grants[entry.grant_id]
        if grant.revoked:
            return AccessCheck.REVOKED, f"Token revoked: {token[-50:]}"
        if entry.expires_at <= self.clock.timestamp():
            return AccessCheck.EXPIRED, f"Token expired: {token[-50:]}"
        if realm_id is not None and grant.realm_id != realm_id:
            return AccessCheck.WRONG_REALM, "Token not valid for this company"
        return AccessCheck.OK, ""

    def grant_for_access(self, token: str) -> Grant | None:
        """The grant behind a valid access token (for userinfo)."""
        entry = self.access.get(token)
        return self.grants.get(entry.grant_id) if entry else None

    def _grant_for(self, token: str) -> Grant | None:
        grant_id = (
            self.refresh_index.get(token)
            or self.superseded.get(token)
            or (self.access[token].grant_id if token in self.access else None)
        )
        return self.grants.get(grant_id) if grant_id else None

    def _issue_access(self, grant: Grant, now: float) -> IssuedTokens:
        token = ACCESS_PREFIX + secrets.token_urlsafe(96)
        self.access[token] = AccessToken(grant.grant_id, now + self.config.access_token_ttl_seconds)
        return IssuedTokens(
            access_token=token,
            refresh_token=grant.refresh_token,
            expires_in=self.config.access_token_ttl_seconds,
            refresh_expires_in=int(grant.refresh_expires_at - now),
            hard_expires_in=int(grant.hard_expires_at - now),
            realm_id=grant.realm_id,
        )

    @staticmethod
    def _new_refresh_token() -> str:
        return "AB11" + secrets.token_urlsafe(36)
