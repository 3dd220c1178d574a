"""Store verbs the task runner needs beyond the shared ones: start and finish a try, skips, context.

``start_try`` is the runner's claim: ``queued -> running`` as one compare-and-set
that also matches the try_number the workload was queued with (a stale
workload — its try already claimed, or the task cleared and re-queued — wins
nothing), increments try_number, deletes the task instance's XComs from earlier tries
and returns the claimed row with its run.
``finish_try`` writes the try's final state (again a compare-and-set from
``running``) and copies the try into task_instance_history in the same
transaction, with the dataset events of a successful producer's outlets
(``dataset_refs``). Must not import above ``db``.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from flowctl.core.errors import DagNotFound, FlowctlError, TaskInstanceNotFound
from flowctl.core.states import TaskInstanceState, check_ti_transition
from flowctl.core.taskgroup import serialized_group_task_ids
from flowctl.db import try_statements as sql
from flowctl.db.base import StoreCore
from flowctl.db.dataset_refs import DATASET_UPDATED, outlet_refs, record_outlet_events
from flowctl.db.notify import CHANNEL
from flowctl.db.follow import GraphsByVersion, claimed_followers, follow_ends, warm_follow_statements
from flowctl.db.records import (  # noqa: F401 - TryEnd and ClaimedTry are this module's verbs' types
    ClaimedTry, DagRunRecord, FollowOptions, RunKey, TaskInstanceKey, TaskInstanceRecord, TryEnd,
)
from flowctl.db.runs import _check_fields, run_record
from flowctl.db.tables import DagRunRow, TaskInstanceRow, TaskRescheduleRow, XComRow
from flowctl.db.task_instances import _TI_WRITABLE, ti_where
from flowctl.db.xcom import RETURN_VALUE

TI = TaskInstanceState
#: States a branch / short-circuit may move to skipped (not yet started).
SKIPPABLE = (TI.PENDING.value, TI.SCHEDULED.value)


class RuntimeVerbs(StoreCore):
    """start_try, finish_try, save_rendered_fields, skip_tasks, previous_success, reschedules, external states."""

    _follow_graphs: GraphsByVersion | None = None  # finish_and_follow's task graphs, made on first use

    def start_try(self, key: TaskInstanceKey, queued_try_number: int, hostname: str, pid: int,
                  now: datetime) -> ClaimedTry | None:
        """queued -> running if the row still holds ``queued_try_number``; None if another won.

        The winner's earlier XComs are deleted in the same transaction (a new try starts clean);
        the claim also carries the run and the DAG's previous successful run (for the context).
        PostgreSQL: one statement; SQLite: the compare-and-set returning the row, the XCom
        delete and the run joined to its previous success, in one transaction.
        """
        check_ti_transition(TI.QUEUED, TI.RUNNING)
        engine = self._autocommit() if self.dialect == "postgresql" else self.engine
        with engine.begin() as conn:
            return self._claim_on(conn, key, queued_try_number, hostname, pid, now)

    def start_tries(self, claims: Sequence[tuple[TaskInstanceKey, int]], hostname: str, pid: int,
                    now: datetime) -> list[ClaimedTry | None]:
        """:meth:`start_try` for each ``(key, queued_try_number)``, all in one transaction (one commit).

        The local executor's zygote claims the tries it was handed this way before forking them.
        """
        check_ti_transition(TI.QUEUED, TI.RUNNING)
        if len(claims) == 1:  # the simpler statement plans faster (a chain hands over one try at a time)
            return [self.start_try(claims[0][0], claims[0][1], hostname, pid, now)]
        if self.dialect == "postgresql":  # one statement for all of them
            with self._autocommit().connect() as conn:
                return self._claims_on(conn, claims, hostname, pid, now)
        with self.engine.begin() as conn:
            return self._claims_on(conn, claims, hostname, pid, now)

    def _claims_on(self, conn: Any, claims: Sequence[tuple[TaskInstanceKey, int]], hostname: str, pid: int,
                   now: datetime) -> list[ClaimedTry | None]:
        if self.dialect != "postgresql" or len(claims) == 1:
            return [self._claim_on(conn, key, queued, hostname, pid, now) for key, queued in claims]
        params = {**sql.claims_params(claims), "hostname": hostname, "pid": pid, "now": now}
        won = {TaskInstanceKey(m["dag_id"], m["run_id"], m["task_id"], m["map_index"]): _claimed(m, m)
               for m in (row._mapping for row in conn.execute(sql.CLAIMS_IN_ONE, params).all())}
        return [won.pop(key, None) for key, _ in claims]  # a key asked for twice wins once

    def _claim_on(self, conn: Any, key: TaskInstanceKey, queued_try_number: int, hostname: str, pid: int,
                  now: datetime) -> ClaimedTry | None:
        params = {**sql.key_params(key), "queued_try": queued_try_number, "hostname": hostname, "pid": pid,
                  "now": now}
        if self.dialect == "postgresql":
            found = conn.execute(sql.CLAIM_IN_ONE, params).first()
            return None if found is None else _claimed(found._mapping, found._mapping)
        row = conn.execute(sql.CLAIM, params).first()
        if row is None:
            return None
        if row.next_method is None:  # a deferred try that resumes keeps its XComs
            conn.execute(sql.XCOM_DELETE, params)
        return _claimed(row._mapping, conn.execute(sql.RUN_AND_PREVIOUS, params).one()._mapping)

    def finish_try(self, key: TaskInstanceKey, new: TaskInstanceState | str, now: datetime, *,
                   running_try: int, started: datetime | None = None, wake: str | None = None,
                   xcoms: Mapping[str, Any] | None = None, produces: bool | None = None,
                   outlet_extra: Mapping[str, Mapping[str, Any]] | None = None,
                   alias_events: Sequence[Mapping[str, Any]] | None = None, **fields: Any) -> bool:
        """running -> ``new`` (with ``fields``) and record the try in history; False unless
        try ``running_try`` is the one running (a cleared try never ends a newer one).

        ``started`` (the claim's start_date) saves reading it back for the duration; ``wake``
        notifies the scheduler with that reason as the state commits (PostgreSQL: with
        ``started`` too, state, history and wake-up are one statement).
        A reschedule (``up_for_reschedule``) is not recorded in history: the next poke is the same try.
        ``xcoms`` (key -> value) are written in the same transaction, only if the end wins;
        ``outlet_extra`` (dataset URI -> extra) goes into the events of a successful producer's outlets;
        ``alias_events`` (``TryEnd.alias_events``) are the datasets it added to its alias outlets.
        """
        end = TryEnd(key, TaskInstanceState(new), now, running_try, started, fields, xcoms or {}, produces,
                     outlet_extra, alias_events)
        if self.dialect == "postgresql" and end.in_one_statement(wake) and not end.xcoms:
            with self._autocommit().connect() as conn:
                if not outlet_refs(conn, [end]):  # a producer's events need a transaction
                    return self._finish_on(conn, end, wake)
        updated = 0
        with self.engine.begin() as conn:
            won = self._finish_on(conn, end, wake)
            if won:
                updated = record_outlet_events(conn, [end], outlet_refs(conn, [end]))
        if won and wake is not None:
            getattr(self, "notify_scheduler", lambda reason: None)(wake)
        self._wake_after([], None, updated)
        return won

    def finish_tries(self, ends: Sequence[TryEnd], wake: str) -> list[bool]:
        """:meth:`finish_try` for each end, all in one transaction (one commit); each end's
        ``xcoms`` are written only if its compare-and-set wins. The scheduler is woken once."""
        with self.engine.begin() as conn:
            won, updated = self._finish_all_on(conn, ends, wake)
        self._wake_after(won, wake, updated)
        return won

    def _wake_after(self, won: Sequence[bool], wake: str | None, updated: int) -> None:
        """Once the ends committed, elsewhere than on PostgreSQL (whose statements wake the schedulers
        as they commit): wake them for the ends that won, and for a full tick (``DATASET_UPDATED``) if
        the ends queued ``updated`` dataset consumers' updates."""
        if self.dialect == "postgresql":
            return
        notify = getattr(self, "notify_scheduler", lambda reason: None)
        if any(won) and wake is not None:
            notify(wake)
        if updated:
            notify(DATASET_UPDATED)

    def _finish_all_on(self, conn: Any, ends: Sequence[TryEnd], wake: str) -> tuple[list[bool], int]:
        """The ends written on ``conn``: which won, and how many dataset consumers' updates they queued."""
        refs = outlet_refs(conn, ends)  # the successful ends of producers: their events go with them
        batched = ([i for i, end in enumerate(ends) if end.in_one_statement(wake)
                    and set(end.fields) <= sql.BATCH_END_FIELDS
                    and (end.key.dag_id, end.key.task_id) not in refs] if self.dialect == "postgresql" else [])
        if len(batched) == 1:  # the per-end statement plans faster than the array form
            batched = []
        won = [False] * len(ends)
        if batched:
            for i, result in zip(batched, self._finish_batch(conn, [ends[i] for i in batched], wake)):
                won[i] = result
        for i in sorted(set(range(len(ends))) - set(batched)):
            won[i] = self._finish_on(conn, ends[i], wake)
        updated = record_outlet_events(conn, [end for end, result in zip(ends, won) if result], refs) if refs else 0
        return won, updated

    def finish_and_start_tries(self, ends: Sequence[TryEnd], wake: str, claims: Sequence[tuple[TaskInstanceKey, int]],
                               hostname: str, pid: int, now: datetime) -> tuple[list[bool], list[ClaimedTry | None]]:
        """:meth:`finish_tries` and :meth:`start_tries` in one transaction, for a caller that fills
        the slots the ended tries free (the local executor's zygote): one call, one commit.

        The scheduler's wake-up (PostgreSQL) comes with the commit, so a scheduler woken by these
        ends finds the claims made and does not compete with them. All or nothing: an error
        writes neither the ends nor the claims.
        """
        check_ti_transition(TI.QUEUED, TI.RUNNING)
        with self.engine.begin() as conn:
            won, updated = self._finish_all_on(conn, ends, wake) if ends else ([], 0)
            claimed = self._claims_on(conn, claims, hostname, pid, now) if claims else []
        self._wake_after(won, wake, updated)
        return won, claimed

    def finish_and_follow(self, ends: Sequence[TryEnd], wake: str, claims: Sequence[tuple[TaskInstanceKey, int]],
                          hostname: str, pid: int, now: datetime, options: FollowOptions,
                          ) -> tuple[list[bool], list[ClaimedTry | None], list[tuple[ClaimedTry, str]]]:
        """:meth:`finish_and_start_tries`, then, in the same transaction, the downstream task
        instances these ends made ready, scheduled, queued and claimed for the caller: ``(won,
        claims, followers)``, each follower ``(claim, DAG file)``. What may follow, and when the
        scheduler decides instead: :mod:`flowctl.db.follow` (``[scheduler] schedule_after_task_execution``).
        """
        check_ti_transition(TI.QUEUED, TI.RUNNING)
        check_ti_transition(TI.PENDING, TI.SCHEDULED)
        check_ti_transition(TI.SCHEDULED, TI.QUEUED)
        graphs = self._follow_graphs
        if graphs is None:
            graphs = self._follow_graphs = GraphsByVersion()
        with self.engine.begin() as conn:
            won, updated = self._finish_all_on(conn, ends, wake) if ends else ([], 0)
            claimed = self._claims_on(conn, claims, hostname, pid, now) if claims else []
            queued = follow_ends(conn, graphs, ends, won, options, now, self.dialect == "postgresql")
            followers = claimed_followers(
                self._claims_on(conn, [(r.key, r.try_number) for r, _ in queued], hostname, pid, now), queued
            ) if queued else []
        self._wake_after(won, wake, updated)
        return won, claimed, followers

    def _finish_batch(self, conn: Any, ends: Sequence[TryEnd], wake: str) -> list[bool]:
        """PostgreSQL: the ends (state, history, XComs, wake-up) as one statement; which won."""
        for end in ends:
            check_ti_transition(TI.RUNNING, end.state)
        rendered = [end.fields.get("rendered_fields") for end in ends]
        params: dict[str, Any] = {
            "e_dag_id": [e.key.dag_id for e in ends], "e_run_id": [e.key.run_id for e in ends],
            "e_task_id": [e.key.task_id for e in ends], "e_map_index": [e.key.map_index for e in ends],
            "e_running_try": [e.running_try for e in ends], "e_state": [TI(e.state).value for e in ends],
            "e_duration": [_duration(e.started, e.now) for e in ends],
            "e_rendered": [None if r is None else json.dumps(r) for r in rendered],
            "e_next_retry_at": [e.fields.get("next_retry_at") for e in ends], "e_now": [e.now for e in ends],
            "e_pid": [e.fields.get("pid") for e in ends],
            "channel": CHANNEL, "reason": wake[:200]}
        xcoms = [(e.key, name, json.dumps(value)) for e in ends for name, value in e.xcoms.items()]
        params.update({"x_dag_id": [k.dag_id for k, _, _ in xcoms], "x_run_id": [k.run_id for k, _, _ in xcoms],
                       "x_task_id": [k.task_id for k, _, _ in xcoms],
                       "x_map_index": [k.map_index for k, _, _ in xcoms],
                       "x_key": [n for _, n, _ in xcoms], "x_value": [v for _, _, v in xcoms]})
        finished = {TaskInstanceKey(*row[:4]) for row in conn.execute(sql.ENDS_IN_ONE, params).all()}
        return [end.key in finished for end in ends]

    def _finish_on(self, conn: Any, end: TryEnd, wake: str | None) -> bool:
        check_ti_transition(TI.RUNNING, end.state)
        _check_fields(end.fields, _TI_WRITABLE, "task_instance")
        key, state, now, names = end.key, end.state, end.now, tuple(sorted(end.fields))
        if self.dialect == "postgresql" and end.in_one_statement(wake):
            params = sql.finish_params(key, end.running_try, state, _duration(end.started, now), end.fields)
            won = conn.execute(sql.finish_in_one(names), {**params, "now": now, "channel": CHANNEL,
                                                          "reason": (wake or "")[:200]}).first() is not None
        else:
            started = end.started
            if started is None:
                found = conn.execute(_start_select(key)).first()
                if found is None:
                    raise TaskInstanceNotFound(f"task instance {key} not found")
                started = found[0]
            params = sql.finish_params(key, end.running_try, state, _duration(started, now), end.fields)
            won = conn.execute(sql.finish_update(names), {**params, "now": now}).rowcount == 1
            if won and state is not TI.UP_FOR_RESCHEDULE:  # a poke is not a try
                conn.execute(sql.HISTORY_DELETE, sql.key_params(key))
                conn.execute(sql.HISTORY_INSERT, sql.key_params(key))
        if won:
            for xcom_key, value in end.xcoms.items():
                params = {**sql.key_params(key), "x_key": xcom_key, "x_value": value, "now": now}
                conn.execute(sql.XCOM_DELETE_ONE, params)
                conn.execute(sql.XCOM_INSERT, params)
        return won

    def heartbeat_tries(self, tries: Sequence[tuple[TaskInstanceKey, int] | tuple[TaskInstanceKey, int, int]],
                        now: datetime) -> list[bool]:
        """:meth:`heartbeat_task` for each ``(key, try_number)`` in one transaction; False where that
        try is no longer the running one (it was cleared, killed or marked). A third element, the pid
        of the process running the try, is written to the row (its claim, made before the fork,
        holds the claimer's)."""
        with self.engine.begin() as conn:
            return [conn.execute(sql.HEARTBEAT, {**sql.key_params(key), "running_try": number, "now": now,
                                                 "pid": pid[0] if pid else None}).rowcount == 1
                    for key, number, *pid in tries]

    def warm_runtime_statements(self, now: datetime) -> None:
        """Compile (and run, matching no row) every statement of a try, so a forked worker
        inheriting this Store's engine finds them in SQLAlchemy's compiled cache."""
        key = TaskInstanceKey("__flowctl_warmup__", "__none__", "__none__")
        shapes: tuple[dict[str, Any], ...] = (  # a supervised try's end carries its pid; its own end does not
            {"rendered_fields": {}}, {"next_retry_at": now, "rendered_fields": {}},
            {"pid": 0, "rendered_fields": {}}, {"next_retry_at": now, "pid": 0, "rendered_fields": {}})
        if self.dialect == "postgresql":  # the one-statement forms (no row matches: nobody is woken)
            self.start_try(key, 0, "", 0, now)
            for fields in shapes:
                self.finish_try(key, TI.SUCCESS, now, running_try=0, started=now, wake="", **fields)
            # and the array forms, for tries claimed together and ends written together (the zygote's);
            # one statement whatever fields the ends carry, so the last shape (all of them) will do
            both = [key, TaskInstanceKey(key.dag_id, key.run_id, "__none_2__")]
            self.start_tries([(k, 0) for k in both], "", 0, now)
            self.finish_tries([TryEnd(k, TI.SUCCESS, now, 0, now, shapes[-1]) for k in both], "")
        with self.engine.begin() as conn:
            params = {**sql.key_params(key), "queued_try": 0, "hostname": "", "pid": 0, "now": now}
            conn.execute(sql.CLAIM, params).first()
            conn.execute(sql.XCOM_DELETE, params)
            conn.execute(sql.RUN_AND_PREVIOUS, params).first()
            conn.execute(_start_select(key)).first()
            for fields in shapes:
                params = sql.finish_params(key, 0, TI.SUCCESS, 0.0, fields)
                conn.execute(sql.finish_update(tuple(sorted(fields))), {**params, "now": now})
            conn.execute(sql.HISTORY_DELETE, sql.key_params(key))  # the same parameter names as finish_try's
            conn.execute(sql.HISTORY_INSERT, sql.key_params(key))
            outlet_refs(conn, [TryEnd(key, TI.SUCCESS, now, 0)])  # a success asks whether the task produces
            warm_follow_statements(conn, now, self.dialect == "postgresql")
        self.previous_success(key.dag_id, now)
        self.save_rendered_fields(key, {})
        self.skip_tasks(key.run_key, [key.task_id], now)

    def _autocommit(self) -> Any:
        """The engine without an explicit transaction (PostgreSQL: each statement commits itself)."""
        engine = self.__dict__.get("_autocommit_engine")
        if engine is None:
            engine = self.__dict__["_autocommit_engine"] = self.engine.execution_options(
                isolation_level="AUTOCOMMIT")
        return engine

    def save_rendered_fields(self, key: TaskInstanceKey, rendered: Mapping[str, Any]) -> None:
        """Store the rendered template fields of the current try (JSON-safe values)."""
        with self._session() as s:
            s.execute(update(TaskInstanceRow).where(*ti_where(key)).values(rendered_fields=dict(rendered))
                      .execution_options(synchronize_session=False))

    def skip_tasks(self, run: RunKey, task_ids: Collection[str], now: datetime) -> list[str]:
        """pending|scheduled -> skipped for every task instance of ``task_ids``; ids changed."""
        if not task_ids:
            return []
        where = [TaskInstanceRow.dag_id == run.dag_id, TaskInstanceRow.run_id == run.run_id,
                 TaskInstanceRow.task_id.in_(list(task_ids)), TaskInstanceRow.state.in_(SKIPPABLE)]
        with self._session() as s:
            changed = s.scalars(select(TaskInstanceRow.task_id).where(*where)).all()
            s.execute(update(TaskInstanceRow).where(*where)
                      .values(state=TI.SKIPPED.value, start_date=now, end_date=now, duration=0.0, updated_at=now)
                      .execution_options(synchronize_session=False))
        return sorted(set(changed))

    def previous_success(self, dag_id: str, before: datetime) -> DagRunRecord | None:
        """The latest successful run of ``dag_id`` with a logical date before ``before``."""
        with self._read() as s:
            row = s.scalars(_previous_success_query(dag_id, before)).first()
            return None if row is None else run_record(row)

    def xcom_pull_mapped(self, run: RunKey, task_id: str, key: str = RETURN_VALUE) -> list[Any]:
        """The values every map index of a mapped task pushed under ``key``, by map index."""
        query = (select(XComRow.value).where(XComRow.dag_id == run.dag_id, XComRow.run_id == run.run_id,
                                             XComRow.task_id == task_id, XComRow.key == key,
                                             XComRow.map_index >= 0)
                 .order_by(XComRow.map_index))
        with self._read() as s:
            return [value for (value,) in s.execute(query).all()]

    def record_reschedule(self, key: TaskInstanceKey, try_number: int, start: datetime, end: datetime,
                          reschedule_date: datetime) -> None:
        """Remember one poke of a sensor in reschedule mode."""
        with self._session() as s:
            s.add(TaskRescheduleRow(dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id,
                                    map_index=key.map_index, try_number=try_number, start_date=start,
                                    end_date=end, duration=(end - start).total_seconds(),
                                    reschedule_date=reschedule_date))

    def reschedule_history(self, key: TaskInstanceKey, try_number: int) -> tuple[datetime | None, int]:
        """(start of the first poke, number of reschedules) of this try; a sensor's timeout counts from the first."""
        r = TaskRescheduleRow
        query = select(func.min(r.start_date), func.count(r.id)).where(
            r.dag_id == key.dag_id, r.run_id == key.run_id, r.task_id == key.task_id,
            r.map_index == key.map_index, r.try_number == try_number)
        with self._read() as s:
            first, count = s.execute(query).one()
            return first, int(count or 0)

    def external_dag_tree(self, dag_id: str) -> dict[str, Any] | None:
        """For ExternalTaskSensor's ``check_existence``: the task-group tree (every task and group) of
        ``dag_id`` as its latest parse has it; None when the DAG was never parsed."""
        try:
            return dict(self.latest_serialized_dag(dag_id).data.get("task_group") or {})  # type: ignore[attr-defined]
        except DagNotFound:
            return None

    def external_states(self, dag_id: str, task_ids: Sequence[str] | None, logical_date: datetime,
                        task_group_id: str | None = None) -> list[str | None]:
        """For ExternalTaskSensor: states of ``task_ids`` in ``dag_id``'s run at ``logical_date``.

        ``task_ids`` None gives ``[run state]``; no such run gives ``[]``. ``task_group_id``: the
        tasks of that group (nested groups too) as the DAG's latest parse has them, in its place;
        ``[]`` while the DAG was never parsed, FlowctlError if it has no such group.
        """
        if task_group_id is not None:
            try:
                tree = self.latest_serialized_dag(dag_id).data.get("task_group") or {}  # type: ignore[attr-defined]
            except DagNotFound:
                return []
            task_ids = serialized_group_task_ids(tree, task_group_id)
            if not task_ids:
                raise FlowctlError(f"DAG {dag_id!r} has no task group {task_group_id!r} with tasks")
        with self._read() as s:
            run = s.scalars(select(DagRunRow).where(DagRunRow.dag_id == dag_id,
                                                    DagRunRow.logical_date == logical_date)).first()
            if run is None:
                return []
            if task_ids is None:
                return [run.state]
            rows = s.execute(select(TaskInstanceRow.task_id, TaskInstanceRow.state).where(
                TaskInstanceRow.dag_id == dag_id, TaskInstanceRow.run_id == run.run_id,
                TaskInstanceRow.task_id.in_(list(task_ids)))).all()
        found: dict[str, list[str]] = {}
        for task_id, state in rows:
            found.setdefault(task_id, []).append(state)
        return [state for task_id in task_ids for state in found.get(task_id, [None])]


def _previous_success_query(dag_id: str, before: datetime) -> Any:
    return (select(DagRunRow).where(DagRunRow.dag_id == dag_id, DagRunRow.state == "success",
                                    DagRunRow.logical_date < before)
            .order_by(DagRunRow.logical_date.desc()).limit(1))


def _start_select(key: TaskInstanceKey) -> Any:
    return select(TaskInstanceRow.start_date).where(*ti_where(key)).with_for_update()


def _aware(moment: datetime, like: datetime) -> datetime:
    if moment.tzinfo is None and like.tzinfo is not None:
        return moment.replace(tzinfo=like.tzinfo)
    return moment



def _claimed(ti: Mapping[Any, Any], runs: Mapping[Any, Any]) -> ClaimedTry:
    return ClaimedTry(TaskInstanceRecord(**{name: ti[name] for name in _TI_FIELDS}), sql.run_from(runs, "r_"),
                      None if runs["p_id"] is None else sql.run_from(runs, "p_"))


def _duration(started: datetime | None, now: datetime) -> float | None:
    return (now - _aware(started, now)).total_seconds() if started is not None else None


_TI_FIELDS = tuple(f.name for f in dataclass_fields(TaskInstanceRecord))
