"""Store verbs for the audit log (table ``log``): who did what, when, from where.

Owns :class:`AuditVerbs` and :class:`EventLogQuery` (the filters, sort and page of
the REST API's ``/eventLogs``). Must not import above ``db``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from flowctl.core.errors import NotFoundError
from flowctl.db.base import StoreCore
from flowctl.db.records import AUDIT_SOURCES, AuditRecord, record_from
from flowctl.db.tables import LogRow
from flowctl.db.web_queries import Page

#: The columns an event log page may be sorted by.
EVENT_LOG_SORT_COLUMNS = frozenset({"id", "dttm", "dag_id", "task_id", "run_id", "event", "owner", "source"})


@dataclass(frozen=True, slots=True)
class EventLogQuery:
    """Filters (equality, "" or None: any; ``after`` < dttm < ``before``; an event among
    ``included_events`` when any, never among ``excluded_events``), sort and page of audit rows.

    Rows of the ``hidden`` DAGs are left out; rows without a DAG are always in."""

    dag_id: str = ""
    task_id: str = ""
    run_id: str = ""
    event: str = ""
    owner: str = ""
    map_index: int | None = None
    try_number: int | None = None
    included_events: tuple[str, ...] = ()
    excluded_events: tuple[str, ...] = ()
    before: datetime | None = None
    after: datetime | None = None
    hidden: frozenset[str] = frozenset()
    order_by: str = "id"
    descending: bool = False
    offset: int = 0
    limit: int = 100


class AuditVerbs(StoreCore):
    """audit, list_audit, event_log_page, get_audit."""

    def audit(self, event: str, *, now: datetime, source: str, owner: str | None = None,
              dag_id: str | None = None, task_id: str | None = None, run_id: str | None = None,
              map_index: int | None = None, try_number: int | None = None,
              extra: Mapping[str, Any] | str | None = None) -> None:
        """Append one audit row (``source`` is ui, api, cli, scheduler or task)."""
        if source not in AUDIT_SOURCES:
            raise ValueError(f"audit source must be one of {', '.join(sorted(AUDIT_SOURCES))}, not {source!r}")
        text = extra if isinstance(extra, str) or extra is None else json.dumps(extra, default=str)
        with self._session() as s:
            s.add(LogRow(dttm=now, event=event, source=source, owner=owner, dag_id=dag_id, task_id=task_id,
                         run_id=run_id, map_index=map_index, try_number=try_number, extra=text))

    def list_audit(self, dag_id: str | None = None, event: str | None = None,
                   limit: int = 100) -> list[AuditRecord]:
        """Audit rows, newest first."""
        query = select(LogRow).order_by(LogRow.dttm.desc(), LogRow.id.desc()).limit(limit)
        if dag_id is not None:
            query = query.where(LogRow.dag_id == dag_id)
        if event is not None:
            query = query.where(LogRow.event == event)
        with self._read() as s:
            return [record_from(AuditRecord, r) for r in s.scalars(query).all()]

    def event_log_page(self, query: EventLogQuery) -> Page[AuditRecord]:
        """One page of audit rows matching ``query``, with the total that match."""
        if query.order_by not in EVENT_LOG_SORT_COLUMNS:
            raise ValueError(f"cannot sort audit rows by {query.order_by!r}")
        where = [column == value for column, value in (
            (LogRow.dag_id, query.dag_id), (LogRow.task_id, query.task_id), (LogRow.run_id, query.run_id),
            (LogRow.event, query.event), (LogRow.owner, query.owner)) if value]
        where += [column == value for column, value in (
            (LogRow.map_index, query.map_index), (LogRow.try_number, query.try_number)) if value is not None]
        if query.included_events:
            where.append(LogRow.event.in_(sorted(query.included_events)))
        if query.excluded_events:
            where.append(LogRow.event.not_in(sorted(query.excluded_events)))
        if query.before is not None:
            where.append(LogRow.dttm < query.before)
        if query.after is not None:
            where.append(LogRow.dttm > query.after)
        if query.hidden:
            where.append(or_(LogRow.dag_id.is_(None), LogRow.dag_id.not_in(sorted(query.hidden))))
        column = getattr(LogRow, query.order_by)
        order = [column.desc(), LogRow.id.desc()] if query.descending else [column.asc(), LogRow.id.asc()]
        with self._read() as s:
            total = int(s.scalar(select(func.count()).select_from(LogRow).where(*where)) or 0)
            rows = s.scalars(select(LogRow).where(*where).order_by(*order)
                             .offset(query.offset).limit(query.limit)).all()
            return Page(tuple(record_from(AuditRecord, r) for r in rows), total, query.offset, query.limit)

    def get_audit(self, event_log_id: int) -> AuditRecord:
        """One audit row; NotFoundError names the id."""
        with self._read() as s:
            row = s.get(LogRow, event_log_id)
            if row is None:
                raise NotFoundError(f"event log {event_log_id} not found")
            return record_from(AuditRecord, row)
