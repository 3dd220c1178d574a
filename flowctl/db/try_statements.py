"""The SQL of one task try, built once with named parameters (claim, XCom reset, run, finish, history).

Building SQLAlchemy expressions anew on each call cost more CPU than the round
trips, so every statement here is a module constant (or cached by the set of
columns it writes) executed with a parameter dict: ``key_params(key)`` plus
the statement's own names. On PostgreSQL a try's claim and its end are each
one statement (data-modifying CTEs) run outside an explicit transaction: a
single statement is atomic there, and it saves the BEGIN and COMMIT round
trips. Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Float, Integer, String, Text, and_, bindparam, case, cast, delete, exists, func, insert, literal, select, update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from flowctl.core.states import TaskInstanceState
from flowctl.db.records import DagRunRecord, TaskInstanceKey
from flowctl.db.tables import DagRunRow, TaskInstanceHistoryRow, TaskInstanceRow, TaskRescheduleRow, XComRow
from flowctl.db.task_instances import _HISTORY_COPIED

TI = TaskInstanceState
_ti: Any = TaskInstanceRow.__table__
_run: Any = DagRunRow.__table__
_xcom: Any = XComRow.__table__
_history: Any = TaskInstanceHistoryRow.__table__
_reschedule: Any = TaskRescheduleRow.__table__
_NOW = bindparam("now", type_=_ti.c.start_date.type)
_HISTORY_KEY = ("dag_id", "run_id", "task_id", "map_index", "try_number")
_WAKE = func.pg_notify(bindparam("channel"), bindparam("reason"))  # the scheduler's wake-up, at commit
_RUN_FIELDS = tuple(f.name for f in dataclass_fields(DagRunRecord))


def key_params(key: TaskInstanceKey) -> dict[str, Any]:
    """The parameters naming one task instance in every statement here."""
    return {"k_dag_id": key.dag_id, "k_run_id": key.run_id, "k_task_id": key.task_id,
            "k_map_index": key.map_index}


def _key_of(table: Any) -> list[Any]:
    return [table.c.dag_id == bindparam("k_dag_id"), table.c.run_id == bindparam("k_run_id"),
            table.c.task_id == bindparam("k_task_id"), table.c.map_index == bindparam("k_map_index")]


def run_from(mapping: Mapping[Any, Any], prefix: str) -> DagRunRecord:
    """A DagRunRecord from the columns labelled ``{prefix}{name}`` of a result row."""
    values = {name: mapping[prefix + name] for name in _RUN_FIELDS}
    return DagRunRecord(**{**values, "conf": dict(values["conf"] or {})})


def _same_ti(table: Any, other: Any) -> list[Any]:
    """``table``'s task instance key equals ``other``'s (two tables, CTEs or unnested arrays)."""
    return [table.c[name] == other.c[name] for name in ("dag_id", "run_id", "task_id", "map_index")]


def _claim_values() -> dict[str, Any]:
    """What a claim writes: running, the next try number, who runs it and since when (a sensor's
    next poke: since its first poke, as Airflow keeps it, which its duration then counts from)."""
    return dict(state=TI.RUNNING.value, try_number=_ti.c.try_number + 1, hostname=bindparam("hostname"),
                pid=bindparam("pid"), start_date=_started(), end_date=None, duration=None,
                last_heartbeat_at=_NOW, next_retry_at=None, updated_at=_NOW)


def _started() -> Any:
    """Now, or for a try that was rescheduled (its row keeps the reschedule_date), its first poke's start;
    a deferred try that resumes (its row holds next_method) keeps its start, as in Airflow: its
    execution_timeout counts the whole try."""
    first_poke = (select(func.min(_reschedule.c.start_date))
                  .where(*[_reschedule.c[name] == _ti.c[name] for name in ("dag_id", "run_id", "task_id", "map_index")],
                         _reschedule.c.try_number == _ti.c.try_number + 1)
                  .scalar_subquery())
    return case((_ti.c.next_method.is_not(None), func.coalesce(_ti.c.start_date, _NOW)),
                (_ti.c.reschedule_date.is_(None), _NOW), else_=func.coalesce(first_poke, _NOW))


def _claim_update() -> Any:
    """queued -> running if the row holds try ``queued_try``; returns the claimed row."""
    return (update(_ti)
            .where(*_key_of(_ti), _ti.c.state == TI.QUEUED.value, _ti.c.try_number == bindparam("queued_try"))
            .values(**_claim_values())
            .returning(*_ti.c))


def _run_columns(run: Any, prev: Any) -> list[Any]:
    return [c.label(f"r_{c.name}") for c in run.c] + [c.label(f"p_{c.name}") for c in prev.c]


def _previous_success_id(run: Any) -> Any:
    earlier = _run.alias("e")
    return (select(earlier.c.id)
            .where(earlier.c.dag_id == run.c.dag_id, earlier.c.state == "success",
                   earlier.c.logical_date < run.c.logical_date)
            .order_by(earlier.c.logical_date.desc()).limit(1).scalar_subquery())


def _run_and_previous() -> Any:
    """The run of the key and, joined, the DAG's latest successful run before its logical date."""
    run, prev = _run.alias("r"), _run.alias("p")
    return (select(*_run_columns(run, prev))
            .select_from(run.outerjoin(prev, prev.c.id == _previous_success_id(run)))
            .where(run.c.dag_id == bindparam("k_dag_id"), run.c.run_id == bindparam("k_run_id")))


