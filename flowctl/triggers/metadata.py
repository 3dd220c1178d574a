"""The metadata database as triggers reach it: this process's Store, queried off the event loop.

A trigger that watches DAG runs or task instances (``flowctl.triggers.external_task``) awaits
:func:`read` in its ``run()``: the query runs in a worker thread (``asyncio.to_thread``), so a
slow database never stalls the triggerer's loop, which every trigger shares. The Store is the one
this process installed with :func:`use_store` (``flowctl triggerer`` and ``dags test`` install
their own, so ``--config`` counts), or else one built once, on first use, from ``Settings.load()``
(the config file and ``FLOWCTL__…`` variables of this process), as Airflow's triggers use the
process's configured database. flowctl.db is imported then, in the worker thread, never at import.
Must not import flowctl.db (at import time), web, cli or scheduler.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_store: Any = None


def use_store(store: Any) -> None:
    """Make ``store`` the Store the triggers of this process read (None: build one from the settings
    when a trigger next needs it)."""
    global _store
    with _lock:
        _store = store


@contextmanager
def using_store(store: Any) -> Iterator[None]:
    """:func:`use_store` for the ``with`` block only (``dags test`` runs a trigger in its own process)."""
    global _store
    with _lock:
        previous, _store = _store, store
    try:
        yield
    finally:
        with _lock:
            _store = previous


def metadata_store() -> Any:
    """This process's Store for triggers: the installed one, else one built once from the settings."""
    global _store
    with _lock:
        if _store is None:
            from flowctl.db.store import Store
            from flowctl.settings import Settings

            _store = Store.from_settings(Settings.load())
        return _store


async def read(query: Callable[..., T], *args: Any) -> T:
    """``query(store, *args)`` on this process's Store, in a worker thread (each Store verb is its own
    transaction)."""
    return await asyncio.to_thread(lambda: query(metadata_store(), *args))
