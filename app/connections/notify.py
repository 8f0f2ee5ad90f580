"""Signed notices to ops (OPS_WEBHOOK_URL) when a connection needs attention."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

import httpx

from app.config import Settings
from app.db import utcnow

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-QboSync-Signature"
ATTEMPTS = 4
FIRST_DELAY_S = 1.0


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`: receivers recompute it over the raw bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send_ops_notice(
    settings: Settings,
    kind: str,
    details: dict[str, Any],
    transport: httpx.AsyncBaseTransport | None = None,
    first_delay: float = FIRST_DELAY_S,
) -> bool:
    """POST a signed JSON notice, retrying with backoff; returns whether it was delivered.

    Does nothing (returns False) when OPS_WEBHOOK_URL is unset. Never raises: a failed notice
    is logged, the state it reports is already stored.
    """
    if not settings.ops_webhook_url or settings.ops_webhook_secret is None:
        return False
    body = json.dumps(
        {"kind": kind, "at": utcnow().isoformat(), **details}, sort_keys=True
    ).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(settings.ops_webhook_secret.get_secret_value(), body),
    }
    delay = first_delay
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as http:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = await http.post(settings.ops_webhook_url, content=body, headers=headers)
                if response.status_code < 300:
                    return True
                outcome = f"HTTP {response.status_code}"
            except httpx.TransportError as err:
                outcome = type(err).__name__
            logger.warning("ops notice attempt %d failed: %s", attempt, outcome)
            if attempt < ATTEMPTS:
                await asyncio.sleep(delay)
                delay *= 2
    logger.error("ops notice %s not delivered after %d attempts", kind, ATTEMPTS)
    return False
