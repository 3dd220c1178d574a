"""Store verbs for what people do to runs: trigger, clear, mark, kill, backfill, delete a DAG's history.

Every state change here is a compare-and-set checked against the *manual*
tables of ``core/states.py`` (what a person may do), all of one command in
one transaction, which wakes the scheduler once it commits. A running try
whose row a person moved (cleared, marked, killed) gets a kill request: an
audit row with event ``kill_task`` that the scheduler reads with
:meth:`OperationVerbs.kill_requests` when it wakes, to terminate the process
at once; the try's supervisor (or the runner's own heartbeat) also stops it
when the row is no longer ``running``. Selection (``clear_selection.py``) and
backfill planning are pure functions of the serialized task graph. Must not
import above ``db``.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from flowctl.core.errors import BackfillTooLargeError, DagNotFound, DagRunNotFound, IllegalTransitionError
from flowctl.core.keys import check_logical_date
from flowctl.core.params import NOTSET, Param, ParamsDict
from flowctl.core.states import (
    RUN_FINISHED,
    TI_FINISHED,
    DagRunState,
    TaskInstanceState,
    check_manual_run_transition,
    check_manual_ti_transition,
)
from flowctl.core.timetables import DagRunInfo, DataInterval, TimeRestriction, Timetable, timetable_from_dict
from flowctl.core.timetables.simple import NullTimetable
from flowctl.core.xcom_arg import XCOM_SKIPMIXIN_KEY
from flowctl.db.base import StoreCore
from flowctl.db.clear_selection import ClearSpec, select_task_ids, skipped_by_decision, task_graph
from flowctl.db.dags import _latest_serialized, dag_body
from flowctl.db.records import DagRunRecord, RunKey, TaskInstanceKey, TaskInstanceRecord, record_from
from flowctl.db.runs import run_record
from flowctl.db.triggers import reset_deferral
from flowctl.db.tables import (
    DagRow,
    DagRunDatasetEventRow,
    DagRunRow,
    DatasetDagRefRow,
    DatasetDagRunQueueRow,
    DatasetTaskRefRow,
    LogRow,
    SerializedDagRow,
    SlaMissRow,
    TaskInstanceHistoryRow,
    TaskInstanceRow,
    TaskRescheduleRow,
    XComRow,
)

TI, R = TaskInstanceState, DagRunState
KILL_EVENT = "kill_task"
CHANGED_WAKE = "tasks changed"  # the scheduler's wake-up reason after a clear, mark or kill
MARK_TARGETS = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED})
#: What kill-runs fails (the rest is skipped): tries started, and deferred ones (as Airflow marks a run failed).
_KILLED_AS_FAILED = (TI.RUNNING.value, TI.QUEUED.value, TI.DEFERRED.value)
MAX_BACKFILL_RUNS = 10_000


@dataclass(frozen=True, slots=True)
class ClearReport:
    """What a clear (or mark, or kill) changed."""

    task_instances: tuple[TaskInstanceKey, ...]
    runs: tuple[RunKey, ...]
    killed: tuple[TaskInstanceKey, ...]


@dataclass(frozen=True, slots=True)
class KillRequest:
    """A running try a person stopped (cleared, marked, killed) at ``dttm``: its process should end."""

    key: TaskInstanceKey
    dttm: datetime


class ExistingRunPolicy(str, Enum):
    """What a backfill does with a run that already exists at one of its dates."""

    KEEP = "keep"
    RERUN_FAILED_TASKS = "rerun_failed_tasks"  # clear the failed tasks of a failed run
    RESET_FAILED = "reset_failed"  # clear every task of a failed run
    RESET_ALL = "reset_all"  # clear every task of every existing run (Airflow's backfill --reset-dagruns)


@dataclass(frozen=True, slots=True)
class BackfillItem:
    """One date of a backfill and what will happen there (``create``, ``keep``, ``rerun_failed_tasks``, ``reset``)."""

    logical_date: datetime
    data_interval: DataInterval
    run_id: str
    action: str
    existing_state: str | None = None


# --- pure pieces -------------------------------------------------------------------------------

def params_of(serialized: Mapping[str, Any]) -> ParamsDict:
    """The DAG's params (defaults and JSON schemas) from its serialized form."""
    params = ParamsDict()
    for name, item in (dag_body(serialized).get("params") or {}).items():
        value = item.get("value") if item.get("has_value", True) else NOTSET
        params[name] = Param(value, item.get("description"), **dict(item.get("schema") or {}))
    return params


