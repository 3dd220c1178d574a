"""How long a task waits before its next try: a pure function, Dramatiq style.

Formula, for the retry after try number ``n`` failed (``n`` >= 1):

* constant: ``retry_delay``;
* exponential (``retry_exponential_backoff=True``): ``base = retry_delay * 2**(n-1)``
  plus a deterministic jitter in ``[0, base)`` taken from a hash of the task key
  and ``n`` (so workers agree and tests are repeatable), i.e. a delay in
  ``[base, 2*base)``;
* either way capped by ``max_retry_delay`` when given.

Must not import anything outside the standard library.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

_MAX_SECONDS = timedelta.max.total_seconds() - 1


def compute_retry_delay(
    try_number: int,
    *,
    retry_delay: timedelta,
    exponential: bool,
    max_retry_delay: timedelta | None = None,
    jitter_key: str = "",
) -> timedelta:
    """The wait after try ``try_number`` (1-based) failed."""
    if exponential:
        delay = _exponential_seconds(try_number, retry_delay.total_seconds(), jitter_key)
    else:
        delay = retry_delay.total_seconds()
    if max_retry_delay is not None:
        delay = min(delay, max_retry_delay.total_seconds())
    return timedelta(seconds=max(delay, 0.0))


def _exponential_seconds(try_number: int, base_seconds: float, jitter_key: str) -> float:
    exponent = min(max(try_number, 1) - 1, 62)
    base = base_seconds * (2**exponent)
    if base <= 0:
        return 0.0
    if base >= _MAX_SECONDS:
        return _MAX_SECONDS
    digest = hashlib.sha256(f"{jitter_key}#{try_number}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return min(base + base * fraction, _MAX_SECONDS)
