"""Encryption of secrets at rest: connection passwords and extras, variable values.

Owns :class:`FernetBox` (Fernet from ``cryptography``; several keys at once
through MultiFernet, so a key can be rotated: the first key encrypts, every
key decrypts) and :func:`generate_key`. Must not import sqlalchemy, web or cli.
"""
from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from flowctl.core.errors import FlowctlError

NO_KEY_HINT = "run `flowctl db init` to generate one, or set [core] fernet_key (FLOWCTL__CORE__FERNET_KEY)"


class FernetKeyError(FlowctlError, ValueError):
    """The fernet key is missing or invalid, or a secret cannot be decrypted with it."""


def generate_key() -> str:
    """A new random Fernet key, as the url-safe base64 text config.cfg holds."""
    return Fernet.generate_key().decode("ascii")


def split_keys(raw: str | Sequence[str]) -> list[str]:
    """The keys in ``[core] fernet_key``: one key, or several separated by commas (newest first)."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [k.strip() for k in items if k and k.strip()]


class FernetBox:
    """Encrypts with the first key, decrypts with any of them."""

    __slots__ = ("keys", "_fernet")

    def __init__(self, keys: str | Sequence[str]) -> None:
        self.keys: tuple[str, ...] = tuple(split_keys(keys))
        if not self.keys:
            raise FernetKeyError(f"no fernet key is configured: {NO_KEY_HINT}")
        fernets = []
        for position, key in enumerate(self.keys, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise FernetKeyError(
                    f"fernet key #{position} in [core] fernet_key is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes); generate one with `flowctl db init`"
                ) from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> str:
        """The token of ``plaintext``, as text."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of a token made with any of the keys."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError):
            raise FernetKeyError(
                "a stored secret cannot be decrypted with the configured fernet key(s); "
                "was [core] fernet_key changed without keeping the old key after it?"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a token with the first key (it may have been made with any key)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise FernetKeyError(
                "a stored secret cannot be decrypted with any configured fernet key"
            ) from None


def optional_box(raw: str | Sequence[str] | None) -> FernetBox | None:
    """A box for the configured key(s), or None when no key is configured."""
    if raw is None or not split_keys(raw):
        return None
    return FernetBox(raw)