def timetable_of(serialized: Mapping[str, Any]) -> Timetable:
    """The DAG's timetable (NullTimetable when it has none)."""
    data = dag_body(serialized).get("timetable")
    return timetable_from_dict(dict(data)) if data else NullTimetable()


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


def restriction_of(serialized: Mapping[str, Any]) -> TimeRestriction:
    """start_date, end_date and catchup of a serialized DAG."""
    body = dag_body(serialized)
    catchup = body.get("catchup")
    return TimeRestriction(_moment(body.get("start_date")), _moment(body.get("end_date")),
                           True if catchup is None else bool(catchup))


def backfill_dates(timetable: Timetable, start: datetime, end: datetime,
                   dag_start: datetime | None = None) -> list[DataInterval]:
    """The data intervals whose logical date falls in ``[start, end]`` (not before the DAG's start);
    BackfillTooLargeError, naming the date the cap reaches, when there are more than MAX_BACKFILL_RUNS."""
    earliest = max(start, dag_start) if dag_start is not None else start
    restriction = TimeRestriction(earliest, end, True)
    out: list[DataInterval] = []
    last: DataInterval | None = None
    while len(out) <= MAX_BACKFILL_RUNS:
        try:
            info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=end)
        except OverflowError:  # the schedule's next date (or its interval's end) is after 9999-12-31
            return out
        if info is None or info.logical_date > end or (last is not None and info.data_interval == last):
            return out
        out.append(info.data_interval)
        last = info.data_interval
    reached = out[MAX_BACKFILL_RUNS - 1].start.isoformat()
    raise BackfillTooLargeError(f"this range holds more than {MAX_BACKFILL_RUNS} runs, the most one backfill "
                                f"makes; the {MAX_BACKFILL_RUNS}th is at {reached}: end the range there and "
                                "backfill the rest in another")


def next_dagrun_infos(serialized: Mapping[str, Any], last: DataInterval | None, count: int,
                      now: datetime) -> list[DagRunInfo]:
    """The DAG's next ``count`` scheduled runs after ``last`` (the latest automated run's interval)."""
    timetable, restriction = timetable_of(serialized), restriction_of(serialized)
    out: list[DagRunInfo] = []
    while len(out) < count:
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=now)
        if info is None or (last is not None and info.data_interval == last):
            break
        out.append(info)
        last = info.data_interval
        restriction = TimeRestriction(restriction.earliest, restriction.latest, True)  # later runs follow on
    return out


def backfill_action(existing_state: str | None, policy: ExistingRunPolicy) -> str:
    """What a backfill does at a date where a run is in ``existing_state`` (None: no run)."""
    if existing_state is None:
        return "create"
    if policy is ExistingRunPolicy.RESET_ALL:
        return "reset"
    if existing_state != R.FAILED.value or policy is ExistingRunPolicy.KEEP:
        return "keep"
    return "reset" if policy is ExistingRunPolicy.RESET_FAILED else "rerun_failed_tasks"


def backfill_run_id(logical_date: datetime) -> str:
    """Airflow's run id of a backfill run."""
    return f"backfill__{logical_date.isoformat()}"


# --- the verbs ---------------------------------------------------------------------------------

