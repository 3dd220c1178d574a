"""Store verbs for the audit log (table ``log``): who did what, when, from where.

Must not import above ``db``.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from flowctl.db.base import StoreCore
from flowctl.db.records import AUDIT_SOURCES, AuditRecord, record_from
from flowctl.db.tables import LogRow


class AuditVerbs(StoreCore):
    """audit, list_audit."""

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
