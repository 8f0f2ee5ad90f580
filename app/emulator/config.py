"""Knobs of the emulator: limits, token lifetimes, rotation, fault defaults."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LimitsConfig(BaseModel):
    """Intuit's per-realm throttles. A value of None switches that one limit off."""

    enabled: bool = True
    requests_per_window: int | None = Field(default=500, ge=1)
    window_seconds: float = Field(default=60.0, gt=0)
    requests_per_second: int | None = Field(default=10, ge=1)
    second_window_seconds: float = Field(default=1.0, gt=0)
    max_in_flight: int | None = Field(default=10, ge=1)
    batch_per_window: int | None = Field(default=40, ge=1)
    batch_window_seconds: float = Field(default=60.0, gt=0)


class EmulatorConfig(BaseModel):
    """Everything that shapes one emulator instance.

    `clients` maps client_id to client_secret. When it is empty the token endpoint
    accepts any pair, but each grant remembers the pair it was issued to and only
    that pair may refresh or revoke it.
    """

    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    access_token_ttl_seconds: int = Field(default=3600, ge=1)
    # Intuit answers about 101 days; the value rolls forward on every refresh.
    refresh_token_ttl_seconds: int = Field(default=8_726_400, ge=1)
    # Five-year maximum validity announced by Intuit in November 2025.
    refresh_token_hard_ttl_seconds: int = Field(default=5 * 365 * 86_400, ge=1)
    # Intuit hands out a new refresh token value roughly once a day.
    refresh_rotation_seconds: float = Field(default=86_400.0, ge=0)
    auth_code_ttl_seconds: int = Field(default=600, ge=1)
    base_url: str | None = None
    clients: dict[str, str] = Field(default_factory=dict)
    seed: int | None = None
    frozen_clock: bool = False
    # Offset of the companies' local time, used in MetaData and `time` (QBO sandbox: Pacific).
    utc_offset_minutes: int = -420
    max_batch_items: int = Field(default=30, ge=1)
    max_query_results: int = Field(default=1000, ge=1)
    # How long a simulated "timeout" holds the connection before answering 504.
    timeout_hold_seconds: float = Field(default=130.0, ge=0)
