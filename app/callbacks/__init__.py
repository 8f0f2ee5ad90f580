"""Signed notices to callers: each API key's owner may register a callback URL."""

from app.callbacks.signing import sign_notice, verify_notice

__all__ = ["sign_notice", "verify_notice"]
