"""Airflow-compatible path ``flowctl.utils.state``: State, TaskInstanceState, DagRunState (core/states.py)."""
from __future__ import annotations

from flowctl.core.states import DagRunState, State, TaskInstanceState

__all__ = ["DagRunState", "State", "TaskInstanceState"]