def _claimed_with_runs(claimed: Any, gone: Any) -> Any:
    """The claimed rows, each with its run and the DAG's previous successful run, after ``gone``."""
    run, prev = _run.alias("r"), _run.alias("p")
    joined = (claimed.join(run, (run.c.dag_id == claimed.c.dag_id) & (run.c.run_id == claimed.c.run_id))
              .outerjoin(prev, prev.c.id == _previous_success_id(run)))
    return select(claimed, *_run_columns(run, prev)).select_from(joined).add_cte(gone)


def _claim_in_one() -> Any:
    """PostgreSQL: claim, delete the earlier tries' XComs and read the run, in one statement (a
    deferred try that resumes keeps what it pushed before it deferred, as in Airflow)."""
    claimed = _claim_update().cte("claimed")
    gone = delete(_xcom).where(*_key_of(_xcom), exists(select(literal(1)).select_from(claimed)
                                                       .where(claimed.c.next_method.is_(None)))).cte("gone")
    return _claimed_with_runs(claimed, gone)


def _claims_in_one() -> Any:
    """PostgreSQL: :func:`_claim_in_one` for many tries at once, the keys and queued try numbers given
    as arrays (``b_dag_id``, ``b_run_id``, ``b_task_id``, ``b_map_index``, ``b_queued_try``)."""
    want = func.unnest(
        bindparam("b_dag_id", type_=ARRAY(String)), bindparam("b_run_id", type_=ARRAY(String)),
        bindparam("b_task_id", type_=ARRAY(String)), bindparam("b_map_index", type_=ARRAY(Integer)),
        bindparam("b_queued_try", type_=ARRAY(Integer)),
    ).table_valued("dag_id", "run_id", "task_id", "map_index", "queued_try").render_derived(name="want")
    claimed = (update(_ti)
               .where(*_same_ti(_ti, want), _ti.c.state == TI.QUEUED.value, _ti.c.try_number == want.c.queued_try)
               .values(**_claim_values())
               .returning(*_ti.c).cte("claimed"))
    gone = delete(_xcom).where(*_same_ti(_xcom, claimed), claimed.c.next_method.is_(None)).cte("gone")
    return _claimed_with_runs(claimed, gone)


