"""Airflow-compatible path ``flowctl.models.dag``."""
from __future__ import annotations

from flowctl.core.dag import DAG, DagContext

__all__ = ["DAG", "DagContext"]
