"""Airflow 1 path ``flowctl.operators.dummy_operator`` (deprecated in Airflow 2): use ``flowctl.operators.empty``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.operators.empty import EmptyOperator

warn_deprecated_module("flowctl.operators.dummy_operator", "flowctl.operators.empty")

DummyOperator = EmptyOperator

__all__ = ["DummyOperator"]
