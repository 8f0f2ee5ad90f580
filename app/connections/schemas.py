"""What the connections API answers. Tokens never appear here."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.connections.models import Connection


class ConnectionStarted(BaseModel):
    authorization_url: str = Field(description="Open this in a browser to approve the company.")
    state: str
    expires_at: datetime


class ConnectionOut(BaseModel):
    realm_id: str
    status: str = Field(description="active, needs_reauth or disconnected")
    environment: str
    company_name: str | None
    country: str | None
    access_token_expires_at: datetime | None
    last_refreshed_at: datetime | None
    reconnect_by: datetime | None = Field(
        description="The refresh token's hard expiry: reconnect the company before this."
    )
    connected_at: datetime | None
    disconnected_at: datetime | None

    @classmethod
    def of(cls, connection: Connection) -> ConnectionOut:
        return cls(
            realm_id=connection.realm_id,
            status=connection.status,
            environment=connection.environment,
            company_name=connection.company_name,
            country=connection.country,
            access_token_expires_at=connection.access_token_expires_at,
            last_refreshed_at=connection.last_refreshed_at,
            reconnect_by=connection.refresh_token_hard_expires_at,
            connected_at=connection.connected_at,
            disconnected_at=connection.disconnected_at,
        )


class Disconnected(ConnectionOut):
    revoked_at_intuit: bool
