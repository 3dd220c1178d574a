"""Airflow 1 path ``flowctl.operators.python_operator`` (deprecated in Airflow 2): use ``flowctl.operators.python``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    PythonVirtualenvOperator,
    ShortCircuitOperator,
)

warn_deprecated_module("flowctl.operators.python_operator", "flowctl.operators.python")

__all__ = ["BranchPythonOperator", "PythonOperator", "PythonVirtualenvOperator", "ShortCircuitOperator"]
