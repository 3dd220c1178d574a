"""Airflow 1 path ``flowctl.operators.latest_only_operator`` (deprecated in Airflow 2): use ``flowctl.operators.latest_only``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.operators.latest_only import LatestOnlyOperator

warn_deprecated_module("flowctl.operators.latest_only_operator", "flowctl.operators.latest_only")

__all__ = ["LatestOnlyOperator"]
