"""Airflow path ``flowctl.models.skipmixin``: SkipMixin is not supported (importing it says what to do
instead: a branch operator's choose_branch, or skipping the task itself)."""
from __future__ import annotations

from flowctl.core.airflow_names import module_getattr

_WAY = ("subclass BaseBranchOperator (flowctl.operators.branch) and return the task ids to follow from "
        "choose_branch(context), the others are skipped; use ShortCircuitOperator or @task.short_circuit to skip "
        "everything downstream; or raise AirflowSkipException (flowctl.exceptions) to skip the task itself")

__getattr__ = module_getattr(__name__, {"SkipMixin": _WAY})
