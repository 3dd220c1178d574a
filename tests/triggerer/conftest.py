"""Fixtures of the triggerer tests: the task runner's World (a DAG folder, settings, a store)."""
from __future__ import annotations

from tests.task_runner.conftest import world  # noqa: F401  (pytest finds fixtures by name)
