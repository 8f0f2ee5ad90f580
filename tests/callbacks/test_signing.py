"""verify_notice: what a receiver runs on every notice."""

from __future__ import annotations

import time

from app.callbacks import sign_notice, verify_notice

SECRET = "a-callback-secret-of-32-characters"
BODY = b'{"id":"1","kind":"event.synced","created_at":"2026-11-25T10:00:00+00:00","data":{}}'


def _signed(at: int) -> tuple[str, str]:
    return str(at), sign_notice(SECRET, BODY, at)


def test_a_fresh_notice_signed_with_the_secret_is_valid() -> None:
    timestamp, signature = _signed(int(time.time()))
    assert signature.startswith("v1=")
    assert verify_notice(SECRET, BODY, timestamp, signature)


def test_a_wrong_secret_is_refused() -> None:
    timestamp, signature = _signed(int(time.time()))
    assert not verify_notice("another-secret-of-some-length", BODY, timestamp, signature)


def test_a_changed_body_is_refused() -> None:
    timestamp, signature = _signed(int(time.time()))
    assert not verify_notice(SECRET, BODY.replace(b"synced", b"dead"), timestamp, signature)


def test_an_old_or_future_timestamp_is_refused() -> None:
    now = 1_800_000_000
    old, old_signature = _signed(now - 301)
    assert not verify_notice(SECRET, BODY, old, old_signature, now=now)
    future, future_signature = _signed(now + 301)
    assert not verify_notice(SECRET, BODY, future, future_signature, now=now)
    recent, recent_signature = _signed(now - 299)
    assert verify_notice(SECRET, BODY, recent, recent_signature, now=now)


def test_a_timestamp_changed_after_signing_is_refused() -> None:
    now = int(time.time())
    _, signature = _signed(now - 10)
    assert not verify_notice(SECRET, BODY, str(now), signature)


def test_malformed_headers_are_refused_without_raising() -> None:
    timestamp, signature = _signed(int(time.time()))
    assert not verify_notice(SECRET, BODY, None, signature)
    assert not verify_notice(SECRET, BODY, timestamp, None)
    assert not verify_notice(SECRET, BODY, "yesterday", signature)
    assert not verify_notice(SECRET, BODY, timestamp, "v1=" + "0" * 64)
    assert not verify_notice(SECRET, BODY, timestamp, "sha256=é")
