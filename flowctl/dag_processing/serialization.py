"""DAG <-> JSON: what the scheduler and the UI know about a DAG without user code.

``serialize_dag(dag)`` gives a JSON-safe dict (``"__version"`` first): the
DAG's scheduling attributes and timetable, params with their JSON schema,
docs, the task-group tree, and per task its operator class and module,
dependencies, scheduling attributes, template fields and their sources,
callbacks as presence booleans, setup / teardown marks and, for mapped tasks, the partial/expand
arguments (XComArg references as ``{"task_id", "key"}``, and the structure of
``.map()``/``.zip()``/``.concat()`` ones, without the map callables: see jsonvalues).
The display names (``dag_display_name``, ``task_display_name``) and a non-default
``orientation`` are kept only when set, so the hash of a DAG without them stays the same.
``deserialize_dag(d)`` gives a read-only :class:`SerializedDAG`.
``dag_hash(d)`` is the sha256 of the canonical JSON: same file, same hash.

Must not import db, web, cli or scheduler.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from flowctl.core.datasets import outlet_aliases, outlet_datasets
from flowctl.dag_processing.jsonvalues import encode_value, iso_of, seconds_of
from flowctl.dag_processing.serialized_objects import SerializedDAG

SERIALIZATION_VERSION = 1

DAG_CALLBACKS = ("on_success_callback", "on_failure_callback", "sla_miss_callback")
TASK_CALLBACKS = ("on_execute_callback", "on_success_callback", "on_failure_callback",
                  "on_retry_callback", "on_skipped_callback")
# Task attributes copied as they are (JSON-safe scalars, lists of text).
TASK_PLAIN = ("retries", "retry_exponential_backoff", "pool", "pool_slots", "priority_weight", "queue",
              "depends_on_past", "wait_for_downstream", "doc_md", "owner", "max_active_tis_per_dag",
              "max_active_tis_per_dagrun",
              "ui_color", "ui_fgcolor", "email_on_failure", "email_on_retry", "do_xcom_push",
              "multiple_outputs", "mode", "soft_fail", "exponential_backoff", "ignore_first_depends_on_past")
# Setup / teardown marks (Airflow 2.7), kept only when true.
TASK_ROLES = ("is_setup", "is_teardown", "on_failure_fail_dagrun")
TASK_DURATIONS = ("retry_delay", "max_retry_delay", "execution_timeout", "sla", "poke_interval", "timeout")
DAG_PLAIN = ("dag_id", "description", "doc_md", "catchup", "max_active_runs", "max_active_tasks",
             "is_paused_upon_creation", "render_template_as_native_obj")
# How the UI and the API show a DAG (Airflow 2.9's display name), kept only when not the default.
DAG_SHOWN = (("dag_display_name", None), ("orientation", "LR"))


def _text(value: Any) -> Any:
    """Enums and other str-like values as plain text."""
    if value is None:
        return None
    return getattr(value, "value", value)


def _email(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def serialize_params(params: Any) -> dict[str, Any]:
    """``{name: {"value", "has_value", "description", "schema"}}`` of a ParamsDict or mapping."""
    out: dict[str, Any] = {}
    for name in params or {}:
        param = params.get_param(name) if hasattr(params, "get_param") else params[name]
        if hasattr(param, "schema"):
            has_value = bool(getattr(param, "has_value", True))
            out[name] = {"value": encode_value(param.value) if has_value else None, "has_value": has_value,
                         "description": param.description, "schema": encode_value(param.schema)}
        else:
            out[name] = {"value": encode_value(param), "has_value": True, "description": None, "schema": {}}
    return out


def _callbacks(obj: Any, names: tuple[str, ...]) -> dict[str, bool]:
    return {name: bool(getattr(obj, name, None)) for name in names}


def _mapping_spec(task: Any) -> dict[str, Any] | None:
    """``{"partial": {...}, "expand": {...}}`` of a mapped task, None for a plain one."""
    if not getattr(task, "is_mapped", False):
        return None
    expand = getattr(task, "expand_input", None)
    expand = getattr(expand, "value", expand)
    if expand is None:
        expand = getattr(task, "mapped_kwargs", None) or getattr(task, "expand_kwargs", None) or {}
    partial = dict(getattr(task, "partial_kwargs", None) or {})
    for name in ("python_callable", "task_id", "dag", "task_group", "default_args", "params"):
        partial.pop(name, None)
    for name in TASK_CALLBACKS:
        partial.pop(name, None)
    spec = {"partial": encode_value(partial), "expand": encode_value(expand),
            "expand_kind": getattr(task, "expand_kind", "expand"), "expand_into": getattr(task, "expand_into", None)}
    if getattr(task, "mapped_group_id", None):  # a task of a mapped task group: mapped by the group's input
        spec["mapped_group_id"] = task.mapped_group_id
    return spec


def serialize_task(task: Any) -> dict[str, Any]:
    """One task (operator or mapped operator) as a JSON-safe dict."""
    template_fields = list(getattr(task, "template_fields", ()) or ())
    group = getattr(task, "task_group", None)
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "task_type": getattr(task, "task_type", type(task).__name__),
        "operator_module": getattr(task, "operator_module", None) or type(task).__module__,
        "upstream_task_ids": sorted(task.upstream_task_ids),
        "downstream_task_ids": sorted(task.downstream_task_ids),
        "trigger_rule": _text(getattr(task, "trigger_rule", "all_success")),
        "weight_rule": _text(getattr(task, "weight_rule", None)),
        "task_group_id": getattr(group, "group_id", None),
        "email": _email(getattr(task, "email", None)),
        "template_fields": template_fields,
        "template_ext": list(getattr(task, "template_ext", ()) or ()),
        "templates": {f: encode_value(getattr(task, f, None)) for f in template_fields},
        "params": serialize_params(getattr(task, "params", None)),
        "callbacks": _callbacks(task, TASK_CALLBACKS),
        "is_mapped": bool(getattr(task, "is_mapped", False)),
        "mapping": _mapping_spec(task),
        "is_sensor": hasattr(task, "poke_interval"),
    }
    for name in TASK_PLAIN:
        data[name] = encode_value(_text(getattr(task, name, None)))
    for name in TASK_DURATIONS:
        data[name] = seconds_of(getattr(task, name, None))
    for name in TASK_ROLES:  # only when set: the hash of a DAG without setups / teardowns stays what it was
        if getattr(task, name, False):
            data[name] = True
    if getattr(task, "task_display_name", None):  # likewise
        data["task_display_name"] = task.task_display_name
    declared = getattr(task, "outlets", None) or ()
    outlets = [*outlet_datasets(declared), *outlet_aliases(declared)]
    if outlets:  # only then: the hash of a DAG without datasets stays what it was
        data["outlets"] = [outlet.as_json() for outlet in outlets]
    return data


def serialize_task_group(group: Any) -> dict[str, Any]:
    """A task group and its children (task ids, nested group dicts) in definition order."""
    children: list[Any] = []
    for child in getattr(group, "children", {}).values():
        children.append(serialize_task_group(child) if hasattr(child, "children") else child.task_id)
    return {"group_id": group.group_id, "tooltip": getattr(group, "tooltip", ""),
            "prefix_group_id": getattr(group, "prefix_group_id", True),
            "ui_color": getattr(group, "ui_color", None), "ui_fgcolor": getattr(group, "ui_fgcolor", None),
            "children": children}


def _default_args(dag: Any) -> dict[str, Any]:
    args = dict(getattr(dag, "default_args", None) or {})
    for name in TASK_CALLBACKS + ("params",):
        args.pop(name, None)
    return encode_value(args)


def serialize_dag(dag: Any) -> dict[str, Any]:
    """Everything the scheduler and the UI need about ``dag``, JSON-safe."""
    timetable = getattr(dag, "timetable", None)
    data: dict[str, Any] = {"__version": SERIALIZATION_VERSION}
    for name in DAG_PLAIN:
        data[name] = encode_value(getattr(dag, name, None))
    data.update({
        "fileloc": str(getattr(dag, "fileloc", "") or ""),
        "owner": getattr(dag, "owner", None) or "",
        "tags": sorted(getattr(dag, "tags", None) or []),
        "timetable": timetable.serialize() if timetable is not None else None,
        "timetable_summary": timetable.summary if timetable is not None else None,
        "timetable_description": getattr(timetable, "description", None),
        "start_date": iso_of(getattr(dag, "start_date", None)),
        "end_date": iso_of(getattr(dag, "end_date", None)),
        "dagrun_timeout": seconds_of(getattr(dag, "dagrun_timeout", None)),
        "params": serialize_params(getattr(dag, "params", None)),
        "default_args": _default_args(dag),
        "access_control": encode_value(getattr(dag, "access_control", None)),
        "callbacks": _callbacks(dag, DAG_CALLBACKS),
        "tasks": [serialize_task(task) for task in dag.tasks],
        "task_group": serialize_task_group(dag.task_group),
    })
    zone = getattr(dag, "timezone", None)
    if zone and zone != "UTC":  # only then: the hash of a DAG in UTC stays what it was
        data["timezone"] = str(zone)
    for name, default in DAG_SHOWN:  # likewise only when set
        value = getattr(dag, name, default)
        if value != default:
            data[name] = value
    edge_info = getattr(dag, "edge_info", None)
    if edge_info:  # Label texts, likewise
        data["edge_info"] = encode_value(edge_info)
    return data


def dag_hash(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a serialized DAG."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def deserialize_dag(data: dict[str, Any]) -> SerializedDAG:
    """A read-only DAG built from :func:`serialize_dag` output."""
    version = data.get("__version")
    if version != SERIALIZATION_VERSION:
        from flowctl.core.errors import DagDefinitionError

        raise DagDefinitionError(f"serialized DAG {data.get('dag_id')!r} has version {version!r}; "
                                 f"this flowctl reads version {SERIALIZATION_VERSION} (re-parse the file)")
    return SerializedDAG(data)
