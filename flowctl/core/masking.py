"""Redaction of secrets in text and structures: what logs and the UI show instead of passwords.

Owns :func:`should_mask` (is this key the name of a secret?),
:class:`SecretsMasker` (collects secret values, replaces them with ``***``)
and this process's masker, where :func:`mask_secret` registers a value (what
``Variable.get`` of a sensitive key and task authors call, as in Airflow).
A try's log masks with :func:`try_masker`: the try's own secrets (connections
and variables it read) and, read at each line, every value registered with
:func:`mask_secret` in the process, before or during the try. The web UI uses
a masker of its own. Pure: no I/O; must not import anything outside the
standard library and flowctl.core.
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

    def __init__(self, min_length: int = MIN_SECRET_LENGTH, extra_key_parts: Iterable[str] = (),
                 parent: SecretsMasker | None = None) -> None:
        """``parent``: a masker whose secrets, as they are when redacting, this one also redacts."""
        self.min_length = min_length
        self.extra_key_parts: tuple[str, ...] = tuple(extra_key_parts)
        self.parent = parent
        self._secrets: set[str] = set()
        self._version = 0  # counts additions: a child sees its parent's pattern go stale by it
        self._pattern: re.Pattern[str] | None = None
        self._pattern_of: tuple[int, ...] = ()

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
            self._version += 1

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

    def _versions(self) -> tuple[int, ...]:
        return (self._version, *self.parent._versions()) if self.parent is not None else (self._version,)

    def _all_secrets(self) -> set[str]:
        return self._secrets | self.parent._all_secrets() if self.parent is not None else self._secrets

    def _compiled(self) -> re.Pattern[str] | None:
        versions = self._versions()
        if versions != self._pattern_of:
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._all_secrets(), key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None
            self._pattern_of = versions
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


# One masker per process: what mask_secret registers (Variable.get of a sensitive key, a
# connection's password, task authors' own values); every try's masker reads it too.
_PROCESS_MASKER = SecretsMasker()


def process_masker() -> SecretsMasker:
    """The masker shared by this process."""
    return _PROCESS_MASKER


def try_masker() -> SecretsMasker:
    """A masker for one try's log: its own secrets plus this process's (as they are at each line)."""
    return SecretsMasker(parent=_PROCESS_MASKER)


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Redact ``secret`` from this process's logs from now on (Airflow's ``mask_secret``)."""
    _PROCESS_MASKER.add_mask(secret, name)


def redact(value: Any, name: str | None = None, max_depth: int | None = None) -> Any:
    """A copy of ``value`` with this process's secrets replaced by ``***`` (Airflow's ``redact``;
    the value of a sensitive ``name`` as a whole). ``max_depth`` is accepted and ignored."""
    return _PROCESS_MASKER.redact(value, name)


#: Query parameter names (besides :data:`SENSITIVE_KEY_PARTS`) whose values a shown URL hides: ``?key=``.
URL_SECRET_PARAM_PARTS = ("key",)

_SECRET_PARAM = re.compile(r"(?P<name>[?&][^=&#]*)=(?P<value>[^&#]*)")


def redact_url(text: str) -> str:
    """``text``, a URL or a ``;``-separated list of them (Celery's sentinel brokers), as people may see
    it: the password of each URL's ``user:password@`` and the values of query parameters named like a
    secret (password, token, secret, key...) are ``***``; the rest is left as it was."""
    parts = text.split(";")
    if len(parts) > 1 and all("://" in part for part in parts):
        return ";".join(_redact_one_url(part) for part in parts)
    return _redact_one_url(text)  # a ';' inside a password, not a list


def _redact_one_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # The user information ends at the last '@' before the query: a password may hold '@' or '/'.
    before_query, question, query = rest.partition("?")
    creds, at, host = before_query.rpartition("@")
    if at and ":" in creds:
        before_query = f"{creds.split(':', 1)[0]}:{REDACTED}@{host}"
    return f"{scheme}://{before_query}{_redact_query(question + query)}"


def _redact_query(query: str) -> str:
    """``?a=1&password=x`` (or empty) with the values of secret-named parameters masked."""
    def hide(match: re.Match[str]) -> str:
        name = match["name"][1:]
        if match["value"] and should_mask(name, URL_SECRET_PARAM_PARTS):
            return f"{match['name']}={REDACTED}"
        return match.group(0)

    return _SECRET_PARAM.sub(hide, query)
