"""Airflow 1 path ``flowctl.operators.branch_operator`` (deprecated in Airflow 2): use ``flowctl.operators.branch``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.operators.branch import BaseBranchOperator

warn_deprecated_module("flowctl.operators.branch_operator", "flowctl.operators.branch")

__all__ = ["BaseBranchOperator"]
