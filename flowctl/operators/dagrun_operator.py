"""Airflow 1 path ``flowctl.operators.dagrun_operator`` (deprecated in Airflow 2): use ``flowctl.operators.trigger_dagrun``."""
from __future__ import annotations

from flowctl.core.airflow_names import warn_deprecated_module
from flowctl.operators.trigger_dagrun import TriggerDagRunOperator

warn_deprecated_module("flowctl.operators.dagrun_operator", "flowctl.operators.trigger_dagrun")

__all__ = ["TriggerDagRunOperator"]
