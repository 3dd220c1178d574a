"""The task runner: runs one task try in a worker process (claim, run, record), and ad-hoc test runs.

Public: :func:`run_workload` (a real try, exactly once), :func:`run_for_test`
and :func:`render_for_test` (``tasks test`` / ``dags test`` / ``tasks render``:
nothing recorded), :class:`TryResult`, :class:`MemoryBackend`.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

from flowctl.task_runner.adhoc import render_for_test, run_for_test, adhoc_run_info
from flowctl.task_runner.runner import TryResult, run_workload
from flowctl.task_runner.taskinstance import MemoryBackend

__all__ = ["MemoryBackend", "TryResult", "render_for_test", "run_for_test", "run_workload", "adhoc_run_info"]
