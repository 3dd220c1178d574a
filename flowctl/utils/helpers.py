"""Airflow-compatible path ``flowctl.utils.helpers`` (chain, cross_downstream)."""
from __future__ import annotations

from flowctl.core.dependencies import chain, cross_downstream

__all__ = ["chain", "cross_downstream"]
