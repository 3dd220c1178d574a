"""Redaction of secrets in text and structures: what logs and the UI show instead of passwords.

Owns :func:`should_mask` (is this key the name of a secret?) and
:class:`SecretsMasker` (collects secret values, replaces them with ``***``).
The task runner's log handler and the web UI use one masker each. Pure: no
I/O; must not import anything outside the standard library and flowctl.core.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

REDACTED = "***"

#: Substrings of a key (case-insensitive) that mark its value as a secret, as Airflow's list does.
SENSITIVE_KEY_PARTS: frozenset[str] = frozenset({
    "access_token", "api_key", "apikey", "authorization", "credentials", "keyfile_dict",
    "passphrase", "passwd", "password", "private_key", "secret", "service_account", "token",
})

#: Values shorter than this are not collected: masking "a" would garble every log line.
MIN_SECRET_LENGTH = 5


def should_mask(key: str | None, extra_parts: Iterable[str] = ()) -> bool:
    """True when ``key`` names a secret (contains password, secret, token, api_key, ...)."""
    if not key:
        return False
    low = key.lower()
    return any(part in low for part in SENSITIVE_KEY_PARTS) or any(p.lower() in low for p in extra_parts)


class SecretsMasker:
    """Collects secret strings and redacts them wherever they appear."""

    def __init__(self, min_length: int = MIN_SECRET_LENGTH, extra_key_parts: Iterable[str] = ()) -> None:
        self.min_length = min_length
        self.extra_key_parts: tuple[str, ...] = tuple(extra_key_parts)
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def __len__(self) -> int:
        return len(self._secrets)

    def add_mask(self, secret: Any, name: str | None = None) -> None:
        """Remember a secret; a dict or list adds its sensitive (or, unnamed, all) string leaves."""
        if isinstance(secret, Mapping):
            for key, value in secret.items():
                if should_mask(str(key), self.extra_key_parts):
                    self.add_mask(value, str(key))
            return
        if isinstance(secret, (list, tuple, set, frozenset)):
            for item in secret:
                self.add_mask(item, name)
            return
        if not isinstance(secret, str):
            return
        before = len(self._secrets)
        for variant in _variants(secret):
            if len(variant) >= self.min_length:
                self._secrets.add(variant)
        if len(self._secrets) != before:
            self._pattern = None

    def redact_text(self, text: str) -> str:
        """``text`` with every collected secret replaced by ``***``."""
        pattern = self._compiled()
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)

    def redact(self, item: Any, name: str | None = None) -> Any:
        """A copy of ``item`` with secrets redacted: values under sensitive keys become ``***``."""
        if name is not None and should_mask(name, self.extra_key_parts) and item not in (None, ""):
            return REDACTED if isinstance(item, (str, int, float, bytes)) else self._redact_nested(item)
        return self._redact_nested(item)

    def _redact_nested(self, item: Any) -> Any:
        if isinstance(item, str):
            return self.redact_text(item)
        if isinstance(item, Mapping):
            return {k: self.redact(v, str(k)) for k, v in item.items()}
        if isinstance(item, tuple):
            return tuple(self.redact(v) for v in item)
        if isinstance(item, list):
            return [self.redact(v) for v in item]
        return item

    def _compiled(self) -> re.Pattern[str] | None:
        if not self._secrets:
            return None
        if self._pattern is None:
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return self._pattern


def _variants(secret: str) -> set[str]:
    """The forms a secret takes in logs: itself, each of its lines, URL-quoted."""
    found = {secret.strip()} if secret.strip() else set()
    if "\n" in secret:
        found.update(line.strip() for line in secret.splitlines() if line.strip())
    quoted = quote(secret, safe="")
    if quoted != secret:
        found.add(quoted)
    return found


# One masker per process: secrets read through Variable and Connection are added here,
# and the task runner's log handler redacts with it (Airflow: ``mask_secret``).
_PROCESS_MASKER = SecretsMasker()


def process_masker() -> SecretsMasker:
    """The masker shared by this process."""
    return _PROCESS_MASKER


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Redact ``secret`` from this process's logs from now on (Airflow's ``mask_secret``)."""
    _PROCESS_MASKER.add_mask(secret, name)
