"""TaskFlow decorators, operator-agnostic half: ``@dag`` and the machinery behind ``@task``.

Owns :class:`TaskDecorator` (what ``@task`` returns: calling it inside a DAG
creates an operator and returns its :class:`XComArg`; XComArgs among the
arguments become upstream dependencies and are pulled at run time; the arguments
must fit the function's signature, checked when the DAG file is parsed, as Airflow
does: :func:`check_arguments`), the unique
task-id rule (repeated calls get ``name__1``, ``name__2``...), and the ``@dag``
decorator (calling the decorated function builds the DAG; its arguments become
DAG params). The concrete ``task`` namespace (``@task``, ``@task.branch``,
``@task.bash``...) lives in ``flowctl.decorators``, because the operator
classes belong to a layer above core.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

from flowctl.core.dag import DAG, DagContext
from flowctl.core.taskgroup import current_group
from flowctl.core.xcom_arg import XComArg

_SUFFIX_RE = re.compile(r"__(\d+)$")
#: Parameters a TaskFlow function need not be given: the run passes them from the task's context
#: (Airflow's known context keys, flowctl's among them).
CONTEXT_KEYS = frozenset({
    "conf", "conn", "dag", "dag_run", "data_interval_end", "data_interval_start", "ds", "ds_nodash",
    "exception", "execution_date", "expanded_ti_count", "inlet_events", "inlets", "logical_date", "macros",
    "map_index_template", "next_ds", "next_ds_nodash", "next_execution_date", "outlet_events", "outlets", "params",
    "prev_data_interval_end_success", "prev_data_interval_start_success", "prev_ds", "prev_ds_nodash",
    "prev_end_date_success", "prev_execution_date", "prev_execution_date_success", "prev_start_date_success",
    "reason", "run_id", "task", "task_instance", "task_instance_key_str", "templates_dict", "test_mode", "ti",
    "tomorrow_ds", "tomorrow_ds_nodash", "triggering_dataset_events", "ts", "ts_nodash", "ts_nodash_with_tz",
    "var", "yesterday_ds", "yesterday_ds_nodash",
})


def check_arguments(function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], *,
                    complete: bool, call: str) -> None:
    """TypeError (so an import error of the DAG file) when ``function`` cannot take ``args`` and
    ``kwargs``: an unknown name, too many positional arguments and, if ``complete`` (a plain call,
    not a partial or mapped one, whose other arguments come at run time), a required parameter
    that is neither given nor a context key. ``call`` names the call in the message."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or C callable without one: checked when it runs
        return
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"Invalid arguments were passed to {call}: {error}") from None
    if complete:
        missing = [name for name, p in signature.parameters.items()
                   if name not in bound.arguments and p.default is p.empty and name not in CONTEXT_KEYS
                   and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if missing:
            raise TypeError(f"Invalid arguments were passed to {call}: missing required argument(s) "
                            f"{', '.join(map(repr, missing))}")


def unique_task_id(dag: Any, group: Any, task_id: str) -> str:
    """``task_id`` (group prefix applied), or ``task_id__N`` with the next free N in ``dag``."""
    full = group.child_id(task_id) if group is not None else task_id
    if dag is None or not dag.has_task(full):
        return task_id
    base = _SUFFIX_RE.sub("", task_id)
    number = 1
    while dag.has_task(group.child_id(f"{base}__{number}") if group is not None else f"{base}__{number}"):
        number += 1
    return f"{base}__{number}"


def infers_multiple_outputs(function: Callable[..., Any]) -> bool:
    """True when the function's return annotation says it returns a dict."""
    annotation = inspect.signature(function).return_annotation
    if isinstance(annotation, str):
        return annotation.split("[")[0].strip() in {"dict", "Dict", "typing.Dict"}
    return annotation is dict or getattr(annotation, "__origin__", None) is dict


class TaskDecorator:
    """A function turned into a task factory by ``@task`` (or ``@task.branch``...)."""

    def __init__(self, function: Callable[..., Any], operator_class: type, kwargs: Mapping[str, Any]) -> None:
        if not callable(function):
            raise TypeError(f"@task needs a function, got {function!r}")
        self.function = function
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"<TaskDecorator {self.function.__name__} ({self.operator_class.__name__})>"

    def override(self, **kwargs: Any) -> TaskDecorator:
        """A copy with some operator arguments (task_id, retries, ...) replaced."""
        return TaskDecorator(self.function, self.operator_class, {**self.kwargs, **kwargs})

    def _operator_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.kwargs)
        dag = kwargs.get("dag") or DagContext.current()
        group = kwargs.get("task_group") or current_group(dag)
        kwargs["task_id"] = unique_task_id(dag, group, kwargs.get("task_id") or self.function.__name__)
        if kwargs.get("multiple_outputs") is None:
            kwargs["multiple_outputs"] = infers_multiple_outputs(self.function)
        if kwargs.get("doc_md") is None and self.function.__doc__:
            kwargs["doc_md"] = inspect.cleandoc(self.function.__doc__)
        kwargs["python_callable"] = self.function
        return kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        check_arguments(self.function, args, kwargs, complete=True, call=f"{self.function.__name__}()")
        operator = self.operator_class(op_args=args, op_kwargs=kwargs, **self._operator_kwargs())
        return XComArg(operator)

    def partial(self, **kwargs: Any) -> TaskflowPartial:
        """Fix some function arguments; map over the rest with ``.expand(...)``."""
        from flowctl.core.mapping import OperatorPartial, check_partial_arguments

        check_arguments(self.function, (), kwargs, complete=False, call=f"{self.function.__name__}.partial()")
        operator_kwargs = {**self._operator_kwargs(), "op_args": (), "op_kwargs": kwargs}
        # named here, not as OperatorPartial would: the arguments came from @task(...), not a partial() call
        check_partial_arguments(self.operator_class, operator_kwargs, f"@task ({self.operator_class.__name__})")
        return TaskflowPartial(OperatorPartial(self.operator_class, operator_kwargs, expand_into="op_kwargs"),
                               self.function, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        """One task instance per element (cartesian product over several arguments)."""
        return self.partial().expand(**mapped)

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        """One task instance per kwargs dict."""
        return self.partial().expand_kwargs(kwargs_list)


class TaskflowPartial:
    """``@task`` function with fixed arguments; returns XComArgs of the mapped task."""

    def __init__(self, partial: Any, function: Callable[..., Any], fixed: Mapping[str, Any]) -> None:
        self._partial = partial
        self._function = function
        self._fixed = fixed

    def expand(self, **mapped: Any) -> XComArg:
        check_arguments(self._function, (), {**self._fixed, **mapped}, complete=False,
                        call=f"{self._function.__name__}.expand()")
        return XComArg(self._partial.expand(**mapped))

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        return XComArg(self._partial.expand_kwargs(kwargs_list))


def make_task_decorator(operator_class: type, python_callable: Any = None, **kwargs: Any) -> Any:
    """Support both ``@deco`` and ``@deco(**kwargs)`` for ``operator_class``."""
    if callable(python_callable):
        return TaskDecorator(python_callable, operator_class, kwargs)
    return lambda function: TaskDecorator(function, operator_class, kwargs)


class DagFactory:
    """What ``@dag`` returns: call it (``my_dag()``) to build the DAG."""

    def __init__(self, function: Callable[..., Any], dag_kwargs: Mapping[str, Any]) -> None:
        self.function = function
        self.dag_kwargs = dict(dag_kwargs)
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> DAG:
        dag_kwargs = dict(self.dag_kwargs)
        dag_id = dag_kwargs.pop("dag_id", None) or self.function.__name__
        if dag_kwargs.get("doc_md") is None and self.function.__doc__:
            dag_kwargs["doc_md"] = inspect.cleandoc(self.function.__doc__)
        dag_kwargs.setdefault("full_filepath", self.function.__code__.co_filename)
        signature = inspect.signature(self.function)
        bound = signature.bind_partial(*args, **kwargs)
        bound.apply_defaults()
        params = dict(dag_kwargs.pop("params", None) or {})
        for name, value in bound.arguments.items():
            if signature.parameters[name].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            if name in kwargs or name not in params:
                params[name] = value
        with DAG(dag_id, params=params, **dag_kwargs) as dag:
            refs = {name: dag.param(name) for name in bound.arguments if name in params}
            self.function(**refs)
        return dag


def dag(dag_id: Any = None, **dag_kwargs: Any) -> Any:
    """Decorator: ``@dag`` or ``@dag(schedule=..., start_date=...)``."""
    if callable(dag_id):
        return DagFactory(dag_id, dag_kwargs)
    if dag_id:
        dag_kwargs["dag_id"] = dag_id
    return lambda function: DagFactory(function, dag_kwargs)
