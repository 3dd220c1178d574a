"""Store read verbs for the web UI: paged lists with counts, done on the SQL side.

Owns the query records (:class:`DagQuery`, :class:`RunQuery`,
:class:`TaskInstanceQuery`), :class:`Page` and :class:`WebQueryVerbs`, the
Store mixin. Every list is paged with LIMIT/OFFSET in SQL and counts are
capped (:data:`COUNT_CAP`) so a page stays fast with 5,000 DAGs or a million
task instances. Must not import web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import String, and_, cast, func, or_, select, tuple_
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from flowctl.db.base import StoreCore
from flowctl.db.records import (
    DagRecord,
    DagRunRecord,
    TaskInstanceRecord,
    record_from,
)
from flowctl.db.runs import run_record
from flowctl.db.tables import DagRow, DagRunRow, JobRow, LogRow, SerializedDagRow, TaskInstanceRow

T = TypeVar("T")
#: Counts stop at this many rows: "10,000+" is as useful as an exact million and much cheaper.
COUNT_CAP = 10_000
LOGIN_FAILED_EVENT = "login_failed"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items, the (capped) total and where it starts."""

    items: tuple[T, ...]
    total: int
    offset: int
    limit: int

    @property
    def capped(self) -> bool:
        return self.total > COUNT_CAP


#: (field, at least, at most): a ``…_gte`` / ``…_lte`` filter of the REST API (None: unbounded).
Range = tuple[str, Any, Any]
#: Fields the REST API may order DAGs by (``-`` before one reverses it).
DAG_ORDER_FIELDS = frozenset({"dag_id", "next_dagrun", "last_parsed_time", "is_paused", "fileloc", "owners",
                              "next_dagrun_create_after"})
#: API field -> dag_run column, for ranges and ordering.
RUN_FIELDS: Mapping[str, str] = {"execution_date": "logical_date", "logical_date": "logical_date",
                                 "start_date": "start_date", "end_date": "end_date", "updated_at": "updated_at",
                                 "queued_at": "queued_at", "dag_id": "dag_id", "dag_run_id": "run_id",
                                 "run_id": "run_id", "state": "state", "run_type": "run_type", "id": "id"}
#: API field -> task_instance column (``execution_date``: the run's logical date), for ranges and ordering.
TI_FIELDS: Mapping[str, str] = {"dag_id": "dag_id", "dag_run_id": "run_id", "run_id": "run_id",
                                "task_id": "task_id", "map_index": "map_index", "try_number": "try_number",
                                "state": "state", "start_date": "start_date", "end_date": "end_date",
                                "duration": "duration", "pool": "pool", "queue": "queue",
                                "priority_weight": "priority_weight", "updated_at": "updated_at",
                                "execution_date": "logical_date"}


@dataclass(frozen=True, slots=True)
class DagQuery:
    """Filters of the home page (``status`` is all, active or paused) and of the REST API
    (``dag_id_pattern`` an SQL LIKE pattern that a part of the id matches, case-insensitive as
    Airflow's ILIKE: ``%`` any text, ``_`` any one character, ``\\`` escapes; any of ``tags``, inactive DAGs too
    unless ``only_active``, ``order_by`` from :data:`DAG_ORDER_FIELDS`)."""

    search: str = ""
    tag: str = ""
    status: str = "all"
    last_run_state: str = ""
    hidden: frozenset[str] = frozenset()
    offset: int = 0
    limit: int = 25
    dag_id_pattern: str = ""
    tags: tuple[str, ...] = ()
    only_active: bool = True
    order_by: str = ""


