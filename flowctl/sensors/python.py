"""PythonSensor: poke by calling a Python function (also what ``@task.sensor`` builds).

The callable gets arguments the way PythonOperator passes them and returns a
bool or a PokeReturnValue. Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from flowctl.core.errors import DagDefinitionError
from flowctl.core.xcom_arg import resolve_value
from flowctl.operators.python import context_kwargs_for, current_context
from flowctl.sensors.base import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    """Waits until ``python_callable`` returns a truthy value."""

    template_fields: ClassVar[Sequence[str]] = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(f"python_callable of {self.task_id!r} is not callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        context = {**context, "templates_dict": self.templates_dict}
        op_args = resolve_value(self.op_args, context)
        op_kwargs = resolve_value(self.op_kwargs, context)
        kwargs = context_kwargs_for(self.python_callable, op_args, op_kwargs, context)
        with current_context(context):
            result = self.python_callable(*op_args, **kwargs)
        return result if isinstance(result, PokeReturnValue) else PokeReturnValue(bool(result))


class DecoratedSensorOperator(PythonSensor):
    """What ``@task.sensor`` builds."""

    custom_operator_name: ClassVar[str] = "@task.sensor"

    def __init__(self, *, multiple_outputs: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
