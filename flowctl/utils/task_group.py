"""Airflow-compatible path ``flowctl.utils.task_group``."""
from __future__ import annotations

from flowctl.core.taskgroup import TaskGroup, task_group

__all__ = ["TaskGroup", "task_group"]
