"""Executors: where task tries run. ``load_executor(name, settings)`` picks one by ``[core] executor``.

* ``sequential``: one try at a time, each in a ``python -m flowctl tasks run`` subprocess;
* ``local``: up to ``[core] parallelism`` tries at once, each forked from a warm zygote;
* ``celery``: up to ``[core] parallelism`` tries at once on Celery workers (``flowctl celery worker``).

Executors never touch the database (the task runner records states).
Must not import flowctl.db, the task runner, web or cli.
"""
from __future__ import annotations

from collections.abc import Mapping

from flowctl.core.errors import NotSupportedError
from flowctl.executors.base import BaseExecutor, ExecutorEvent, Outcome, TaskKey, Workload
from flowctl.settings import OPTIONS, Settings

__all__ = ["BaseExecutor", "ExecutorEvent", "Outcome", "TaskKey", "Workload", "load_executor", "settings_environ"]


def load_executor(name: str, settings: Settings) -> BaseExecutor:
    """The executor called ``name`` (sequential, local, celery)."""
    choice = name.strip().lower()
    if choice == "sequential":
        from flowctl.executors.sequential import SequentialExecutor

        return SequentialExecutor(settings)
    if choice == "local":
        from flowctl.executors.local import LocalExecutor

        return LocalExecutor(int(settings.get("core", "parallelism")), settings)
    if choice == "celery":
        try:
            from flowctl.executors.celery import CeleryExecutor
        except ImportError as exc:
            raise NotSupportedError(
                f"the celery executor needs Celery ({exc}); install it with: pip install 'flowctl[celery]'") from exc
        return CeleryExecutor(settings)
    raise NotSupportedError(f"unknown executor {name!r}; use local, sequential or celery")


def settings_environ(settings: Settings) -> dict[str, str]:
    """``FLOWCTL__SECTION__KEY`` variables that make a child process load exactly ``settings``."""
    env: dict[str, str] = {"FLOWCTL_HOME": str(settings.home)}
    if settings.config_path.exists():  # a named file must exist (Settings.load); the values follow anyway
        env["FLOWCTL_CONFIG"] = str(settings.config_path)
    values: Mapping[tuple[str, str], object] = settings.values
    for option in OPTIONS:
        value = values.get((option.section, option.key))
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        env[f"FLOWCTL__{option.section.upper()}__{option.key.upper()}"] = text
    return env
