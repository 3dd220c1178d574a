"""The scheduler: turns DAGs into runs, decides with the planner, hands workloads to an executor.

``Scheduler(settings, store, executor, processor)`` with ``tick(now)`` and
``run_forever()``. No SQL here (Store verbs only) and no user code (DAG files
are parsed by the dag_processing child processes; callbacks run in a child).
"""
from __future__ import annotations

from flowctl.scheduler.loop import Scheduler, TickReport

__all__ = ["Scheduler", "TickReport"]