class OperationVerbs(StoreCore):
    """trigger_dag, clear, mark, kill_runs, kill_requests, plan/apply backfill, delete_dag, delete_run, notes."""

    def trigger_dag(self, dag_id: str, *, now: datetime, run_id: str | None = None,
                    logical_date: datetime | None = None, conf: Mapping[str, Any] | None = None,
                    note: str | None = None) -> DagRunRecord:
        """Create a queued manual run; ParamValidationError names a param that conf breaks."""
        version = self.runnable_serialized_dag(dag_id)  # type: ignore[attr-defined]
        serialized = version.data
        params_of(serialized).resolve(conf)
        when = logical_date or now
        check_logical_date(when)
        try:
            interval = timetable_of(serialized).infer_manual_data_interval(run_after=when)
        except Exception:  # noqa: BLE001  an unimportable custom timetable: an instant interval
            interval = DataInterval.exact(when)
        return self.create_run(  # type: ignore[attr-defined,no-any-return]
            dag_id, run_id or f"manual__{when.isoformat()}", run_type="manual", logical_date=when, now=now,
            data_interval=(interval.start, interval.end), conf=conf, state=R.QUEUED, note=note,
            serialized=version)

    def task_instances_to_clear(self, dag_id: str, spec: ClearSpec) -> list[TaskInstanceRecord]:
        """The task instances ``spec`` selects, over the DAG's runs (each with its own task graph)."""
        runs = select(DagRunRow).where(DagRunRow.dag_id == dag_id).order_by(DagRunRow.logical_date)
        if spec.run_id is not None:
            runs = runs.where(DagRunRow.run_id == spec.run_id)
        if spec.start_date is not None:
            runs = runs.where(DagRunRow.logical_date >= spec.start_date)
        if spec.end_date is not None:
            runs = runs.where(DagRunRow.logical_date <= spec.end_date)
        out: list[TaskInstanceRecord] = []
        with self._read() as s:
            graphs: dict[int | None, dict[str, Mapping[str, Any]]] = {}
            for run in s.scalars(runs).all():
                if run.serialized_dag_id not in graphs:
                    graphs[run.serialized_dag_id] = task_graph(_serialized_of(s, run))
                task_ids = select_task_ids(graphs[run.serialized_dag_id], spec)
                query = (select(TaskInstanceRow)
                         .where(TaskInstanceRow.dag_id == dag_id, TaskInstanceRow.run_id == run.run_id,
                                TaskInstanceRow.task_id.in_(sorted(task_ids)))
                         .order_by(TaskInstanceRow.task_id, TaskInstanceRow.map_index))
                wanted = spec.wanted_states()
                if wanted is not None:
                    query = query.where(TaskInstanceRow.state.in_(wanted))
                out.extend(record_from(TaskInstanceRecord, r) for r in s.scalars(query).all())
        return out

    def clear_task_instances(self, keys: Collection[TaskInstanceKey], now: datetime) -> ClearReport:
        """Back to pending (tries kept, retries renewed); their finished runs back to queued. A skipped
        one a direct upstream branch or short-circuit (not cleared with it) chose to skip stays skipped."""
        cleared: list[TaskInstanceKey] = []
        killed: list[TaskInstanceKey] = []
        with self._session() as s:
            retries = _RetriesOf(s)
            rows = _rows_of(s, keys)
            kept = _kept_skipped(s, rows, retries)
            for row in rows:
                if row.id in kept:
                    continue
                was = row.state
                fields = {"max_tries": row.try_number + retries.of(row), "next_retry_at": None,
                          "reschedule_date": None, "end_date": None, "duration": None, "updated_at": now,
                          **reset_deferral()}  # a cleared deferred task starts afresh; its trigger goes unused
                if _cas_ti_row(s, row, TI.PENDING, fields):
                    cleared.append(_key(row))
                    if was == TI.RUNNING.value:
                        killed.append(_key(row))
            _forget_reschedules(s, cleared)
            _record_kills(s, killed, now, "cleared")
            runs = _requeue_runs(s, {k.run_key for k in cleared}, now)
        return self._woken(ClearReport(tuple(cleared), tuple(runs), tuple(killed)))

    def mark_task_instances(self, keys: Collection[TaskInstanceKey], state: TaskInstanceState | str,
                            now: datetime, note: str | None = None) -> ClearReport:
        """Mark task instances success, failed or skipped; a running try gets a kill request."""
        new = TI(state)
        if new not in MARK_TARGETS:
            raise IllegalTransitionError(f"task instances can be marked success, failed or skipped, not {new.value}")
        changed: list[TaskInstanceKey] = []
        killed: list[TaskInstanceKey] = []
        with self._session() as s:
            for row in _rows_of(s, keys):
                was = row.state
                fields: dict[str, Any] = {"end_date": row.end_date or now, "updated_at": now}
                if note is not None:
                    fields["note"] = note
                if was != new.value and _cas_ti_row(s, row, new, fields):
                    changed.append(_key(row))
                    if was == TI.RUNNING.value:
                        killed.append(_key(row))
            _record_kills(s, killed, now, f"marked {new.value}")
        return self._woken(ClearReport(tuple(changed), tuple({k.run_key for k in changed}), tuple(killed)))

    def kill_runs(self, dag_id: str, states: Collection[DagRunState | str], now: datetime,
                  run_ids: Collection[str] | None = None) -> ClearReport:
        """Fail the DAG's runs in ``states``: running/queued tries failed (killed), the rest skipped."""
        wanted = sorted(R(st).value for st in states)
        note = "killed by `flowctl dags kill-runs`"
        touched: list[TaskInstanceKey] = []
        killed: list[TaskInstanceKey] = []
        runs: list[RunKey] = []
        with self._session() as s:
            query = select(DagRunRow).where(DagRunRow.dag_id == dag_id, DagRunRow.state.in_(wanted))
            if run_ids is not None:
                query = query.where(DagRunRow.run_id.in_(sorted(run_ids)))
            for run in s.scalars(query).all():
                for row in _unfinished_tis(s, run):
                    was = row.state
                    target = TI.FAILED if was in _KILLED_AS_FAILED else TI.SKIPPED
                    if _cas_ti_row(s, row, target, {"end_date": now, "updated_at": now, "note": note}):
                        touched.append(_key(row))
                        if was == TI.RUNNING.value:
                            killed.append(_key(row))
                if _cas_run_row(s, run, R.FAILED, {"end_date": now, "updated_at": now, "note": note}):
                    runs.append(RunKey(run.dag_id, run.run_id))
            _record_kills(s, killed, now, "run killed")
        return self._woken(ClearReport(tuple(touched), tuple(runs), tuple(killed)))

    def _woken(self, report: ClearReport) -> ClearReport:
        """Wake the scheduler (whoever made the change: CLI, web, API) if ``report`` changed anything."""
        wake = getattr(self, "notify_scheduler", None)
        if wake is not None and (report.task_instances or report.runs):
            wake(CHANGED_WAKE)
        return report

    def kill_requests(self, since: datetime) -> list[KillRequest]:
        """The kill requests (a person stopped a running try) made at or after ``since``, oldest first."""
        query = (select(LogRow).where(LogRow.event == KILL_EVENT, LogRow.dttm >= since)
                 .order_by(LogRow.dttm, LogRow.id))
        with self._read() as s:
            return [KillRequest(TaskInstanceKey(r.dag_id or "", r.run_id or "", r.task_id or "",
                                                -1 if r.map_index is None else r.map_index), r.dttm)
                    for r in s.scalars(query).all()]

    def plan_backfill(self, dag_id: str, start: datetime, end: datetime,
                      policy: ExistingRunPolicy = ExistingRunPolicy.KEEP,
                      conf: Mapping[str, Any] | None = None) -> list[BackfillItem]:
        """The runs a backfill of ``[start, end]`` would create or re-run (nothing is written).

        Refuses what :meth:`apply_backfill` would, so that a dry run says so: ParamValidationError names
        a param that ``conf`` breaks; BackfillTooLargeError, a range of more than MAX_BACKFILL_RUNS runs."""
        serialized = self.runnable_serialized_dag(dag_id).data  # type: ignore[attr-defined]
        if conf:
            params_of(serialized).resolve(conf)
        intervals = backfill_dates(timetable_of(serialized), start, end, restriction_of(serialized).earliest)
        with self._read() as s:
            existing = {r.logical_date: r for r in s.scalars(select(DagRunRow).where(
                DagRunRow.dag_id == dag_id, DagRunRow.logical_date >= start, DagRunRow.logical_date <= end))}
        items = []
        for interval in intervals:
            run = existing.get(interval.start)
            state = run.state if run is not None else None
            items.append(BackfillItem(interval.start, interval, run.run_id if run else backfill_run_id(interval.start),
                                      backfill_action(state, policy), state))
        return items

    def apply_backfill(self, dag_id: str, items: Iterable[BackfillItem], now: datetime,
                       conf: Mapping[str, Any] | None = None) -> list[RunKey]:
        """Create the planned runs (queued, run_type backfill, with ``conf``) and clear the ones to re-run;
        ParamValidationError names a param that ``conf`` breaks, before anything is written."""
        if conf:
            params_of(self.runnable_serialized_dag(dag_id).data).resolve(conf)  # type: ignore[attr-defined]
        keys: list[RunKey] = []
        for item in items:
            if item.action == "create":
                run = self.create_run(  # type: ignore[attr-defined]
                    dag_id, item.run_id, run_type="backfill", logical_date=item.logical_date, now=now,
                    data_interval=(item.data_interval.start, item.data_interval.end), conf=conf, state=R.QUEUED)
                keys.append(run.key)
            elif item.action in ("reset", "rerun_failed_tasks"):
                spec = ClearSpec(run_id=item.run_id, only_failed=item.action == "rerun_failed_tasks")
                tis = self.task_instances_to_clear(dag_id, spec)
                self.clear_task_instances([t.key for t in tis], now)
                keys.append(RunKey(dag_id, item.run_id))
            else:
                keys.append(RunKey(dag_id, item.run_id))
        return keys

    def runs_by_key(self, keys: Collection[RunKey]) -> list[DagRunRecord]:
        """The current records of these runs (missing ones left out), in the given order."""
        wanted = list(keys)
        with self._read() as s:
            rows = s.scalars(select(DagRunRow).where(
                DagRunRow.dag_id.in_(sorted({k.dag_id for k in wanted})),
                DagRunRow.run_id.in_(sorted({k.run_id for k in wanted})))).all()
        found = {RunKey(r.dag_id, r.run_id): run_record(r) for r in rows}
        return [found[k] for k in wanted if k in found]

    def delete_run(self, run: RunKey) -> dict[str, int]:
        """Delete one run with its task instances, tries and XComs; counts per table. DagRunNotFound if none."""
        counts: dict[str, int] = {}
        with self._session() as s:
            ids = select(DagRunRow.id).where(DagRunRow.dag_id == run.dag_id, DagRunRow.run_id == run.run_id)
            counts["dag_run_dataset_event"] = _delete(s, delete(DagRunDatasetEventRow).where(
                DagRunDatasetEventRow.dag_run_id.in_(ids)))
            for table in (XComRow, TaskRescheduleRow, TaskInstanceHistoryRow, TaskInstanceRow, SlaMissRow, DagRunRow):
                counts[table.__tablename__] = _delete(s, delete(table).where(
                    table.dag_id == run.dag_id, table.run_id == run.run_id))
            if not counts["dag_run"]:
                raise DagRunNotFound(f"DAG run {run.run_id!r} of DAG {run.dag_id!r} not found")
        return counts

    def set_run_note(self, run: RunKey, note: str | None, now: datetime) -> bool:
        """Replace a run's note (None removes it); False if there is no such run."""
        with self._session() as s:
            result = s.execute(update(DagRunRow).where(DagRunRow.dag_id == run.dag_id, DagRunRow.run_id == run.run_id)
                               .values(note=note, updated_at=now).execution_options(synchronize_session=False))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def delete_dag(self, dag_id: str) -> dict[str, int]:
        """Delete every row of a DAG but the audit log; counts per table. DagNotFound if none."""
        counts: dict[str, int] = {}
        with self._session() as s:
            run_ids = select(DagRunRow.id).where(DagRunRow.dag_id == dag_id)
            counts["dag_run_dataset_event"] = _delete(s, delete(DagRunDatasetEventRow).where(
                DagRunDatasetEventRow.dag_run_id.in_(run_ids)))
            for table in (XComRow, TaskRescheduleRow, TaskInstanceHistoryRow, TaskInstanceRow, SlaMissRow,
                          DagRunRow, DatasetDagRefRow, DatasetTaskRefRow, SerializedDagRow):
                counts[table.__tablename__] = _delete(s, delete(table).where(table.dag_id == dag_id))
            counts["dataset_dag_run_queue"] = _delete(s, delete(DatasetDagRunQueueRow).where(
                DatasetDagRunQueueRow.target_dag_id == dag_id))
            counts["dag"] = _delete(s, delete(DagRow).where(DagRow.dag_id == dag_id))
            if not any(counts.values()):
                raise DagNotFound(f"DAG {dag_id!r} not found")
        return counts


