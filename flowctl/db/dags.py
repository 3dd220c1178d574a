"""Store verbs for DAGs: serialized versions, the dag table, pausing, import errors.

A serialized DAG is a JSON-able mapping produced by ``dag_processing``. The
keys read here (top level, or under ``"dag"``): ``dag_id``, ``tasks`` (a list
of mappings with at least ``task_id``), and optionally ``owner``/``owners``,
``tags``, ``timetable_summary``, ``description``, ``max_active_runs``,
``max_active_tasks``, ``is_paused_upon_creation``. A new serialized_dag row is
written only when the structure's hash changes; the versions older than the
two newest that no run uses are then dropped, so a DAG whose file gives it a
new hash at every parse (``datetime.now()`` in a description, say) does not add
a row every ``min_file_process_interval`` for ever. The version just replaced
stays, for a caller that read it as the latest a moment ago. Must not import
above ``db``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from flowctl.core.errors import DagNotFound, DagNotStorableError, ImportErrorNotFound, first_line
from flowctl.db.base import StoreCore
from flowctl.db.dataset_refs import schedule_summary, sync_dataset_refs
from flowctl.db.records import DagRecord, ImportErrorRecord, SerializedDagRecord, record_from
from flowctl.db.tables import DagRow, DagRunRow, ImportErrorRow, SerializedDagRow

MAX_INT32 = 2**31 - 1


def dag_body(serialized: Mapping[str, Any]) -> Mapping[str, Any]:
    """The DAG mapping inside a serialized DAG (Airflow nests it under ``"dag"``)."""
    inner = serialized.get("dag")
    return inner if isinstance(inner, Mapping) else serialized


def dag_hash(serialized: Mapping[str, Any]) -> str:
    """A stable hash of the DAG's structure."""
    text = json.dumps(serialized, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _owners(body: Mapping[str, Any]) -> str | None:
    raw = body.get("owners", body.get("owner"))
    if isinstance(raw, (list, tuple)):
        return ", ".join(str(o) for o in raw)
    return None if raw is None else str(raw)


def _paused_when_new(body: Mapping[str, Any], paused_at_creation: bool) -> bool:
    """The DAG's own ``is_paused_upon_creation`` (True or False) wins over the configured default."""
    said = body.get("is_paused_upon_creation")
    return paused_at_creation if said is None else bool(said)


def _dag_record(row: DagRow) -> DagRecord:
    return record_from(DagRecord, row, tags=tuple(row.tags or ()))


class DagVerbs(StoreCore):
    """sync_dag, get_dag, list_dags, set_paused, import errors."""

    def sync_dag(self, serialized: Mapping[str, Any], fileloc: str, now: datetime, *,
                 paused_at_creation: bool = False) -> SerializedDagRecord:
        """Upsert the dag row and store a new serialized version if the structure changed;
        DagNotStorableError if the database refuses the DAG's values (a NUL character on PostgreSQL).

        A new dag row is paused as the DAG's ``is_paused_upon_creation`` says, or else as
        ``paused_at_creation`` (``[core] dags_are_paused_at_creation``); an existing row keeps its own.
        """
        try:
            try:
                return self._sync_dag_once(serialized, fileloc, now, paused_at_creation)
            except IntegrityError:  # another processor synced the same DAG at the same moment
                return self._sync_dag_once(serialized, fileloc, now, paused_at_creation)
        except (DataError, ValueError) as exc:  # the DAG's values, not the database: its file's error
            raise DagNotStorableError(f"DAG {dag_body(serialized).get('dag_id')!r} cannot be stored in the "
                                      f"database: {first_line(exc)}") from exc

    def _sync_dag_once(self, serialized: Mapping[str, Any], fileloc: str, now: datetime,
                       paused_at_creation: bool) -> SerializedDagRecord:
        body = dag_body(serialized)
        dag_id = str(body["dag_id"])
        digest = dag_hash(serialized)
        with self._session() as s:
            row = s.get(DagRow, dag_id)
            if row is None:
                row = DagRow(dag_id=dag_id, is_paused=_paused_when_new(body, paused_at_creation))
                s.add(row)
            row.is_active, row.fileloc, row.last_parsed_time = True, fileloc, now
            row.has_import_errors = False
            row.owners = _owners(body)
            row.tags = list(body.get("tags") or [])
            row.timetable_summary = schedule_summary(s.connection(), body)
            row.description = body.get("description")
            row.max_active_runs = body.get("max_active_runs")
            row.max_active_tasks = body.get("max_active_tasks")
            s.flush()
            latest = _latest_serialized(s, dag_id)
            if latest is not None and latest.dag_hash == digest:
                return record_from(SerializedDagRecord, latest)
            version = SerializedDagRow(
                dag_id=dag_id, dag_hash=digest, data=dict(serialized), created_at=now, fileloc=fileloc,
                version_number=(latest.version_number + 1) if latest else 1,
            )
            s.add(version)
            s.flush()
            if latest is not None:
                _drop_unused_versions(s, dag_id, before=latest.version_number)
            sync_dataset_refs(s, dag_id, body, now)
            return record_from(SerializedDagRecord, version)

    def schedule_summary(self, serialized: Mapping[str, Any]) -> str | None:
        """The schedule summary of a serialized DAG (parsed now, say) as its row would show it:
        ``Unresolved DatasetAlias`` for a schedule on aliases that resolved to no dataset yet."""
        with self._read() as s:
            return schedule_summary(s.connection(), dag_body(serialized))

    def latest_serialized_dag(self, dag_id: str) -> SerializedDagRecord:
        """The current serialized version of a DAG; DagNotFound if it was never parsed."""
        with self._read() as s:
            row = _latest_serialized(s, dag_id)
            if row is None:
                raise DagNotFound(f"DAG {dag_id!r} not found (never parsed?)")
            return record_from(SerializedDagRecord, row)

    def runnable_serialized_dag(self, dag_id: str) -> SerializedDagRecord:
        """:meth:`latest_serialized_dag` of a DAG that its file still defines, for a new run (trigger,
        backfill); DagNotFound saying why otherwise: runs of a DAG whose file is gone would only fail."""
        with self._read() as s:
            found = s.execute(select(SerializedDagRow, DagRow.is_active, DagRow.fileloc)
                              .join(DagRow, DagRow.dag_id == SerializedDagRow.dag_id, isouter=True)
                              .where(SerializedDagRow.id == _latest_serialized_id(dag_id))).first()
            if found is None:
                raise DagNotFound(f"DAG {dag_id!r} not found (never parsed?)")
            row, active, fileloc = found
            if active is False:
                raise DagNotFound(f"DAG {dag_id!r} is not active: {fileloc} no longer defines it "
                                  f"(the file was deleted, renamed or changed)")
            return record_from(SerializedDagRecord, row)

    def get_serialized_dag(self, serialized_dag_id: int) -> SerializedDagRecord:
        """A serialized version by id (what an old run ran with)."""
        with self._read() as s:
            row = s.get(SerializedDagRow, serialized_dag_id)
            if row is None:
                raise DagNotFound(f"serialized DAG version {serialized_dag_id} not found")
            return record_from(SerializedDagRecord, row)

    def mark_dags_inactive(self, keep_filelocs: Collection[str]) -> int:
        """Deactivate DAGs whose file is not in ``keep_filelocs``; forget those files' import errors."""
        keep = list(keep_filelocs)
        with self._session() as s:
            result = s.execute(
                update(DagRow).where(DagRow.is_active.is_(True), DagRow.fileloc.not_in(keep))
                .values(is_active=False)
            )
            s.execute(delete(ImportErrorRow).where(ImportErrorRow.filename.not_in(keep)))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def deactivate_dags_missing_from(self, fileloc: str, present_dag_ids: Collection[str]) -> int:
        """Deactivate DAGs that ``fileloc`` used to define but no longer does."""
        with self._session() as s:
            result = s.execute(
                update(DagRow).where(DagRow.fileloc == fileloc, DagRow.dag_id.not_in(list(present_dag_ids)),
                                     DagRow.is_active.is_(True))
                .values(is_active=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def record_import_errors(self, parsed_filelocs: Collection[str], errors: Mapping[str, str],
                             now: datetime) -> None:
        """Replace the import errors of the files just parsed with ``errors`` (filename -> stacktrace).

        A file that is still broken keeps its row, and so its id (the API's ``import_error_id``),
        with the new stacktrace and time; a file that parses again loses its row."""
        fixed = list(set(parsed_filelocs) - set(errors))
        errors = {name: text.replace("\x00", "\\x00") for name, text in errors.items()}  # PostgreSQL refuses NUL
        with self._session() as s:
            s.execute(delete(ImportErrorRow).where(ImportErrorRow.filename.in_(fixed)))
            rows = s.scalars(select(ImportErrorRow).where(ImportErrorRow.filename.in_(list(errors)))).all()
            known = {row.filename: row for row in rows}
            for filename, stacktrace in errors.items():
                row = known.get(filename)
                if row is None:
                    s.add(ImportErrorRow(filename=filename, stacktrace=stacktrace, timestamp=now))
                else:
                    row.stacktrace, row.timestamp = stacktrace, now
            if errors:
                s.execute(update(DagRow).where(DagRow.fileloc.in_(list(errors))).values(has_import_errors=True))

    def list_import_errors(self) -> list[ImportErrorRecord]:
        """Every current import error, by filename."""
        with self._read() as s:
            rows = s.scalars(select(ImportErrorRow).order_by(ImportErrorRow.filename)).all()
            return [record_from(ImportErrorRecord, r) for r in rows]

    def dag_ids_by_file(self, filelocs: Collection[str]) -> dict[str, frozenset[str]]:
        """{fileloc: ids of the DAGs it defined} for these files (a file that never defined one is left out)."""
        found: dict[str, set[str]] = {}
        with self._read() as s:
            for dag_id, fileloc in s.execute(select(DagRow.dag_id, DagRow.fileloc)
                                             .where(DagRow.fileloc.in_(set(filelocs)))):
                found.setdefault(fileloc, set()).add(dag_id)
        return {fileloc: frozenset(ids) for fileloc, ids in found.items()}

    def get_import_error(self, import_error_id: int) -> ImportErrorRecord:
        """One import error by id; ImportErrorNotFound names the id."""
        if not 0 < import_error_id <= MAX_INT32:  # the id column is a 32-bit INTEGER on PostgreSQL
            raise ImportErrorNotFound(f"import error {import_error_id} not found")
        with self._read() as s:
            row = s.get(ImportErrorRow, import_error_id)
            if row is None:
                raise ImportErrorNotFound(f"import error {import_error_id} not found")
            return record_from(ImportErrorRecord, row)

    def get_dag(self, dag_id: str) -> DagRecord:
        """The dag row; DagNotFound names the id."""
        with self._read() as s:
            row = s.get(DagRow, dag_id)
            if row is None:
                raise DagNotFound(f"DAG {dag_id!r} not found")
            return _dag_record(row)

    def list_dags(self, is_active: bool | None = True) -> list[DagRecord]:
        """DAGs by dag_id; ``is_active=None`` lists inactive ones too."""
        query = select(DagRow).order_by(DagRow.dag_id)
        if is_active is not None:
            query = query.where(DagRow.is_active.is_(is_active))
        with self._read() as s:
            return [_dag_record(r) for r in s.scalars(query).all()]

    def dag_ids_in_file(self, fileloc: str) -> list[str]:
        """The ids of the DAGs (active or not) defined in ``fileloc``, sorted."""
        with self._read() as s:
            return list(s.scalars(select(DagRow.dag_id).where(DagRow.fileloc == fileloc).order_by(DagRow.dag_id)))

    def set_paused(self, dag_id: str, is_paused: bool) -> None:
        """Pause or unpause a DAG; DagNotFound names the id."""
        with self._session() as s:
            result = s.execute(update(DagRow).where(DagRow.dag_id == dag_id).values(is_paused=is_paused))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise DagNotFound(f"DAG {dag_id!r} not found")

    def set_next_dagrun(self, dag_id: str, next_dagrun: datetime | None,
                        data_interval: tuple[datetime, datetime] | None,
                        create_after: datetime | None) -> None:
        """Record when the DAG's next scheduled run is due (the scheduler computes it)."""
        start, end = data_interval if data_interval else (None, None)
        with self._session() as s:
            s.execute(update(DagRow).where(DagRow.dag_id == dag_id).values(
                next_dagrun=next_dagrun, next_dagrun_data_interval_start=start,
                next_dagrun_data_interval_end=end, next_dagrun_create_after=create_after))


def _latest_serialized_id(dag_id: str) -> Any:
    """The id of the DAG's latest serialized version, as a scalar subquery."""
    latest = select(func.max(SerializedDagRow.version_number)).where(SerializedDagRow.dag_id == dag_id)
    return (select(SerializedDagRow.id).where(SerializedDagRow.dag_id == dag_id,
                                              SerializedDagRow.version_number == latest.scalar_subquery())
            .scalar_subquery())


def _drop_unused_versions(s: Session, dag_id: str, before: int) -> None:
    """Delete the DAG's versions numbered below ``before`` that no run uses.

    The rows are locked first: a run created at the same moment on one of them waits for this
    transaction (its foreign key check), and the check below sees it if it committed first."""
    old = s.scalars(select(SerializedDagRow.id)
                    .where(SerializedDagRow.dag_id == dag_id, SerializedDagRow.version_number < before)
                    .with_for_update()).all()
    if not old:
        return
    used = select(DagRunRow.serialized_dag_id).where(DagRunRow.serialized_dag_id.in_(old))
    s.execute(delete(SerializedDagRow).where(SerializedDagRow.id.in_(old), SerializedDagRow.id.not_in(used))
              .execution_options(synchronize_session=False))


def _latest_serialized(s: Session, dag_id: str) -> SerializedDagRow | None:
    return s.scalars(select(SerializedDagRow).where(SerializedDagRow.id == _latest_serialized_id(dag_id))).first()
