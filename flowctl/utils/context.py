"""Airflow-compatible path ``flowctl.utils.context``: ``Context``, the type of a task's context.

As in Airflow 2 it is a mapping of the template context's keys (``ds``, ``ti``, ``dag_run``...)
to their values; use it in type hints (``def execute(self, context: Context)``).
"""
from __future__ import annotations

from typing import Any, Dict

Context = Dict[str, Any]

__all__ = ["Context"]
