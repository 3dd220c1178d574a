"""Airflow-compatible path ``flowctl.models.mappedoperator``."""
from __future__ import annotations

from flowctl.core.mapping import MappedOperator

__all__ = ["MappedOperator"]
