"""Airflow-compatible path ``flowctl.models.dagrun``: ``DagRun`` is the class of ``context["dag_run"]``."""
from __future__ import annotations

from flowctl.core.context import RunInfo as DagRun

__all__ = ["DagRun"]
