"""Store verbs of deferral: a try defers, triggerers take triggers, a trigger fires, fails or times out.

* ``defer_try``: running -> deferred (compare-and-set on the running try) with a new trigger
  row, the method to resume in and its kwargs, the deferral's timeout, in one transaction;
  try_number goes back by one (the resumed run is the same try, as a reschedule's poke is);
* ``assign_triggers``: a triggerer takes unassigned triggers, and those of triggerers whose
  heartbeat stopped, up to its capacity (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
  triggerers never take the same one); it gets the ids of all its triggers whose task still waits;
* ``fire_trigger`` / ``fail_trigger``: the trigger's deferred task instances -> scheduled
  (compare-and-set: a clear or mark since wins), with ``event`` added to next_kwargs, or resumed
  in ``__fail__``; the trigger row goes; the scheduler is woken;
* ``time_out_deferrals``: deferred past trigger_timeout -> scheduled in ``__fail__`` (the task
  then fails with TaskDeferralTimeout, retried per its policy);
* ``delete_unused_triggers``: triggers no deferred task instance waits on (cleared, marked, timed out);
* ``triggers`` (with the try each waits in: the triggerer writes the trigger's lines to its log) and
  ``triggers_with_jobs`` (with the triggerer job running each: the REST API's task instance).
Kwargs arrive as JSON data already (``flowctl.core.deferral.encode_json``); with a fernet key they
are stored encrypted (:func:`seal_kwargs`), and ``rotate-fernet-key`` re-encrypts them.
Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, null, or_, select, update
from sqlalchemy.orm import Session

from flowctl.core.deferral import FAIL_METHOD, TIMEOUT_ERROR, TRIGGER_FAILURE
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState, check_ti_transition
from flowctl.db.base import StoreCore
from flowctl.db.records import JobRecord, record_from
from flowctl.db.secrets import NO_KEY_HINT, FernetBox, FernetKeyError, optional_box
from flowctl.db.tables import JobRow, TaskInstanceRow, TriggerRow, XComRow
from flowctl.db.task_instances import ti_where

TI = TaskInstanceState
_ti = TaskInstanceRow
#: The wake-up reason of a trigger that fired or failed: the scheduler queues its task.
TRIGGER_WAKE = "trigger fired"


@dataclass(frozen=True, slots=True)
class WaitingTry:
    """The task try a trigger resumes: its log is ``attempt=<try_number>.log``. A deferred task
    instance holds ``try_number - 1`` (the resumed run claims it back: it is the same try)."""

    key: TaskInstanceKey
    try_number: int
    timeout_at: datetime | None


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """One trigger as the triggerer builds it: ``classpath(**kwargs)`` (kwargs as stored JSON), and
    the try that waits on it (None when no deferred task instance does any more)."""

    id: int
    classpath: str
    kwargs: Mapping[str, Any]
    created_date: datetime
    triggerer_id: int | None
    waiting: WaitingTry | None = None


@dataclass(frozen=True, slots=True)
class Deferral:
    """What a deferred task instance waits for (the CLI's and web UI's explanation)."""

    trigger_id: int
    classpath: str
    next_method: str | None
    trigger_timeout: datetime | None
    triggerer_id: int | None


def _waiting_on(trigger_id: Any) -> Any:
    """Whether a deferred task instance waits on trigger ``trigger_id`` (a column or a value)."""
    return exists().where(_ti.trigger_id == trigger_id, _ti.state == TI.DEFERRED.value)


#: The one key of stored trigger kwargs that are a Fernet token of their JSON.
SEALED_KWARGS = "__fernet__"


def seal_kwargs(kwargs: Mapping[str, Any], box: FernetBox | None) -> dict[str, Any]:
    """Trigger kwargs as stored: encrypted whole when a fernet key is configured (as Airflow 2.9+ does:
    a trigger often carries a credential), as they are without one."""
    return {SEALED_KWARGS: box.encrypt(json.dumps(dict(kwargs)))} if box else dict(kwargs)


def unseal_kwargs(stored: Mapping[str, Any] | None, box: FernetBox | None) -> dict[str, Any]:
    """Stored trigger kwargs in clear (those written before a key existed are read as they are)."""
    if not stored or set(stored) != {SEALED_KWARGS}:
        return dict(stored or {})
    if box is None:
        raise FernetKeyError(f"no fernet key is configured, so a trigger's kwargs cannot be read: {NO_KEY_HINT}")
    return dict(json.loads(box.decrypt(stored[SEALED_KWARGS])))


def rotate_trigger_kwargs(s: Session, box: FernetBox) -> int:
    """Re-encrypt every trigger's kwargs with ``box``'s first key (encrypt those in clear); how many."""
    rows = s.scalars(select(TriggerRow)).all()
    for row in rows:
        row.kwargs = seal_kwargs(unseal_kwargs(row.kwargs, box), box)
    return len(rows)


class TriggerVerbs(StoreCore):
    """defer_try, assign_triggers, triggers, triggers_with_jobs, fire_trigger, fail_trigger, time_out_deferrals,
    deferral_of."""

    def defer_try(self, key: TaskInstanceKey, running_try: int, classpath: str, trigger_kwargs: Mapping[str, Any],
                  next_method: str, next_kwargs: Mapping[str, Any] | None, timeout_at: datetime | None,
                  now: datetime, rendered_fields: Mapping[str, Any] | None = None,
                  xcoms: Mapping[str, Any] | None = None) -> bool:
        """running (try ``running_try``) -> deferred waiting on a new trigger; False if the try no
        longer runs (cleared, marked or killed meanwhile), and then no trigger is left behind.
        ``xcoms`` (a supervised try's pushes, kept until now) are written if the deferral wins."""
        check_ti_transition(TI.RUNNING, TI.DEFERRED)
        values: dict[str, Any] = {"state": TI.DEFERRED.value, "try_number": running_try - 1,
                                  "next_method": next_method, "next_kwargs": dict(next_kwargs or {}),
                                  "trigger_timeout": timeout_at, "updated_at": now}
        if rendered_fields is not None:
            values["rendered_fields"] = dict(rendered_fields)
        with self._session() as s:
            trigger = TriggerRow(classpath=classpath, kwargs=seal_kwargs(trigger_kwargs, optional_box(self.fernet_key)),
                                 created_date=now)
            s.add(trigger)
            s.flush()
            won = s.execute(update(_ti).where(*ti_where(key), _ti.state == TI.RUNNING.value,
                                              _ti.try_number == running_try)
                            .values(trigger_id=trigger.id, **values)
                            .execution_options(synchronize_session=False)).rowcount == 1  # type: ignore[attr-defined]
            if not won:
                s.delete(trigger)
            for name, value in (xcoms or {}).items() if won else ():
                s.execute(delete(XComRow).where(XComRow.dag_id == key.dag_id, XComRow.run_id == key.run_id,
                                                XComRow.task_id == key.task_id, XComRow.map_index == key.map_index,
                                                XComRow.key == name))
                s.add(XComRow(dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index,
                              key=name, value=value, timestamp=now))
            return bool(won)

    def assign_triggers(self, triggerer_id: int, capacity: int, alive_after: datetime) -> list[int]:
        """Take unassigned triggers (and those of triggerers not heard of since ``alive_after``) up to
        ``capacity`` in all; the ids of every trigger of this triggerer whose task still waits."""
        t = TriggerRow
        alive = select(JobRow.id).where(JobRow.job_type == "triggerer", JobRow.state == "running",
                                        JobRow.latest_heartbeat > alive_after)
        mine = (t.triggerer_id == triggerer_id) & _waiting_on(t.id)
        with self._session() as s:
            held = s.scalar(select(func.count()).select_from(t).where(mine)) or 0
            room = capacity - int(held)
            if room > 0:
                free = list(s.scalars(
                    select(t.id).where(or_(t.triggerer_id.is_(None), t.triggerer_id.not_in(alive)), _waiting_on(t.id))
                    .order_by(t.id).limit(room).with_for_update(skip_locked=True)))
                if free:
                    s.execute(update(t).where(t.id.in_(free)).values(triggerer_id=triggerer_id)
                              .execution_options(synchronize_session=False))
            return list(s.scalars(select(t.id).where(mine).order_by(t.id)))

    def triggers(self, ids: Sequence[int]) -> list[TriggerRecord]:
        """The triggers with these ids (those that still exist), each with the try waiting on it."""
        if not ids:
            return []
        waiting = (_ti.trigger_id == TriggerRow.id) & (_ti.state == TI.DEFERRED.value)
        query = (select(TriggerRow, _ti.dag_id, _ti.run_id, _ti.task_id, _ti.map_index, _ti.try_number,
                        _ti.trigger_timeout)
                 .outerjoin(_ti, waiting).where(TriggerRow.id.in_(list(ids))).order_by(TriggerRow.id))
        found: dict[int, TriggerRecord] = {}
        box = optional_box(self.fernet_key)
        with self._read() as s:
            for r, dag_id, run_id, task_id, map_index, try_number, timeout_at in s.execute(query):
                if r.id in found:  # one trigger, one task instance (a second one would be a stray)
                    continue
                tried = None if dag_id is None else WaitingTry(TaskInstanceKey(dag_id, run_id, task_id, map_index),
                                                               try_number + 1, timeout_at)
                found[r.id] = TriggerRecord(r.id, r.classpath, unseal_kwargs(r.kwargs, box), r.created_date,
                                            r.triggerer_id, tried)
        return list(found.values())

    def triggers_with_jobs(self, ids: Sequence[int]) -> dict[int, tuple[TriggerRecord, JobRecord | None]]:
        """The triggers with these ids and the triggerer job each is assigned to (None: not taken yet)."""
        if not ids:
            return {}
        query = (select(TriggerRow, JobRow).outerjoin(JobRow, JobRow.id == TriggerRow.triggerer_id)
                 .where(TriggerRow.id.in_(list(ids))))
        box = optional_box(self.fernet_key)
        with self._read() as s:
            return {t.id: (TriggerRecord(t.id, t.classpath, unseal_kwargs(t.kwargs, box), t.created_date,
                                         t.triggerer_id),
                           None if j is None else record_from(JobRecord, j))
                    for t, j in s.execute(query)}

    def fire_trigger(self, trigger_id: int, event: Any, now: datetime) -> list[TaskInstanceKey]:
        """The trigger fired with payload ``event`` (JSON data): its deferred task instances resume
        with ``event`` among their next_kwargs; the ones moved to scheduled."""
        return self._resume(trigger_id, now, lambda kwargs, method: ({**kwargs, "event": event}, method))

    def fail_trigger(self, trigger_id: int, error: str, now: datetime) -> list[TaskInstanceKey]:
        """The trigger raised ``error``: its deferred task instances resume in ``__fail__`` and fail."""
        failure = {"error": TRIGGER_FAILURE, "traceback": error}
        return self._resume(trigger_id, now, lambda kwargs, method: (failure, FAIL_METHOD))

    def _resume(self, trigger_id: int, now: datetime, change: Any) -> list[TaskInstanceKey]:
        check_ti_transition(TI.DEFERRED, TI.SCHEDULED)
        moved = []
        with self._session() as s:
            rows = s.execute(select(_ti.id, _ti.dag_id, _ti.run_id, _ti.task_id, _ti.map_index, _ti.next_kwargs,
                                    _ti.next_method)
                             .where(_ti.trigger_id == trigger_id, _ti.state == TI.DEFERRED.value)).all()
            for row in rows:
                kwargs, method = change(dict(row.next_kwargs or {}), row.next_method)
                won = s.execute(update(_ti).where(_ti.id == row.id, _ti.state == TI.DEFERRED.value,
                                                  _ti.trigger_id == trigger_id)
                                .values(state=TI.SCHEDULED.value, next_kwargs=kwargs, next_method=method,
                                        trigger_id=None, trigger_timeout=None, updated_at=now)
                                .execution_options(synchronize_session=False)).rowcount
                if won == 1:
                    moved.append(TaskInstanceKey(row.dag_id, row.run_id, row.task_id, row.map_index))
            s.execute(delete(TriggerRow).where(TriggerRow.id == trigger_id))
        if moved:
            getattr(self, "notify_scheduler", lambda reason: None)(TRIGGER_WAKE)
        return moved

    def time_out_deferrals(self, now: datetime) -> list[TaskInstanceKey]:
        """Deferred task instances whose trigger_timeout passed -> scheduled, to fail in ``__fail__``."""
        check_ti_transition(TI.DEFERRED, TI.SCHEDULED)
        due = [_ti.state == TI.DEFERRED.value, _ti.trigger_timeout.is_not(None), _ti.trigger_timeout <= now]
        with self._read() as s:  # the common case: nothing timed out, no write transaction
            if s.scalar(select(_ti.id).where(*due).limit(1)) is None:
                return []
        with self._session() as s:
            rows = s.execute(select(_ti.id, _ti.dag_id, _ti.run_id, _ti.task_id, _ti.map_index).where(*due)).all()
            moved = []
            for row in rows:
                won = s.execute(update(_ti).where(_ti.id == row.id, *due)
                                .values(state=TI.SCHEDULED.value, next_method=FAIL_METHOD,
                                        next_kwargs={"error": TIMEOUT_ERROR}, trigger_id=None, trigger_timeout=None,
                                        updated_at=now)
                                .execution_options(synchronize_session=False)).rowcount
                if won == 1:
                    moved.append(TaskInstanceKey(row.dag_id, row.run_id, row.task_id, row.map_index))
        return moved

    def next_trigger_timeout(self, now: datetime) -> datetime | None:
        """The earliest future trigger_timeout of a deferred task instance (the scheduler's timer)."""
        with self._read() as s:
            return s.scalar(select(func.min(_ti.trigger_timeout)).where(
                _ti.state == TI.DEFERRED.value, _ti.trigger_timeout > now))

    def delete_unused_triggers(self) -> int:
        """Delete the triggers no deferred task instance waits on; how many went."""
        with self._session() as s:
            result = s.execute(delete(TriggerRow).where(~_waiting_on(TriggerRow.id))
                               .execution_options(synchronize_session=False))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def deferral_of(self, key: TaskInstanceKey) -> Deferral | None:
        """What a deferred task instance waits for; None if it is not deferred (or its trigger is gone)."""
        query = (select(_ti.trigger_id, TriggerRow.classpath, _ti.next_method, _ti.trigger_timeout,
                        TriggerRow.triggerer_id)
                 .join(TriggerRow, TriggerRow.id == _ti.trigger_id)
                 .where(*ti_where(key), _ti.state == TI.DEFERRED.value))
        with self._read() as s:
            row = s.execute(query).first()
        return None if row is None else Deferral(*row)


def reset_deferral() -> dict[str, Any]:
    """The task_instance values that forget a deferral (a cleared task starts afresh, not resumed)."""
    return {"trigger_id": None, "next_method": None, "next_kwargs": null(), "trigger_timeout": None}
