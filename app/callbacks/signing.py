"""How a notice is signed, and how its receiver checks it (the same code serves both).

The signature is `v1=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>` over the raw body
bytes, with the timestamp (unix seconds) sent in its own header: a receiver that refuses
stale timestamps cannot be fed a recorded notice again later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

DELIVERY_HEADER = "X-QboSync-Delivery"
TIMESTAMP_HEADER = "X-QboSync-Timestamp"
SIGNATURE_HEADER = "X-QboSync-Signature"
VERSION = "v1"


def sign_notice(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def verify_notice(
    secret: str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """Whether `body` was signed with `secret` at a time within `tolerance_seconds` of `now`.

    `body` must be the raw bytes received (not re-serialised JSON). Comparison is in constant
    time. Never raises: anything malformed is simply not valid.
    """
    if not timestamp_header or not signature_header:
        return False
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = sign_notice(secret, body, timestamp)
    return hmac.compare_digest(expected.encode(), signature_header.strip().encode())