# --- helpers inside one transaction -------------------------------------------------------------

def _key(row: TaskInstanceRow) -> TaskInstanceKey:
    return TaskInstanceKey(row.dag_id, row.run_id, row.task_id, row.map_index)


def _delete(s: Session, statement: Any) -> int:
    return int(s.execute(statement.execution_options(synchronize_session=False)).rowcount)  # type: ignore[attr-defined]


def _serialized_of(s: Session, run: DagRunRow) -> Mapping[str, Any]:
    row = s.get(SerializedDagRow, run.serialized_dag_id) if run.serialized_dag_id else None
    row = row or _latest_serialized(s, run.dag_id)
    return row.data if row is not None else {}


class _RetriesOf:
    """Each task's ``retries`` from its run's serialized version, read once per version."""

    def __init__(self, s: Session) -> None:
        self._s = s
        self._graphs: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}

    def of(self, row: TaskInstanceRow) -> int:
        task = self.graph_of(row).get(row.task_id)
        return int(task.get("retries") or 0) if task is not None else max(row.max_tries - row.try_number, 0)

    def graph_of(self, row: TaskInstanceRow) -> dict[str, Mapping[str, Any]]:
        """The task graph of ``row``'s run."""
        run_key = (row.dag_id, row.run_id)
        if run_key not in self._graphs:
            run = self._s.scalars(select(DagRunRow).where(DagRunRow.dag_id == row.dag_id,
                                                          DagRunRow.run_id == row.run_id)).first()
            self._graphs[run_key] = task_graph(_serialized_of(self._s, run)) if run is not None else {}
        return self._graphs[run_key]


