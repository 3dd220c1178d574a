"""Dataset aliases (Airflow 2.10) written and read inside other verbs' transactions.

:func:`sync_alias_refs` (in ``sync_dag``'s transaction, for a new DAG version) makes
the rows of the aliases a DAG names, in its schedule or its tasks' outlets, and
replaces the DAG's references to the aliases it is scheduled on.
:func:`record_alias_events` (in a try's end transaction) writes an event per
dataset a successful try added to its alias outlets (``TryEnd.alias_events``),
making the dataset row of a new URI, and links the dataset and the event to each
alias that added it: from then on the alias resolves to that dataset.
:func:`consumers_of` is who an update of datasets queues a run for: the active,
unpaused DAGs scheduled on one of them, or on an alias resolved to one.
:func:`resolved_uris` is what aliases have resolved to.
Must not import above ``db``; imports only tables, dataset_rows and core.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, insert, select, union, update

from flowctl.core.datasets import condition_from_json
from flowctl.core.states import TaskInstanceState
from flowctl.core.timetables.datasets import UNRESOLVED_ALIAS_SUMMARY
from flowctl.db.dataset_rows import alias_ids, dataset_ids, insert_ignoring
from flowctl.db.records import TryEnd
from flowctl.db.tables import (
    DagRow,
    DatasetAliasDagRefRow,
    DatasetAliasDatasetEventRow,
    DatasetAliasDatasetRow,
    DatasetAliasRow,
    DatasetDagRefRow,
    DatasetEventRow,
    DatasetRow,
)


def aliases_in(body: Mapping[str, Any], condition: Mapping[str, Any] | None) -> tuple[set[str], set[str]]:
    """The aliases a serialized DAG is scheduled on (its ``condition``, JSON) and those its tasks' outlets name."""
    consumed = {alias.name for alias in condition_from_json(condition).iter_dataset_aliases()} if condition else set()
    produced = {outlet["alias"] for task in body.get("tasks") or () for outlet in task.get("outlets") or ()
                if "alias" in outlet}
    return consumed, produced


def sync_alias_refs(conn: Connection, dag_id: str, consumed: Collection[str], produced: Collection[str],
                    now: datetime) -> list[int]:
    """Make the rows of the aliases named and replace the DAG's alias references with ``consumed``;
    the ids of the datasets those aliases resolved to (the DAG consumes them through the aliases)."""
    ids = alias_ids(conn, {*consumed, *produced})
    conn.execute(delete(DatasetAliasDagRefRow).where(DatasetAliasDagRefRow.dag_id == dag_id))
    if not consumed:
        return []
    conn.execute(insert(DatasetAliasDagRefRow), [{"alias_id": ids[name], "dag_id": dag_id, "created_at": now}
                                                 for name in consumed])
    link = DatasetAliasDatasetRow
    return list(conn.scalars(select(link.dataset_id).where(link.alias_id.in_([ids[n] for n in consumed]))).all())


def record_alias_events(conn: Connection, ends: Sequence[TryEnd]) -> set[int]:
    """The events of the datasets the successful ends added to their aliases, linked to those aliases
    (which resolve to the datasets from now on); the ids of the datasets updated. No statement for
    ends without ``alias_events``, the common case."""
    added = [(end, event) for end in ends if end.state is TaskInstanceState.SUCCESS and end.alias_events
             for event in end.alias_events]
    if not added:
        return set()
    datasets = dataset_ids(conn, {event["uri"]: None for _, event in added}, max(end.now for end, _ in added))
    aliases = alias_ids(conn, {name for _, event in added for name in event["aliases"]})
    rows = [{"dataset_id": datasets[event["uri"]], "extra": dict(event.get("extra") or {}),
             "source_dag_id": end.key.dag_id, "source_task_id": end.key.task_id, "source_run_id": end.key.run_id,
             "source_map_index": end.key.map_index, "timestamp": end.now} for end, event in added]
    made = conn.execute(insert(DatasetEventRow).returning(DatasetEventRow.id, sort_by_parameter_order=True), rows)
    event_ids = list(made.scalars().all())
    resolved = sorted({(name, event["uri"]) for _, event in added for name in event["aliases"]})
    insert_ignoring(conn, DatasetAliasDatasetRow, [{"alias_id": aliases[name], "dataset_id": datasets[uri]}
                                                   for name, uri in resolved])
    # The DAGs scheduled on these aliases no longer wait on unresolved ones only.
    consumers = select(DatasetAliasDagRefRow.dag_id).where(DatasetAliasDagRefRow.alias_id.in_(
        sorted({aliases[name] for name, _ in resolved})))
    conn.execute(update(DagRow).where(DagRow.timetable_summary == UNRESOLVED_ALIAS_SUMMARY,
                                      DagRow.dag_id.in_(consumers)).values(timetable_summary="Dataset"))
    conn.execute(insert(DatasetAliasDatasetEventRow), [
        {"alias_id": aliases[name], "event_id": event_id}
        for event_id, (_, event) in zip(event_ids, added) for name in set(event["aliases"])])
    return {row["dataset_id"] for row in rows}


def consumers_of(dataset_ids_: Collection[int]) -> Select[Any]:
    """(dataset id, dag id) of each active, unpaused DAG scheduled on one of the datasets, or on an
    alias that resolved to one (each pair once)."""
    ref, link, alias_ref, dag = DatasetDagRefRow, DatasetAliasDatasetRow, DatasetAliasDagRefRow, DagRow
    ids = list(dataset_ids_)
    direct = select(ref.dataset_id, ref.dag_id).where(ref.dataset_id.in_(ids))
    through_alias = (select(link.dataset_id, alias_ref.dag_id).join(alias_ref, alias_ref.alias_id == link.alias_id)
                     .where(link.dataset_id.in_(ids)))
    both = union(direct, through_alias).subquery()
    return (select(both.c.dataset_id, both.c.dag_id).join(dag, dag.dag_id == both.c.dag_id)
            .where(dag.is_paused.is_(False), dag.is_active.is_(True)))


def resolved_uris(conn: Connection, names: Collection[str]) -> dict[str, list[str]]:
    """alias name -> the URIs of the datasets it has resolved to (sorted), for those of ``names`` with any."""
    if not names:
        return {}
    alias, link, dataset = DatasetAliasRow, DatasetAliasDatasetRow, DatasetRow
    query = (select(alias.name, dataset.uri).join(link, link.alias_id == alias.id)
             .join(dataset, dataset.id == link.dataset_id).where(alias.name.in_(list(names)))
             .order_by(alias.name, dataset.uri))
    found: dict[str, list[str]] = {}
    for name, uri in conn.execute(query).all():
        found.setdefault(name, []).append(uri)
    return found
