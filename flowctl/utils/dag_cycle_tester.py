"""Airflow-compatible path ``flowctl.utils.dag_cycle_tester``."""
from __future__ import annotations

from flowctl.core.dag import check_cycle

__all__ = ["check_cycle"]
