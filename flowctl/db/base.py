"""StoreCore: the engine and the one way to open a transaction, shared by every verb mixin.

Each domain verb opens its own short transaction with :meth:`StoreCore._session`
(commits on exit, rolls back on error) or :meth:`StoreCore._read` (never
writes; on SQLite it begins deferred so it does not wait for writers).
No session ever leaves a verb. Must not import flowctl packages above ``db``.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from flowctl.db.engine import READ_ONLY

DEFAULT_XCOM_MAX_SIZE = 49_344


#: Values of one ``IN (...)`` list at most: each is a bound parameter (SQLite allows some 32,000 a statement).
IN_LIST_SIZE = 500
_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``size``, for statements that name them in an ``IN`` list."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class StoreCore:
    """Holds the engine and per-store options; verb mixins build on it."""

    def __init__(self, engine: Engine, *, xcom_max_size: int = DEFAULT_XCOM_MAX_SIZE,
                 fernet_key: str = "") -> None:
        self.engine = engine
        self.xcom_max_size = xcom_max_size
        self.fernet_key = fernet_key
        self._read_engine = engine.execution_options(**{READ_ONLY: True})

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """A Session inside one transaction: commits on exit, rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A Session for reads only; on SQLite it never waits for a writer."""
        with Session(self._read_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name
