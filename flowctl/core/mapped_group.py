"""Mapped task groups (Airflow 2.5+): ``@task_group`` functions with ``.expand()`` / ``.expand_kwargs()``.

Owns :class:`MappedTaskGroup`, :class:`MappedArgument` and the checks Airflow
makes when a group function is mapped. ``group_fn.expand(x=[1, 2])`` calls the
function once, at parse time, with a :class:`MappedArgument` standing for each
mapped argument (``.partial(...)`` values are passed as they are); every task
the function creates inside the group becomes mapped with the group's length:
task instance ``i`` of each task reads entry ``i`` of the group's input
(:meth:`MappedTaskGroup.entry_for`, the same cartesian product / list of dicts
as a mapped task). Each task of the group carries ``is_mapped``,
``expand_input``, ``expand_kind`` and ``mapped_group_id`` so the serializer,
the scheduler (which counts lengths from the serialized input, never running
user code) and the task runner treat it as a mapped task; the planner keeps
the dependencies between tasks of one mapped group per map index.

Not supported by flowctl (one import-error line each): a mapped group inside
a mapped group, and a mapped task (``.expand()``) inside a mapped group.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from flowctl.core.errors import DagDefinitionError, FlowctlError, NotSupportedError
from flowctl.core.taskgroup import TaskGroup
from flowctl.core.xcom_arg import Resolvable, XComArg, iter_resolvables
from flowctl.core.xcom_views import NOTSET

#: The flowctl way for the forms of group mapping flowctl does not take.
NESTED_WAY = ("map the outer group only and loop (or map a task) inside it in its own, unmapped group, "
              "or combine the inputs with XComArg.zip() and map one group")


class MappedTaskGroup(TaskGroup):
    """A task group whose every task runs once per entry of ``expand_input``."""

    is_mapped = True

    def __init__(self, *, expand_input: Any, expand_kind: str, **group_kwargs: Any) -> None:
        self.expand_input = expand_input
        self.expand_kind = expand_kind
        super().__init__(**group_kwargs)
        outer = closest_mapped_group(self.parent_group)
        if outer is not None:
            raise NotSupportedError(
                f"mapped task group {self.group_id!r} is inside mapped task group {outer.group_id!r}: nested "
                f"mapped task groups are not supported by flowctl; {NESTED_WAY}")

    def entry_for(self, map_index: int, resolve: Callable[[Resolvable], Any]) -> dict[str, Any]:
        """The group function's mapped arguments at ``map_index`` (XComArgs resolved with ``resolve``)."""
        from flowctl.core.mapping import entry_at  # mapping imports baseoperator, which imports groups

        return entry_at(self.expand_kind, self.expand_input, map_index, resolve, ("task group", str(self.group_id)))

    def producers(self) -> list[Any]:
        """The tasks whose XComs the group's input reads."""
        found: dict[int, Any] = {}
        for ref in iter_resolvables(self.expand_input):
            for operator in ref.referenced_operators():
                found.setdefault(id(operator), operator)
        return list(found.values())

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if exc[0] is None:
            self._map_tasks()

    def _map_tasks(self) -> None:
        """Make every task of the group mapped like the group; its roots wait for the input."""
        from flowctl.core.mapping import MappedOperator

        for task in self.iter_tasks():
            if isinstance(task, MappedOperator):
                raise NotSupportedError(
                    f"task {task.task_id!r} is mapped inside mapped task group {self.group_id!r}: a mapped task "
                    f"inside a mapped task group is not supported by flowctl; {NESTED_WAY}")
            task.is_mapped = True
            task.expand_input = self.expand_input
            task.expand_kind = self.expand_kind
            task.mapped_group_id = self.group_id
        for root in self.get_roots():
            for producer in self.producers():
                producer.link_downstream(root)


