"""Airflow-compatible path ``flowctl.models.dagbag``: re-export of the in-process DagBag."""
from __future__ import annotations

from flowctl.dag_processing.dagbag import DagBag, FileLoadStat

__all__ = ["DagBag", "FileLoadStat"]
