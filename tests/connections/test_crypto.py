"""TokenCipher on its own: round trip, old keys, rotation and unreadable data."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from app.config import Environment, Settings
from app.core.cipher import TokenCipher, TokenDecryptError

ACCESS = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..access-token-value"


def new_key() -> SecretStr:
    return SecretStr(Fernet.generate_key().decode())


def test_round_trip_gives_a_secret() -> None:
    cipher = TokenCipher([new_key()])
    data = cipher.encrypt(SecretStr(ACCESS))
    assert ACCESS.encode() not in data
    token = cipher.decrypt(data)
    assert isinstance(token, SecretStr)
    assert token.get_secret_value() == ACCESS
    assert ACCESS not in repr(token)
    assert cipher.decrypt(cipher.encrypt(ACCESS)).get_secret_value() == ACCESS


def test_each_encryption_differs() -> None:
    cipher = TokenCipher([new_key()])
    assert cipher.encrypt(ACCESS) != cipher.encrypt(ACCESS)


def test_from_settings_uses_the_configured_keys_newest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    newest, old = new_key(), new_key()
    monkeypatch.setenv(
        "TOKEN_ENCRYPTION_KEYS", f"{newest.get_secret_value()}, {old.get_secret_value()}"
    )
    settings = Settings(_env_file=None, environment=Environment.TEST)
    data = TokenCipher.from_settings(settings).encrypt(ACCESS)
    assert TokenCipher([newest]).decrypt(data).get_secret_value() == ACCESS


def test_old_key_second_still_reads_and_rotate_moves_to_the_newest() -> None:
    old, newest = new_key(), new_key()
    stored = TokenCipher([old]).encrypt(ACCESS)
    both = TokenCipher([newest, old])

    assert both.decrypt(stored).get_secret_value() == ACCESS
    assert not both.is_current(stored)

    rotated = both.rotate(stored)
    assert both.is_current(rotated)
    assert TokenCipher([newest]).decrypt(rotated).get_secret_value() == ACCESS
    with pytest.raises(TokenDecryptError):
        TokenCipher([old]).decrypt(rotated)


def test_wrong_key_raises_without_token_text() -> None:
    data = TokenCipher([new_key()]).encrypt(ACCESS)
    with pytest.raises(TokenDecryptError) as caught:
        TokenCipher([new_key()]).decrypt(data)
    message = str(caught.value)
    assert "TOKEN_ENCRYPTION_KEYS" in message
    for leaked in (ACCESS, data.decode(), base64.b64encode(ACCESS.encode()).decode()):
        assert leaked not in message
        assert leaked not in repr(caught.value)
    # Nothing chained either: a traceback would print the cause too.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("garbage", [b"", b"not a fernet token", b"\x00\xff" * 40])
def test_garbage_is_a_decrypt_error(garbage: bytes) -> None:
    cipher = TokenCipher([new_key()])
    with pytest.raises(TokenDecryptError):
        cipher.decrypt(garbage)
    with pytest.raises(TokenDecryptError):
        cipher.rotate(garbage)
    assert not cipher.is_current(garbage)


def test_no_keys_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TokenCipher([])
