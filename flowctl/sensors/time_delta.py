"""TimeDeltaSensor: wait until ``delta`` after the end of the run's data interval.

TimeDeltaSensorAsync (and ``deferrable=True``) defers to a DateTimeTrigger at that moment:
the task holds no worker slot while it waits (``flowctl triggerer`` runs the trigger).

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flowctl.core.airflow_names import module_getattr
from flowctl.sensors.base import BaseSensorOperator

#: The flowctl way instead of Airflow 2.10's WaitSensor (a wait measured from the task's start).
WAIT_SENSOR_WAY = ("wait for a moment after the data interval with TimeDeltaSensor(delta=...) (deferrable=True "
                   "frees the worker slot), or for a fixed time with time.sleep() in a @task")
__getattr__ = module_getattr(__name__, {"WaitSensor": WAIT_SENSOR_WAY})


class TimeDeltaSensor(BaseSensorOperator):
    """Succeeds once ``data_interval_end + delta`` has passed; ``deferrable=True`` waits in the
    triggerer instead of a worker slot (as TimeDeltaSensorAsync)."""

    def __init__(self, *, delta: timedelta, deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta
        self.deferrable = deferrable

    def target_time(self, context: Mapping[str, Any]) -> Any:
        """The moment this sensor waits for."""
        return context["data_interval_end"] + self.delta

    def poke(self, context: Mapping[str, Any]) -> bool:
        return self.clock() >= self.target_time(context)

    def execute(self, context: Mapping[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        return defer_until(self, self.target_time(context))

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """Called when the moment came (the deferral's end)."""
        return None


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """TimeDeltaSensor that always defers: no worker slot while it waits."""

    def __init__(self, *, delta: timedelta, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(delta=delta, deferrable=True, **kwargs)


def defer_until(sensor: BaseSensorOperator, moment: Any) -> None:
    """Defer ``sensor`` to a DateTimeTrigger at ``moment`` (resuming in ``execute_complete``);
    return at once if the moment has passed."""
    from flowctl.triggers.temporal import DateTimeTrigger

    if sensor.clock() >= moment:
        return None
    sensor.defer(trigger=DateTimeTrigger(moment=moment), method_name="execute_complete")
