"""Getting a task ready to execute: its run's context, mapped-task unmapping, rendered templates.

Shared by real tries (``run_workload``), ``tasks test`` / ``dags test``
(``run_for_test``) and ``tasks render``. The task object is copied first so
rendering in place never changes the DAG held in the import cache.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from flowctl import configuration
from flowctl.core.context import RunInfo, build_context, remember_run_keys
from flowctl.core.datasets import TriggeringDatasetEvents
from flowctl.core.inlet_events import InletEventsAccessors
from flowctl.core.keys import RunKey
from flowctl.core.mapping import NO_MAP_INDEX, mapped_ti_count
from flowctl.core.masking import SecretsMasker
from flowctl.core.outlet_events import OutletEventAccessors
from flowctl.core.params import merge_params


def run_info(run: Any) -> RunInfo:
    """A RunInfo from a DagRunRecord-shaped object (a missing data interval is the logical date)."""
    start = run.data_interval_start or run.logical_date
    end = run.data_interval_end or start
    return RunInfo(run_id=run.run_id, logical_date=run.logical_date, data_interval_start=start,
                   data_interval_end=end, run_type=run.run_type, conf=dict(run.conf or {}),
                   start_date=getattr(run, "start_date", None), dag_id=run.dag_id, state=getattr(run, "state", None),
                   end_date=getattr(run, "end_date", None), queued_at=getattr(run, "queued_at", None))


def task_params(dag: Any, task: Any, conf: Mapping[str, Any]) -> dict[str, Any]:
    """The ``params`` a task sees: DAG params, then the task's, then the run's conf (Airflow 2)."""
    return merge_params(getattr(dag, "params", None), getattr(task, "params", None)).resolve(conf)


def make_context(dag: Any, task: Any, run: RunInfo, ti: Any, *, var_lookup: Callable[[str], str | None],
                 conn_lookup: Callable[[str], Any], store: Any = None, prev_success: Any = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The template context of one try (``prev_success`` is the previous successful run, if any).

    The one builder of every path (a real try, ``tasks test`` / ``dags test`` / ``tasks render``,
    callbacks run outside their try), so each sees the same keys; ``store`` (None: no database)
    reads dataset events and other DAGs' states, only when the task asks. ``extra`` wins.
    """
    context = build_context(
        dag=dag, task=task, run=run, ti=ti, params=task_params(dag, task, run.conf),
        var_accessor=var_lookup, conn_accessor=conn_lookup, prev_success_interval=_interval(prev_success),
        prev_start_date_success=getattr(prev_success, "start_date", None),
        prev_execution_date_success=getattr(prev_success, "logical_date", None),
        prev_end_date_success=getattr(prev_success, "end_date", None), config=configuration.conf)
    context.update(_store_keys(task, run, store))
    context["map_index"] = getattr(ti, "map_index", NO_MAP_INDEX)
    context["expanded_ti_count"] = mapped_ti_count(task, lambda ref: ref.resolve(context))
    context.update(extra or {})
    return context


def _store_keys(task: Any, run: RunInfo, store: Any) -> dict[str, Any]:
    """The context keys read through the store: lazily, so a try that does not use them pays nothing."""
    if store is None:
        return {"triggering_dataset_events": TriggeringDatasetEvents(dict),
                "inlet_events": InletEventsAccessors(getattr(task, "inlets", None), _no_events),
                "outlet_events": OutletEventAccessors()}
    return {"external_state_lookup": store.external_states, "external_dag_lookup": store.external_dag_tree,
            "triggering_dataset_events": TriggeringDatasetEvents(partial(
                store.triggering_dataset_events, RunKey(run.dag_id, run.run_id))),
            "inlet_events": InletEventsAccessors(getattr(task, "inlets", None), store.list_dataset_events),
            "outlet_events": OutletEventAccessors()}


def _no_events(*args: Any, **kwargs: Any) -> tuple[list[Any], int]:
    return [], 0


