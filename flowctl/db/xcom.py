"""Store verbs for XCom: small JSON values tasks pass to each other.

Values are stored as JSON; one bigger than ``[core] xcom_max_size`` bytes is
refused with :class:`XComTooLargeError`. Datetimes and the like arrive already
tagged (``flowctl.core.xcom_values``, encoded where a task pushes and decoded
where it pulls): these verbs store and return the JSON as it is. Must not
import above ``db``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select

from flowctl.core.xcom_values import check_xcom_value
from flowctl.db.base import StoreCore
from flowctl.db.records import RunKey, TaskInstanceKey, XComRecord, record_from
from flowctl.db.tables import DagRunRow, XComRow
from flowctl.db.web_queries import Page

RETURN_VALUE = "return_value"


@dataclass(frozen=True, slots=True)
class XComQuery:
    """Filters (None: any) and page of XCom entries; entries of the ``hidden`` DAGs are left out."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    key: str | None = None
    hidden: frozenset[str] = frozenset()
    offset: int = 0
    limit: int = 100


class XComVerbs(StoreCore):
    """xcom_push, xcom_pull, xcom_pull_prior, list_xcoms, xcom_page, clear_xcoms."""

    def check_xcom(self, ti: TaskInstanceKey, key: str, value: Any) -> None:
        """Raise what :meth:`xcom_push` would for this value (not JSON, or too large); else nothing."""
        check_xcom_value(ti, key, value, self.xcom_max_size)

    def xcom_push(self, ti: TaskInstanceKey, key: str, value: Any, now: datetime) -> None:
        """Store (or replace) the value a task pushes under ``key``."""
        self.check_xcom(ti, key, value)
        with self._session() as s:
            s.execute(delete(XComRow).where(*_ti_xcom_where(ti), XComRow.key == key))
            s.add(XComRow(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index,
                          key=key, value=value, timestamp=now))

    def xcom_pull(self, run: RunKey, task_id: str, key: str = RETURN_VALUE, map_index: int = -1,
                  default: Any = None) -> Any:
        """The value ``task_id`` pushed under ``key`` in this run, or ``default``."""
        query = select(XComRow.value).where(
            XComRow.dag_id == run.dag_id, XComRow.run_id == run.run_id, XComRow.task_id == task_id,
            XComRow.map_index == map_index, XComRow.key == key)
        with self._read() as s:
            found = s.execute(query).first()
        return default if found is None else found[0]

    def xcom_pull_prior(self, dag_id: str, task_id: str | None, key: str, map_index: int, until: datetime,
                        default: Any = None) -> Any:
        """What ``task_id`` (any task when None) of ``dag_id`` pushed under ``key`` in the latest run
        whose logical date is at or before ``until``, or ``default`` (Airflow's ``include_prior_dates``)."""
        query = (select(XComRow.value)
                 .join(DagRunRow, and_(DagRunRow.dag_id == XComRow.dag_id, DagRunRow.run_id == XComRow.run_id))
                 .where(XComRow.dag_id == dag_id, XComRow.map_index == map_index, XComRow.key == key,
                        DagRunRow.logical_date <= until)
                 .order_by(DagRunRow.logical_date.desc(), XComRow.timestamp.desc()).limit(1))
        if task_id is not None:
            query = query.where(XComRow.task_id == task_id)
        with self._read() as s:
            found = s.execute(query).first()
        return default if found is None else found[0]

    def list_xcoms(self, run: RunKey, task_id: str | None = None) -> list[XComRecord]:
        """Every XCom of a run (or of one task in it)."""
        query = (select(XComRow).where(XComRow.dag_id == run.dag_id, XComRow.run_id == run.run_id)
                 .order_by(XComRow.task_id, XComRow.map_index, XComRow.key))
        if task_id is not None:
            query = query.where(XComRow.task_id == task_id)
        with self._read() as s:
            return [record_from(XComRecord, r) for r in s.scalars(query).all()]

    def xcom_page(self, query: XComQuery) -> Page[XComRecord]:
        """One page of the XComs matching ``query``, by their run's logical date, task, DAG, key and map
        index (Airflow's order), with the total that match."""
        where = [column == value for column, value in (
            (XComRow.dag_id, query.dag_id), (XComRow.run_id, query.run_id), (XComRow.task_id, query.task_id),
            (XComRow.map_index, query.map_index), (XComRow.key, query.key)) if value is not None]
        if query.hidden:
            where.append(XComRow.dag_id.not_in(sorted(query.hidden)))
        with self._read() as s:
            total = int(s.scalar(select(func.count()).select_from(XComRow).where(*where)) or 0)
            rows = s.scalars(
                select(XComRow).join(DagRunRow, and_(DagRunRow.dag_id == XComRow.dag_id,
                                                     DagRunRow.run_id == XComRow.run_id)).where(*where)
                .order_by(DagRunRow.logical_date, XComRow.task_id, XComRow.dag_id, XComRow.key, XComRow.map_index)
                .offset(query.offset).limit(query.limit)).all()
            return Page(tuple(record_from(XComRecord, r) for r in rows), total, query.offset, query.limit)

    def clear_xcoms(self, ti: TaskInstanceKey) -> int:
        """Delete a task instance's XComs (a new try starts clean); returns how many."""
        with self._session() as s:
            return int(s.execute(delete(XComRow).where(*_ti_xcom_where(ti))).rowcount)  # type: ignore[attr-defined]


def _ti_xcom_where(ti: TaskInstanceKey) -> list[Any]:
    return [XComRow.dag_id == ti.dag_id, XComRow.run_id == ti.run_id, XComRow.task_id == ti.task_id,
            XComRow.map_index == ti.map_index]
