"""BaseSensorOperator: a task that pokes a condition until it holds or time runs out.

Modes (Airflow names):

* ``poke``: the task keeps its worker slot and loops ``poke`` / sleep (the one
  place in flowctl where sleeping is right); the timeout counts from the first poke.
* ``reschedule``: one poke per try; if the condition does not hold the sensor
  raises TaskRescheduled(next poke time) and the task runner puts the task in
  ``up_for_reschedule``. The timeout counts from ``context["ti"].start_date``,
  which the runner keeps at the first poke's start across reschedules (as
  Airflow does); ``ti.reschedule_count`` (optional, default 0) drives backoff.

Timeout raises SensorTimeout (fails without retry), or TaskSkipped with
``soft_fail``; so does a deferrable sensor's deferral that timed out (``resume_execution``). ``poke`` may return a bool or a :class:`PokeReturnValue`, whose
``xcom_value`` becomes the task's return value. The clock and the sleep are
class attributes so tests can fix time. :func:`poke_mode_only` (Airflow's class
decorator) pins a sensor class to ``poke`` mode.

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.errors import DagDefinitionError, SensorTimeout, TaskDeferralTimeout, TaskRescheduled, TaskSkipped

VALID_MODES = ("poke", "reschedule")


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


class PokeReturnValue:
    """A poke result carrying a value to push as XCom when the condition holds."""

    def __init__(self, is_done: bool, xcom_value: Any = None) -> None:
        self.is_done = is_done
        self.xcom_value = xcom_value

    def __bool__(self) -> bool:
        return bool(self.is_done)


def poke_wait_seconds(poke_interval: float, poke_count: int, *, exponential: bool, max_wait: float | None,
                      remaining: float | None = None) -> float:
    """Seconds before poke number ``poke_count + 1``: constant, or doubling (capped by ``max_wait``
    and, as Airflow's, by the ``remaining`` seconds before the timeout, at least 1)."""
    wait = poke_interval * (2 ** min(poke_count, 30)) if exponential else poke_interval
    if exponential and remaining is not None:
        wait = min(wait, max(remaining, 1.0))
    return min(wait, max_wait) if max_wait is not None else wait


def has_timed_out(started_at: datetime, now: datetime, timeout_seconds: float) -> bool:
    """Whether more than ``timeout_seconds`` passed between the first poke and ``now``."""
    return (now - started_at).total_seconds() > timeout_seconds


def _seconds(value: float | timedelta, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise DagDefinitionError(f"{name} must not be negative, got {value!r}")
    return seconds


class BaseSensorOperator(BaseOperator):
    """Subclass and implement ``poke(context)``."""

    ui_color: ClassVar[str] = "#e6f1f2"
    clock: ClassVar[Callable[[], datetime]] = staticmethod(utcnow)
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)

    def __init__(
        self,
        *,
        poke_interval: float | timedelta = 60,
        timeout: float | timedelta = 60 * 60 * 24 * 7,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: float | timedelta | None = None,
        silent_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds(poke_interval, "poke_interval")
        self.timeout = _seconds(timeout, "timeout")
        self.soft_fail = soft_fail
        if mode not in VALID_MODES:
            raise DagDefinitionError(f"sensor mode of {self.task_id!r} must be one of {VALID_MODES}, got {mode!r}")
        self.mode = mode
        self.exponential_backoff = exponential_backoff
        self.max_wait = None if max_wait is None else _seconds(max_wait, "max_wait")
        self.silent_fail = silent_fail

    @property
    def reschedule(self) -> bool:
        return self.mode == "reschedule"

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """Whether the condition holds now."""
        raise NotImplementedError(f"{self.task_type} must implement poke(context)")

    def execute(self, context: Mapping[str, Any]) -> Any:
        if self.mode == "reschedule":
            return self._execute_reschedule(context)
        return self._execute_poke(context)

    def _poke_once(self, context: Mapping[str, Any]) -> tuple[bool, Any]:
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.is_done, result.xcom_value
        return bool(result), None

    def _next_wait(self, poke_count: int, started_at: datetime, now: datetime) -> float:
        remaining = self.timeout - (now - started_at).total_seconds()
        return poke_wait_seconds(self.poke_interval, poke_count, exponential=self.exponential_backoff,
                                 max_wait=self.max_wait, remaining=remaining)

    def _execute_poke(self, context: Mapping[str, Any]) -> Any:
        started_at = self.clock()
        poke_count = 0
        while True:
            done, value = self._poke_once(context)
            if done:
                return value
            now = self.clock()
            if has_timed_out(started_at, now, self.timeout):
                self._time_out()
            self.sleep(self._next_wait(poke_count, started_at, now))
            poke_count += 1

    def _execute_reschedule(self, context: Mapping[str, Any]) -> Any:
        ti = context["ti"]
        now = self.clock()
        started_at = getattr(ti, "start_date", None) or now
        done, value = self._poke_once(context)
        if done:
            return value
        if has_timed_out(started_at, now, self.timeout):
            self._time_out()
        wait = self._next_wait(int(getattr(ti, "reschedule_count", 0) or 0), started_at, now)
        raise TaskRescheduled(now + timedelta(seconds=wait))

    def resume_execution(self, next_method: str, next_kwargs: Mapping[str, Any] | None,
                         context: Mapping[str, Any]) -> Any:
        """A deferrable sensor's resumption: a deferral that timed out is the sensor's timeout
        (no retry; skipped with ``soft_fail``), as in Airflow."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            self._time_out()

    def _time_out(self) -> None:
        message = f"sensor {self.task_id!r} timed out after {self.timeout:g} seconds"
        if self.soft_fail:
            raise TaskSkipped(message + "; skipping (soft_fail)")
        raise SensorTimeout(message)


def poke_mode_only(cls: type[BaseSensorOperator]) -> type[BaseSensorOperator]:
    """Airflow's class decorator for a sensor that must keep its worker slot between pokes (it
    holds a connection, say): its ``mode`` is always ``poke``; setting another is DagDefinitionError."""
    if not (isinstance(cls, type) and issubclass(cls, BaseSensorOperator)):
        raise DagDefinitionError(f"poke_mode_only decorates a sensor class (a BaseSensorOperator), not {cls!r}")

    def _poke(self: BaseSensorOperator) -> str:
        return "poke"

    def _only_poke(self: BaseSensorOperator, value: str) -> None:
        if value != "poke":
            raise DagDefinitionError(f"cannot set mode of {cls.__name__} to {value!r}: only 'poke' is acceptable")

    cls.mode = property(_poke, _only_poke)  # type: ignore[assignment]
    return cls