def _kept_skipped(s: Session, rows: Collection[TaskInstanceRow], graphs: _RetriesOf) -> set[int]:
    """Ids of the skipped ``rows`` a direct upstream's recorded decision skipped, that upstream
    not being cleared with them (Airflow's NotPreviouslySkippedDep)."""
    clearing = {(r.dag_id, r.run_id, r.task_id) for r in rows}
    kept: set[int] = set()
    for row in rows:
        if row.state != TI.SKIPPED.value:
            continue
        graph = graphs.graph_of(row)
        upstream = [u for u in graph.get(row.task_id, {}).get("upstream_task_ids") or ()
                    if (row.dag_id, row.run_id, u) not in clearing]
        if upstream and skipped_by_decision(graph, row.task_id, _skip_decisions(s, row, upstream)):
            kept.add(row.id)
    return kept


def _skip_decisions(s: Session, row: TaskInstanceRow, upstream: Collection[str]) -> dict[str, Any]:
    """upstream task id -> the decision it recorded under ``skipmixin_key`` in ``row``'s run."""
    found = s.execute(select(XComRow.task_id, XComRow.value).where(
        XComRow.dag_id == row.dag_id, XComRow.run_id == row.run_id, XComRow.map_index == -1,
        XComRow.task_id.in_(sorted(upstream)), XComRow.key == XCOM_SKIPMIXIN_KEY)).all()
    return {task_id: value for task_id, value in found}


