"""GraphCache: task graphs by serialized version, without a database (a store that counts reads)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flowctl.scheduler.graphs import GraphCache


def _data(dag_id: str, *task_ids: str) -> dict[str, Any]:
    return {"dag_id": dag_id, "tasks": [{"task_id": t, "operator": "EmptyOperator"} for t in task_ids]}


class _Store:
    def __init__(self, versions: dict[int, dict[str, Any]]) -> None:
        self.versions = versions
        self.reads: list[int] = []

    def get_serialized_dag(self, serialized_dag_id: int) -> Any:
        self.reads.append(serialized_dag_id)
        return SimpleNamespace(id=serialized_dag_id, data=self.versions[serialized_dag_id])


def test_a_new_version_of_a_dag_drops_the_graphs_of_its_older_versions_from_memory() -> None:
    """Before: a DAG whose hash changes at every parse kept a graph per parse (up to 512, 3.7 MB
    each for a 5,000-task DAG: the scheduler grew by ~2 GB)."""
    versions = {1: _data("etl", "a"), 2: _data("etl", "a", "b"), 3: _data("other", "x")}
    store = _Store(versions)
    cache = GraphCache(store)
    cache.prime(1, versions[1])
    cache.prime(3, versions[3])
    cache.prime(2, versions[2])
    assert [cache.graph(n).dag_id for n in (2, 3)] == ["etl", "other"]
    assert store.reads == []
    assert sorted(cache.graph(1).tasks) == ["a"]  # a run on the old version reads it again
    assert store.reads == [1]