class MappedArgument(Resolvable):
    """One argument of a mapped group function: at run time, its value at the task instance's map index."""

    def __init__(self, group: MappedTaskGroup, key: str, default: Any = NOTSET) -> None:
        self.group = group
        self.key = key
        self.default = default

    def __repr__(self) -> str:
        return f"MappedArgument({self.group.group_id!r}, {self.key!r})"

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(f"the argument {self.key!r} of mapped task group {self.group.group_id!r} has no value at "
                        "DAG definition time; pass it to a task, which gets its map index's value")

    def referenced_operators(self) -> list[Any]:
        return self.group.producers()

    def resolve(self, context: Mapping[str, Any]) -> Any:
        map_index = context["ti"].map_index
        entry = self.group.entry_for(map_index, lambda ref: ref.resolve(context))
        if self.key in entry:
            value = entry[self.key]  # a literal list of dicts may hold XComArgs: this index's is read now
            return value.resolve(context) if isinstance(value, Resolvable) else value
        if self.default is not NOTSET:
            return self.default
        raise FlowctlError(f"entry {map_index} of mapped task group {self.group.group_id!r} has no "
                           f"argument {self.key!r} (it has: {', '.join(sorted(entry)) or 'none'})")


def closest_mapped_group(group: Any) -> MappedTaskGroup | None:
    """``group`` or its innermost enclosing mapped group (None when none is mapped)."""
    while group is not None:
        if isinstance(group, MappedTaskGroup):
            return group
        group = group.parent_group
    return None


def _refuse(group_id: str, message: str) -> DagDefinitionError:
    return DagDefinitionError(f"task group {group_id!r}: {message}")


def _parameters(function: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(function).parameters


def _takes_any_keyword(function: Callable[..., Any]) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in _parameters(function).values())


def check_names(function: Callable[..., Any], group_id: str, call: str, names: Sequence[str]) -> None:
    """Raise DagDefinitionError for keywords the group function does not take (as Airflow checks)."""
    if _takes_any_keyword(function):
        return
    known = {name for name, p in _parameters(function).items()
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    unknown = sorted(set(names) - known)
    if unknown:
        raise _refuse(group_id, f"{call} got unexpected keyword arguments: {', '.join(unknown)}")


def check_expand(function: Callable[..., Any], group_id: str, fixed: Mapping[str, Any],
                 mapped: Mapping[str, Any]) -> None:
    """The checks of ``expand()``: arguments, names, no overlap with ``partial()``, mappable values."""
    if not mapped:
        raise _refuse(group_id, "expand() needs at least one argument to map over")
    check_names(function, group_id, "expand()", list(mapped))
    both = sorted(set(fixed) & set(mapped))
    if both:
        raise _refuse(group_id, f"arguments were passed to both partial() and expand(): {', '.join(both)}")
    for name, value in mapped.items():
        if not isinstance(value, (list, tuple, dict, XComArg)):
            raise _refuse(group_id, f"expand() maps over lists, dicts or task outputs (XComArgs), not "
                                    f"{type(value).__name__} (argument {name!r})")


def check_expand_kwargs(function: Callable[..., Any], group_id: str, kwargs_list: Any) -> None:
    """The checks of ``expand_kwargs()``: a list of dicts or an XComArg, no ``*args`` / ``**kwargs``."""
    if isinstance(kwargs_list, (list, tuple)):
        for entry in kwargs_list:
            if isinstance(entry, Mapping):
                check_names(function, group_id, "expand_kwargs()", list(entry))
            elif not isinstance(entry, XComArg):
                raise _refuse(group_id, f"expand_kwargs() needs a list of dicts or an XComArg, "
                                        f"not a list holding {type(entry).__name__}")
    elif not isinstance(kwargs_list, XComArg):
        raise _refuse(group_id, f"expand_kwargs() needs a list of dicts or an XComArg, not "
                                f"{type(kwargs_list).__name__}")
    if any(p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
           for p in _parameters(function).values()):
        raise _refuse(group_id, "expand_kwargs() on a task group function with *args or **kwargs is not "
                                "supported (as in Airflow): name its arguments")


def mapped_arguments(function: Callable[..., Any], group: MappedTaskGroup, names: Sequence[str] | None,
                     fixed: Mapping[str, Any]) -> dict[str, MappedArgument]:
    """A MappedArgument per mapped name (``names``), or, for ``expand_kwargs`` (None), per argument of
    the function not fixed by ``partial()`` (each falls back to the function's default)."""
    if names is not None:
        return {name: MappedArgument(group, name) for name in names}
    out: dict[str, MappedArgument] = {}
    for name, param in _parameters(function).items():
        if name not in fixed:
            default = NOTSET if param.default is inspect.Parameter.empty else param.default
            out[name] = MappedArgument(group, name, default)
    return out
