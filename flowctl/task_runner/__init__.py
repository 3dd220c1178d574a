"""The task runner: runs one task try in a worker process (claim, run, record), and ad-hoc test runs.

Public: :func:`run_workload` (a real try, exactly once), :func:`run_for_test`
and :func:`render_for_test` (``tasks test`` / ``dags test`` / ``tasks render``:
nothing recorded), :class:`TryResult`, :class:`MemoryBackend`. They are
imported when first used, so a process that needs one submodule (the task
agent, which starts while the scheduler does) does not import them all.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"render_for_test": "adhoc", "run_for_test": "adhoc", "adhoc_run_info": "adhoc",
          "TryResult": "runner", "run_workload": "runner", "MemoryBackend": "taskinstance"}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
