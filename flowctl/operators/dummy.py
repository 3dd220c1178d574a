"""Airflow-compatible path ``flowctl.operators.dummy`` (deprecated in Airflow 2.4): DummyOperator is EmptyOperator."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.operators.empty import EmptyOperator

warn_deprecated_module("flowctl.operators.dummy", "flowctl.operators.empty")

DummyOperator = EmptyOperator

__all__ = ["DummyOperator", "EmptyOperator"]