def remember_run_context(dag: Any, run: Any, prev_success: Any = None) -> None:
    """Compute now the context keys every try of ``run`` (a DagRunRecord) shares, so the
    tries forked from this process after it take them (:func:`flowctl.core.context.remember_run_keys`)."""
    remember_run_keys(run_info(run), getattr(dag, "timetable", None), _interval(prev_success),
                      getattr(prev_success, "start_date", None))


def _interval(prev_success: Any) -> tuple[datetime, datetime] | None:
    if prev_success is not None and prev_success.data_interval_start is not None:
        return (prev_success.data_interval_start, prev_success.data_interval_end)
    return None


def fresh_task(task: Any) -> Any:
    """A shallow copy of ``task`` to render and run, leaving the DAG's own object untouched.

    For an operator whose class does not customise copying or pickling this is what
    ``copy.copy`` does (a new instance sharing the attribute values), without its
    ``__reduce_ex__`` round trip, which a forked try pays for in copied pages.
    """
    cls = type(task)
    plain = _PLAIN.get(cls)
    if plain is None:
        if len(_PLAIN) >= 256:  # bounded: a DAG file imported again defines its classes anew
            _PLAIN.clear()
        plain = _PLAIN[cls] = _copied_plainly(cls)
    if plain:
        copied = cls.__new__(cls)
        copied.__dict__.update(task.__dict__)
        return copied
    return copy.copy(task)


#: Operator class -> whether copy.copy of one is a new instance with the same __dict__ (a plain
#: dict: a forked try reads it; functools.lru_cache would rewrite its links on every hit).
_PLAIN: dict[type, bool] = {}


def _copied_plainly(cls: type) -> bool:
    """True when ``copy.copy`` of an instance comes down to a new instance with the same __dict__:
    nothing customises copying or pickling, and all state is in the __dict__ (no __slots__)."""
    return (getattr(cls, "__copy__", None) is None and cls.__reduce_ex__ is object.__reduce_ex__
            and cls.__reduce__ is object.__reduce__ and cls.__getstate__ is object.__getstate__
            and getattr(cls, "__setstate__", None) is None and cls.__new__ is object.__new__
            and "__dict__" in dir(cls) and not any("__slots__" in vars(k) for k in cls.__mro__[:-1]))


def unmap_task(task: Any, map_index: int, context: dict[str, Any]) -> Any:
    """For a mapped task, the concrete operator of ``map_index``; others are returned as they are.

    Only this index's arguments are computed: an ``XComArg.map()`` callable runs here, in the
    try's process, for this instance's element alone (its AirflowSkipException skips the try).
    A task of a mapped task group is its own concrete operator: its group arguments resolve to
    this map index's values when its fields render."""
    if not getattr(task, "is_mapped", False) or getattr(task, "mapped_group_id", None) is not None:
        return task
    concrete = task.unmap(task.kwargs_for(map_index, lambda ref: ref.resolve(context)))
    context["task"] = concrete
    context["ti"].task = concrete
    return concrete


_JSON_SCALARS = (str, int, float, bool)


def json_safe(value: Any) -> Any:
    """``value`` if it is JSON-serializable, else its ``repr`` (for the rendered-fields column)."""
    if value is None or type(value) in _JSON_SCALARS:
        return value
    if type(value) in (list, tuple):  # item by item: no encoder run for the common small values
        return [json_safe(item) for item in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: json_safe(item) for k, item in value.items()}
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): json_safe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set)):
            return [json_safe(v) for v in value]
        if isinstance(value, datetime):
            return value.isoformat()
        return repr(value)


def rendered_for_storage(rendered: Mapping[str, Any], masker: SecretsMasker) -> dict[str, Any]:
    """Rendered template fields as stored and shown: JSON-safe, secrets masked."""
    return {name: masker.redact(json_safe(value), name) for name, value in rendered.items()}
