"""Store verbs for dataset aliases (Airflow 2.10): what they resolved to, and their listing.

:meth:`DatasetAliasVerbs.dataset_alias_uris` is what the scheduler resolves a
DAG's alias schedule with; :meth:`DatasetAliasVerbs.dataset_alias_page` is the
web UI's list of aliases (each with its datasets and the DAGs scheduled on it).
Aliases are written inside other verbs' transactions (:mod:`flowctl.db.dataset_alias_refs`).
Must not import above ``db``.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select

from flowctl.db.base import StoreCore
from flowctl.db.dataset_alias_refs import resolved_uris
from flowctl.db.tables import DatasetAliasDagRefRow, DatasetAliasDatasetRow, DatasetAliasRow, DatasetRow
from flowctl.db.web_queries import Page


@dataclass(frozen=True, slots=True)
class DatasetAliasSummary:
    """One dataset alias as the web UI lists it: the datasets it resolved to, the DAGs scheduled on it."""

    id: int
    name: str
    datasets: tuple[tuple[int, str], ...]  # (dataset id, URI), by URI
    consuming_dags: tuple[str, ...]  # sorted


class DatasetAliasVerbs(StoreCore):
    """Dataset aliases: their resolution and their listing."""

    def dataset_alias_uris(self, names: Collection[str]) -> dict[str, list[str]]:
        """alias name -> the URIs of the datasets it has resolved to (sorted), for those of ``names``
        with any; an alias missing here has not resolved yet."""
        if not names:
            return {}
        with self._read() as s:
            return resolved_uris(s.connection(), names)

    def dataset_alias_page(self, *, name_pattern: str = "", hidden: Collection[str] = (), offset: int = 0,
                           limit: int = 100) -> Page[DatasetAliasSummary]:
        """One page of aliases by name (``name_pattern``: text the name contains), each with its datasets
        and the DAGs scheduled on it (but ``hidden`` ones)."""
        alias, link, dataset, ref = DatasetAliasRow, DatasetAliasDatasetRow, DatasetRow, DatasetAliasDagRefRow
        where = [alias.name.contains(name_pattern, autoescape=True)] if name_pattern else []
        with self._read() as s:
            total = int(s.scalar(select(func.count()).select_from(alias).where(*where)) or 0)
            rows = s.execute(select(alias.id, alias.name).where(*where).order_by(alias.name)
                             .offset(offset).limit(limit)).all()
            ids = [id_ for id_, _ in rows]
            datasets: dict[int, list[tuple[int, str]]] = {}
            for alias_id, dataset_id, uri in s.execute(
                    select(link.alias_id, dataset.id, dataset.uri).join(dataset, dataset.id == link.dataset_id)
                    .where(link.alias_id.in_(ids)).order_by(dataset.uri)).all():
                datasets.setdefault(alias_id, []).append((dataset_id, uri))
            consumers: dict[int, list[str]] = {}
            for alias_id, dag_id in s.execute(select(ref.alias_id, ref.dag_id).where(ref.alias_id.in_(ids))).all():
                if dag_id not in hidden:
                    consumers.setdefault(alias_id, []).append(dag_id)
        items = tuple(DatasetAliasSummary(id_, name, tuple(datasets.get(id_, ())),
                                          tuple(sorted(consumers.get(id_, ())))) for id_, name in rows)
        return Page(items, total, offset, limit)
