"""Fault injection per realm: latency, 500/503 answers and ambiguous timeouts."""

from __future__ import annotations

import random
from enum import Enum

from pydantic import BaseModel, Field


class FaultSettings(BaseModel):
    """What to inflict on one realm's Accounting API calls.

    Rates are shares of requests (0..1), drawn independently per request in the order
    500, 503, timeout. A "timeout" applies the request, then holds the connection
    (`timeout_hold_seconds`, default from the config) and never sends the real answer.
    """

    latency_ms: float = Field(default=0, ge=0)
    error_500_rate: float = Field(default=0, ge=0, le=1)
    error_503_rate: float = Field(default=0, ge=0, le=1)
    timeout_rate: float = Field(default=0, ge=0, le=1)
    timeout_hold_seconds: float | None = Field(default=None, ge=0)


class Outcome(Enum):
    """What the injector decided for one request."""

    NORMAL = "normal"
    ERROR_500 = "500"
    ERROR_503 = "503"
    TIMEOUT = "timeout"


def decide(settings: FaultSettings, rng: random.Random) -> Outcome:
    """Draw the fate of one request; rates of 0 draw nothing, so seeded runs stay stable."""
    for rate, outcome in (
        (settings.error_500_rate, Outcome.ERROR_500),
        (settings.error_503_rate, Outcome.ERROR_503),
        (settings.timeout_rate, Outcome.TIMEOUT),
    ):
        if rate > 0 and rng.random() < rate:
            return outcome
    return Outcome.NORMAL


SERVICE_UNAVAILABLE_HTML = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    "<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)
GATEWAY_TIMEOUT_HTML = (
    "<html><head><title>504 Gateway Time-out</title></head><body>"
    "<center><h1>504 Gateway Time-out</h1></center></body></html>"
)
