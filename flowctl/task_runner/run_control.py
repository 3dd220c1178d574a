"""What a running task may do to other DAGs' runs: trigger one, find it, clear it, read its state.

TriggerDagRunOperator reaches these through ``context["ti"]`` (``trigger_dag_run``,
``find_dag_run``, ``clear_dag_run``, ``dag_run_state`` on the runtime task instance),
which hands them to its backend. :class:`StoreRunControl` is the part of the
store backend that does them with the Store's verbs (each its own transaction;
a trigger wakes the scheduler as ``flowctl dags trigger`` does);
:class:`NoRunControl` is the part of the ``tasks test`` backend that refuses
them, since a test run records nothing. Must not import web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flowctl.core.errors import DagRunNotFound, FlowctlError
from flowctl.core.keys import RunKey


class StoreRunControl:
    """Runs of other DAGs through ``self.store``; ``self.clock`` gives the time of each change."""

    store: Any
    clock: Callable[[], datetime]

    def trigger_run(self, dag_id: str, run_id: str, logical_date: datetime, conf: dict[str, Any]) -> Any:
        """A new queued manual run (the Store checks conf against the DAG's params)."""
        run = self.store.trigger_dag(dag_id, now=self.clock(), run_id=run_id, logical_date=logical_date, conf=conf)
        wake = getattr(self.store, "notify_scheduler", None)
        if wake is not None:
            wake(f"trigger {dag_id}")
        return run

    def find_run(self, dag_id: str, run_id: str, logical_date: datetime) -> Any:
        """The run of ``dag_id`` with this run id or, failing that, at this logical date."""
        try:
            return self.store.get_run(dag_id, run_id)
        except DagRunNotFound:
            runs = self.store.list_runs(dag_id, since=logical_date, until=logical_date, limit=1)
            if not runs:
                raise
            return runs[0]

    def clear_run(self, dag_id: str, run_id: str) -> None:
        """Every task instance of the run back to pending; a finished run is queued again."""
        tis = self.store.list_task_instances(RunKey(dag_id, run_id))
        self.store.clear_task_instances([ti.key for ti in tis], self.clock())

    def run_state(self, dag_id: str, run_id: str) -> str:
        """The run's state now."""
        return str(self.store.get_run(dag_id, run_id).state)


class NoRunControl:
    """Refuses every run change: ``tasks test`` writes nothing to the database."""

    def trigger_run(self, dag_id: str, *_: Any) -> Any:
        raise FlowctlError(f"a test run records nothing in the database, so it cannot trigger a run of DAG "
                           f"{dag_id!r}; run the task with `flowctl tasks run` or its DAG with `flowctl dags test`")

    find_run = clear_run = run_state = trigger_run
