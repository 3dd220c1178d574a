"""Store verbs for datasets: the consumers' queue, dataset-triggered runs, events, listings (and the
web UI's Datasets page: :meth:`DatasetVerbs.dataset_page`, :meth:`DatasetVerbs.get_dataset`).

Producers and consumers are recorded, and events written, inside other verbs'
transactions (:mod:`flowctl.db.dataset_refs`). Here
:meth:`DatasetVerbs.create_dataset_triggered_run` turns a consumer's queued
updates into one run, which takes every event since its previous
dataset-triggered run. Must not import above ``db``.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from flowctl.core.datasets import BaseDataset, DatasetEvent, resolve_aliases
from flowctl.core.errors import NotFoundError
from flowctl.core.keys import RunKey
from flowctl.core.states import DagRunState
from flowctl.core.timetables.datasets import dataset_run_interval
from flowctl.db.base import StoreCore, chunks
from flowctl.db.dags import _latest_serialized, dag_body
from flowctl.db.dataset_alias_refs import resolved_uris
from flowctl.db.records import DagRunRecord, DatasetSummary
from flowctl.db.runs import insert_task_instances, run_record, task_instance_values
from flowctl.db.tables import (
    DagRow,
    DagRunDatasetEventRow,
    DagRunRow,
    DatasetAliasDatasetEventRow,
    DatasetAliasRow,
    DatasetDagRefRow,
    DatasetDagRunQueueRow,
    DatasetEventRow,
    DatasetRow,
    DatasetTaskRefRow,
)
from flowctl.db.web_queries import Page

RUN_TYPE = "dataset_triggered"
#: How far before a consumer's previous dataset-triggered run an event not linked to it yet still counts
#: (the producer's clock may lag the scheduler's).
_CLOCK_SKEW = timedelta(minutes=5)
_EVENT_FILTERS = frozenset({"dataset_id", "source_dag_id", "source_task_id", "source_run_id", "source_map_index"})


class _NotTriggered(Exception):
    """Raised inside a transaction to roll it back: the queued updates do not (or no longer) satisfy the condition."""


class DatasetVerbs(StoreCore):
    """The dataset queue and dataset-triggered runs, the events a run was made from, dataset listings."""

    def dataset_queue(self) -> dict[str, set[str]]:
        """dag_id -> the URIs of the datasets updated since its last dataset-triggered run, for
        each active, unpaused DAG with at least one."""
        queue, dataset, dag = DatasetDagRunQueueRow, DatasetRow, DagRow
        query = (select(queue.target_dag_id, dataset.uri).join(dataset, dataset.id == queue.dataset_id)
                 .join(dag, dag.dag_id == queue.target_dag_id)
                 .where(dag.is_paused.is_(False), dag.is_active.is_(True)))
        found: dict[str, set[str]] = {}
        with self._read() as s:
            for dag_id, uri in s.execute(query).all():
                found.setdefault(dag_id, set()).add(uri)
        return found

    def create_dataset_triggered_run(self, dag_id: str, condition: BaseDataset, now: datetime, *,
                                     creating_job_id: int | None = None) -> DagRunRecord | None:
        """A ``dataset_triggered`` run of ``dag_id`` (queued) if its queued updates satisfy
        ``condition``, consuming them all; None if they do not (another scheduler took them).

        The run is linked to every event of the datasets the DAG consumes since its previous
        dataset-triggered run, and its data interval spans them (Airflow).
        """
        try:
            with self._session() as s:
                return self._dataset_run_in(s, dag_id, condition, now, creating_job_id)
        except (_NotTriggered, IntegrityError):  # rolled back: the queue is as it was
            return None

    def _dataset_run_in(self, s: Session, dag_id: str, condition: BaseDataset, now: datetime,
                        creating_job_id: int | None) -> DagRunRecord:
        queue = DatasetDagRunQueueRow
        taken = s.execute(delete(queue).where(queue.target_dag_id == dag_id).returning(queue.dataset_id)).scalars()
        taken_ids = list(taken)
        uris = set(s.scalars(select(DatasetRow.uri).where(DatasetRow.id.in_(taken_ids))).all()) if taken_ids else set()
        aliases = [alias.name for alias in condition.iter_dataset_aliases()]
        if aliases:  # scheduled on aliases: on the datasets they resolved to (Airflow 2.10)
            condition = resolve_aliases(condition, resolved_uris(s.connection(), aliases))
        if not condition.evaluate(uris):
            raise _NotTriggered(dag_id)
        serialized = _latest_serialized(s, dag_id)
        if serialized is None:
            raise _NotTriggered(dag_id)
        events = _unconsumed_events(s, dag_id, [u for u, _ in condition.iter_datasets()])
        interval = dataset_run_interval(now, [span for _, span in events])
        run = DagRunRow(dag_id=dag_id, run_id=f"{RUN_TYPE}__{now.isoformat()}", run_type=RUN_TYPE, logical_date=now,
                        data_interval_start=interval.start, data_interval_end=interval.end,
                        state=DagRunState.QUEUED.value, conf={}, queued_at=now, serialized_dag_id=serialized.id,
                        creating_job_id=creating_job_id, external_trigger=False, clear_number=0, updated_at=now)
        s.add(run)
        s.flush()
        insert_task_instances(s.connection(), task_instance_values(run, dag_body(serialized.data), serialized.dag_hash))
        if events:
            s.execute(insert(DagRunDatasetEventRow), [{"dag_run_id": run.id, "event_id": e} for e, _ in events])
        return run_record(run)

    def triggering_dataset_events(self, run: RunKey) -> dict[str, list[DatasetEvent]]:
        """The events a dataset-triggered run was made from, by dataset URI (oldest first); empty
        for other runs (Airflow's ``triggering_dataset_events``)."""
        link, event, dataset, dag_run = DagRunDatasetEventRow, DatasetEventRow, DatasetRow, DagRunRow
        query = (select(event, dataset.uri).join(link, link.event_id == event.id)
                 .join(dag_run, dag_run.id == link.dag_run_id).join(dataset, dataset.id == event.dataset_id)
                 .where(dag_run.dag_id == run.dag_id, dag_run.run_id == run.run_id)
                 .order_by(event.timestamp, event.id))
        found: dict[str, list[DatasetEvent]] = {}
        with self._read() as s:
            for event in _events(s, s.execute(query).all()):
                found.setdefault(event.uri, []).append(event)
        return found

    def list_datasets(self, limit: int = 100, offset: int = 0, uri_pattern: str | None = None, *,
                      order_by: str = "uri", descending: bool = False) -> tuple[list[dict[str, Any]], int]:
        """Datasets (by ``uri`` or ``id``) with their consuming DAGs and producing tasks, and how many
        match; ``uri_pattern`` is text the URI contains."""
        column = DatasetRow.id if order_by == "id" else DatasetRow.uri
        query = select(DatasetRow).order_by(column.desc() if descending else column)
        count = select(func.count()).select_from(DatasetRow)
        if uri_pattern:
            query = query.where(DatasetRow.uri.contains(uri_pattern, autoescape=True))
            count = count.where(DatasetRow.uri.contains(uri_pattern, autoescape=True))
        with self._read() as s:
            rows = s.scalars(query.limit(limit).offset(offset)).all()
            ids = [r.id for r in rows]
            consumers = s.scalars(select(DatasetDagRefRow).where(DatasetDagRefRow.dataset_id.in_(ids))).all()
            producers = s.scalars(select(DatasetTaskRefRow).where(DatasetTaskRefRow.dataset_id.in_(ids))).all()
            total = int(s.scalar(count) or 0)
        return [{"id": r.id, "uri": r.uri, "extra": r.extra, "created_at": r.created_at, "updated_at": r.updated_at,
                 "consuming_dags": [{"dag_id": c.dag_id, "created_at": c.created_at, "updated_at": c.created_at}
                                    for c in consumers if c.dataset_id == r.id],
                 "producing_tasks": [{"dag_id": p.dag_id, "task_id": p.task_id, "created_at": p.created_at,
                                      "updated_at": p.created_at} for p in producers if p.dataset_id == r.id]}
                for r in rows], total

    def list_dataset_events(self, limit: int = 100, offset: int = 0, *, uri: str | None = None,
                            alias: str | None = None, newest_first: bool = True, hidden: Collection[str] = (),
                            **source: Any) -> tuple[list[DatasetEvent], int]:
        """Dataset events (newest first unless asked) and how many match; ``uri`` keeps one dataset's,
        ``alias`` those recorded through that dataset alias; ``source`` filters on ``dataset_id`` or
        ``source_dag_id`` / ``source_task_id`` / ``source_run_id`` / ``source_map_index``;
        events of ``hidden`` DAGs are left out."""
        event, dataset = DatasetEventRow, DatasetRow
        unknown = set(source) - _EVENT_FILTERS
        if unknown:
            raise TypeError(f"unknown dataset event filter(s): {', '.join(sorted(unknown))}")
        conditions = [getattr(event, name) == value for name, value in source.items() if value is not None]
        if uri:
            conditions.append(dataset.uri == uri)
        if alias:
            link, named = DatasetAliasDatasetEventRow, DatasetAliasRow
            conditions.append(event.id.in_(select(link.event_id).join(named, named.id == link.alias_id)
                                           .where(named.name == alias)))
        if hidden:
            conditions.append(event.source_dag_id.is_(None) | event.source_dag_id.not_in(list(hidden)))
        order = (event.timestamp.desc(), event.id.desc()) if newest_first else (event.timestamp, event.id)
        query = (select(event, dataset.uri).join(dataset, dataset.id == event.dataset_id).where(*conditions)
                 .order_by(*order).limit(limit).offset(offset))
        count = select(func.count()).select_from(event).join(dataset, dataset.id == event.dataset_id).where(*conditions)
        with self._read() as s:
            return _events(s, s.execute(query).all()), int(s.scalar(count) or 0)

    def runs_created_by_events(self, event_ids: Collection[int]) -> dict[int, list[DagRunRecord]]:
        """event id -> the dataset-triggered runs made from it (Airflow's ``created_dagruns``)."""
        if not event_ids:
            return {}
        link = DagRunDatasetEventRow
        query = (select(link.event_id, DagRunRow).join(DagRunRow, DagRunRow.id == link.dag_run_id)
                 .where(link.event_id.in_(list(event_ids))).order_by(DagRunRow.id))
        found: dict[int, list[DagRunRecord]] = {}
        with self._read() as s:
            for event_id, run in s.execute(query).all():
                found.setdefault(event_id, []).append(run_record(run))
        return found


    def dataset_page(self, *, uri_pattern: str = "", hidden: Collection[str] = (), offset: int = 0,
                     limit: int = 100) -> Page[DatasetSummary]:
        """One page of datasets by URI (``uri_pattern``: text the URI contains) with their producing tasks,
        consuming DAGs, event count and last event time; what ``hidden`` DAGs did or wait for is left out."""
        where = [DatasetRow.uri.contains(uri_pattern, autoescape=True)] if uri_pattern else []
        query = select(DatasetRow).where(*where).order_by(DatasetRow.uri).offset(offset).limit(limit)
        with self._read() as s:
            total = int(s.scalar(select(func.count()).select_from(DatasetRow).where(*where)) or 0)
            items = _summaries(s, s.scalars(query).all(), hidden)
        return Page(tuple(items), total, offset, limit)

    def get_dataset(self, dataset_id: int, hidden: Collection[str] = ()) -> DatasetSummary:
        """One dataset as :meth:`dataset_page` lists it; NotFoundError if there is none with this id."""
        with self._read() as s:
            row = s.get(DatasetRow, dataset_id)
            if row is None:
                raise NotFoundError(f"no dataset with id {dataset_id}")
            return _summaries(s, [row], hidden)[0]


def _summaries(s: Session, rows: Sequence[DatasetRow], hidden: Collection[str]) -> list[DatasetSummary]:
    """The summaries of ``rows``: three queries for the page, on the datasets' ids."""
    ids = [r.id for r in rows]
    if not ids:
        return []
    event, produced, consumed = DatasetEventRow, DatasetTaskRefRow, DatasetDagRefRow
    visible = [event.source_dag_id.is_(None) | event.source_dag_id.not_in(list(hidden))] if hidden else []
    stats = {dataset_id: (int(count), last) for dataset_id, count, last in s.execute(
        select(event.dataset_id, func.count(), func.max(event.timestamp))
        .where(event.dataset_id.in_(ids), *visible).group_by(event.dataset_id)).all()}
    producers: dict[int, list[tuple[str, str]]] = {}
    for ref in s.scalars(select(produced).where(produced.dataset_id.in_(ids))).all():
        if ref.dag_id not in hidden:
            producers.setdefault(ref.dataset_id, []).append((ref.dag_id, ref.task_id))
    consumers: dict[int, list[str]] = {}
    for ref in s.scalars(select(consumed).where(consumed.dataset_id.in_(ids))).all():
        if ref.dag_id not in hidden:
            consumers.setdefault(ref.dataset_id, []).append(ref.dag_id)
    return [DatasetSummary(r.id, r.uri, r.extra, r.created_at, tuple(sorted(producers.get(r.id, ()))),
                           tuple(sorted(consumers.get(r.id, ()))), *stats.get(r.id, (0, None)))
            for r in rows]


def _events(s: Session, found: Sequence[Any]) -> list[DatasetEvent]:
    """Each ``(event row, its dataset's URI)`` as a DatasetEvent, with the aliases it came through."""
    aliases: dict[int, list[str]] = {}
    link, named = DatasetAliasDatasetEventRow, DatasetAliasRow
    for ids in chunks([row.id for row, _ in found]):  # a run may come from thousands of events
        query = (select(link.event_id, named.name).join(named, named.id == link.alias_id)
                 .where(link.event_id.in_(ids)).order_by(named.name))
        for event_id, name in s.execute(query).all():
            aliases.setdefault(event_id, []).append(name)
    return [DatasetEvent(id=row.id, dataset_id=row.dataset_id, uri=uri,
                         extra=row.extra if row.extra is not None else {},  # events stored before extras were: none
                         source_dag_id=row.source_dag_id, source_task_id=row.source_task_id,
                         source_run_id=row.source_run_id, source_map_index=row.source_map_index,
                         timestamp=row.timestamp, source_alias_names=tuple(aliases.get(row.id, ())))
            for row, uri in found]


def _unconsumed_events(s: Session, dag_id: str, uris: Collection[str]
                       ) -> list[tuple[int, tuple[datetime, datetime]]]:
    """(event id, span) of each event of ``uris`` not linked to one of the DAG's runs yet, since
    its previous dataset-triggered run (Airflow: later than its logical date; here with a margin
    for clock skew); the span is the producing run's data interval, or the event's time."""
    run, link, event, dataset = DagRunRow, DagRunDatasetEventRow, DatasetEventRow, DatasetRow
    previous = s.scalar(select(func.max(run.logical_date)).where(run.dag_id == dag_id, run.run_type == RUN_TYPE))
    linked = exists(select(link.event_id).join(run, run.id == link.dag_run_id)
                    .where(link.event_id == event.id, run.dag_id == dag_id))
    source = aliased(DagRunRow)
    query = (select(event.id, event.timestamp, source.data_interval_start, source.data_interval_end)
             .join(dataset, dataset.id == event.dataset_id)
             .outerjoin(source, and_(source.dag_id == event.source_dag_id, source.run_id == event.source_run_id))
             .where(dataset.uri.in_(list(uris)), ~linked)
             .order_by(event.timestamp, event.id))
    if previous is not None:  # bounded so the query does not grow with history; the margin allows clock skew
        query = query.where(event.timestamp > previous - _CLOCK_SKEW)
    spans = []
    for event_id, timestamp, start, end in s.execute(query).all():
        spans.append((event_id, (start, end) if start is not None and end is not None else (timestamp, timestamp)))
    return spans
