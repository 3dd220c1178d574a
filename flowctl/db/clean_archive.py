"""The archive tables of ``db clean``: ``_flowctl_deleted__<table>__<YYYYMMDDHHMMSS>``.

``db clean`` copies each batch of rows into its archive table and deletes them
in the same transaction, so a crash leaves every row either in place or in its
archive. This module owns that copy-then-delete step, and listing, exporting
(CSV) and dropping the archives. The archives have the source table's columns
and types, but no keys or constraints. Must not import above ``db``.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from sqlalchemy import Column, MetaData, Table, delete, inspect, insert, select, text
from sqlalchemy.orm import Session

from flowctl.core.errors import FlowctlError
from flowctl.db.base import StoreCore

ARCHIVE_PREFIX = "_flowctl_deleted__"
_ARCHIVE_NAME = re.compile(rf"^{ARCHIVE_PREFIX}(?P<table>[a-z_]+?)__(?P<stamp>\d{{14}})$")
_EXPORT_BATCH = 1000


class ArchiveError(FlowctlError):
    """An archive step that would lose or misplace rows; its transaction was rolled back."""


def archive_table_name(table: str, archived_at: datetime) -> str:
    """The archive table of ``table`` for a clean started at ``archived_at``."""
    return f"{ARCHIVE_PREFIX}{table}__{archived_at.strftime('%Y%m%d%H%M%S')}"


def archived_from(name: str) -> str | None:
    """The table an archive table was copied from; None when ``name`` is not an archive table."""
    match = _ARCHIVE_NAME.match(name)
    return match.group("table") if match else None


def is_archive_table(name: str) -> bool:
    """True for the tables ``db clean`` makes (migrations and ``db check`` should ignore them)."""
    return archived_from(name) is not None


@dataclass(frozen=True, slots=True)
class PlainDelete:
    """Delete the rows, keeping no copy (``db clean --skip-archive``)."""

    def remove(self, s: Session, table: Table, where: list[Any]) -> int:
        """Delete ``table``'s rows matching ``where``; how many."""
        return _rowcount(s.execute(delete(table).where(*where)))


@dataclass(frozen=True, slots=True)
class ArchivingDelete:
    """Copy the rows into their archive table, then delete them, in the caller's transaction."""

    archived_at: datetime

    def remove(self, s: Session, table: Table, where: list[Any]) -> int:
        """Archive then delete ``table``'s rows matching ``where``; how many.

        Raises :class:`ArchiveError` (rolling the batch back) when the copy and the
        delete did not see the same rows, so no row is ever deleted unarchived.
        """
        if not s.execute(select(select(table).where(*where).exists())).scalar():
            return 0  # no empty archive table for a table with nothing to clean
        archive = _archive_of(table, archive_table_name(table.name, self.archived_at))
        archive.create(s.connection(), checkfirst=True)
        names = [c.name for c in table.columns]
        copied = _rowcount(s.execute(insert(archive).from_select(names, select(*table.columns).where(*where))))
        deleted = _rowcount(s.execute(delete(table).where(*where)))
        if copied != deleted:
            raise ArchiveError(f"{table.name}: {copied} rows archived but {deleted} matched the delete; "
                               f"nothing was deleted in this batch: run db clean again")
        return deleted


def _archive_of(table: Table, name: str) -> Table:
    # Same names and types, no keys or constraints: an archive accepts whatever the table held.
    return Table(name, MetaData(), *(Column(c.name, c.type, nullable=True) for c in table.columns))


class ArchiveVerbs(StoreCore):
    """archived_tables, write_archive_csv, drop_archive_tables."""

    def archived_tables(self, tables: Iterable[str] | None = None) -> list[str]:
        """The archive tables ``db clean`` made, oldest first; only those of ``tables`` when given."""
        wanted = None if tables is None else set(tables)
        with self._read() as s:
            names = inspect(s.connection()).get_table_names()
        found = [(n[-14:], n) for n in names
                 if is_archive_table(n) and (wanted is None or archived_from(n) in wanted)]
        return [name for _, name in sorted(found)]

    def write_archive_csv(self, name: str, out: TextIO) -> int:
        """Write archive table ``name`` to ``out`` as CSV: a header row, then its rows; the row count."""
        _require_archive(name)
        count = 0
        with self._read() as s:
            quoted = s.get_bind().dialect.identifier_preparer.quote(name)
            result = s.execute(text(f"SELECT * FROM {quoted}").execution_options(yield_per=_EXPORT_BATCH))
            writer = csv.writer(out)
            writer.writerow(list(result.keys()))
            for row in result:
                writer.writerow([_csv_cell(value) for value in row])
                count += 1
        return count

    def drop_archive_tables(self, names: Iterable[str]) -> list[str]:
        """Drop these archive tables, in one transaction; the names dropped."""
        chosen = list(names)
        for name in chosen:
            _require_archive(name)
        with self._session() as s:
            for name in chosen:
                Table(name, MetaData()).drop(s.connection(), checkfirst=True)
        return chosen


def _rowcount(result: Any) -> int:
    return int(result.rowcount)  # a CursorResult's; Session.execute is typed as returning a Result


def _require_archive(name: str) -> None:
    if not is_archive_table(name):
        raise ArchiveError(f"{name!r} is not an archive table of db clean "
                           f"({ARCHIVE_PREFIX}<table>__<YYYYMMDDHHMMSS>)")


def _csv_cell(value: Any) -> Any:
    """A database value as a CSV cell: ISO date-times, JSON for JSON columns (PostgreSQL decodes them)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value
