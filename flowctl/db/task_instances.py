"""Store verbs for task instances: THE compare-and-set state change, claiming, try history.

Nothing else writes ``task_instance.state``. Every change is checked against
``core/states.py`` first, then applied as ``UPDATE … WHERE <key> AND state =
:expected``; the caller learns whether it won. Must not import above ``db``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from flowctl.core.errors import TaskInstanceNotFound
from flowctl.core.states import TaskInstanceState, check_manual_ti_transition, check_ti_transition
from flowctl.db.base import StoreCore
from flowctl.db.records import RunKey, TaskInstanceKey, TaskInstanceRecord, TaskTryRecord, record_from
from flowctl.db.runs import _check_fields
from flowctl.db.tables import TaskInstanceHistoryRow, TaskInstanceRow

_KEY_COLUMNS = frozenset({"id", "dag_id", "run_id", "task_id", "map_index"})
_TI_WRITABLE = frozenset(c.name for c in TaskInstanceRow.__table__.columns) - _KEY_COLUMNS - {"state"}
_HISTORY_COPIED = tuple(
    c.name for c in TaskInstanceHistoryRow.__table__.columns
    if c.name != "id" and c.name in TaskInstanceRow.__table__.columns
)


def ti_where(key: TaskInstanceKey) -> list[ColumnElement[bool]]:
    """The WHERE clause selecting one task instance by key."""
    return [TaskInstanceRow.dag_id == key.dag_id, TaskInstanceRow.run_id == key.run_id,
            TaskInstanceRow.task_id == key.task_id, TaskInstanceRow.map_index == key.map_index]


def _describe(key: TaskInstanceKey) -> str:
    suffix = f"[{key.map_index}]" if key.map_index >= 0 else ""
    return f"task instance {key.dag_id}.{key.task_id}{suffix} of run {key.run_id!r}"


class TaskInstanceVerbs(StoreCore):
    """get/list task instances, set_task_state, claim_queued_task, notes, try history."""

    def get_task_instance(self, key: TaskInstanceKey) -> TaskInstanceRecord:
        """One task instance; TaskInstanceNotFound names it."""
        with self._read() as s:
            row = s.scalars(select(TaskInstanceRow).where(*ti_where(key))).first()
            if row is None:
                raise TaskInstanceNotFound(f"{_describe(key)} not found")
            return record_from(TaskInstanceRecord, row)

    def list_task_instances(self, run: RunKey, state: TaskInstanceState | str | None = None
                            ) -> list[TaskInstanceRecord]:
        """The task instances of one run, by task_id and map_index."""
        query = (select(TaskInstanceRow)
                 .where(TaskInstanceRow.dag_id == run.dag_id, TaskInstanceRow.run_id == run.run_id)
                 .order_by(TaskInstanceRow.task_id, TaskInstanceRow.map_index))
        if state is not None:
            query = query.where(TaskInstanceRow.state == TaskInstanceState(state).value)
        with self._read() as s:
            return [record_from(TaskInstanceRecord, r) for r in s.scalars(query).all()]

    def set_task_state(self, key: TaskInstanceKey, expected: TaskInstanceState | str,
                       new: TaskInstanceState | str, **fields: Any) -> bool:
        """Compare-and-set one task instance's state (and ``fields``); True if this call won.

        IllegalTransitionError (naming both states) if core/states.py forbids it.
        """
        check_ti_transition(expected, new)
        return self._cas_ti(key, expected, new, fields)

    def set_task_state_manually(self, key: TaskInstanceKey, expected: TaskInstanceState | str,
                                new: TaskInstanceState | str, **fields: Any) -> bool:
        """Like set_task_state, with the wider table of what a person may do (clear, mark)."""
        check_manual_ti_transition(expected, new)
        return self._cas_ti(key, expected, new, fields)

    def claim_queued_task(self, key: TaskInstanceKey, hostname: str, pid: int, now: datetime) -> bool:
        """queued -> running for the worker that will run this try; exactly one caller wins.

        Increments try_number and records hostname, pid, start and heartbeat times.
        """
        return self.set_task_state(
            key, TaskInstanceState.QUEUED, TaskInstanceState.RUNNING,
            try_number=TaskInstanceRow.try_number + 1, hostname=hostname, pid=pid, start_date=now,
            end_date=None, duration=None, last_heartbeat_at=now, updated_at=now,
        )

    def heartbeat_task(self, key: TaskInstanceKey, now: datetime, *, try_number: int) -> bool:
        """Record that try ``try_number`` is alive; False if it is no longer the running try.

        Matching the try number too means a try that was cleared while it ran
        learns it must stop even when a newer try of the same task is running.
        """
        with self._session() as s:
            result = s.execute(
                update(TaskInstanceRow).where(*ti_where(key), TaskInstanceRow.state == TaskInstanceState.RUNNING.value,
                                              TaskInstanceRow.try_number == try_number)
                .values(last_heartbeat_at=now)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def set_task_instance_note(self, key: TaskInstanceKey, note: str | None, now: datetime) -> bool:
        """Replace a task instance's note (None removes it); False if there is no such task instance."""
        with self._session() as s:
            result = s.execute(update(TaskInstanceRow).where(*ti_where(key)).values(note=note, updated_at=now)
                               .execution_options(synchronize_session=False))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def record_try_history(self, key: TaskInstanceKey) -> None:
        """Copy the task instance's current (finished) try into task_instance_history."""
        with self._session() as s:
            row = s.scalars(select(TaskInstanceRow).where(*ti_where(key))).first()
            if row is None:
                raise TaskInstanceNotFound(f"{_describe(key)} not found")
            _upsert_history(s, row)

    def list_tries(self, key: TaskInstanceKey) -> list[TaskTryRecord]:
        """Every recorded finished try of a task instance, oldest first."""
        h = TaskInstanceHistoryRow
        query = (select(h).where(h.dag_id == key.dag_id, h.run_id == key.run_id, h.task_id == key.task_id,
                                 h.map_index == key.map_index).order_by(h.try_number))
        with self._read() as s:
            return [record_from(TaskTryRecord, r) for r in s.scalars(query).all()]

    def _cas_ti(self, key: TaskInstanceKey, expected: TaskInstanceState | str, new: TaskInstanceState | str,
                fields: Mapping[str, Any]) -> bool:
        _check_fields(fields, _TI_WRITABLE, "task_instance")
        # Core, not a Session: this is the hottest write in flowctl, and one statement needs no ORM.
        with self.engine.begin() as conn:
            result = conn.execute(
                update(TaskInstanceRow)
                .where(*ti_where(key), TaskInstanceRow.state == TaskInstanceState(expected).value)
                .values(state=TaskInstanceState(new).value, **fields)
            )
            return bool(result.rowcount == 1)


def _upsert_history(s: Session, row: TaskInstanceRow) -> None:
    h = TaskInstanceHistoryRow
    existing = s.scalars(select(h).where(h.dag_id == row.dag_id, h.run_id == row.run_id, h.task_id == row.task_id,
                                         h.map_index == row.map_index, h.try_number == row.try_number)).first()
    target = existing if existing is not None else h()
    for name in _HISTORY_COPIED:
        setattr(target, name, getattr(row, name))
    if existing is None:
        s.add(target)
