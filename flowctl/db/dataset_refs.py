"""Dataset references and events written inside other verbs' transactions.

:func:`sync_dataset_refs` (in ``sync_dag``'s transaction, for a new DAG version)
records which datasets the DAG consumes (``dataset_dag_ref``, from its schedule)
and which of its tasks produce which (``dataset_task_ref``, from their outlets),
making dataset rows for new URIs. :func:`record_outlet_events` (in a try's end
transaction) writes a ``dataset_event`` per outlet of a successful try (with the
extra the try set for it, ``TryEnd.outlet_extra``; ``{}`` otherwise, as Airflow) and queues
the update (``dataset_dag_run_queue``) for each active, unpaused consumer DAG.
Must not import above ``db``; imports only tables and core (``dags`` and
``runtime`` import it).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from flowctl.core.datasets import condition_from_json
from flowctl.core.states import TaskInstanceState
from flowctl.core.timetables.datasets import DatasetOrTimeSchedule, DatasetTriggeredTimetable
from flowctl.db.notify import CHANNEL
from flowctl.db.records import TryEnd
from flowctl.db.tables import (
    DagRow,
    DatasetDagRefRow,
    DatasetDagRunQueueRow,
    DatasetEventRow,
    DatasetRow,
    DatasetTaskRefRow,
)

_Uris = dict[str, Any]  # uri -> the dataset's extra (None: none)
_DATASET_TIMETABLES = frozenset(cls.type_name() for cls in (DatasetTriggeredTimetable, DatasetOrTimeSchedule))


def consumed_and_produced(body: Mapping[str, Any]) -> tuple[_Uris, dict[str, _Uris]]:
    """The datasets a serialized DAG consumes (its schedule's condition) and, per task id, produces."""
    consumed: _Uris = {}
    timetable = body.get("timetable") or {}
    if str(timetable.get("__type")) in _DATASET_TIMETABLES and isinstance(timetable.get("condition"), Mapping):
        for uri, dataset in condition_from_json(timetable["condition"]).iter_datasets():
            consumed[uri] = dataset.extra
    produced: dict[str, _Uris] = {}
    for task in body.get("tasks") or ():
        for outlet in task.get("outlets") or ():
            produced.setdefault(task["task_id"], {})[outlet["uri"]] = outlet.get("extra")
    return consumed, produced


def _dataset_ids(s: Session, uris: _Uris, now: datetime) -> dict[str, int]:
    """uri -> dataset id, making the rows of new URIs (the extra first given is kept)."""
    if not uris:
        return {}
    known = select(DatasetRow.uri, DatasetRow.id).where(DatasetRow.uri.in_(list(uris)))
    ids: dict[str, int] = {uri: id_ for uri, id_ in s.execute(known).all()}
    new = [{"uri": uri, "extra": extra, "created_at": now, "updated_at": now, "is_orphaned": False}
           for uri, extra in uris.items() if uri not in ids]
    if new:
        made = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        s.execute(made(DatasetRow).values(new).on_conflict_do_nothing(index_elements=["uri"]))
        ids = {uri: id_ for uri, id_ in s.execute(known).all()}
    return ids


def sync_dataset_refs(s: Session, dag_id: str, body: Mapping[str, Any], now: datetime) -> None:
    """Replace the DAG's consumer and producer references with those of ``body`` (a new version).

    A consumer's queued updates of datasets it no longer consumes are dropped with their reference.
    """
    consumed, produced = consumed_and_produced(body)
    had_refs = s.execute(select(DatasetDagRefRow.dag_id).where(DatasetDagRefRow.dag_id == dag_id).limit(1)
                         ).first() is not None or s.execute(
        select(DatasetTaskRefRow.dag_id).where(DatasetTaskRefRow.dag_id == dag_id).limit(1)).first() is not None
    if not (consumed or produced or had_refs):
        return  # the common case: a DAG without datasets, before and now
    ids = _dataset_ids(s, {**{u: e for uris in produced.values() for u, e in uris.items()}, **consumed}, now)
    s.execute(delete(DatasetDagRefRow).where(DatasetDagRefRow.dag_id == dag_id))
    s.execute(delete(DatasetTaskRefRow).where(DatasetTaskRefRow.dag_id == dag_id))
    s.execute(delete(DatasetDagRunQueueRow).where(DatasetDagRunQueueRow.target_dag_id == dag_id,
                                                  DatasetDagRunQueueRow.dataset_id.not_in([ids[u] for u in consumed])))
    if consumed:
        s.execute(insert(DatasetDagRefRow), [{"dataset_id": ids[u], "dag_id": dag_id, "created_at": now}
                                             for u in consumed])
    refs = [{"dataset_id": ids[u], "dag_id": dag_id, "task_id": task_id, "created_at": now}
            for task_id, uris in produced.items() for u in uris]
    if refs:
        s.execute(insert(DatasetTaskRefRow), refs)


def outlet_refs(conn: Any, ends: Sequence[TryEnd]) -> dict[tuple[str, str], list[int]]:
    """(dag_id, task_id) -> the dataset ids its outlets update, for the successful ends' tasks that have any."""
    wanted = {(e.key.dag_id, e.key.task_id) for e in ends
              if e.state is TaskInstanceState.SUCCESS and e.produces is not False}
    if not wanted:
        return {}
    ref = DatasetTaskRefRow
    rows = conn.execute(select(ref.dag_id, ref.task_id, ref.dataset_id)
                        .where(ref.dag_id.in_({d for d, _ in wanted}), ref.task_id.in_({t for _, t in wanted}))).all()
    found: dict[tuple[str, str], list[int]] = {}
    for dag_id, task_id, dataset_id in rows:
        if (dag_id, task_id) in wanted:
            found.setdefault((dag_id, task_id), []).append(dataset_id)
    return found


def _extras(conn: Any, ends: Sequence[TryEnd]) -> dict[tuple[int, int], Any]:
    """(index of the end, dataset id) -> the extra its try set for that outlet's event; only the
    ends that carry extras cost a query (URIs that name no dataset are dropped)."""
    uris = {uri for e in ends if e.outlet_extra for uri in e.outlet_extra}
    if not uris:
        return {}
    ids = dict(conn.execute(select(DatasetRow.uri, DatasetRow.id).where(DatasetRow.uri.in_(uris))).all())
    return {(i, ids[uri]): dict(extra) for i, e in enumerate(ends) if e.outlet_extra
            for uri, extra in e.outlet_extra.items() if uri in ids}


#: The scheduler's wake-up reason once a consumer's update is queued: any reason but a task's end
#: makes it run a full tick, where the dataset-triggered runs are made.
DATASET_UPDATED = "dataset updated"


def record_outlet_events(conn: Any, ends: Sequence[TryEnd], refs: Mapping[tuple[str, str], list[int]]) -> int:
    """A dataset event per outlet of each (successful, won) end, and the update queued for each
    active, unpaused DAG that consumes the dataset; how many updates were queued. Run in the ends'
    transaction; on PostgreSQL it also wakes the schedulers (:data:`DATASET_UPDATED`) as it commits,
    elsewhere the caller does once it has committed."""
    extras = _extras(conn, ends)
    events = [{"dataset_id": dataset_id, "extra": extras.get((i, dataset_id), {}), "source_dag_id": e.key.dag_id,
               "source_task_id": e.key.task_id, "source_run_id": e.key.run_id,
               "source_map_index": e.key.map_index, "timestamp": e.now}
              for i, e in enumerate(ends) if e.state is TaskInstanceState.SUCCESS
              for dataset_id in refs.get((e.key.dag_id, e.key.task_id), ())]
    if not events:
        return 0
    conn.execute(insert(DatasetEventRow), events)
    ref, dag = DatasetDagRefRow, DagRow
    consumers = (select(ref.dataset_id, ref.dag_id).distinct().join(dag, dag.dag_id == ref.dag_id)
                 .where(ref.dataset_id.in_({e["dataset_id"] for e in events}), dag.is_paused.is_(False),
                        dag.is_active.is_(True)))
    rows = conn.execute(consumers).all()
    if rows:
        now = max(e["timestamp"] for e in events)
        made = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(made(DatasetDagRunQueueRow).values(
            [{"dataset_id": d, "target_dag_id": t, "created_at": now} for d, t in rows]).on_conflict_do_nothing())
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_notify(CHANNEL, DATASET_UPDATED)))
    return len(rows)
