"""Knobs of the emulator: limits, token lifetimes, rotation, fault defaults, webhooks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


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


class ReadQuotaConfig(BaseModel):
    """Intuit's monthly allowance of metered reads ("CorePlus" calls: GETs, queries, CDC)
    per app (client id) and calendar month (UTC, on the emulator's clock); past it every read
    is answered 429 until the month ends, writes go on. None: no quota (the default)."""

    monthly_quota: int | None = Field(default=None, ge=0)


# Intuit's documented retry delays for a failed webhook delivery; the last one repeats.
INTUIT_RETRY_SCHEDULE_SECONDS = [10.0, 20.0, 30.0, 300.0, 1200.0, 7200.0, 14400.0, 21600.0]


class WebhookConfig(BaseModel):
    """Where and how the emulator sends Intuit's change notifications. `url` None = off.

    `loss_rate` drops a whole delivery before it is sent (never retried), `reorder`
    shuffles the notifications of one delivery, `aggregate_seconds` is how long changes
    are collected into one POST, `delay_seconds` how long that POST then waits. An
    attempt not answered 2xx within `timeout_seconds` is retried after
    `retry_schedule_seconds[n] * retry_scale` (the last delay repeats for ever).
    """

    url: str | None = None
    verifier_token: str = "emulator-verifier-token"  # noqa: S105 - a default for local use
    format: Literal["legacy", "cloudevents"] = "legacy"
    delay_seconds: float = Field(default=0.0, ge=0)
    loss_rate: float = Field(default=0.0, ge=0, le=1)
    reorder: bool = False
    aggregate_seconds: float = Field(default=0.2, ge=0)
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(INTUIT_RETRY_SCHEDULE_SECONDS), min_length=1
    )
    retry_scale: float = Field(default=1.0, ge=0)
    # Intuit gives a listener 3 seconds to answer 2xx.
    timeout_seconds: float = Field(default=3.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("the webhook url must start with http:// or https://")
        return value

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays cannot be negative")
        return value

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), scaled."""
        schedule = self.retry_schedule_seconds
        return schedule[min(attempt, len(schedule)) - 1] * self.retry_scale


class EmulatorConfig(BaseModel):
    """Everything that shapes one emulator instance.

    `clients` maps client_id to client_secret. When it is empty the token endpoint
    accepts any pair, but each grant remembers the pair it was issued to and only
    that pair may refresh or revoke it.
    """

    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    reads: ReadQuotaConfig = Field(default_factory=ReadQuotaConfig)
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
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)
    # Where companies, records and tokens are kept across restarts (None: in memory only).
    state_file: str | None = None
