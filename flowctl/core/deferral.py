"""Deferral, the operator's side: ``defer()``, how a task resumes, and the JSON its state is kept as.

A task calls ``self.defer(trigger=..., method_name=..., kwargs=..., timeout=...)``; that raises
:class:`~flowctl.core.errors.TaskDeferred` and the task runner records the deferral (the
trigger's ``serialize()`` and the method to resume in). When the trigger fires, the task runs
again in the same try: ``resume_execution`` calls ``method_name(context, **kwargs, event=payload)``.
A trigger that failed or timed out resumes the task in :data:`FAIL_METHOD`, which raises
TaskDeferralError / TaskDeferralTimeout: the task fails and retries per its policy (Airflow's rule).

Trigger kwargs and resume kwargs are stored as JSON: :func:`encode_json` tags datetimes,
dates, timedeltas, tuples and sets (``{"__type": ..., "__var": ...}``) and refuses anything else;
:func:`decode_json` gives them back. Never pickle.
Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from flowctl.core.errors import TaskDeferralError, TaskDeferralTimeout, TaskDeferred

#: The resume method of a task whose trigger failed or timed out (Airflow's name).
FAIL_METHOD = "__fail__"
#: The error text stored for a deferral that timed out (Airflow's).
TIMEOUT_ERROR = "Trigger/execution timeout"
#: The error text stored for a trigger that raised (Airflow's).
TRIGGER_FAILURE = "Trigger failure"
_TYPE, _VAR = "__type", "__var"


class DeferralMixin:
    """``defer`` and ``resume_execution`` for BaseOperator (Airflow's names and signatures)."""

    def defer(self, *, trigger: Any, method_name: str, kwargs: dict[str, Any] | None = None,
              timeout: timedelta | None = None) -> NoReturn:
        """Give the worker slot back until ``trigger`` fires; then ``method_name(context, **kwargs, event=...)``."""
        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(self, next_method: str, next_kwargs: Mapping[str, Any] | None,
                         context: Mapping[str, Any]) -> Any:
        """Resume a deferred task: its ``next_method`` with ``next_kwargs``, or fail if the trigger did."""
        if next_method == FAIL_METHOD:
            raise deferral_failure(next_kwargs or {})
        method = getattr(self, next_method, None)
        if method is None:
            raise TaskDeferralError(f"{type(self).__name__} has no method {next_method!r} to resume in")
        return method(context, **dict(next_kwargs or {}))


def deferral_failure(kwargs: Mapping[str, Any]) -> Exception:
    """The error a task resumed in ``__fail__`` raises: a timeout, or the trigger's failure."""
    error = str(kwargs.get("error") or "Unknown")
    if error == TIMEOUT_ERROR:
        return TaskDeferralTimeout(error)
    trace = kwargs.get("traceback")
    return TaskDeferralError(f"{error}: {trace}" if trace else error)


def deferral_deadline(now: datetime, timeout: timedelta | None, started: datetime | None,
                      execution_timeout: timedelta | None) -> datetime | None:
    """When a deferral times out: ``now + timeout``, and no later than the task's execution_timeout
    counted from the try's start (Airflow: that limit covers the whole run, deferrals included)."""
    moments = []
    if timeout is not None:
        moments.append(now + (timeout if isinstance(timeout, timedelta) else timedelta(seconds=float(timeout))))
    if execution_timeout is not None:
        moments.append((started or now) + execution_timeout)
    return min(moments) if moments else None


def describe_wait(classpath: str, next_method: str | None, timeout_at: datetime | None, assigned: bool) -> str:
    """Why a deferred task instance is not running, in one sentence (CLI ``failed-deps``, web UI)."""
    runner = "a triggerer runs it" if assigned else "no triggerer has taken it yet (is `flowctl triggerer` running?)"
    until = f"; it fails at {timeout_at.isoformat()} if the trigger has not fired by then" if timeout_at else ""
    return f"it is deferred: it waits for its trigger {classpath} ({runner}), then resumes in {next_method}(){until}"


def encode_json(value: Any, where: str = "value") -> Any:
    """``value`` as JSON data (datetimes and the like tagged); TypeError names what cannot be stored."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{where}: only text keys can be stored, got {sorted(map(repr, value))}")
        return {k: encode_json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [encode_json(v, where) for v in value]
    if isinstance(value, datetime):
        return {_TYPE: "datetime", _VAR: value.isoformat()}
    if isinstance(value, date):
        return {_TYPE: "date", _VAR: value.isoformat()}
    if isinstance(value, timedelta):
        return {_TYPE: "timedelta", _VAR: value.total_seconds()}
    if isinstance(value, tuple):
        return {_TYPE: "tuple", _VAR: [encode_json(v, where) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {_TYPE: "set", _VAR: [encode_json(v, where) for v in value]}
    raise TypeError(f"{where}: a {type(value).__name__} cannot be stored as JSON "
                    "(use text, numbers, lists, dicts, datetimes or timedeltas)")


def decode_json(value: Any) -> Any:
    """The value :func:`encode_json` gave ``value`` for."""
    if isinstance(value, list):
        return [decode_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(_TYPE)
    if kind is None or set(value) != {_TYPE, _VAR}:
        return {k: decode_json(v) for k, v in value.items()}
    inner = value[_VAR]
    if kind == "datetime":
        return datetime.fromisoformat(inner)
    if kind == "date":
        return date.fromisoformat(inner)
    if kind == "timedelta":
        return timedelta(seconds=inner)
    if kind == "tuple":
        return tuple(decode_json(v) for v in inner)
    if kind == "set":
        return {decode_json(v) for v in inner}
    return {k: decode_json(v) for k, v in value.items()}
