"""What the connections API answers. Tokens never appear here."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, create_model

from app.connections.company_settings import SettingsView
from app.connections.models import Connection, SettingsChange
from app.connections.settings import SETTING_NAMES, SettingSource


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


class SettingOut(BaseModel):
    value: Any = Field(description="The value in effect.")
    source: SettingSource = Field(
        description="company: set for this company; default: the service's environment"
        " variable (or, for doc_number_ours, the company's preference)."
    )


# One member per company setting (app.connections.settings.SETTING_NAMES), then the set's
# version and last change.
SettingsOut = create_model(
    "SettingsOut",
    __doc__="Every company setting with its value in effect and its source.",
    **{name: (SettingOut, ...) for name in SETTING_NAMES},  # type: ignore[call-overload]
    version=(int, Field(description="Raised by every change; 0: never changed.")),
    updated_at=(datetime | None, ...),
    updated_by=(str | None, Field(description="The name of the API key of the last change.")),
)


def settings_out(view: SettingsView) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: {"value": v.value, "source": v.source} for name, v in view.values.items()
    }
    out.update(version=view.version, updated_at=view.updated_at, updated_by=view.updated_by)
    return out


class SettingChangeOut(BaseModel):
    name: str
    old: Any = Field(description="The company's value before; null: the default.")
    new: Any = Field(description="The company's value after; null: the default.")
    changed_by: str = Field(description="The name of the API key that made the change.")
    changed_at: datetime

    @classmethod
    def of(cls, change: SettingsChange) -> SettingChangeOut:
        return cls(
            name=change.name,
            old=change.old_value,
            new=change.new_value,
            changed_by=change.changed_by,
            changed_at=change.changed_at,
        )


class SettingsHistoryPage(BaseModel):
    items: list[SettingChangeOut]
    next_cursor: str | None


class TaxRateOut(BaseModel):
    id: str
    name: str | None
    rate: Decimal | None = Field(description="Percent (RateValue).")


class ReferenceRowOut(BaseModel):
    id: str
    name: str
    active: bool
    type: str | None = Field(
        description="AccountType (accounts), PaymentMethod Type, Term Type; else null."
    )
    sub_type: str | None = Field(None, description="Accounts: AccountSubType.")
    classification: str | None = Field(None, description="Accounts: Classification.")
    rates: list[TaxRateOut] | None = Field(None, description="Tax codes: their sales rates.")
    due_days: int | None = Field(None, description="Terms: DueDays (standard terms).")


class ReferenceListOut(BaseModel):
    kind: str
    fetched_at: datetime = Field(description="When the list was read from QBO.")
    rows: list[ReferenceRowOut]
