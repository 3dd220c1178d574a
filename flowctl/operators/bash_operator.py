"""Airflow 1 path ``flowctl.operators.bash_operator`` (deprecated in Airflow 2): use ``flowctl.operators.bash``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.operators.bash import BashOperator

warn_deprecated_module("flowctl.operators.bash_operator", "flowctl.operators.bash")

__all__ = ["BashOperator"]
