"""SLA misses (Airflow 2's ``sla=`` on tasks): the deadline rule and the scheduler's periodic check.

The rule (pure): a task instance of a *scheduled* run misses its SLA when it has not succeeded
(or been skipped) by ``data_interval_end + sla``: the end of the schedule period plus the task's
SLA. Manual, backfill and dataset-triggered runs are never checked (Airflow checks only
scheduled tasks; a backfill's periods ended long ago, so every task would miss at once).

The check (``SlaMonitor.check(now)``, every ``[scheduler] sla_check_interval`` seconds) asks the
Store only about unpaused DAGs whose current version sets an SLA on some task, and only for task
instances with no recorded miss, in runs still active or whose deadline fell since the previous
check (the first check looks back ``FIRST_LOOKBACK``). Checks overlap nothing and miss nothing:
a deadline inside the window is judged exactly, from the state and end_date (a task that
finished late, between two checks, missed too). Each miss is recorded once per (dag_id,
task_id, run_id); for each DAG with new misses and an ``sla_miss_callback`` the scheduler asks
``notify(dag_id)`` to run the callback in a child process (user code never runs here), and
the child sets notification_sent once the callback returned.
Not done (Airflow 2 does): misses of runs not created yet (a scheduler that is behind), e-mail.
Must not import flask, click or SQLAlchemy.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

#: States in which a task instance counts as done for its SLA (Airflow: success or skipped).
DONE_STATES = frozenset({"success", "skipped"})
#: How far back the first check after a scheduler start looks for deadlines of finished runs.
FIRST_LOOKBACK = timedelta(days=1)


def sla_deadline(data_interval_end: datetime, sla: timedelta) -> datetime:
    """When a task of the run whose schedule period ends at ``data_interval_end`` must have succeeded."""
    return data_interval_end + sla


def missed_sla(deadline: datetime, state: str, end_date: datetime | None, now: datetime) -> bool:
    """Whether a task instance in ``state`` (ended at ``end_date``) had not succeeded by ``deadline``,
    as known at ``now``: False before the deadline; after it, True unless it succeeded or was skipped
    at or before the deadline (a done task with no end_date counts as in time)."""
    if now < deadline:
        return False
    if state in DONE_STATES:
        return end_date is not None and end_date > deadline
    return True


@dataclass(frozen=True, slots=True)
class SlaSpec:
    """What one DAG version says about SLAs: task_id -> sla, and whether it has an sla_miss_callback."""

    dag_id: str
    slas: Mapping[str, timedelta]
    has_callback: bool


@dataclass(frozen=True, slots=True)
class SlaMiss:
    """A task of one run that missed its SLA (what the Store records)."""

    dag_id: str
    task_id: str
    run_id: str
    logical_date: datetime


def sla_spec(serialized: Mapping[str, Any]) -> SlaSpec:
    """The SlaSpec of a serialized DAG (task ``sla`` in seconds; ``callbacks`` as presence booleans)."""
    inner = serialized.get("dag")
    body: Mapping[str, Any] = inner if isinstance(inner, Mapping) else serialized
    slas = {str(t["task_id"]): timedelta(seconds=float(t["sla"]))
            for t in body.get("tasks") or () if t.get("sla") is not None and float(t["sla"]) >= 0}
    callbacks = body.get("callbacks") or {}
    return SlaSpec(str(body.get("dag_id")), slas, bool(callbacks.get("sla_miss_callback")))


def find_misses(candidates: Iterable[Any], specs: Mapping[str, SlaSpec], now: datetime) -> list[SlaMiss]:
    """The misses among ``candidates`` (task instances with dag_id, run_id, task_id, state, end_date,
    logical_date, data_interval_end), one per task and run (any mapped index missing counts)."""
    found: dict[tuple[str, str, str], SlaMiss] = {}
    for ti in candidates:
        spec = specs.get(ti.dag_id)
        sla = spec.slas.get(ti.task_id) if spec is not None else None
        if sla is None or ti.data_interval_end is None:
            continue
        if missed_sla(sla_deadline(ti.data_interval_end, sla), ti.state, ti.end_date, now):
            found.setdefault((ti.dag_id, ti.run_id, ti.task_id),
                             SlaMiss(ti.dag_id, ti.task_id, ti.run_id, ti.logical_date))
    return [found[k] for k in sorted(found)]


class SlaMonitor:
    """Records SLA misses at ``check(now)`` and calls ``notify(dag_id)`` for DAGs with a callback."""

    def __init__(self, store: Any, notify: Callable[[str], None]) -> None:
        self.store = store
        self.notify = notify
        self._specs: dict[int, SlaSpec] = {}  # by serialized version id: versions never change
        self._since: datetime | None = None

    def check(self, now: datetime) -> int:
        """Record the misses whose deadline passed by ``now``; how many were new."""
        since = self._since if self._since is not None else now - FIRST_LOOKBACK
        specs = {dag_id: spec for dag_id, sid in self.store.sla_dag_versions().items()
                 if (spec := self._spec(sid)).slas}
        if not specs:
            self._since = now
            return 0
        durations = [sla for spec in specs.values() for sla in spec.slas.values()]
        candidates = self.store.sla_candidates(
            list(specs), sorted({task_id for spec in specs.values() for task_id in spec.slas}),
            interval_end_after=since - max(durations), interval_end_before=now - min(durations))
        recorded = self.store.record_sla_misses(find_misses(candidates, specs, now), now)
        self._since = now  # only once recorded: a check that failed is redone over its window
        for dag_id in sorted({miss.dag_id for miss in recorded}):
            tasks = ", ".join(f"{m.task_id} ({m.run_id})" for m in recorded if m.dag_id == dag_id)
            log.warning("DAG %s missed its SLA: %s", dag_id, tasks)
            if specs[dag_id].has_callback:
                self.notify(dag_id)
        return len(recorded)

    def prime(self, serialized_dag_id: int, data: Mapping[str, Any]) -> None:
        """Remember the spec of a version just stored (the DAG processor's data), so no check reads it."""
        self._remember(serialized_dag_id, sla_spec(data))

    def _spec(self, serialized_dag_id: int) -> SlaSpec:
        spec = self._specs.get(serialized_dag_id)
        if spec is None:
            spec = sla_spec(self.store.get_serialized_dag(serialized_dag_id).data)
            self._remember(serialized_dag_id, spec)
        return spec

    def _remember(self, serialized_dag_id: int, spec: SlaSpec) -> None:
        if len(self._specs) >= 1024:
            self._specs.clear()
        self._specs[serialized_dag_id] = spec
