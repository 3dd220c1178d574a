"""Jinja rendering of task template fields, the way Airflow renders them.

Owns :func:`make_environment` (a DAG's Jinja environment: strict undefined
names, template files from ``template_searchpath`` and the DAG file's folder,
user macros and filters, native rendering on request), :func:`render_template`
(strings, containers and nested templated objects) and
:func:`render_template_fields` (every ``template_fields`` attribute of a task,
in place). Tasks and DAGs are read only through Airflow's public attribute
names, so any object shaped like them works.

XComArgs (any :class:`~flowctl.core.xcom_arg.Resolvable`) are resolved while
rendering and their values are never rendered: data pulled from XCom may hold
``{{`` or ``{%`` and passes through as it is, as in Airflow. The same holds
for values given by ``keep`` (a mapped task's values from XCom,
:func:`nested_ids`): objects whose ``id`` is in it are left as they are.

The only I/O is Jinja's loader reading template files a task names.
Must not import anything outside the standard library, jinja2, pendulum and
flowctl.core.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
import jinja2.nativetypes

from flowctl.core.context import as_utc
from flowctl.core.errors import FlowctlError, TaskFailedNoRetry, TaskSkipped, TemplateRenderError, XComNotFound
from flowctl.core.xcom_arg import Resolvable


def _ds(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return as_utc(value).strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return as_utc(value).isoformat()


def _ts_nodash(value: datetime) -> str:
    return as_utc(value).strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return _ts(value).replace("-", "").replace(":", "")


#: Airflow's date filters: ``{{ data_interval_end | ds }}``.
BUILTIN_FILTERS: Mapping[str, Callable[[datetime], str]] = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


def template_searchpath(dag: Any) -> list[str]:
    """Where a DAG's template files are looked up: its own folder, then ``template_searchpath``."""
    paths: list[str] = []
    fileloc = getattr(dag, "fileloc", None)
    if fileloc:
        paths.append(os.path.dirname(os.path.abspath(fileloc)))
    extra = getattr(dag, "template_searchpath", None) or []
    paths.extend([extra] if isinstance(extra, str) else list(extra))
    return paths


def make_environment(dag: Any) -> jinja2.Environment:
    """The Jinja environment a DAG's templates render in (``dag`` may be None).

    Undefined names fail (``StrictUndefined``) unless the DAG sets ``template_undefined``; the
    DAG's ``jinja_environment_kwargs`` (``keep_trailing_newline``, ``trim_blocks``...) are applied last.
    """
    native = bool(getattr(dag, "render_template_as_native_obj", False))
    env_class = jinja2.nativetypes.NativeEnvironment if native else jinja2.Environment
    options: dict[str, Any] = {
        "loader": jinja2.FileSystemLoader(template_searchpath(dag)),
        "undefined": getattr(dag, "template_undefined", None) or jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "autoescape": False,
        "cache_size": 0,
    }
    options.update(getattr(dag, "jinja_environment_kwargs", None) or {})  # they win, as in Airflow
    env = env_class(**options)
    env.filters.update(BUILTIN_FILTERS)
    env.filters.update(getattr(dag, "user_defined_filters", None) or {})
    env.globals.update(getattr(dag, "user_defined_macros", None) or {})
    return env


def render_template(
    value: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment,
    *,
    template_ext: Sequence[str] = (),
    seen: set[int] | None = None,
) -> Any:
    """Render ``value``: a string as a template (a file when it ends with ``template_ext``),
    containers item by item, objects with ``template_fields`` attribute by attribute; XComArgs
    resolved, not rendered. Objects whose ``id`` is in ``seen`` are returned as they are; each
    templated object rendered is added to it.
    """
    return _render(value, context, env, tuple(template_ext), set() if seen is None else seen)


def nested_ids(values: Iterable[Any]) -> set[int]:
    """The ids of ``values`` and of everything inside them (lists, tuples, sets, dict keys and values)."""
    ids: set[int] = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        if id(value) in ids:
            continue
        ids.add(id(value))
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend(value)
    return ids


def _render(value: Any, context: Mapping[str, Any], env: jinja2.Environment,
            exts: tuple[str, ...], seen: set[int]) -> Any:
    if isinstance(value, Resolvable):
        return value.resolve(context)  # data, not a template (Airflow never renders XCom values)
    if id(value) in seen:
        return value
    if isinstance(value, str):
        return _render_string(value, context, env, exts)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return _render_container(value, context, env, exts, seen)
    if getattr(value, "template_fields", None):
        seen.add(id(value))
        for name in _field_names(value):
            setattr(value, name, _render(getattr(value, name), context, env, exts, seen))
    return value


