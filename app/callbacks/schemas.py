"""What the callbacks API accepts and answers. The secret is accepted, never answered."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, HttpUrl, SecretStr, StringConstraints

from app.allowed_hosts import canonical_host
from app.callbacks.targets import TargetRefused, parse_callback_url
from app.events.fields import Strict


def _http_url(value: str) -> str:
    """A URL a worker can POST to: http(s) with a host and no password, read the same way by
    the sender's parser (httpx) and by the standard one. Which addresses it may reach is
    checked by the route (app.callbacks.targets), which knows CALLBACK_ALLOWED_HOSTS."""
    try:
        standard = HttpUrl(value)
        sent = parse_callback_url(value)
    except TargetRefused as err:
        raise ValueError(str(err)) from None
    except ValueError:
        # pydantic's message would repeat the URL, and with it any password in it.
        raise ValueError("not a valid http(s) URL") from None
    if standard.username or standard.password:
        raise ValueError("the URL must not carry a user name or password")
    if canonical_host(standard.host or "") != canonical_host(sent.raw_host.decode("ascii")):
        # Parsers that disagree on the host (`http:///x`, backslashes) are how a URL that
        # looks public reaches another host.
        raise ValueError("the URL's host is ambiguous")
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
