"""Airflow-compatible path ``flowctl.utils.edgemodifier``: ``Label`` is accepted, not shown.

``a >> Label("why") >> b`` links ``a`` to ``b``; the label text is kept on the
Label object only (edge labels are not stored or drawn by flowctl).
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

    def set_upstream(self, other: Any) -> None:
        for node in as_nodes(other):
            self.receive_upstream(node)

    def set_downstream(self, other: Any) -> None:
        nodes = as_nodes(other)
        self._downstream.extend(nodes)
        for node in self._upstream:
            node.set_downstream(nodes)