def claims_params(claims: Any) -> dict[str, Any]:
    """The array parameters of :data:`CLAIMS_IN_ONE` for ``(key, queued_try_number)`` pairs."""
    return {"b_dag_id": [k.dag_id for k, _ in claims], "b_run_id": [k.run_id for k, _ in claims],
            "b_task_id": [k.task_id for k, _ in claims], "b_map_index": [k.map_index for k, _ in claims],
            "b_queued_try": [int(n) for _, n in claims]}


@lru_cache(maxsize=32)
def finish_update(names: tuple[str, ...]) -> Any:
    """running (try ``running_try``) -> ``f_state``, writing ``f_<name>`` for each of ``names``."""
    values = {name: bindparam(f"f_{name}", type_=_ti.c[name].type) for name in names}
    return (update(_ti)
            .where(*_key_of(_ti), _ti.c.state == TI.RUNNING.value, _ti.c.try_number == bindparam("running_try"))
            .values(state=bindparam("f_state"), end_date=_NOW, updated_at=_NOW,
                    duration=bindparam("f_duration", type_=_ti.c.duration.type), **values))


@lru_cache(maxsize=32)
def finish_in_one(names: tuple[str, ...]) -> Any:
    """PostgreSQL: :func:`finish_update`, the try's history row and the scheduler's wake-up, in one
    statement; a row comes back only if the compare-and-set won."""
    finished = finish_update(names).returning(*[_ti.c[name] for name in _HISTORY_COPIED]).cte("finished")
    return select(finished.c.try_number, _WAKE).select_from(finished).add_cte(_history_upsert(finished))


def _history_upsert(finished: Any) -> Any:
    """A CTE copying the ``finished`` rows (the columns of history) into task_instance_history."""
    record = pg_insert(_history).from_select(list(_HISTORY_COPIED),
                                             select(*[finished.c[name] for name in _HISTORY_COPIED]))
    record = record.on_conflict_do_update(
        index_elements=list(_HISTORY_KEY),
        set_={name: record.excluded[name] for name in _HISTORY_COPIED if name not in _HISTORY_KEY})
    return record.cte("recorded")


#: The fields a batched end may write (what a supervised try's end carries).
BATCH_END_FIELDS = frozenset({"rendered_fields", "next_retry_at", "pid"})