@dataclass(frozen=True, slots=True)
class DagSummary:
    """A home-page row: the DAG, its latest run and that run's task-state counts."""

    dag: DagRecord
    last_run: DagRunRecord | None
    task_counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Filters of the runs list; the REST API's add ``states`` (any of), ``dag_ids`` (None: all),
    ``ranges`` over :data:`RUN_FIELDS` and ``order_by`` (default: newest logical date first)."""

    dag_id: str = ""
    state: str = ""
    run_type: str = ""
    run_id: str = ""
    start: datetime | None = None
    end: datetime | None = None
    hidden: frozenset[str] = frozenset()
    offset: int = 0
    limit: int = 50
    states: tuple[str, ...] = ()
    dag_ids: tuple[str, ...] | None = None
    ranges: tuple[Range, ...] = ()
    order_by: str = ""


@dataclass(frozen=True, slots=True)
class TaskInstanceQuery:
    """Filters of the task-instance list; the REST API's add lists (any of; None: all),
    ``map_index``, ``ranges`` over :data:`TI_FIELDS` and ``order_by`` (default: newest first)."""

    dag_id: str = ""
    run_id: str = ""
    task_id: str = ""
    state: str = ""
    pool: str = ""
    hidden: frozenset[str] = frozenset()
    offset: int = 0
    limit: int = 50
    states: tuple[str, ...] | None = None
    pools: tuple[str, ...] | None = None
    queues: tuple[str, ...] | None = None
    dag_ids: tuple[str, ...] | None = None
    run_ids: tuple[str, ...] | None = None
    task_ids: tuple[str, ...] | None = None
    map_index: int | None = None
    ranges: tuple[Range, ...] = ()
    order_by: str = ""


@dataclass(frozen=True, slots=True)
class TimelineBar:
    """One task try on the timeline (running part; queued_at when known)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    state: str
    queued_at: datetime | None
    start_date: datetime
    end_date: datetime | None
    hostname: str | None
    pool: str


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page_count(s: Any, query: Select[Any]) -> int:
    """COUNT of a query, stopping at COUNT_CAP + 1 rows."""
    sub = query.order_by(None).limit(COUNT_CAP + 1).subquery()
    return int(s.scalar(select(func.count()).select_from(sub)) or 0)


