"""Store verbs for DAG runs: create a run with its task instances, read runs, move run state.

``create_run`` writes the dag_run row and one ``pending`` task_instance per
task of the DAG's current serialized version in one transaction. Run state
changes go through :meth:`RunVerbs.set_run_state`, a compare-and-set checked
against ``core/states.py``. Must not import above ``db``.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from flowctl.core.errors import DagNotFound, DagRunAlreadyExists, DagRunNotFound
from flowctl.core.keys import check_conf, check_note, check_run_id
from flowctl.core.planner.graph import task_graph
from flowctl.core.states import DagRunState, check_manual_run_transition, check_run_transition
from flowctl.db.base import StoreCore
from flowctl.db.dags import _latest_serialized, dag_body
from flowctl.db.records import RUN_TYPES, DagRunRecord, RunKey, SerializedDagRecord, record_from
from flowctl.db.tables import DagRunRow, TaskInstanceRow

_RUN_WRITABLE = frozenset(c.name for c in DagRunRow.__table__.columns) - {"id", "dag_id", "run_id", "state"}


def run_record(row: DagRunRow) -> DagRunRecord:
    """The record of a dag_run row."""
    return record_from(DagRunRecord, row, conf=dict(row.conf or {}))


def task_instance_values(run: DagRunRow, body: Mapping[str, Any], dag_hash: str | None = None
                         ) -> list[dict[str, Any]]:
    """The columns of one pending task instance per task in a serialized DAG body (weight_rule
    resolved), for one bulk INSERT: no ORM object per task (a run of a wide DAG has hundreds).
    ``dag_hash`` (the body's, from its serialized_dag row) lets the weights be reused."""
    tasks = list(body.get("tasks") or ())
    weights = _weights(body, dag_hash)
    return [
        dict(
            dag_id=run.dag_id, run_id=run.run_id, task_id=str(task["task_id"]), map_index=-1,
            state="pending", try_number=0, max_tries=int(task.get("retries") or 0),
            queue=task.get("queue") or "default", pool=task.get("pool") or "default_pool",
            pool_slots=int(task.get("pool_slots") or 1), priority_weight=weights[str(task["task_id"])],
            operator=task.get("operator") or task.get("task_type") or task.get("_task_type"),
            executor=task.get("executor"),
        )
        for task in tasks
    ]


#: Effective priority weights by DAG hash (the same structure, the same weights): a process that
#: creates many runs of a DAG (the scheduler, a backfill) builds its task graph once. Bounded.
_WEIGHTS: dict[str, Mapping[str, int]] = {}
MAX_WEIGHTS = 64


def _weights(body: Mapping[str, Any], dag_hash: str | None) -> Mapping[str, int]:
    if dag_hash is None:
        return task_graph(body).weights
    weights = _WEIGHTS.get(dag_hash)
    if weights is None:
        if len(_WEIGHTS) >= MAX_WEIGHTS:
            _WEIGHTS.clear()
        weights = _WEIGHTS[dag_hash] = task_graph(body).weights
    return weights


def insert_task_instances(conn: Any, values: Sequence[Mapping[str, Any]]) -> None:
    """Insert task_instance rows (each a mapping of the same columns) in ``conn``'s transaction.

    PostgreSQL: with COPY, several times faster than a many-row INSERT for a wide DAG or a
    mapped task (202 rows: about 6 ms instead of 20), which a trigger's response, or the
    scheduler round that creates runs or expands a mapped task, waits for.
    """
    if not values:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(TaskInstanceRow.__table__), list(values))
        return
    columns = list(values[0])
    statement = f"COPY task_instance ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
    text = "".join(",".join(fields) + "\n" for fields in zip(*(_csv_column(values, c) for c in columns)))
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with conn.connection.cursor() as cursor:  # the DB-API connection of this transaction
            cursor.copy_expert(statement, io.StringIO(text))
    except dbapi_error as error:  # as SQLAlchemy reports its own statements' errors (DataError, ...)
        lost = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(statement, None, error, dbapi_error, connection_invalidated=lost,
                                  dialect=conn.dialect) from error


def _csv_column(values: Sequence[Mapping[str, Any]], column: str) -> list[str]:
    """One column's CSV fields. A run's rows share most values (dag_id, run_id, state, times):
    each distinct one is formatted once (a 202-task run: 2,600 fields, some 400 distinct)."""
    formatted: dict[Any, str] = {}
    fields = []
    for row in values:
        value = row[column]
        try:
            field = formatted[value]
        except KeyError:
            field = formatted[value] = _csv_field(value)
        except TypeError:  # unhashable (a JSON value): formatted each time
            field = _csv_field(value)
        fields.append(field)
    return fields


def _csv_field(value: Any) -> str:
    """One field of COPY's CSV: NULL unquoted and empty, a string always quoted ('' is not NULL),
    a time with its offset (naive ones refused, as :class:`~flowctl.db.tables.UtcDateTime` does)."""
    if value is None:
        return ""
    if isinstance(value, (bool, int)):
        return str(int(value))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: flowctl stores timezone-aware UTC times only")
        value = value.isoformat()
    return '"' + str(value).replace('"', '""') + '"'


def _check_fields(fields: Mapping[str, Any], allowed: frozenset[str], table: str) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"{table} has no writable column(s) {', '.join(sorted(unknown))}")


