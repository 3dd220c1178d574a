"""The dataset and dataset alias rows other statements refer to, made when first named.

:func:`dataset_ids` (URI -> id) and :func:`alias_ids` (name -> id) insert the
rows of new names with ``ON CONFLICT DO NOTHING`` (a DAG being stored and a try
ending may name the same new dataset at once), then read the ids back; both run
on the caller's connection, inside its transaction.
Must not import above ``db``; imports only tables.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from flowctl.db.tables import Base, DatasetAliasRow, DatasetRow


def insert_ignoring(conn: Connection, table: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose key exists already (PostgreSQL and SQLite)."""
    if rows:
        made = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(made(table).values(list(rows)).on_conflict_do_nothing())


def dataset_ids(conn: Connection, uris: Mapping[str, Any], now: datetime) -> dict[str, int]:
    """uri -> dataset id for ``uris`` (uri -> the extra a new row gets; the extra first given is kept)."""
    if not uris:
        return {}
    known = select(DatasetRow.uri, DatasetRow.id).where(DatasetRow.uri.in_(list(uris)))
    ids: dict[str, int] = {uri: id_ for uri, id_ in conn.execute(known).all()}
    new = [{"uri": uri, "extra": extra, "created_at": now, "updated_at": now, "is_orphaned": False}
           for uri, extra in uris.items() if uri not in ids]
    if new:
        insert_ignoring(conn, DatasetRow, new)
        ids = {uri: id_ for uri, id_ in conn.execute(known).all()}
    return ids


def alias_ids(conn: Connection, names: Collection[str]) -> dict[str, int]:
    """name -> dataset alias id for ``names``, making the rows of new names."""
    if not names:
        return {}
    known = select(DatasetAliasRow.name, DatasetAliasRow.id).where(DatasetAliasRow.name.in_(list(names)))
    ids: dict[str, int] = {name: id_ for name, id_ in conn.execute(known).all()}
    if len(ids) < len(set(names)):
        insert_ignoring(conn, DatasetAliasRow, [{"name": name} for name in sorted(set(names) - set(ids))])
        ids = {name: id_ for name, id_ in conn.execute(known).all()}
    return ids