class WebQueryVerbs(StoreCore):
    """dag_page, dag_tags, run_page, task_instance_page, timeline, and small lookups."""

    # --- home --------------------------------------------------------------------------------

    def dag_page(self, q: DagQuery) -> Page[DagSummary]:
        """DAGs matching the filters, ``q.limit`` from ``q.offset``, with latest runs and counts."""
        query = self._dag_filter(q)
        with self._read() as s:
            total = int(s.scalar(select(func.count()).select_from(query.subquery())) or 0)
            rows = s.scalars(query.order_by(*_ordering(DagRow, q.order_by, DagRow.dag_id))
                             .offset(q.offset).limit(q.limit)).all()
            dags = [record_from(DagRecord, r, tags=tuple(r.tags or ())) for r in rows]
            runs = _latest_runs(s, [d.dag_id for d in dags])
            counts = _state_counts(s, [(r.dag_id, r.run_id) for r in runs.values()])
        items = tuple(DagSummary(d, runs.get(d.dag_id), counts.get(d.dag_id, {})) for d in dags)
        return Page(items, total, q.offset, q.limit)

    def _dag_filter(self, q: DagQuery) -> Select[Any]:
        query = select(DagRow).where(DagRow.is_active.is_(True)) if q.only_active else select(DagRow)
        if q.dag_id_pattern:
            pattern = f"%{q.dag_id_pattern.lower()}%"  # Airflow's '%' || pattern || '%', wildcards kept
            query = query.where(func.lower(DagRow.dag_id).like(pattern, escape="\\"))
        if q.tags:
            query = query.where(or_(*(cast(DagRow.tags, String).like(_like(f'"{t}"'), escape="\\") for t in q.tags)))
        if q.search:
            pattern = _like(q.search.lower())
            query = query.where(or_(func.lower(DagRow.dag_id).like(pattern, escape="\\"),
                                    func.lower(DagRow.owners).like(pattern, escape="\\")))
        if q.tag:
            query = query.where(cast(DagRow.tags, String).like(_like(f'"{q.tag}"'), escape="\\"))
        if q.status == "active":
            query = query.where(DagRow.is_paused.is_(False))
        elif q.status == "paused":
            query = query.where(DagRow.is_paused.is_(True))
        if q.hidden:
            query = query.where(DagRow.dag_id.not_in(sorted(q.hidden)))
        if q.last_run_state:
            # Correlated: one (dag_id, logical_date) index probe per DAG, never a scan of every run.
            newest = aliased(DagRunRow)
            latest_date = (select(func.max(newest.logical_date)).where(newest.dag_id == DagRow.dag_id)
                           .correlate(DagRow).scalar_subquery())
            query = query.where(select(DagRunRow.id).where(
                DagRunRow.dag_id == DagRow.dag_id, DagRunRow.logical_date == latest_date,
                DagRunRow.state == q.last_run_state).correlate(DagRow).exists())
        return query

    def dag_status_counts(self, hidden: Collection[str] = ()) -> dict[str, int]:
        """How many active DAGs are paused and unpaused: {"all", "active", "paused"}."""
        query = (select(DagRow.is_paused, func.count()).where(DagRow.is_active.is_(True))
                 .group_by(DagRow.is_paused))
        if hidden:
            query = query.where(DagRow.dag_id.not_in(sorted(hidden)))
        with self._read() as s:
            by = {bool(p): int(n) for p, n in s.execute(query)}
        return {"all": sum(by.values()), "active": by.get(False, 0), "paused": by.get(True, 0)}

    def dag_tags(self) -> list[str]:
        """Every tag of an active DAG, sorted."""
        with self._read() as s:
            tags: set[str] = set()
            for raw in s.scalars(select(DagRow.tags).where(DagRow.is_active.is_(True))):
                tags.update(str(t) for t in raw or ())
        return sorted(tags)

    def access_controls(self) -> tuple[int, dict[str, Any]]:
        """(newest serialized_dag id, {dag_id: access_control}) for DAGs that set one."""
        with self._read() as s:
            newest = int(s.scalar(select(func.max(SerializedDagRow.id))) or 0)
            latest = (select(SerializedDagRow.dag_id, func.max(SerializedDagRow.version_number).label("v"))
                      .group_by(SerializedDagRow.dag_id).subquery())
            rows = s.execute(select(SerializedDagRow.dag_id, SerializedDagRow.data["access_control"])
                             .join(latest, and_(latest.c.dag_id == SerializedDagRow.dag_id,
                                                latest.c.v == SerializedDagRow.version_number)))
            found = {dag_id: ac for dag_id, ac in rows if ac}
        return newest, found

    def newest_serialized_id(self) -> int:
        """The id of the newest serialized DAG version (changes whenever any DAG changes)."""
        with self._read() as s:
            return int(s.scalar(select(func.max(SerializedDagRow.id))) or 0)

    # --- browse --------------------------------------------------------------------------------

    def run_page(self, q: RunQuery) -> Page[DagRunRecord]:
        """Runs matching the filters, newest logical date first."""
        query = select(DagRunRow)
        for column, value in ((DagRunRow.dag_id, q.dag_id), (DagRunRow.state, q.state),
                              (DagRunRow.run_type, q.run_type), (DagRunRow.run_id, q.run_id)):
            if value:
                query = query.where(column == value)
        if q.start is not None:
            query = query.where(DagRunRow.logical_date >= q.start)
        if q.end is not None:
            query = query.where(DagRunRow.logical_date <= q.end)
        if q.hidden:
            query = query.where(DagRunRow.dag_id.not_in(sorted(q.hidden)))
        if q.states:
            query = query.where(DagRunRow.state.in_(sorted(q.states)))
        if q.dag_ids is not None:
            query = query.where(DagRunRow.dag_id.in_(sorted(q.dag_ids)))
        query = query.where(*_in_ranges({f: getattr(DagRunRow, c) for f, c in RUN_FIELDS.items()}, q.ranges))
        order = ([_sorted(getattr(DagRunRow, RUN_FIELDS[q.order_by.removeprefix("-")]), q.order_by)]
                 if q.order_by else [DagRunRow.logical_date.desc()])
        with self._read() as s:
            total = _page_count(s, query)
            rows = s.scalars(query.order_by(*order, DagRunRow.id.desc())
                             .offset(q.offset).limit(q.limit)).all()
            return Page(tuple(run_record(r) for r in rows), total, q.offset, q.limit)

    def task_instance_page(self, q: TaskInstanceQuery) -> Page[TaskInstanceRecord]:
        """Task instances matching the filters, newest first."""
        ti = TaskInstanceRow
        query = self._ti_filter(q)
        columns = {f: (DagRunRow.logical_date if c == "logical_date" else getattr(ti, c)) for f, c in TI_FIELDS.items()}
        order = [_sorted(columns[q.order_by.removeprefix("-")], q.order_by)] if q.order_by else []
        if q.ranges or q.order_by.removeprefix("-") == "execution_date":
            query = query.join(DagRunRow, and_(DagRunRow.dag_id == ti.dag_id, DagRunRow.run_id == ti.run_id))
            query = query.where(*_in_ranges(columns, q.ranges))
        with self._read() as s:
            total = _page_count(s, query)
            rows = s.scalars(query.order_by(*order, ti.id.desc()).offset(q.offset).limit(q.limit)).all()
            return Page(tuple(record_from(TaskInstanceRecord, r) for r in rows), total, q.offset, q.limit)

    def _ti_filter(self, q: TaskInstanceQuery) -> Select[Any]:
        ti = TaskInstanceRow
        query = select(ti)
        for column, value in ((ti.dag_id, q.dag_id), (ti.run_id, q.run_id), (ti.task_id, q.task_id),
                              (ti.state, q.state), (ti.pool, q.pool)):
            if value:
                query = query.where(column == value)
        for column, values in ((ti.state, q.states), (ti.pool, q.pools), (ti.queue, q.queues),
                               (ti.dag_id, q.dag_ids), (ti.run_id, q.run_ids), (ti.task_id, q.task_ids)):
            if values is not None:
                query = query.where(column.in_(sorted(values)))
        if q.map_index is not None:
            query = query.where(ti.map_index == q.map_index)
        if q.hidden:
            query = query.where(ti.dag_id.not_in(sorted(q.hidden)))
        return query

    def logical_dates(self, runs: Collection[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
        """(dag_id, run_id) -> logical_date, for showing dates next to task instances."""
        if not runs:
            return {}
        with self._read() as s:
            rows = s.execute(select(DagRunRow.dag_id, DagRunRow.run_id, DagRunRow.logical_date)
                             .where(tuple_(DagRunRow.dag_id, DagRunRow.run_id).in_(sorted(runs))))
            return {(d, r): ld for d, r, ld in rows}

    def timeline(self, start: datetime, end: datetime, hidden: Collection[str] = (),
                 limit: int = 2_000) -> list[TimelineBar]:
        """Task tries that ran (or are running) within ``[start, end]``, by start time."""
        ti, run = TaskInstanceRow, DagRunRow
        # Runs overlapping the window first (a small table), then their tries by the TI key index.
        runs = (select(run.dag_id, run.run_id).where(run.start_date.is_not(None), run.start_date <= end,
                                                      or_(run.end_date.is_(None), run.end_date >= start))
                .order_by(run.start_date).limit(limit))
        if hidden:
            runs = runs.where(run.dag_id.not_in(sorted(hidden)))
        with self._read() as s:
            keys = {(d, r) for d, r in s.execute(runs)}
            if not keys:
                return []
            query = (select(ti).where(ti.dag_id.in_(sorted({d for d, _ in keys})),
                                      ti.run_id.in_(sorted({r for _, r in keys})),
                                      ti.start_date.is_not(None), ti.start_date <= end,
                                      or_(ti.end_date.is_(None), ti.end_date >= start))
                     .order_by(ti.start_date).limit(limit))
            return [TimelineBar(r.dag_id, r.run_id, r.task_id, r.map_index, r.try_number, r.state,
                                r.queued_at, r.start_date, r.end_date, r.hostname, r.pool)
                    for r in s.scalars(query).all() if r.start_date is not None and (r.dag_id, r.run_id) in keys]

    # --- audit, health, login throttling ---------------------------------------------------------

    def latest_heartbeat(self, job_type: str) -> datetime | None:
        """The newest heartbeat of a running job of this type (None when there is none)."""
        with self._read() as s:
            return s.scalar(select(func.max(JobRow.latest_heartbeat))
                            .where(JobRow.job_type == job_type, JobRow.state == "running"))

    def ping(self) -> None:
        """Run a trivial query; raises when the database cannot be reached."""
        with self._read() as s:
            s.execute(select(1))

    def count_login_failures(self, username: str, address: str, since: datetime) -> int:
        """Failed logins of ``username`` from ``address`` at or after ``since`` (from the audit log)."""
        with self._read() as s:
            return int(s.scalar(select(func.count()).select_from(LogRow).where(
                LogRow.event == LOGIN_FAILED_EVENT, LogRow.dttm >= since, LogRow.owner == username,
                LogRow.extra == address)) or 0)


def _sorted(column: Any, order_by: str) -> Any:
    """``column`` ascending, or descending when ``order_by`` starts with ``-``; missing values last."""
    return (column.desc() if order_by.startswith("-") else column.asc()).nulls_last()


def _ordering(table: Any, order_by: str, tie: Any) -> list[Any]:
    if not order_by:
        return [tie]
    return [_sorted(getattr(table, order_by.removeprefix("-")), order_by), tie]


def _in_ranges(columns: Mapping[str, Any], ranges: Sequence[Range]) -> list[Any]:
    """WHERE clauses for ``(field, gte, lte)`` ranges over ``columns`` (KeyError for an unknown field)."""
    out = []
    for name, low, high in ranges:
        column = columns[name]
        if low is not None:
            out.append(column >= low)
        if high is not None:
            out.append(column <= high)
    return out


def _latest_runs(s: Any, dag_ids: Sequence[str]) -> dict[str, DagRunRecord]:
    if not dag_ids:
        return {}
    latest = (select(DagRunRow.dag_id, func.max(DagRunRow.logical_date).label("ld"))
              .where(DagRunRow.dag_id.in_(list(dag_ids))).group_by(DagRunRow.dag_id).subquery())
    rows = s.scalars(select(DagRunRow).join(latest, and_(DagRunRow.dag_id == latest.c.dag_id,
                                                         DagRunRow.logical_date == latest.c.ld))).all()
    return {r.dag_id: run_record(r) for r in rows}


def _state_counts(s: Any, runs: Sequence[tuple[str, str]]) -> dict[str, dict[str, int]]:
    if not runs:
        return {}
    ti = TaskInstanceRow
    wanted = set(runs)
    # Two plain IN lists use the (dag_id, run_id, ...) index on every database; pairs filtered here.
    rows = s.execute(select(ti.dag_id, ti.run_id, ti.state, func.count())
                     .where(ti.dag_id.in_(sorted({d for d, _ in wanted})),
                            ti.run_id.in_(sorted({r for _, r in wanted})))
                     .group_by(ti.dag_id, ti.run_id, ti.state))
    out: dict[str, dict[str, int]] = {}
    for dag_id, run_id, state, n in rows:
        if (dag_id, run_id) in wanted:
            out.setdefault(dag_id, {})[state] = int(n)
    return out
