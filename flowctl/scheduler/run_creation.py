"""Creating scheduled runs from timetables (and dataset-triggered runs from dataset updates), and
keeping the dag row's next_dagrun fields current.

For a due DAG the next run is recomputed at creation time from its last
scheduled run (so a DAG unpaused after a long pause with catchup=False skips
ahead instead of replaying), created ``queued`` unless the DAG already has
max_active_runs queued or running runs, and the following run is recorded on
the dag row (``next_dagrun_create_after`` is what the loop sleeps until).
Must not import flask, click or SQLAlchemy.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flowctl.core.datasets import resolve_aliases
from flowctl.core.errors import DagRunAlreadyExists, FlowctlError
from flowctl.core.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from flowctl.core.timetables.datasets import dataset_condition_of
from flowctl.scheduler.graphs import GraphCache

log = logging.getLogger(__name__)
_MAX_COLLISIONS = 50


def next_run_info(dag: Any, last: tuple[datetime, datetime] | None, now: datetime,
                  catchup_default: bool) -> DagRunInfo | None:
    """The DAG's next scheduled run after ``last`` (a data interval), per its timetable."""
    catchup = dag.data.get("catchup")
    restriction = TimeRestriction(earliest=dag.start_date, latest=dag.end_date,
                                  catchup=catchup_default if catchup is None else bool(catchup))
    last_interval = DataInterval(*last) if last is not None else None
    return dag.timetable.next_dagrun_info(last_automated_data_interval=last_interval,
                                          restriction=restriction, now=now)


def scheduled_run_id(logical_date: datetime) -> str:
    """Airflow's run id for a scheduled run."""
    return f"scheduled__{logical_date.isoformat()}"


class RunCreator:
    """Creates due scheduled runs; returns how many it created."""

    def __init__(self, store: Any, graphs: GraphCache, *, catchup_default: bool, default_max_active_runs: int,
                 job_id: int | None = None) -> None:
        self.store = store
        self.graphs = graphs
        self.catchup_default = catchup_default
        self.default_max_active_runs = default_max_active_runs
        self.job_id = job_id
        self._no_next: dict[str, datetime | None] = {}

    def create_due_runs(self, now: datetime) -> int:
        """One run per due DAG (the loop ticks again while anything was created), and the
        dataset-triggered runs whose datasets were updated."""
        created = 0
        for dag in self.store.dags_due(now):
            try:
                created += self._create_for(dag, now)
            except FlowctlError as exc:
                log.warning("cannot create the next run of DAG %s: %s", dag.dag_id, exc)
        return created + self.create_dataset_triggered_runs(now)

    def create_dataset_triggered_runs(self, now: datetime) -> int:
        """A run of each unpaused DAG whose dataset condition holds over the datasets updated since
        its last dataset-triggered run (the condition read from its serialized version)."""
        created = 0
        for dag_id, updated in self.store.dataset_queue().items():
            try:
                _, sdag = self.graphs.latest_dag(dag_id)
                condition = dataset_condition_of(sdag.timetable)
                aliases = [alias.name for alias in condition.iter_dataset_aliases()] if condition else []
                if condition is not None and aliases:  # on the datasets they resolved to (Airflow 2.10)
                    condition = resolve_aliases(condition, self.store.dataset_alias_uris(aliases))
                if condition is None or not condition.evaluate(updated):
                    continue  # waits for more updates (or stopped consuming: its next version drops the queue)
                run = self.store.create_dataset_triggered_run(dag_id, condition, now, creating_job_id=self.job_id)
            except FlowctlError as exc:
                log.warning("cannot create a dataset-triggered run of DAG %s: %s", dag_id, exc)
                continue
            if run is not None:
                log.info("created %s of DAG %s: datasets %s were updated", run.run_id, dag_id,
                         ", ".join(sorted(updated)))
                created += 1
        return created

    def refresh_next_dagruns(self, now: datetime) -> None:
        """Record the next run of active, unpaused DAGs that have none recorded (new or unpaused)."""
        for dag in self.store.dags_without_next_dagrun():
            if dag.dag_id in self._no_next and self._no_next[dag.dag_id] == dag.last_parsed_time:
                continue  # this version has no next run (schedule None, past end_date ...)
            try:
                _, sdag = self.graphs.latest_dag(dag.dag_id)
                info = next_run_info(sdag, self.store.last_automated_interval(dag.dag_id), now, self.catchup_default)
            except FlowctlError as exc:
                log.warning("cannot compute the next run of DAG %s: %s", dag.dag_id, exc)
                info = None
            self._record(dag.dag_id, info)
            if info is None:
                self._no_next[dag.dag_id] = dag.last_parsed_time

    def _create_for(self, dag: Any, now: datetime) -> int:
        _, sdag = self.graphs.latest_dag(dag.dag_id)
        info = next_run_info(sdag, self.store.last_automated_interval(dag.dag_id), now, self.catchup_default)
        limit = dag.max_active_runs or self.default_max_active_runs
        for _ in range(_MAX_COLLISIONS):
            if info is None or info.run_after > now:
                self._record(dag.dag_id, info)
                return 0
            if self.store.active_run_count(dag.dag_id) >= limit:
                return 0  # stays due; re-checked when a run finishes
            try:
                self.store.create_run(dag.dag_id, scheduled_run_id(info.logical_date), run_type="scheduled",
                                      logical_date=info.logical_date, now=now, state="queued",
                                      data_interval=(info.data_interval.start, info.data_interval.end),
                                      creating_job_id=self.job_id)
                created = 1
            except DagRunAlreadyExists:
                created = 0  # another scheduler made it, or a manual run holds that date
            nxt = next_run_info(sdag, (info.data_interval.start, info.data_interval.end), now, self.catchup_default)
            if created:
                self._record(dag.dag_id, nxt)
                return 1
            info = nxt
        return 0

    def _record(self, dag_id: str, info: DagRunInfo | None) -> None:
        if info is None:
            self.store.set_next_dagrun(dag_id, None, None, None)
            return
        interval = (info.data_interval.start, info.data_interval.end)
        self.store.set_next_dagrun(dag_id, info.logical_date, interval, info.run_after)
