"""Encryption of stored QBO tokens: MultiFernet over TOKEN_ENCRYPTION_KEYS, newest key first.

This module is the only place a token exists as a plain `str`; everywhere else it travels as
`SecretStr`, so an accidental log line or repr shows `**********` instead of a credential.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from app.config import Settings


class TokenDecryptError(Exception):
    """A stored token cannot be read with any configured key (or is not a Fernet token at all).

    The message never contains the ciphertext nor anything derived from it: it names the
    likely cause (a key removed from TOKEN_ENCRYPTION_KEYS too early) so an operator can act.
    """

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "stored token cannot be decrypted with any TOKEN_ENCRYPTION_KEYS key "
            "(was the key that wrote it removed?)"
        )


class TokenCipher:
    """Encrypts, decrypts and re-encrypts tokens with an ordered list of Fernet keys.

    The first key encrypts; every key decrypts. Adding a new key in front and keeping the old
    ones behind it lets stored tokens stay readable until `rotate` has rewritten them.
    """

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        """Raises ValueError when `keys` is empty or a key is not a valid Fernet key."""
        if not keys:
            raise ValueError("at least one encryption key is needed")
        # Settings strips keys when validating them, so a key written as "k1, k2" works here too.
        fernets = [Fernet(k.get_secret_value().strip()) for k in keys]
        self._newest = fernets[0]
        self._multi = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCipher:
        return cls(settings.token_encryption_keys)

    def encrypt(self, token: SecretStr | str) -> bytes:
        """The token encrypted with the newest key (a fresh random IV on every call)."""
        plain = token.get_secret_value() if isinstance(token, SecretStr) else token
        return self._multi.encrypt(plain.encode("utf-8"))

    def decrypt(self, data: bytes) -> SecretStr:
        """The token in `data`, tried with every configured key.

        Raises TokenDecryptError when no key can read it.
        """
        try:
            plain = self._multi.decrypt(bytes(data))
            return SecretStr(plain.decode("utf-8"))
        except (InvalidToken, UnicodeDecodeError, TypeError):
            # `from None`: the chained exception would add nothing an operator can use.
            raise TokenDecryptError() from None

    def rotate(self, data: bytes) -> bytes:
        """`data` re-encrypted with the newest key, whichever configured key wrote it.

        The token inside is unchanged and never leaves this method. Raises TokenDecryptError
        when no configured key can read `data`.
        """
        try:
            return self._multi.rotate(bytes(data))
        except (InvalidToken, TypeError):
            raise TokenDecryptError() from None

    def is_current(self, data: bytes) -> bool:
        """True when the newest key can read `data`, i.e. `rotate` would gain nothing."""
        try:
            self._newest.decrypt(bytes(data))
        except (InvalidToken, TypeError):
            return False
        return True
