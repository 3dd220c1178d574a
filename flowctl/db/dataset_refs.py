"""Dataset references and events written inside other verbs' transactions.

:func:`sync_dataset_refs` (in ``sync_dag``'s transaction, for a new DAG version)
records which datasets the DAG consumes (``dataset_dag_ref``, from its schedule)
and which of its tasks produce which (``dataset_task_ref``, from their outlets),
making dataset rows for new URIs, and the aliases it names
(:mod:`flowctl.db.dataset_alias_refs`). :func:`record_outlet_events` (in a try's end
transaction) writes a ``dataset_event`` per outlet of a successful try (with the
extra the try set for it, ``TryEnd.outlet_extra``; ``{}`` otherwise, as Airflow) and
per dataset it added to an alias outlet (``TryEnd.alias_events``), and queues the
update (``dataset_dag_run_queue``) for each active, unpaused consumer DAG (scheduled
on the dataset, or on an alias resolved to it).
Must not import above ``db``; imports only tables, dataset_rows, dataset_alias_refs
and core (``dags`` and ``runtime`` import it).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, union_all
from sqlalchemy.orm import Session

from flowctl.core.datasets import condition_from_json
from flowctl.core.states import TaskInstanceState
from flowctl.core.timetables.datasets import UNRESOLVED_ALIAS_SUMMARY, DatasetOrTimeSchedule, DatasetTriggeredTimetable
from flowctl.db.dataset_alias_refs import aliases_in, consumers_of, record_alias_events, resolved_uris, sync_alias_refs
from flowctl.db.dataset_rows import dataset_ids, insert_ignoring
from flowctl.db.notify import CHANNEL
from flowctl.db.records import TryEnd
from flowctl.db.tables import (
    DatasetAliasDagRefRow,
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
    condition = schedule_condition(body)
    if condition is not None:
        for uri, dataset in condition_from_json(condition).iter_datasets():
            consumed[uri] = dataset.extra
    produced: dict[str, _Uris] = {}
    for task in body.get("tasks") or ():
        for outlet in task.get("outlets") or ():
            if "uri" in outlet:  # not an alias ({"alias": name})
                produced.setdefault(task["task_id"], {})[outlet["uri"]] = outlet.get("extra")
    return consumed, produced


def schedule_condition(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON dataset condition a serialized DAG is scheduled on, if it has a dataset schedule."""
    timetable = body.get("timetable") or {}
    if str(timetable.get("__type")) in _DATASET_TIMETABLES and isinstance(timetable.get("condition"), Mapping):
        condition: Mapping[str, Any] = timetable["condition"]
        return condition
    return None


def schedule_summary(conn: Any, body: Mapping[str, Any]) -> str | None:
    """The summary of a serialized DAG's schedule, as Airflow shows it: its timetable's, except that a
    dataset schedule naming no dataset but aliases none of which has resolved yet is
    ``Unresolved DatasetAlias``. A query only for such a schedule."""
    summary = body.get("timetable_summary")
    condition = schedule_condition(body) if summary == "Dataset" else None
    if condition is None:
        return summary
    parsed = condition_from_json(condition)
    if next(parsed.iter_datasets(), None) is not None:
        return summary
    names = {alias.name for alias in parsed.iter_dataset_aliases()}
    return summary if not names or resolved_uris(conn, names) else UNRESOLVED_ALIAS_SUMMARY


def sync_dataset_refs(s: Session, dag_id: str, body: Mapping[str, Any], now: datetime) -> None:
    """Replace the DAG's consumer and producer references with those of ``body`` (a new version).

    A consumer's queued updates of datasets it no longer consumes are dropped with their reference.
    """
    consumed, produced = consumed_and_produced(body)
    consumed_aliases, produced_aliases = aliases_in(body, schedule_condition(body))
    had_refs = s.execute(union_all(*(select(ref.dag_id).where(ref.dag_id == dag_id) for ref in (
        DatasetDagRefRow, DatasetTaskRefRow, DatasetAliasDagRefRow))).limit(1)).first() is not None
    if not (consumed or produced or consumed_aliases or produced_aliases or had_refs):
        return  # the common case: a DAG without datasets, before and now
    conn = s.connection()
    ids = dataset_ids(conn, {**{u: e for uris in produced.values() for u, e in uris.items()}, **consumed}, now)
    s.execute(delete(DatasetDagRefRow).where(DatasetDagRefRow.dag_id == dag_id))
    s.execute(delete(DatasetTaskRefRow).where(DatasetTaskRefRow.dag_id == dag_id))
    through_aliases = sync_alias_refs(conn, dag_id, consumed_aliases, produced_aliases, now)
    kept = [ids[u] for u in consumed] + through_aliases  # a queued update of a dataset the DAG still consumes
    s.execute(delete(DatasetDagRunQueueRow).where(DatasetDagRunQueueRow.target_dag_id == dag_id,
                                                  DatasetDagRunQueueRow.dataset_id.not_in(kept)))
    if consumed:
        s.execute(insert(DatasetDagRefRow), [{"dataset_id": ids[u], "dag_id": dag_id, "created_at": now}
                                             for u in consumed])
    refs = [{"dataset_id": ids[u], "dag_id": dag_id, "task_id": task_id, "created_at": now}
            for task_id, uris in produced.items() for u in uris]
    if refs:
        s.execute(insert(DatasetTaskRefRow), refs)


def outlet_refs(conn: Any, ends: Sequence[TryEnd]) -> dict[tuple[str, str], list[int]]:
    """(dag_id, task_id) -> the dataset ids its outlets update, for the successful ends' tasks that have any;
    a task whose end added datasets to its aliases is there too (with its own outlets, or none): its
    events need the end's transaction as well."""
    added: dict[tuple[str, str], list[int]] = {(e.key.dag_id, e.key.task_id): [] for e in ends
                                               if e.state is TaskInstanceState.SUCCESS and e.alias_events}
    wanted = {(e.key.dag_id, e.key.task_id) for e in ends
              if e.state is TaskInstanceState.SUCCESS and e.produces is not False}
    if not wanted:
        return added
    ref = DatasetTaskRefRow
    rows = conn.execute(select(ref.dag_id, ref.task_id, ref.dataset_id)
                        .where(ref.dag_id.in_({d for d, _ in wanted}), ref.task_id.in_({t for _, t in wanted}))).all()
    found: dict[tuple[str, str], list[int]] = added
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
    if events:
        conn.execute(insert(DatasetEventRow), events)
    updated = {e["dataset_id"] for e in events} | record_alias_events(conn, ends)
    if not updated:
        return 0
    rows = conn.execute(consumers_of(updated)).all()
    if rows:
        now = max(e.now for e in ends if e.state is TaskInstanceState.SUCCESS)
        insert_ignoring(conn, DatasetDagRunQueueRow,
                        [{"dataset_id": d, "target_dag_id": t, "created_at": now} for d, t in rows])
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_notify(CHANNEL, DATASET_UPDATED)))
    return len(rows)