def _render_string(value: str, context: Mapping[str, Any], env: jinja2.Environment,
                   exts: tuple[str, ...]) -> Any:
    if exts and value.endswith(exts):
        template = env.get_template(value)
    else:
        template = env.from_string(value)
    return template.render(**context)


def _render_container(value: Any, context: Mapping[str, Any], env: jinja2.Environment,
                      exts: tuple[str, ...], seen: set[int]) -> Any:
    if isinstance(value, dict):
        return {key: _render(item, context, env, exts, seen) for key, item in value.items()}
    items = [_render(item, context, env, exts, seen) for item in value]
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*items)
    if isinstance(value, list):
        return items
    return type(value)(items)


def _field_names(obj: Any) -> tuple[str, ...]:
    fields = getattr(obj, "template_fields", None) or ()
    # ``template_fields = ("sql")`` is a common slip for ``("sql",)``.
    return (fields,) if isinstance(fields, str) else tuple(fields)


def render_template_fields(
    task: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment | None = None,
    keep: frozenset[int] | set[int] = frozenset(),
) -> dict[str, Any]:
    """Render every template field of ``task`` in place; return ``{field: rendered value}``.

    Objects whose ``id`` is in ``keep`` are left as they are.
    The DAG's ``user_defined_macros`` win over context entries of the same name.
    Any failure raises :class:`TemplateRenderError` naming the task and the field.
    """
    dag = getattr(task, "dag", None)
    if env is None and any(_has_text(getattr(task, name, None), set()) for name in _field_names(task)):
        env = make_environment(dag)  # only when there is text to render: building one is not free
    full_context = {**context, **(getattr(dag, "user_defined_macros", None) or {})}
    exts = tuple(getattr(task, "template_ext", None) or ())
    rendered: dict[str, Any] = {}
    kept = {id(task), *keep}
    for name in _field_names(task):
        rendered[name] = _render_field(task, name, full_context, env, exts, set(kept))  # type: ignore[arg-type]
        setattr(task, name, rendered[name])
    return rendered


def _has_text(value: Any, seen: set[int]) -> bool:
    """Whether rendering ``value`` would render a string (what :func:`_render` visits)."""
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return any(_has_text(item, seen) for item in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_has_text(item, seen) for item in value)
    if getattr(value, "template_fields", None) and id(value) not in seen:
        seen.add(id(value))
        return any(_has_text(getattr(value, name, None), seen) for name in _field_names(value))
    return False


def _render_field(task: Any, name: str, context: Mapping[str, Any],
                  env: jinja2.Environment, exts: tuple[str, ...], seen: set[int]) -> Any:
    where = f"template field {name!r} of task {_task_label(task)}"
    if not hasattr(task, name):
        raise TemplateRenderError(f"Cannot render {where}: the task has no attribute {name!r}")
    try:
        return _render(getattr(task, name), context, env, exts, seen)
    except jinja2.TemplateNotFound as exc:
        searched = ", ".join(getattr(env.loader, "searchpath", [])) or "(nothing)"
        raise TemplateRenderError(
            f"Cannot render {where}: template file {exc.name!r} not found in {searched}"
        ) from exc
    except jinja2.TemplateError as exc:
        raise TemplateRenderError(f"Cannot render {where}: {exc.message or exc}") from exc
    except XComNotFound:  # an XComArg argument, not a template: raised as it is, as in Airflow
        raise
    except (TaskSkipped, TaskFailedNoRetry) as exc:  # a macro skipping or failing the task: it still does
        exc.add_note(f"while rendering {where}")
        raise
    except FlowctlError as exc:
        raise TemplateRenderError(f"Cannot render {where}: {exc}") from exc
    except Exception as exc:  # a macro or filter raised: kept as it is (as Airflow), naming the field
        exc.add_note(f"while rendering {where}")
        raise


def _task_label(task: Any) -> str:
    dag_id = getattr(getattr(task, "dag", None), "dag_id", None)
    task_id = getattr(task, "task_id", "?")
    return f"{task_id!r} in DAG {dag_id!r}" if dag_id else repr(task_id)
