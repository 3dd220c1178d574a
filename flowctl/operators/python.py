"""Python callables as tasks: PythonOperator, BranchPythonOperator, ShortCircuitOperator.

Context passing (as Airflow): the callable receives ``op_args`` positionally,
``op_kwargs`` by name, and every template-context key it names as a parameter
(or all of them when it takes ``**kwargs``); ``op_kwargs`` win over context keys.
``get_current_context()`` returns the context of the running callable. A generator
callable runs to its end: each ``Metadata`` it yields sets an outlet's event extra,
anything else it yields is ignored with a warning, its ``return`` value is the result.

Contracts with the task runner's task-instance object (``context["ti"]``):
branching calls ``ti.skip_except(task, follow_task_ids)`` (see operators/branch.py);
short-circuiting calls ``ti.skip_downstream(task, respect_trigger_rules)``, and the
runner skips :func:`short_circuit_skip_ids`; ``multiple_outputs`` tasks push each
key with ``ti.xcom_push(key=..., value=...)`` (the runner pushes ``return_value``).

Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from inspect import CO_VARARGS, CO_VARKEYWORDS
from types import FunctionType
from typing import Any, ClassVar

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.errors import DagDefinitionError, FlowctlError, NotSupportedError
from flowctl.core.outlet_events import OutletEventAccessors, call_collecting_metadata
from flowctl.core.xcom_arg import resolve_value
from flowctl.operators.branch import BranchMixIn

log = logging.getLogger("flowctl.task")
_CONTEXTS: list[Mapping[str, Any]] = []


def get_current_context() -> Mapping[str, Any]:
    """The template context of the task currently executing (Airflow's helper)."""
    if not _CONTEXTS:
        raise FlowctlError("get_current_context() works only while a task is running")
    return _CONTEXTS[-1]


@contextlib.contextmanager
def current_context(context: Mapping[str, Any]) -> Iterator[None]:
    """Make ``context`` what :func:`get_current_context` returns inside the block."""
    _CONTEXTS.append(context)
    try:
        yield
    finally:
        _CONTEXTS.pop()


def context_kwargs_for(
    function: Callable[..., Any], op_args: Sequence[Any], op_kwargs: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments to call ``function`` with (context keys it accepts, then op_kwargs)."""
    accepted = _accepted_names(function)
    if accepted is None:
        return {**context, **op_kwargs}
    positional, by_name = accepted
    taken = set(positional[: len(op_args)])
    wanted = {name: context[name] for name in by_name if name in context and name not in taken}
    return {**wanted, **op_kwargs}


#: Attributes through which inspect.signature gives a function another signature than its code's.
_SIGNATURE_OVERRIDES = ("__wrapped__", "__signature__", "_partialmethod", "__partialmethod__")


def _accepted_names(function: Callable[..., Any]) -> tuple[Sequence[str], Sequence[str]] | None:
    """``function``'s positional parameter names and, in order, those it may take by name
    (everything but positional-only ones); None if it takes ``**kwargs``.

    A plain function is read from its code object, as inspect.signature would, without the
    cost of building a Signature (a forked try runs this once, on cold caches); other
    callables go through inspect.signature.
    """
    if type(function) is FunctionType and not any(name in function.__dict__ for name in _SIGNATURE_OVERRIDES):
        code = function.__code__
        if code.co_flags & CO_VARKEYWORDS:
            return None
        names, count, keyword_only = code.co_varnames, code.co_argcount, code.co_kwonlyargcount
        star_args = names[count + keyword_only: count + keyword_only + 1] if code.co_flags & CO_VARARGS else ()
        return names[:count], (*names[code.co_posonlyargcount:count], *star_args, *names[count: count + keyword_only])
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return None
    positional = [p.name for p in parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional, [name for name, p in parameters.items() if p.kind is not p.POSITIONAL_ONLY]


def _user_stacklevel() -> int:
    """The ``stacklevel`` of a warning from here that points at the first caller outside flowctl
    (the DAG file's line, past the operator metaclass and subclasses' ``__init__``)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("flowctl."):
        frame, level = frame.f_back, level + 1
    return level


class PythonOperator(BaseOperator):
    """Calls ``python_callable``; its return value becomes the task's XCom."""

    template_fields: ClassVar[Sequence[str]] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers: ClassVar[dict[str, str]] = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    ui_color: ClassVar[str] = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        if "provide_context" in kwargs:  # Airflow 1's switch: Airflow 2 accepts it, warns, and ignores it
            warnings.warn("provide_context is deprecated (as in Airflow 2) and is no longer required: the "
                          "callable gets the context keys it names", DeprecationWarning,
                          stacklevel=_user_stacklevel())
            kwargs.pop("provide_context")
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(f"python_callable of {self.task_id!r} is not callable")
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = tuple(templates_exts)  # type: ignore[misc]
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: Mapping[str, Any]) -> Any:
        context = {**context, "templates_dict": self.templates_dict}
        value = self.execute_callable(context)
        if self.show_return_value_in_logs:
            log.info("Done. Returned value was: %r", value)
        else:
            log.info("Done. Returned value not shown")
        return value

    def execute_callable(self, context: Mapping[str, Any]) -> Any:
        """Call the callable with resolved arguments and the context it asks for; a generator
        function is run to its end, its yielded ``Metadata`` set its outlets' event extras
        (``context["outlet_events"]``) and its ``return`` value is the task's (as Airflow 2.10)."""
        op_args = resolve_value(list(self.op_args), context)
        op_kwargs = resolve_value(dict(self.op_kwargs), context)
        kwargs = context_kwargs_for(self.python_callable, op_args, op_kwargs, context)
        events = context.get("outlet_events")
        with current_context(context):
            return call_collecting_metadata(self.python_callable, op_args, kwargs,
                                            OutletEventAccessors() if events is None else events, _ignored)


def _ignored(item: object) -> None:
    log.warning("Ignoring a value of type %s the task yielded (only Metadata is used)", type(item).__name__)


class BranchPythonOperator(BranchMixIn, PythonOperator):
    """The callable returns the task id(s) to follow; other direct downstream tasks are skipped."""

    def choose_branch(self, context: Mapping[str, Any]) -> Any:
        return PythonOperator.execute(self, context)

    def execute(self, context: Mapping[str, Any]) -> list[str]:
        return self.do_branch(context, self.choose_branch(context))


def short_circuit_skip_ids(task: Any, respect_trigger_rules: bool) -> set[str]:
    """Ids to skip when ``task`` short-circuits: direct downstream when trigger rules are
    respected (they then decide further down), else everything downstream; never a teardown
    task (as in Airflow 2.7: it still cleans up after its setup)."""
    if task.dag is None:
        return set(task.downstream_task_ids)
    ids = set(task.downstream_task_ids) if respect_trigger_rules else task.dag.get_downstream_task_ids(task.task_id)
    return {t for t in ids if not getattr(task.dag.task_dict.get(t), "is_teardown", False)}


class ShortCircuitOperator(PythonOperator):
    """Continue only if the callable returns a truthy value; otherwise skip downstream."""

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Mapping[str, Any]) -> Any:
        condition = super().execute(context)
        if condition:
            log.info("Condition is true; downstream tasks proceed")
            return condition
        log.info("Condition is false; skipping downstream tasks")
        context["ti"].skip_downstream(self, respect_trigger_rules=not self.ignore_downstream_trigger_rules)
        return condition


