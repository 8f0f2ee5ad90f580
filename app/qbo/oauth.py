"""Intuit OAuth 2.0: discovery, the consent URL, code exchange, refresh and revoke (authlib).

The only code that talks to Intuit's token endpoints. Answers become a `TokenSet`; failures
become `OAuthFailure` with Intuit's error code and `intuit_tid`, never with a token in them.
Each call to the token and revocation endpoints is counted by the read meter (when given)
as an OAuth call of the realm it is for: Intuit does not meter them, `/sync-status` shows them.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from app.config import QboEnvironment, Settings
from app.db import utcnow
from app.qbo.errors import tid_from
from app.qbo.meter import CallKind, ReadMeter

with warnings.catch_warnings():
    # authlib 1.9 announces a future move to httpx2; its httpx client is what works today.
    # `authlib.deprecate` turns its warnings on when imported: import it, then silence them.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

SCOPE = "com.intuit.quickbooks.accounting"
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"
DISCOVERY_URLS = {
    QboEnvironment.SANDBOX: "https://developer.intuit.com/.well-known/openid_sandbox_configuration",
    QboEnvironment.PRODUCTION: "https://developer.intuit.com/.well-known/openid_configuration",
}
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A gateway in front of the token service gave up waiting for it: the call may have been
# applied (a refresh may have rotated the token) and its answer is lost, as on a timeout.
GATEWAY_TIMEOUT = 504


class OAuthFailure(Exception):
    """A token-endpoint call failed.

    `error` is Intuit's code (`invalid_grant`, ...) or, when no usable answer came back,
    `transport` (timeout, reset, refused), `gateway_timeout` (a gateway's 504: it gave up
    waiting for the token service, which may have applied the call) or `server_error`;
    `retryable` says whether the same call may be tried again, `answer_lost` whether Intuit
    may have applied it (and so rotated the refresh token) though no answer came.
    """

    def __init__(self, error: str, description: str = "", intuit_tid: str | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.intuit_tid = intuit_tid

    @property
    def invalid_grant(self) -> bool:
        return self.error == "invalid_grant"

    @property
    def retryable(self) -> bool:
        # Only a lost or failed answer is worth another try; every OAuth error is final.
        return self.answer_lost or self.error in ("server_error", "temporarily_unavailable")

    @property
    def answer_lost(self) -> bool:
        """The call may have been applied at Intuit though its answer never arrived."""
        return self.error in ("transport", "gateway_timeout")


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: SecretStr
    refresh_token: SecretStr
    access_expires_at: datetime
    refresh_expires_at: datetime | None
    refresh_hard_expires_at: datetime | None
    intuit_tid: str | None


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str
    revocation: str


def discovery_url(settings: Settings) -> str:
    if settings.uses_emulator:
        return settings.emulator_url.rstrip("/") + "/.well-known/openid_sandbox_configuration"
    return DISCOVERY_URLS[settings.qbo_environment]


def _seconds(value: Any) -> float | None:
    # Intuit sends numbers; some of its mocks send numeric strings.
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def token_set(raw: dict[str, Any], intuit_tid: str | None) -> TokenSet:
    """Parse a token-endpoint answer; raises OAuthFailure when a token is missing."""
    access, refresh = raw.get("access_token"), raw.get("refresh_token")
    if not access or not refresh:
        raise OAuthFailure("invalid_response", "the answer carries no token pair", intuit_tid)
    now = utcnow()

    def at(key: str) -> datetime | None:
        seconds = _seconds(raw.get(key))
        return now + timedelta(seconds=seconds) if seconds is not None else None

    return TokenSet(
        access_token=SecretStr(str(access)),
        refresh_token=SecretStr(str(refresh)),
        access_expires_at=at("expires_in") or now + timedelta(hours=1),
        refresh_expires_at=at("x_refresh_token_expires_in"),
        refresh_hard_expires_at=at("x_refresh_token_hard_expires_in"),
        intuit_tid=intuit_tid,
    )


class IntuitOAuth:
    """Intuit's OAuth endpoints for one app (client id and secret from settings).

    `transport` lets tests put respx or the emulator's ASGI app under the same client;
    `meter` counts every token and revocation call that leaves (kind OAuth).
    """

    def __init__(
        self,
        settings: Settings,
        endpoints: Endpoints,
        transport: httpx.AsyncBaseTransport | None,
        meter: ReadMeter | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.meter = meter
        self._settings = settings
        self._transport = transport
        self.last_intuit_tid: str | None = None

    @classmethod
    async def discover(
        cls,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        meter: ReadMeter | None = None,
    ) -> IntuitOAuth:
        """Read Intuit's discovery document for the configured environment (not counted:
        it is no call of the OAuth API).

        Raises OAuthFailure (`discovery`) when it cannot be read.
        """
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
            try:
                response = await http.get(discovery_url(settings))
                response.raise_for_status()
                doc = response.json()
                endpoints = Endpoints(
                    doc["authorization_endpoint"], doc["token_endpoint"], doc["revocation_endpoint"]
                )
            except (httpx.HTTPError, ValueError, KeyError) as err:
                raise OAuthFailure("discovery", f"{type(err).__name__}") from None
        return cls(settings, endpoints, transport, meter)

    async def _count(self, realm_id: str | None) -> None:
        """One OAuth call that leaves, answered or not (never raises)."""
        if self.meter is not None:
            await self.meter.count(realm_id or "", CallKind.OAUTH)

    def _client(self, realm_id: str | None) -> AsyncOAuth2Client:
        client_id, secret = self._settings.oauth_client

        async def count(_: httpx.Request) -> None:
            await self._count(realm_id)

        async def remember_tid(response: httpx.Response) -> None:
            self.last_intuit_tid = tid_from(response.headers)

        return AsyncOAuth2Client(
            client_id=client_id,
            client_secret=secret.get_secret_value(),
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106
            scope=SCOPE,
            redirect_uri=self._settings.redirect_uri,
            transport=self._transport,
            timeout=TIMEOUT,
            event_hooks={"request": [count], "response": [remember_tid]},
        )

    def authorization_url(self, state: str) -> str:
        """The consent page URL to open in a browser, carrying `state`."""
        client_id, _ = self._settings.oauth_client
        query = httpx.QueryParams(
            client_id=client_id,
            response_type="code",
            scope=SCOPE,
            redirect_uri=self._settings.redirect_uri,
            state=state,
        )
        return f"{self.endpoints.authorization}?{query}"

    async def _token_call(self, realm_id: str | None, **params: str) -> TokenSet:
        self.last_intuit_tid = None
        async with self._client(realm_id) as client:
            try:
                raw = await client.fetch_token(
                    self.endpoints.token,
                    headers={HARD_EXPIRY_HEADER: "true", "Accept": "application/json"},
                    **params,
                )
            except OAuthError as err:
                raise OAuthFailure(
                    str(err.error or "oauth_error"),
                    str(err.description or ""),
                    self.last_intuit_tid,
                ) from None
            except httpx.TransportError as err:
                raise OAuthFailure("transport", type(err).__name__, self.last_intuit_tid) from None
            except httpx.HTTPStatusError as err:
                status = err.response.status_code
                if status == GATEWAY_TIMEOUT:
                    raise OAuthFailure(
                        "gateway_timeout",
                        "HTTP 504: the answer may be lost; Intuit may have applied the call",
                        self.last_intuit_tid,
                    ) from None
                raise OAuthFailure("server_error", f"HTTP {status}", self.last_intuit_tid) from None
            except ValueError as err:
                raise OAuthFailure(
                    "server_error", type(err).__name__, self.last_intuit_tid
                ) from None
        return token_set(dict(raw), self.last_intuit_tid)

    async def exchange_code(self, code: str, *, realm_id: str | None = None) -> TokenSet:
        """Trade an authorization code (single use) for a token pair; `realm_id`, the company
        the consent was for, is what the call is counted under. Raises OAuthFailure."""
        return await self._token_call(
            realm_id,
            grant_type="authorization_code",
            code=code,
            redirect_uri=self._settings.redirect_uri,
        )

    async def refresh(self, refresh_token: SecretStr, *, realm_id: str | None = None) -> TokenSet:
        """A new token pair for `refresh_token` (of `realm_id`, which the call is counted
        under); the answer's refresh token replaces it.

        Raises OAuthFailure; `invalid_grant` means the token is dead (rotated or revoked).
        """
        return await self._token_call(
            realm_id, grant_type="refresh_token", refresh_token=refresh_token.get_secret_value()
        )

    async def revoke(self, token: SecretStr, *, realm_id: str | None = None) -> None:
        """Revoke a token at Intuit (counted under `realm_id`). An already-dead token is not
        an error. Raises OAuthFailure."""
        client_id, secret = self._settings.oauth_client
        async with httpx.AsyncClient(transport=self._transport, timeout=TIMEOUT) as http:
            try:
                await self._count(realm_id)
                response = await http.post(
                    self.endpoints.revocation,
                    json={"token": token.get_secret_value()},
                    auth=(client_id, secret.get_secret_value()),
                    headers={"Accept": "application/json"},
                )
            except httpx.TransportError as err:
                raise OAuthFailure("transport", type(err).__name__) from None
        tid = tid_from(response.headers)
        if response.status_code >= 500:
            raise OAuthFailure("server_error", f"HTTP {response.status_code}", tid)
        # 400 for an unknown or already revoked token: the goal (a dead token) is reached.


class LazyOAuth:
    """Intuit's endpoints, discovered once per process on first use.

    Not at start-up: the API and workers start even while Intuit (or the emulator) is
    unreachable, and report it when a connection is actually needed.
    """

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None,
        meter: ReadMeter | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        # The process's read meter, which counts the OAuth calls; the API sets it at start-up.
        self.meter = meter
        self._oauth: IntuitOAuth | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> IntuitOAuth:
        """Raises OAuthFailure (`discovery`) while the discovery document cannot be read."""
        async with self._lock:
            if self._oauth is None:
                self._oauth = await IntuitOAuth.discover(
                    self._settings, self._transport, self.meter
                )
            self._oauth.meter = self.meter
            return self._oauth
