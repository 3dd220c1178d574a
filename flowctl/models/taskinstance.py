"""Airflow-compatible path ``flowctl.models.taskinstance``: ``TaskInstance`` is the class of ``context["ti"]``."""
from __future__ import annotations

from flowctl.task_runner.taskinstance import RuntimeTaskInstance as TaskInstance

__all__ = ["TaskInstance"]
