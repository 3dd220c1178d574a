"""Frozen records the Store returns: plain values, never ORM rows or sessions.

Field names match the columns in ``tables.py`` (and Airflow's), so callers
read ``run.logical_date`` or ``ti.try_number`` as they would in Airflow.
Must not import SQLAlchemy.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

R = TypeVar("R")

#: Airflow's DagRunType values.
RUN_TYPES: frozenset[str] = frozenset({"scheduled", "manual", "backfill", "dataset_triggered"})
#: Airflow's job types.
JOB_TYPES: frozenset[str] = frozenset({"scheduler", "worker", "triggerer", "dag_processor"})
AUDIT_SOURCES: frozenset[str] = frozenset({"ui", "api", "cli", "scheduler", "task"})


# The keys live in core so executors and the scheduler share them without the db layer.
from flowctl.core.keys import RunKey, TaskInstanceKey  # noqa: E402,F401
from flowctl.core.states import TaskInstanceState  # noqa: E402


@dataclass(frozen=True, slots=True)
class DagRecord:
    dag_id: str
    is_paused: bool
    is_active: bool
    fileloc: str | None
    owners: str | None
    tags: tuple[str, ...]
    timetable_summary: str | None
    description: str | None
    max_active_runs: int | None
    max_active_tasks: int | None
    has_import_errors: bool
    last_parsed_time: datetime | None
    next_dagrun: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_create_after: datetime | None


@dataclass(frozen=True, slots=True)
class SerializedDagRecord:
    id: int
    dag_id: str
    dag_hash: str
    data: Mapping[str, Any]
    created_at: datetime
    version_number: int
    fileloc: str | None


@dataclass(frozen=True, slots=True)
class ImportErrorRecord:
    id: int
    filename: str
    stacktrace: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class DagRunRecord:
    id: int
    dag_id: str
    run_id: str
    run_type: str
    logical_date: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    state: str
    conf: Mapping[str, Any]
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    last_scheduling_decision: datetime | None
    serialized_dag_id: int | None
    creating_job_id: int | None
    external_trigger: bool
    clear_number: int
    note: str | None
    updated_at: datetime | None

    @property
    def key(self) -> RunKey:
        return RunKey(self.dag_id, self.run_id)


@dataclass(frozen=True, slots=True)
class TaskInstanceRecord:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    state: str
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    hostname: str | None
    pid: int | None
    executor: str | None
    queue: str
    pool: str
    pool_slots: int
    priority_weight: int
    operator: str | None
    queued_at: datetime | None
    queued_by_job_id: int | None
    next_retry_at: datetime | None
    reschedule_date: datetime | None
    rendered_fields: Mapping[str, Any] | None
    last_heartbeat_at: datetime | None
    external_executor_id: str | None
    trigger_id: int | None
    next_method: str | None
    next_kwargs: Mapping[str, Any] | None
    note: str | None
    updated_at: datetime | None

    @property
    def key(self) -> TaskInstanceKey:
        return TaskInstanceKey(self.dag_id, self.run_id, self.task_id, self.map_index)


@dataclass(frozen=True, slots=True)
class TaskTryRecord:
    """One finished try, from task_instance_history."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    state: str
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    hostname: str | None
    pid: int | None
    executor: str | None
    queue: str | None
    pool: str | None
    operator: str | None
    external_executor_id: str | None


@dataclass(frozen=True, slots=True)
class XComRecord:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: Any
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    job_type: str
    state: str
    hostname: str | None
    pid: int | None
    executor_class: str | None
    start_date: datetime
    end_date: datetime | None
    latest_heartbeat: datetime


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    dttm: datetime
    event: str
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None
    owner: str | None
    source: str | None
    extra: str | None


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """One dataset as the web UI's Datasets page lists it: who produces and consumes it, its events."""

    id: int
    uri: str
    extra: Mapping[str, Any] | None
    created_at: datetime
    producing_tasks: tuple[tuple[str, str], ...]  # (dag_id, task_id), sorted
    consuming_dags: tuple[str, ...]  # sorted
    event_count: int
    last_event_at: datetime | None


@dataclass(frozen=True, slots=True)
class CleanReport:
    """Rows removed (or that would be removed) by ``db clean``, per table."""

    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class TryEnd:
    """One try's end for ``Store.finish_tries``: running -> ``state`` with ``fields``."""

    key: TaskInstanceKey
    state: TaskInstanceState
    now: datetime
    running_try: int
    started: datetime | None = None  # the claim's start_date (saves reading it back)
    fields: Mapping[str, Any] = field(default_factory=dict)
    xcoms: Mapping[str, Any] = field(default_factory=dict)  # written only if the end wins
    #: Whether the task has dataset outlets, as the try that ran it knows: False spares a successful
    #: end the look-up of its outlets (``dataset_refs.outlet_refs``); None, not known: looked up.
    produces: bool | None = None
    #: The extras the try set for its outlets' events (dataset URI -> a JSON object), checked by the try.
    outlet_extra: Mapping[str, Mapping[str, Any]] | None = None
    #: The datasets the try added to its alias outlets (Airflow 2.10's DatasetAlias), each
    #: ``{"uri", "extra", "aliases"}`` (``flowctl.core.outlet_events.alias_events``); a success records their events.
    alias_events: Sequence[Mapping[str, Any]] | None = None

    def in_one_statement(self, wake: str | None) -> bool:
        """PostgreSQL can write state, history and wake-up as one statement for this end."""
        return (self.started is not None and wake is not None
                and self.state is not TaskInstanceState.UP_FOR_RESCHEDULE)


@dataclass(frozen=True, slots=True)
class FollowOptions:
    """What ``Store.finish_and_follow`` may start after the ends (see ``flowctl.db.follow``)."""

    slots: int  # free executor slots offered: at most this many task instances are claimed
    default_max_active_tasks: int = 16  # [core] max_active_tasks_per_dag
    paused_run_types: tuple[str, ...] = ()  # run types that run while their DAG is paused


@dataclass(frozen=True, slots=True)
class ClaimedTry:
    """What ``start_try`` returns to the winner: the running task instance and its run."""

    ti: TaskInstanceRecord
    run: DagRunRecord
    previous_success: DagRunRecord | None = None


def record_from(cls: type[R], row: Any, **overrides: Any) -> R:
    """Build record ``cls`` from an object with same-named attributes (an ORM row)."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    values = {n: overrides[n] if n in overrides else getattr(row, n) for n in names}
    return cls(**values)
