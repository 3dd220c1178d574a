"""Airflow-compatible path ``flowctl.decorators``: ``dag``, ``task``, ``task_group``, ``setup``, ``teardown``.

``task`` is ``@task`` / ``@task(...)`` for Python functions, with the variants
``task.python``, ``task.branch``, ``task.short_circuit``, ``task.bash`` and
``task.sensor``; the machinery lives in flowctl.core.taskflow. ``@setup`` and
``@teardown`` (Airflow 2.7) mark a ``@task`` function, or a plain function made
one, as a setup or teardown task (flowctl.core.setup_teardown).
"""
from __future__ import annotations

import inspect
from typing import Any

from flowctl.core.errors import NotSupportedError
from flowctl.core.setup_teardown import RoleDecorator
from flowctl.core.taskflow import dag, make_task_decorator
from flowctl.core.taskgroup import task_group
from flowctl.operators.bash import DecoratedBashOperator
from flowctl.operators.python import (
    DecoratedBranchOperator,
    DecoratedPythonOperator,
    DecoratedShortCircuitOperator,
)
from flowctl.sensors.python import DecoratedSensorOperator

__all__ = ["dag", "setup", "task", "task_group", "teardown"]


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


def _task_factory(function: Any) -> Any:
    """A ``@task`` decorator of ``function``, or ``function`` itself when it is one already."""
    return task(function) if inspect.isfunction(function) else function


def setup(function: Any) -> RoleDecorator:
    """``@setup``: the task this function makes is a setup task (stack it above ``@task...``)."""
    return RoleDecorator(_task_factory(function), "setup")


def teardown(function: Any = None, *, on_failure_fail_dagrun: bool = False) -> Any:
    """``@teardown`` / ``@teardown(on_failure_fail_dagrun=True)``: the task this function makes is a
    teardown (trigger rule all_done_setup_success); link it to its setups with ``.as_teardown(setups=...)``
    or ``>>``."""
    def mark(func: Any) -> RoleDecorator:
        return RoleDecorator(_task_factory(func), "teardown", on_failure_fail_dagrun)

    return mark if function is None else mark(function)
