"""A cache of task graphs and deserialized DAGs by serialized version (versions never change).

Must not import flask, click or any flowctl layer above ``scheduler`` (no SQL here:
it reads through the Store's verbs).
"""
from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from flowctl.core.planner import TaskGraph, task_graph
from flowctl.dag_processing.serialization import deserialize_dag

_MAX_CACHED = 512


class GraphCache:
    """serialized_dag_id -> TaskGraph (and SerializedDAG for timetables), least recently used evicted."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._graphs: OrderedDict[int, TaskGraph] = OrderedDict()
        self._dags: OrderedDict[int, Any] = OrderedDict()
        # per version (max_active_tis_per_dag, max_active_tis_per_dagrun), asked for every queueing round
        self._limits: dict[int, tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]] = {}

    def graph(self, serialized_dag_id: int) -> TaskGraph:
        """The task graph of one serialized version."""
        cached = self._graphs.get(serialized_dag_id)
        if cached is None:
            data = self._store.get_serialized_dag(serialized_dag_id).data
            cached = task_graph(data)
            self._remember(self._graphs, serialized_dag_id, cached)
        self._graphs.move_to_end(serialized_dag_id)
        return cached

    def prime(self, serialized_dag_id: int, data: Mapping[str, Any]) -> None:
        """Build the task graph of a version just stored, from its ``data`` in hand (the DAG
        processor's), so that the first examination of its first run reads and builds nothing:
        the work moves from a triggered run's critical path to the folder scan that parsed it."""
        if serialized_dag_id in self._graphs:
            return
        # As the database gives it back (JSON: lists for tuples, string keys), so the graph is the one
        # graph() would build from the stored row.
        graph = task_graph(json.loads(json.dumps(data)))
        self._forget_dag(self._graphs, graph.dag_id)
        self._remember(self._graphs, serialized_dag_id, graph)

    def latest_dag(self, dag_id: str) -> tuple[int, Any]:
        """(serialized id, SerializedDAG) of the DAG's current version."""
        record = self._store.latest_serialized_dag(dag_id)
        cached = self._dags.get(record.id)
        if cached is None:
            cached = deserialize_dag(dict(record.data))
            self._forget_dag(self._dags, dag_id)
            self._remember(self._dags, record.id, cached)
        return record.id, cached

    def task_limits(self, serialized_ids: set[int]) -> dict[tuple[str, str], int]:
        """(dag_id, task_id) -> max_active_tis_per_dag for the tasks of these versions that set one."""
        limits: dict[tuple[str, str], int] = {}
        for sid in serialized_ids:
            limits.update(self._version_limits(sid)[0])
        return limits

    def run_task_limits(self, serialized_ids: set[int]) -> dict[tuple[str, str], int]:
        """(dag_id, task_id) -> max_active_tis_per_dagrun for the tasks of these versions that set one."""
        limits: dict[tuple[str, str], int] = {}
        for sid in serialized_ids:
            limits.update(self._version_limits(sid)[1])
        return limits

    def _version_limits(self, serialized_dag_id: int) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        cached = self._limits.get(serialized_dag_id)
        if cached is None:
            graph = self.graph(serialized_dag_id)
            cached = (graph.task_limits(), graph.run_task_limits())
            if len(self._limits) >= _MAX_CACHED:
                self._limits.clear()
            self._limits[serialized_dag_id] = cached
        return cached

    @staticmethod
    def _forget_dag(cache: OrderedDict[int, Any], dag_id: str) -> None:
        """Drop the DAG's older versions: a DAG whose file gives it a new hash at every parse would
        otherwise fill the cache with its versions (~4 MB each for 5,000 tasks). A run still on
        one reads it again."""
        for key in [k for k, value in cache.items() if value.dag_id == dag_id]:
            del cache[key]

    @staticmethod
    def _remember(cache: OrderedDict[int, Any], key: int, value: Any) -> None:
        cache[key] = value
        while len(cache) > _MAX_CACHED:
            cache.popitem(last=False)