class RunVerbs(StoreCore):
    """create_run, get_run, list_runs, set_run_state."""

    def create_run(self, dag_id: str, run_id: str, *, run_type: str, logical_date: datetime, now: datetime,
                   data_interval: tuple[datetime, datetime] | None = None,
                   conf: Mapping[str, Any] | None = None, state: DagRunState | str = DagRunState.QUEUED,
                   creating_job_id: int | None = None, note: str | None = None,
                   serialized: SerializedDagRecord | None = None) -> DagRunRecord:
        """Create a run and its pending task instances from the DAG's current version
        (``serialized``: that version, read already by the caller)."""
        if run_type not in RUN_TYPES:
            raise ValueError(f"run_type must be one of {', '.join(sorted(RUN_TYPES))}, not {run_type!r}")
        check_run_id(run_id)
        check_conf(conf)
        check_note(note)  # every way of creating a run (the UI's form, the API) keeps setNote's limit
        start, end = data_interval if data_interval else (None, None)
        try:  # a run that exists already (same run_id or logical date) breaks a unique constraint
            with self._session() as s:
                if serialized is None or serialized.dag_id != dag_id:
                    serialized = _latest_serialized(s, dag_id)  # type: ignore[assignment]
                if serialized is None:
                    raise DagNotFound(f"DAG {dag_id!r} not found (never parsed?)")
                run = DagRunRow(
                    dag_id=dag_id, run_id=run_id, run_type=run_type, logical_date=logical_date,
                    data_interval_start=start, data_interval_end=end, state=DagRunState(state).value,
                    conf=dict(conf or {}), queued_at=now, serialized_dag_id=serialized.id,
                    creating_job_id=creating_job_id, external_trigger=run_type == "manual",
                    clear_number=0, note=note, updated_at=now,
                )
                s.add(run)
                s.flush()
                insert_task_instances(s.connection(),
                                      task_instance_values(run, dag_body(serialized.data), serialized.dag_hash))
                return run_record(run)
        except IntegrityError:  # the run exists (or another creator of it won the race): say which
            with self._read() as s:
                _refuse_duplicate(s, dag_id, run_id, logical_date)
            raise

    def get_run(self, dag_id: str, run_id: str) -> DagRunRecord:
        """One run; DagRunNotFound names it."""
        with self._read() as s:
            row = s.scalars(select(DagRunRow).where(DagRunRow.dag_id == dag_id, DagRunRow.run_id == run_id)).first()
            if row is None:
                raise DagRunNotFound(f"DAG run {run_id!r} of DAG {dag_id!r} not found")
            return run_record(row)

    def list_runs(self, dag_id: str | None = None, state: DagRunState | str | None = None,
                  limit: int = 100, since: datetime | None = None,
                  until: datetime | None = None) -> list[DagRunRecord]:
        """Runs, newest logical date first; ``since`` / ``until`` bound the logical date (inclusive)."""
        query = select(DagRunRow).order_by(DagRunRow.logical_date.desc(), DagRunRow.id.desc()).limit(limit)
        if dag_id is not None:
            query = query.where(DagRunRow.dag_id == dag_id)
        if state is not None:
            query = query.where(DagRunRow.state == DagRunState(state).value)
        if since is not None:
            query = query.where(DagRunRow.logical_date >= since)
        if until is not None:
            query = query.where(DagRunRow.logical_date <= until)
        with self._read() as s:
            return [run_record(r) for r in s.scalars(query).all()]

    def set_run_state(self, run: RunKey, expected: DagRunState | str, new: DagRunState | str,
                      **fields: Any) -> bool:
        """Compare-and-set a run's state; True if this call made the change."""
        check_run_transition(expected, new)
        return self._cas_run(run, expected, new, fields)

    def set_run_state_manually(self, run: RunKey, expected: DagRunState | str, new: DagRunState | str,
                               **fields: Any) -> bool:
        """Like set_run_state, with the wider table of what a person (CLI, UI, API) may do."""
        check_manual_run_transition(expected, new)
        return self._cas_run(run, expected, new, fields)

    def _cas_run(self, run: RunKey, expected: DagRunState | str, new: DagRunState | str,
                 fields: Mapping[str, Any]) -> bool:
        _check_fields(fields, _RUN_WRITABLE, "dag_run")
        with self._session() as s:
            result = s.execute(
                update(DagRunRow)
                .where(DagRunRow.dag_id == run.dag_id, DagRunRow.run_id == run.run_id,
                       DagRunRow.state == DagRunState(expected).value)
                .values(state=DagRunState(new).value, **fields)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _refuse_duplicate(s: Session, dag_id: str, run_id: str, logical_date: datetime) -> None:
    clash = s.scalars(
        select(DagRunRow).where(DagRunRow.dag_id == dag_id,
                                (DagRunRow.run_id == run_id) | (DagRunRow.logical_date == logical_date))
    ).first()
    if clash is None:
        return
    if clash.run_id == run_id:
        raise DagRunAlreadyExists(f"DAG {dag_id!r} already has a run with run_id {run_id!r}")
    raise DagRunAlreadyExists(
        f"DAG {dag_id!r} already has a run at logical date {logical_date.isoformat()} ({clash.run_id!r})")
