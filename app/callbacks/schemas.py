"""What the callbacks API accepts and answers. The secret is accepted, never answered."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, HttpUrl, SecretStr, StringConstraints

from app.events.fields import Strict


def _http_url(value: str) -> str:
    """A URL a worker can POST to: http(s) with a host (the scheme is checked by the pattern)."""
    parsed = HttpUrl(value)  # raises ValueError naming the problem
    if not parsed.host:
        raise ValueError("the URL needs a host")
    return value


CallbackUrl = Annotated[
    str,
    StringConstraints(max_length=2000, pattern=r"^https?://\S+$"),
    AfterValidator(_http_url),
]


class CallbackIn(Strict):
    url: CallbackUrl = Field(
        description="Where notices are POSTed: an http(s) URL, at most 2000 characters."
    )
    secret: SecretStr = Field(
        min_length=16,
        max_length=200,
        description="Signs every notice (HMAC-SHA256); 16-200 characters. Never answered.",
    )


class CallbackOut(BaseModel):
    url: str
    created_at: datetime
    updated_at: datetime


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null: no answer.")
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: uuid.UUID = Field(description="Also the notice's `id` and its X-QboSync-Delivery header.")
    kind: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When it is tried next (pending only).")
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    data: dict[str, Any]
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