def _rows_of(s: Session, keys: Collection[TaskInstanceKey]) -> list[TaskInstanceRow]:
    rows: list[TaskInstanceRow] = []
    by_run: dict[RunKey, list[TaskInstanceKey]] = {}
    for key in keys:
        by_run.setdefault(key.run_key, []).append(key)
    for run, members in sorted(by_run.items()):
        wanted = {(k.task_id, k.map_index) for k in members}
        found = s.scalars(select(TaskInstanceRow).where(
            TaskInstanceRow.dag_id == run.dag_id, TaskInstanceRow.run_id == run.run_id,
            TaskInstanceRow.task_id.in_(sorted({k.task_id for k in members})))
            .order_by(TaskInstanceRow.task_id, TaskInstanceRow.map_index)).all()
        rows.extend(r for r in found if (r.task_id, r.map_index) in wanted)
    return rows


def _unfinished_tis(s: Session, run: DagRunRow) -> list[TaskInstanceRow]:
    finished = sorted(t.value for t in TI_FINISHED)
    return list(s.scalars(select(TaskInstanceRow).where(
        TaskInstanceRow.dag_id == run.dag_id, TaskInstanceRow.run_id == run.run_id,
        TaskInstanceRow.state.not_in(finished)).order_by(TaskInstanceRow.task_id, TaskInstanceRow.map_index)))


