"""What a task (or a callback) may read about runs and task instances: Airflow's lookups on ``ti``
and ``dag_run`` that need the database.

:class:`StoreReads` answers them with the Store's read verbs (through the task agent in a
local-executor try): ``dag_run.get_task_instance(task_id)`` / ``get_task_instances(state=...)``,
``ti.previous_ti`` / ``get_previous_ti(state=...)``, and the runs ``ti.xcom_pull`` reads with
``dag_id=`` or ``include_prior_dates=True``. The task instances returned are the Store's frozen
records (``task_id``, ``state``, ``start_date``, ``end_date``, ``duration``, ``try_number``...)
seen through :class:`ReadTaskInstance`, which adds what Airflow's callbacks read on them:
``log_url``, ``execution_date`` / ``logical_date`` and ``dag_run`` (the last two read on first use).
:class:`NoReads` is what a backend without a database has: each lookup says it cannot.
Must not import web, cli, scheduler or SQLAlchemy.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flowctl.core.errors import DagRunNotFound, NotSupportedError, TaskInstanceNotFound
from flowctl.core.keys import RunKey, TaskInstanceKey

#: flowctl's name for the state Airflow writes as None (a task instance not yet scheduled).
NO_STATE = "pending"


def wanted_states(state: Any) -> set[str] | None:
    """Airflow's ``state=`` argument (one state, several, or None for all) as a set of flowctl
    state names; None in a list means a task instance with no state yet (flowctl: pending)."""
    if state is None:
        return None
    many: Iterable[Any] = [state] if isinstance(state, str) else state
    return {NO_STATE if s is None else str(getattr(s, "value", s)) for s in many}


class ReadTaskInstance:
    """A task instance read from the database: the Store's record, with Airflow's derived names."""

    __slots__ = ("_record", "_store", "_run")

    def __init__(self, record: Any, store: Any) -> None:
        self._record = record
        self._store = store
        self._run: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)

    def __eq__(self, other: object) -> bool:
        return self._record == (other._record if isinstance(other, ReadTaskInstance) else other)

    def __hash__(self) -> int:
        return hash(self._record)

    def __repr__(self) -> str:
        record = self._record
        return f"<TaskInstance: {record.dag_id}.{record.task_id} {record.run_id} [{record.state}]>"

    @property
    def dag_run(self) -> Any:
        """The run this task instance belongs to (read once)."""
        if self._run is None:
            self._run = self._store.get_run(self._record.dag_id, self._record.run_id)
        return self._run

    def get_dagrun(self, session: Any = None) -> Any:
        """Airflow's name for :attr:`dag_run`."""
        return self.dag_run

    @property
    def logical_date(self) -> datetime:
        return self.dag_run.logical_date

    @property
    def execution_date(self) -> datetime:
        """Airflow 2's name for the run's logical date."""
        return self.dag_run.logical_date

    @property
    def log_url(self) -> str:
        """The web UI address of this task instance's latest try's log."""
        from flowctl.settings import Settings
        from flowctl.task_runner.runner import log_url

        return log_url(Settings.load(), self._record.key, max(1, self._record.try_number))


class StoreReads:
    """The lookups through ``self.store`` (anything with the Store's read verbs)."""

    store: Any

    def __init__(self, store: Any) -> None:
        self.store = store

    def task_instance(self, run: RunKey, task_id: str, map_index: int = -1) -> Any:
        """The task instance of ``task_id`` in ``run``, or None (as Airflow's ``get_task_instance``)."""
        try:
            record = self.store.get_task_instance(TaskInstanceKey(run.dag_id, run.run_id, task_id, map_index))
        except TaskInstanceNotFound:
            return None
        return ReadTaskInstance(record, self.store)

    def task_instances(self, run: RunKey, state: Any = None) -> list[Any]:
        """The task instances of ``run`` (by task id and map index), only those in ``state`` if given."""
        states = wanted_states(state)
        found = [ReadTaskInstance(ti, self.store) for ti in self.store.list_task_instances(run)]
        return found if states is None else [ti for ti in found if ti.state in states]

    def previous_run(self, dag_id: str, logical_date: datetime, state: Any = None) -> Any:
        """The run of ``dag_id`` with the latest logical date before ``logical_date`` (in ``state``
        if given), or None."""
        wanted = None if state is None else str(getattr(state, "value", state))
        for run in self.store.list_runs(dag_id, state=wanted, until=logical_date, limit=2):
            if run.logical_date < logical_date:
                return run
        return None

    def previous_task_instance(self, key: TaskInstanceKey, logical_date: datetime, state: Any = None) -> Any:
        """``key``'s task instance in the previous run (see :meth:`previous_run`), or None."""
        run = self.previous_run(key.dag_id, logical_date, state)
        return None if run is None else self.task_instance(RunKey(key.dag_id, run.run_id), key.task_id, key.map_index)

    def run_of(self, dag_id: str, run_id: str, logical_date: datetime) -> RunKey | None:
        """The run of ``dag_id`` to read XComs from beside this one: the run with the same run id
        (Airflow 2.2+), else the one at the same logical date (Airflow 2.0's rule); None if neither."""
        try:
            return RunKey(dag_id, self.store.get_run(dag_id, run_id).run_id)
        except DagRunNotFound:
            runs = self.store.list_runs(dag_id, since=logical_date, until=logical_date, limit=1)
            return RunKey(dag_id, runs[0].run_id) if runs else None

    def xcom_pull_prior(self, dag_id: str, task_id: str | None, key: str, map_index: int, until: datetime,
                        default: Any) -> Any:
        """The latest value pushed at or before logical date ``until`` (``include_prior_dates``)."""
        return self.store.xcom_pull_prior(dag_id, task_id, key, map_index, until, default)


class NoReads:
    """The lookups of a backend with no database (``tasks test`` without one): each says so."""

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise NotSupportedError("there is no metadata database here, so other runs and task instances cannot be "
                                "read; run the task with `flowctl tasks run`, or its DAG with `flowctl dags test`")

    task_instance = task_instances = previous_run = previous_task_instance = run_of = xcom_pull_prior = _refuse
