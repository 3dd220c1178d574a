"""Airflow-compatible path ``flowctl.utils.edgemodifier``: ``Label``.

``a >> Label("why") >> b`` links ``a`` to ``b`` and records ``{"label": "why"}`` as
the DAG's edge info of each edge it makes (``dag.get_edge_info("a", "b")``), which
is serialized with the DAG and drawn on the edge by the graph view, as in Airflow.
"""
from __future__ import annotations

from typing import Any

from flowctl.core.dependencies import DependencyMixin, as_nodes


class Label(DependencyMixin):
    """An edge label between two groups of tasks."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._upstream: list[Any] = []
        self._downstream: list[Any] = []

    def edge_roots(self) -> list[Any]:
        return [root for node in self._downstream for root in node.edge_roots()]

    def edge_leaves(self) -> list[Any]:
        return [leaf for node in self._upstream for leaf in node.edge_leaves()]

    def receive_upstream(self, node: Any) -> None:
        """Called by ``node >> label``: remember ``node`` and link it to known downstreams."""
        self._upstream.append(node)
        if self._downstream:
            node.set_downstream(self._downstream)
            self._label_edges([node], self._downstream)

    def set_upstream(self, other: Any) -> None:
        for node in as_nodes(other):
            self.receive_upstream(node)

    def set_downstream(self, other: Any) -> None:
        nodes = as_nodes(other)
        self._downstream.extend(nodes)
        for node in self._upstream:
            node.set_downstream(nodes)
        self._label_edges(self._upstream, nodes)

    def _label_edges(self, upstream: list[Any], downstream: list[Any]) -> None:
        """Record this label on every task edge between ``upstream`` and ``downstream`` (their DAG's edge info)."""
        for node in upstream:
            for leaf in node.edge_leaves():
                for root in (root for other in downstream for root in other.edge_roots()):
                    dag = getattr(leaf, "dag", None) or getattr(root, "dag", None)
                    if dag is not None:
                        dag.set_edge_info(leaf.task_id, root.task_id, {"label": self.label})
