"""BaseTrigger and TriggerEvent (Airflow's names): what a deferred task waits on, in the triggerer.

A trigger is built in the task (``self.defer(trigger=...)``); ``serialize()`` returns its class
path and keyword arguments, stored as JSON (``flowctl.core.deferral.encode_json``), and the
triggerer builds it again from them: ``cls(**kwargs)``. So the kwargs must be the constructor's.
``run()`` is an async generator: the first :class:`TriggerEvent` it yields resumes the task with
``event=payload`` (a JSON-safe value); the triggerer then cancels it and awaits ``cleanup()``.
A trigger must never block its event loop (no ``time.sleep``, no blocking I/O): every trigger of
the triggerer shares the one loop. One that raises fails its task.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import abc
import logging
from collections.abc import AsyncIterator
from typing import Any


class TriggerEvent:
    """What a trigger yields when its condition holds: ``payload`` is handed to the resumed task."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"TriggerEvent<{self.payload!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


class BaseTrigger(abc.ABC):
    """Subclass and implement ``serialize()`` and the async generator ``run()``."""

    def __init__(self, **kwargs: Any) -> None:
        self.trigger_id: int | None = None  # set by the triggerer
        self.task_instance: Any = None

    @property
    def log(self) -> logging.Logger:
        """The logger named after the trigger's class, ``module.Class`` (Airflow's LoggingMixin name)."""
        return logging.getLogger(f"{type(self).__module__}.{type(self).__name__}")

    @abc.abstractmethod
    def serialize(self) -> tuple[str, dict[str, Any]]:
        """``(classpath, kwargs)``: how the triggerer builds this trigger again."""

    @abc.abstractmethod
    def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait (asynchronously) and yield a TriggerEvent when the task should resume."""

    async def cleanup(self) -> None:
        """Called once the trigger stops (it fired, failed, or its task no longer waits on it)."""

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        return f"<{classpath} {args}>"
