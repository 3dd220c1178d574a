"""Airflow 2's descriptive attributes of ``context["ti"]``, for tasks and their callbacks.

:class:`TryDetails` is a part of :class:`~flowctl.task_runner.taskinstance.RuntimeTaskInstance`
(which inherits it). What each attribute is, and when it is known:

- ``dag_run`` / ``get_dagrun()``: the context's ``dag_run`` (attached when the context is built);
  ``logical_date`` and ``execution_date`` are its logical date.
- ``start_date``: when the try started; ``end_date``, ``duration`` (seconds) and ``state``:
  None, None and "running" while the task runs; the recorded values once the try's end is
  written, which is what ``on_failure_callback`` and the other state callbacks see.
- ``pool``, ``pool_slots``, ``queue``, ``priority_weight``, ``operator``: the task instance's row
  (as the scheduler queued it) or, in a test run, the task's own values.
- ``previous_ti`` / ``get_previous_ti(state=None)``: this task's instance in the DAG's run with the
  latest earlier logical date (in that run ``state`` if given: ``previous_ti_success`` is the one
  of the latest successful run), read from the database; None if there is none.

Must not import web, cli or scheduler.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flowctl.core.errors import FlowctlError
from flowctl.core.keys import TaskInstanceKey


class TryDetails:
    """See the module docstring; the rest of the class is RuntimeTaskInstance."""

    key: TaskInstanceKey
    task: Any
    backend: Any
    start_date: datetime | None
    state: str
    row: Any  # the task instance's row when there is one (a TaskInstanceRecord)
    dag_run: Any = None
    end_date: datetime | None = None
    duration: float | None = None

    # --- the run ------------------------------------------------------------------------------------
    def attach_run(self, run: Any) -> Any:
        """Remember ``run`` (a RunInfo) as this try's ``dag_run``; returns it with its task-instance
        lookups (``get_task_instance(s)``) going through this try's backend."""
        with_reads = run.with_reads(self.backend) if hasattr(run, "with_reads") else run
        self.dag_run = with_reads
        return with_reads

    def get_dagrun(self, session: Any = None) -> Any:
        """The run this try belongs to (the context's ``dag_run``)."""
        return self._run()

    @property
    def logical_date(self) -> datetime:
        return self._run().logical_date

    @property
    def execution_date(self) -> datetime:
        """Airflow's older name for ``logical_date``."""
        return self._run().logical_date

    def _run(self) -> Any:
        if self.dag_run is None:
            raise FlowctlError(f"{self.key} has no dag_run yet: it is attached when the try's context is built")
        return self.dag_run

    # --- the end of the try -------------------------------------------------------------------------
    def record_end(self, state: str, end_date: datetime | None, duration: float | None = None) -> None:
        """What the try's end wrote (called by the runner before the state's callback)."""
        self.state = state
        self.end_date = end_date
        if duration is None and end_date is not None and self.start_date is not None:
            duration = (end_date - self.start_date).total_seconds()
        self.duration = duration

    # --- the task instance's row --------------------------------------------------------------------
    def _from_row(self, name: str, from_task: Any) -> Any:
        return getattr(self.row, name) if self.row is not None else from_task

    @property
    def pool(self) -> str:
        return self._from_row("pool", getattr(self.task, "pool", None))

    @property
    def pool_slots(self) -> int:
        return self._from_row("pool_slots", getattr(self.task, "pool_slots", 1))

    @property
    def queue(self) -> str:
        return self._from_row("queue", getattr(self.task, "queue", None))

    @property
    def priority_weight(self) -> int:
        return self._from_row("priority_weight", getattr(self.task, "priority_weight_total", None))

    @property
    def operator(self) -> str | None:
        own = getattr(self.task, "task_type", None) or (type(self.task).__name__ if self.task is not None else None)
        return self._from_row("operator", own) or own

    # --- other runs ---------------------------------------------------------------------------------
    def get_previous_ti(self, state: Any = None, session: Any = None) -> Any:
        """This task's instance in the previous run (in run state ``state`` if given), or None."""
        return self.backend.previous_task_instance(self.key, self.logical_date, state)

    def get_previous_dagrun(self, state: Any = None, session: Any = None) -> Any:
        """The DAG's run with the latest earlier logical date (in ``state`` if given), or None."""
        return self.backend.previous_run(self.key.dag_id, self.logical_date, state)

    @property
    def previous_ti(self) -> Any:
        return self.get_previous_ti()

    @property
    def previous_ti_success(self) -> Any:
        return self.get_previous_ti(state="success")

    def get_previous_start_date(self, state: Any = None, session: Any = None) -> datetime | None:
        """When this task's instance in the previous run started, or None."""
        previous = self.get_previous_ti(state)
        return None if previous is None else previous.start_date
