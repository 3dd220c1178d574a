"""Airflow-compatible path ``flowctl.utils.task_group``."""
from __future__ import annotations

from flowctl.core.mapped_group import MappedTaskGroup
from flowctl.core.taskgroup import TaskGroup, task_group

__all__ = ["MappedTaskGroup", "TaskGroup", "task_group"]
