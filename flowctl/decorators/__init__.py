"""Airflow-compatible path ``flowctl.decorators``: ``dag``, ``task``, ``task_group``.

``task`` is ``@task`` / ``@task(...)`` for Python functions, with the variants
``task.python``, ``task.branch``, ``task.short_circuit``, ``task.bash`` and
``task.sensor``; the machinery lives in flowctl.core.taskflow. Airflow's
``setup`` and ``teardown`` decorators are not supported: importing them says so.
"""
from __future__ import annotations

from typing import Any

from flowctl.core.airflow_names import SETUP_TEARDOWN_WAY, module_getattr
from flowctl.core.errors import NotSupportedError
from flowctl.core.taskflow import dag, make_task_decorator
from flowctl.core.taskgroup import task_group
from flowctl.operators.bash import DecoratedBashOperator
from flowctl.operators.python import (
    DecoratedBranchOperator,
    DecoratedPythonOperator,
    DecoratedShortCircuitOperator,
)
from flowctl.sensors.python import DecoratedSensorOperator

__all__ = ["dag", "task", "task_group"]


class TaskDecoratorCollection:
    """The ``task`` object: callable itself, with one attribute per task kind."""

    def __call__(self, python_callable: Any = None, **kwargs: Any) -> Any:
        return make_task_decorator(DecoratedPythonOperator, python_callable, **kwargs)

    def python(self, python_callable: Any = None, **kwargs: Any) -> Any:
        return make_task_decorator(DecoratedPythonOperator, python_callable, **kwargs)

    def branch(self, python_callable: Any = None, **kwargs: Any) -> Any:
        return make_task_decorator(DecoratedBranchOperator, python_callable, **kwargs)

    def short_circuit(self, python_callable: Any = None, **kwargs: Any) -> Any:
        return make_task_decorator(DecoratedShortCircuitOperator, python_callable, **kwargs)

    def bash(self, python_callable: Any = None, **kwargs: Any) -> Any:
        return make_task_decorator(DecoratedBashOperator, python_callable, **kwargs)

    def sensor(self, python_callable: Any = None, **kwargs: Any) -> Any:
        return make_task_decorator(DecoratedSensorOperator, python_callable, **kwargs)

    def __getattr__(self, name: str) -> Any:
        raise NotSupportedError(
            f"@task.{name} is not supported by flowctl; use @task, @task.branch, "
            "@task.short_circuit, @task.bash or @task.sensor"
        )


task = TaskDecoratorCollection()

# Airflow 2.7's ``@setup`` / ``@teardown``: importing them says what to do instead.
__getattr__ = module_getattr(__name__, {"setup": SETUP_TEARDOWN_WAY, "teardown": SETUP_TEARDOWN_WAY})
