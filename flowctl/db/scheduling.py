"""Store verbs the scheduler loop needs for runs: due DAGs, run starts, examination, decisions.

Every verb is one short transaction; every state change is a compare-and-set
(``WHERE state = :expected``), so several schedulers may apply the same
decision and exactly one wins each row. The runs to examine are the running
ones and the finished ones with unfinished task instances: a person marked
them success or failed and left their teardowns to run (``run_marks.py``).
Queueing lives in ``task_queue.py``, recovery (retries due, zombies, orphans)
in ``recovery.py``.
Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.states import (
    TI_FINISHED, DagRunState, TaskInstanceState, check_run_transition, check_ti_transition,
)
from flowctl.db.base import StoreCore, chunks
from flowctl.db.dags import _dag_record
from flowctl.db.records import DagRecord, DagRunRecord
from flowctl.db.runs import insert_task_instances, run_record
from flowctl.db.tables import DagRow, DagRunRow, TaskInstanceRow, XComRow

TI = TaskInstanceState
#: Task instances a timed-out run fails (they had started) and skips (they had not).
_TIMEOUT_FAIL = (TI.QUEUED, TI.RUNNING, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.DEFERRED)
_TIMEOUT_SKIP = (TI.PENDING, TI.SCHEDULED)


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """A running run and the (task_id, map_index) -> state of its task instances."""

    run: DagRunRecord
    states: Mapping[tuple[str, int], str]
    dag_paused: bool


_RUNNING_RUNS = (select(DagRunRow.__table__, DagRow.is_paused).join(DagRow, DagRow.dag_id == DagRunRow.dag_id)
                 .where(DagRunRow.state == "running").order_by(DagRunRow.logical_date).limit(bindparam("limit")))
#: Finished runs with unfinished task instances (teardowns a person's mark left to run), newest end first.
_UNFINISHED = sorted(s.value for s in TaskInstanceState if s not in TI_FINISHED)
_UNFINISHED_TIS = (select(TaskInstanceRow.dag_id, TaskInstanceRow.run_id)
                   .where(TaskInstanceRow.state.in_(_UNFINISHED)).distinct().subquery())
_MARKED_RUNS = (select(DagRunRow.__table__, DagRow.is_paused).join(DagRow, DagRow.dag_id == DagRunRow.dag_id)
                .join(_UNFINISHED_TIS, (_UNFINISHED_TIS.c.dag_id == DagRunRow.dag_id)
                      & (_UNFINISHED_TIS.c.run_id == DagRunRow.run_id))
                .where(DagRunRow.state.in_(("success", "failed")))
                .order_by(DagRunRow.end_date.desc()).limit(bindparam("limit")))
_RUN_TI_STATES = (select(TaskInstanceRow.run_id, TaskInstanceRow.task_id, TaskInstanceRow.map_index,
                         TaskInstanceRow.state)
                  .where(TaskInstanceRow.dag_id == bindparam("dag_id"),
                         TaskInstanceRow.run_id.in_(bindparam("run_ids", expanding=True))))


def _active_run_counts(s: Session, dag_ids: Collection[str], states: Iterable[str]) -> dict[str, int]:
    rows = s.execute(select(DagRunRow.dag_id, func.count()).where(
        DagRunRow.dag_id.in_(list(dag_ids)), DagRunRow.state.in_(list(states))).group_by(DagRunRow.dag_id))
    return {dag_id: int(n) for dag_id, n in rows}


class RunSchedulingVerbs(StoreCore):
    """dags_due, last_automated_interval, active_run_count, start_queued_runs, runs_to_examine, ..."""

    def dags_due(self, now: datetime) -> list[DagRecord]:
        """Active, unpaused DAGs whose next scheduled run may be created at ``now``."""
        query = select(DagRow).where(DagRow.is_active.is_(True), DagRow.is_paused.is_(False),
                                     DagRow.next_dagrun_create_after <= now).order_by(DagRow.next_dagrun_create_after)
        with self._read() as s:
            return [_dag_record(r) for r in s.scalars(query).all()]

    def dags_without_next_dagrun(self) -> list[DagRecord]:
        """Active, unpaused DAGs with no next run recorded (new, unpaused, or blocked earlier)."""
        query = select(DagRow).where(DagRow.is_active.is_(True), DagRow.is_paused.is_(False),
                                     DagRow.next_dagrun_create_after.is_(None))
        with self._read() as s:
            return [_dag_record(r) for r in s.scalars(query).all()]

    def last_automated_interval(self, dag_id: str) -> tuple[datetime, datetime] | None:
        """The data interval of the DAG's latest scheduled or backfill run (Airflow's automated runs: the
        schedule continues after a backfill), None if it has none."""
        query = (select(DagRunRow.data_interval_start, DagRunRow.data_interval_end, DagRunRow.logical_date)
                 .where(DagRunRow.dag_id == dag_id, DagRunRow.run_type.in_(("scheduled", "backfill")))
                 .order_by(DagRunRow.logical_date.desc()).limit(1))
        with self._read() as s:
            row = s.execute(query).first()
        if row is None:
            return None
        return (row[0] or row[2], row[1] or row[2])

    def active_run_count(self, dag_id: str) -> int:
        """How many runs of the DAG are queued or running."""
        with self._read() as s:
            return _active_run_counts(s, [dag_id], ("queued", "running")).get(dag_id, 0)

    def start_queued_runs(self, now: datetime, default_max_active_runs: int,
                          paused_run_types: Collection[str]) -> list[DagRunRecord]:
        """queued -> running, oldest logical date first, within each DAG's max_active_runs.

        Runs of paused DAGs start only if their run_type is in ``paused_run_types``. A manual run
        whose logical date is still in the future waits for it, as Airflow 2's (``allow_trigger_in_future``
        off): a manual run for tomorrow runs tomorrow. (A backfill of future dates runs now.)
        """
        check_run_transition(DagRunState.QUEUED, DagRunState.RUNNING)
        due = (DagRunRow.state == "queued", (DagRunRow.logical_date <= now) | (DagRunRow.run_type != "manual"))
        with self._read() as s:  # the common case: no queued run, no write transaction
            if s.scalar(select(DagRunRow.id).where(*due).limit(1)) is None:
                return []
        with self._session() as s:
            queued = s.execute(
                select(DagRunRow, DagRow.is_paused, DagRow.max_active_runs)
                .join(DagRow, DagRow.dag_id == DagRunRow.dag_id)
                .where(*due).order_by(DagRunRow.logical_date, DagRunRow.id)
            ).all()
            if not queued:
                return []
            dag_ids = sorted({r.dag_id for r, _, _ in queued})
            if self.dialect == "postgresql":  # schedulers starting runs of one DAG take turns
                s.execute(select(DagRow.dag_id).where(DagRow.dag_id.in_(dag_ids)).order_by(DagRow.dag_id)
                          .with_for_update())
            running = _active_run_counts(s, dag_ids, ("running",))
            started = []
            for run, paused, limit in queued:
                if paused and run.run_type not in paused_run_types:
                    continue
                if running.get(run.dag_id, 0) >= (limit or default_max_active_runs):
                    continue
                won = s.execute(update(DagRunRow).where(DagRunRow.id == run.id, DagRunRow.state == "queued")
                                .values(state="running", start_date=now, updated_at=now)
                                .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
                if won == 1:
                    running[run.dag_id] = running.get(run.dag_id, 0) + 1
                    s.refresh(run)
                    started.append(run_record(run))
            return started

    def runs_to_examine(self, paused_run_types: Collection[str], limit: int = 1000, *,
                        with_marked: bool = True) -> list[RunSnapshot]:
        """Running runs (of unpaused DAGs, or of a type in ``paused_run_types``) with their TI states, then
        (``with_marked``) finished runs with unfinished TIs (teardowns left to run) in the room ``limit``
        leaves: the scheduler asks for those in its full rounds only, not at every task's end.

        Core statements built once, not the ORM: the scheduler calls this every round.
        """
        with self._read_engine.begin() as conn:
            rows = conn.execute(_RUNNING_RUNS, {"limit": limit}).all()
            if with_marked and len(rows) < limit:
                rows += conn.execute(_MARKED_RUNS, {"limit": limit - len(rows)}).all()
            runs = [r for r in rows if not r.is_paused or r.run_type in paused_run_types]
            if not runs:
                return []
            states: dict[tuple[str, str], dict[tuple[str, int], str]] = {(r.dag_id, r.run_id): {} for r in runs}
            for dag_id in {r.dag_id for r in runs}:
                run_ids = [r.run_id for r in runs if r.dag_id == dag_id]
                for chunk in chunks(run_ids):
                    for run_id, task_id, map_index, state in conn.execute(
                            _RUN_TI_STATES, {"dag_id": dag_id, "run_ids": chunk}):
                        states[(dag_id, run_id)][(task_id, map_index)] = state
            return [RunSnapshot(run_record(r), states[(r.dag_id, r.run_id)], bool(r.is_paused)) for r in runs]

    def previous_run_states(self, run: DagRunRecord) -> dict[tuple[str, int], str] | None:
        """TI states of the DAG's run just before ``run`` by logical date; None if there is none."""
        with self._read() as s:
            prev = s.scalars(select(DagRunRow).where(DagRunRow.dag_id == run.dag_id,
                                                     DagRunRow.logical_date < run.logical_date)
                             .order_by(DagRunRow.logical_date.desc()).limit(1)).first()
            if prev is None:
                return None
            ti = TaskInstanceRow
            rows = s.execute(select(ti.task_id, ti.map_index, ti.state)
                             .where(ti.dag_id == prev.dag_id, ti.run_id == prev.run_id))
            return {(t, m): st for t, m, st in rows}

    def apply_decisions(self, run: RunKey, now: datetime, *, schedule: Collection[TaskInstanceKey] = (),
                        skip: Collection[TaskInstanceKey] = (),
                        upstream_failed: Collection[TaskInstanceKey] = ()) -> int:
        """pending -> scheduled / skipped / upstream_failed for the given TIs, in one transaction.

        Returns how many rows this call changed (the others had moved on already).
        """
        changed = 0
        with self._session() as s:
            for new, keys in ((TI.SCHEDULED, schedule), (TI.SKIPPED, skip), (TI.UPSTREAM_FAILED, upstream_failed)):
                if not keys:
                    continue
                check_ti_transition(TI.PENDING, new)
                fields = {"updated_at": now}
                if new is not TI.SCHEDULED:
                    fields.update(start_date=now, end_date=now, duration=0.0)
                changed += _cas_many(s, run, keys, TI.PENDING, new, fields)
        return changed

    def expand_mapped_task(self, run: RunKey, task_id: str, length: int, now: datetime) -> bool:
        """Turn a mapped task's placeholder (map_index -1) into map indexes 0..length-1.

        The placeholder becomes index 0 (a length of 0 skips it), so exactly one
        caller wins the expansion. False if the placeholder was gone already.
        """
        ti = TaskInstanceRow
        where = [ti.dag_id == run.dag_id, ti.run_id == run.run_id, ti.task_id == task_id,
                 ti.map_index == -1, ti.state == TI.PENDING.value]
        with self._session() as s:
            template = s.scalars(select(ti).where(*where)).first()
            if template is None:
                return False
            if length == 0:
                values = {"state": TI.SKIPPED.value, "start_date": now, "end_date": now, "updated_at": now}
            else:
                values = {"map_index": 0, "updated_at": now}
            won = s.execute(update(ti).where(*where).values(**values)
                            .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
            if won != 1:
                return False
            insert_task_instances(s.connection(), [_copied_ti(template, index, now) for index in range(1, length)])
            return True

    def remap_mapped_task(self, run: RunKey, task_id: str, length: int, now: datetime) -> bool:
        """Re-expand an expanded mapped task whose input now has ``length`` items (after a clear).

        Only while every non-removed map index is pending (compare-and-set: False,
        and nothing written, once one has moved on). Indexes missing below
        ``length`` are made from an existing row (removed ones come back to
        pending); indexes at or above it become removed and lose their XComs; a
        length of 0 skips every index, as expansion does. False if nothing changed.
        """
        try:
            with self._session() as s:
                ti = TaskInstanceRow
                where = (ti.dag_id == run.dag_id, ti.run_id == run.run_id, ti.task_id == task_id)
                if self.dialect == "postgresql":  # then read again, so rows made meanwhile are seen
                    s.execute(select(ti.id).where(*where).with_for_update())
                rows = s.execute(select(ti.map_index, ti.state).where(*where)).all()
                states = {index: state for index, state in rows}
                live = sorted(i for i, state in states.items() if state != TI.REMOVED.value)
                if (not live or -1 in states or any(states[i] != TI.PENDING.value for i in live)
                        or live == list(range(length))):
                    return False
                _remap_rows(s, _IndexesOf(run, task_id), states, length, now)
                return True
        except _RowsMoved:
            return False

    def time_out_run(self, run: RunKey, now: datetime) -> list[TaskInstanceKey]:
        """Fail a running run past its dagrun_timeout: started TIs fail, not-started ones skip.

        Returns the keys of TIs that were queued or running (the caller terminates them).
        """
        ti = TaskInstanceRow
        with self._session() as s:
            won = s.execute(update(DagRunRow).where(DagRunRow.dag_id == run.dag_id, DagRunRow.run_id == run.run_id,
                                                    DagRunRow.state == "running")
                            .values(state="failed", end_date=now, updated_at=now)
                            .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
            if won != 1:
                return []
            active = s.execute(select(ti.task_id, ti.map_index).where(
                ti.dag_id == run.dag_id, ti.run_id == run.run_id, ti.state.in_(["queued", "running"]))).all()
            for states, new in ((_TIMEOUT_FAIL, TI.FAILED), (_TIMEOUT_SKIP, TI.SKIPPED)):
                s.execute(update(ti).where(ti.dag_id == run.dag_id, ti.run_id == run.run_id,
                                           ti.state.in_([st.value for st in states]))
                          .values(state=new.value, end_date=now, updated_at=now,
                                  note="dagrun_timeout: the run took too long")
                          .execution_options(synchronize_session=False))
            return [TaskInstanceKey(run.dag_id, run.run_id, t, m) for t, m in active]

    def finish_run(self, run: RunKey, state: DagRunState | str, now: datetime) -> bool:
        """running -> success / failed; True if this call finished it."""
        check_run_transition(DagRunState.RUNNING, state)
        with self._session() as s:
            won = s.execute(update(DagRunRow).where(DagRunRow.dag_id == run.dag_id, DagRunRow.run_id == run.run_id,
                                                    DagRunRow.state == "running")
                            .values(state=DagRunState(state).value, end_date=now, updated_at=now,
                                    last_scheduling_decision=now)
                            .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
            return bool(won == 1)


def _cas_many(s: Session, run: RunKey, keys: Collection[TaskInstanceKey], expected: TaskInstanceState,
              new: TaskInstanceState, fields: Mapping[str, object]) -> int:
    ti = TaskInstanceRow
    by_index: dict[int, list[str]] = {}
    for key in keys:
        by_index.setdefault(key.map_index, []).append(key.task_id)
    changed = 0
    for map_index, task_ids in by_index.items():
        result = s.execute(update(ti).where(ti.dag_id == run.dag_id, ti.run_id == run.run_id,
                                            ti.map_index == map_index, ti.task_id.in_(task_ids),
                                            ti.state == expected.value)
                           .values(state=new.value, **fields).execution_options(synchronize_session=False))
        changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed


class _RowsMoved(Exception):
    """A compare-and-set inside a verb lost: the verb's transaction rolls back."""


@dataclass(frozen=True, slots=True)
class _IndexesOf:
    """The task instances of one task in one run."""

    run: RunKey
    task_id: str

    def where(self, indexes: Collection[int]) -> list[Any]:
        ti = TaskInstanceRow
        return [ti.dag_id == self.run.dag_id, ti.run_id == self.run.run_id, ti.task_id == self.task_id,
                ti.map_index.in_(sorted(indexes))]


def _remap_rows(s: Session, task: _IndexesOf, states: Mapping[int, str], length: int, now: datetime) -> None:
    """remap_mapped_task's writes, once it has checked every non-removed index is pending."""
    ti = TaskInstanceRow
    live = sorted(i for i, state in states.items() if state != TI.REMOVED.value)
    template = s.scalars(select(ti).where(*task.where([live[0]]))).one()
    retries = max(template.max_tries - template.try_number, 0)
    dropped = [i for i in live if i >= length]  # every index when the input is empty
    if length:
        _cas_indexes(s, task, dropped, TI.REMOVED, {"end_date": now, "updated_at": now})
    else:  # an empty input skips the task, as expansion does
        _cas_indexes(s, task, dropped, TI.SKIPPED, {"start_date": now, "end_date": now, "updated_at": now})
    if dropped:  # their outputs are no longer the mapped task's (xcom_pull_mapped would still list them)
        s.execute(delete(XComRow).where(XComRow.dag_id == task.run.dag_id, XComRow.run_id == task.run.run_id,
                                        XComRow.task_id == task.task_id, XComRow.map_index.in_(dropped)))
    back = [i for i in range(length) if states.get(i) == TI.REMOVED.value]
    _cas_indexes(s, task, back, TI.PENDING, {"end_date": None, "updated_at": now,
                                             "max_tries": ti.try_number + retries}, expected=TI.REMOVED)
    insert_task_instances(s.connection(), [dict(_copied_ti(template, i, now), max_tries=retries)
                                           for i in range(length) if i not in states])


def _cas_indexes(s: Session, task: _IndexesOf, indexes: Collection[int], new: TaskInstanceState,
                 fields: Mapping[str, object], expected: TaskInstanceState = TI.PENDING) -> None:
    """expected -> new for these map indexes, all of them or (raising _RowsMoved) none."""
    if not indexes:
        return
    check_ti_transition(expected, new)
    won = s.execute(update(TaskInstanceRow).where(*task.where(indexes), TaskInstanceRow.state == expected.value)
                    .values(state=new.value, **fields)
                    .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if won != len(indexes):
        raise _RowsMoved


def _copied_ti(template: TaskInstanceRow, map_index: int, now: datetime) -> dict[str, Any]:
    """The columns of map index ``map_index`` of the mapped task whose placeholder is ``template``."""
    return dict(
        dag_id=template.dag_id, run_id=template.run_id, task_id=template.task_id, map_index=map_index,
        state=TI.PENDING.value, try_number=0, max_tries=template.max_tries, queue=template.queue,
        pool=template.pool, pool_slots=template.pool_slots, priority_weight=template.priority_weight,
        operator=template.operator, executor=template.executor, updated_at=now,
    )