def _cas_ti_row(s: Session, row: TaskInstanceRow, new: TaskInstanceState, fields: Mapping[str, Any]) -> bool:
    check_manual_ti_transition(row.state, new)
    result = s.execute(update(TaskInstanceRow)
                       .where(TaskInstanceRow.id == row.id, TaskInstanceRow.state == row.state)
                       .values(state=new.value, **fields).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _cas_run_row(s: Session, run: DagRunRow, new: DagRunState, fields: Mapping[str, Any]) -> bool:
    check_manual_run_transition(run.state, new)
    result = s.execute(update(DagRunRow).where(DagRunRow.id == run.id, DagRunRow.state == run.state)
                       .values(state=new.value, **fields).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _requeue_runs(s: Session, runs: Collection[RunKey], now: datetime) -> list[RunKey]:
    """Finished runs back to queued (Airflow: clear_number + 1, dates reset); others untouched."""
    finished = [st.value for st in RUN_FINISHED]
    moved: list[RunKey] = []
    for key in sorted(runs):
        run = s.scalars(select(DagRunRow).where(DagRunRow.dag_id == key.dag_id, DagRunRow.run_id == key.run_id,
                                                DagRunRow.state.in_(finished))).first()
        if run is not None and _cas_run_row(s, run, R.QUEUED, {
                "clear_number": run.clear_number + 1, "start_date": None, "end_date": None,
                "last_scheduling_decision": None, "queued_at": now, "updated_at": now}):
            moved.append(key)
    return moved


def _forget_reschedules(s: Session, keys: Iterable[TaskInstanceKey]) -> None:
    t = TaskRescheduleRow
    for key in keys:
        s.execute(delete(t).where(t.dag_id == key.dag_id, t.run_id == key.run_id, t.task_id == key.task_id,
                                  t.map_index == key.map_index))


def _record_kills(s: Session, keys: Iterable[TaskInstanceKey], now: datetime, why: str) -> None:
    for key in keys:
        s.add(LogRow(dttm=now, event=KILL_EVENT, source=None, dag_id=key.dag_id, run_id=key.run_id,
                     task_id=key.task_id, map_index=key.map_index, extra=why))