class DecoratedPythonOperator(PythonOperator):
    """What ``@task`` builds; pushes each key of a dict result when ``multiple_outputs``."""

    custom_operator_name: ClassVar[str] = "@task"

    def execute(self, context: Mapping[str, Any]) -> Any:
        value = super().execute(context)
        push_multiple_outputs(self, context, value)
        return value


def push_multiple_outputs(task: BaseOperator, context: Mapping[str, Any], value: Any) -> None:
    """Push each key of ``value`` as its own XCom when the task has ``multiple_outputs``."""
    if not task.multiple_outputs or value is None:
        return
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise FlowctlError(f"task {task.task_id!r} has multiple_outputs but returned {type(value).__name__}, not a dict with str keys")
    for key, item in value.items():
        context["ti"].xcom_push(key=key, value=item)


class DecoratedBranchOperator(BranchPythonOperator):
    """What ``@task.branch`` builds."""

    custom_operator_name: ClassVar[str] = "@task.branch"


class DecoratedShortCircuitOperator(ShortCircuitOperator):
    """What ``@task.short_circuit`` builds."""

    custom_operator_name: ClassVar[str] = "@task.short_circuit"


class _Unsupported:
    flowctl_way = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotSupportedError(f"{type(self).__name__} is not supported by flowctl; {self.flowctl_way}")


class PythonVirtualenvOperator(_Unsupported):
    """Not supported: flowctl runs tasks in the worker's own environment."""

    flowctl_way = "install the packages in the worker environment and use PythonOperator or @task"


class ExternalPythonOperator(_Unsupported):
    """Not supported: flowctl runs tasks in the worker's own environment."""

    flowctl_way = "run the worker with that Python (or use BashOperator to call it) and use PythonOperator"


class BranchPythonVirtualenvOperator(_Unsupported):
    """Not supported, like PythonVirtualenvOperator."""

    flowctl_way = "install the packages in the worker environment and use BranchPythonOperator"


class BranchExternalPythonOperator(_Unsupported):
    """Not supported, like ExternalPythonOperator."""

    flowctl_way = "run the worker with that Python (or use BashOperator to call it) and use BranchPythonOperator"