def _ends_in_one() -> Any:
    """PostgreSQL: :func:`finish_in_one` for many ends at once, plus their XComs, as one statement.

    Ends come as arrays (``e_*``: key, running try, state, duration, rendered fields as JSON text,
    next_retry_at, the end's time, the pid of the try's process or null); XComs as arrays too (``x_*``: key, XCom key, value as JSON text), written for
    the ends that won only. One row comes back per end that won.
    """
    ends = func.unnest(
        bindparam("e_dag_id", type_=ARRAY(String)), bindparam("e_run_id", type_=ARRAY(String)),
        bindparam("e_task_id", type_=ARRAY(String)), bindparam("e_map_index", type_=ARRAY(Integer)),
        bindparam("e_running_try", type_=ARRAY(Integer)), bindparam("e_state", type_=ARRAY(String)),
        bindparam("e_duration", type_=ARRAY(Float)), bindparam("e_rendered", type_=ARRAY(Text)),
        bindparam("e_next_retry_at", type_=ARRAY(_ti.c.next_retry_at.type)),
        bindparam("e_now", type_=ARRAY(_ti.c.end_date.type)), bindparam("e_pid", type_=ARRAY(Integer)),
    ).table_valued("dag_id", "run_id", "task_id", "map_index", "running_try", "state", "duration", "rendered",
                   "next_retry_at", "now", "pid").render_derived(name="ends")
    finished = (update(_ti)
                .where(*_same_ti(_ti, ends), _ti.c.state == TI.RUNNING.value, _ti.c.try_number == ends.c.running_try)
                .values(state=ends.c.state, end_date=ends.c.now, updated_at=ends.c.now, duration=ends.c.duration,
                        rendered_fields=func.coalesce(cast(ends.c.rendered, _ti.c.rendered_fields.type),
                                                      _ti.c.rendered_fields),
                        next_retry_at=func.coalesce(ends.c.next_retry_at, _ti.c.next_retry_at),
                        pid=func.coalesce(ends.c.pid, _ti.c.pid))
                .returning(*[_ti.c[name] for name in _HISTORY_COPIED]).cte("finished"))
    xcoms = func.unnest(
        bindparam("x_dag_id", type_=ARRAY(String)), bindparam("x_run_id", type_=ARRAY(String)),
        bindparam("x_task_id", type_=ARRAY(String)), bindparam("x_map_index", type_=ARRAY(Integer)),
        bindparam("x_key", type_=ARRAY(String)), bindparam("x_value", type_=ARRAY(Text)),
    ).table_valued("dag_id", "run_id", "task_id", "map_index", "key", "value").render_derived(name="xcoms")
    pushed = pg_insert(_xcom).from_select(
        ["dag_id", "run_id", "task_id", "map_index", "key", "value", "timestamp"],
        select(xcoms.c.dag_id, xcoms.c.run_id, xcoms.c.task_id, xcoms.c.map_index, xcoms.c.key,
               cast(xcoms.c.value, _xcom.c.value.type), finished.c.end_date)
        .select_from(xcoms.join(finished, and_(*_same_ti(finished, xcoms)))))
    pushed = pushed.on_conflict_do_update(
        index_elements=["dag_id", "run_id", "task_id", "map_index", "key"],
        set_={"value": pushed.excluded.value, "timestamp": pushed.excluded.timestamp})
    return (select(finished.c.dag_id, finished.c.run_id, finished.c.task_id, finished.c.map_index, _WAKE)
            .select_from(finished).add_cte(_history_upsert(finished)).add_cte(pushed.cte("pushed")))


def finish_params(key: TaskInstanceKey, running_try: int, state: TaskInstanceState, duration: float | None,
                  fields: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of :func:`finish_update` / :func:`finish_in_one` (``now`` added by the caller)."""
    return {**key_params(key), "running_try": running_try, "f_state": state.value, "f_duration": duration,
            **{f"f_{name}": value for name, value in fields.items()}}


CLAIM = _claim_update()
CLAIM_IN_ONE = _claim_in_one()
CLAIMS_IN_ONE = _claims_in_one()
ENDS_IN_ONE = _ends_in_one()
XCOM_DELETE = delete(_xcom).where(*_key_of(_xcom))
RUN_AND_PREVIOUS = _run_and_previous()
HISTORY_DELETE = delete(_history).where(
    *_key_of(_history),
    _history.c.try_number == select(_ti.c.try_number).where(*_key_of(_ti)).scalar_subquery())
HISTORY_INSERT = insert(_history).from_select(
    list(_HISTORY_COPIED), select(*[_ti.c[name] for name in _HISTORY_COPIED]).where(*_key_of(_ti)))
XCOM_DELETE_ONE = delete(_xcom).where(*_key_of(_xcom), _xcom.c.key == bindparam("x_key"))
XCOM_INSERT = insert(_xcom).values(
    dag_id=bindparam("k_dag_id"), run_id=bindparam("k_run_id"), task_id=bindparam("k_task_id"),
    map_index=bindparam("k_map_index"), key=bindparam("x_key"),
    value=bindparam("x_value", type_=_xcom.c.value.type), timestamp=_NOW)
#: ``pid``: the process running the try, or None to keep the row's (the zygote claims before it forks).
HEARTBEAT = (update(_ti)
             .where(*_key_of(_ti), _ti.c.state == TI.RUNNING.value, _ti.c.try_number == bindparam("running_try"))
             .values(last_heartbeat_at=_NOW, pid=func.coalesce(bindparam("pid", type_=Integer), _ti.c.pid)))
NOTIFY = select(_WAKE)
