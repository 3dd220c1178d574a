"""Dynamic task mapping, declaration side: ``Op.partial(...).expand(...)`` / ``.expand_kwargs(...)``.

Owns :class:`OperatorPartial` and :class:`MappedOperator`. A MappedOperator is
one node of the DAG (one task_id); at run time the scheduler resolves its
expand input to a list of argument dicts (:meth:`MappedOperator.expansion`)
and creates one task instance per entry, numbered by ``map_index`` 0..n-1
(unmapped task instances have ``map_index`` -1, as in Airflow). The runner then
builds the real operator for one index with :meth:`MappedOperator.unmap`.

``expand(a=[1, 2], b=[3, 4])`` maps over the cartesian product (4 instances,
``b`` varying fastest); a dict value maps over its ``(key, value)`` items;
``expand_kwargs([...])`` maps over a list of kwargs dicts. Values may be
XComArgs (``.map()``, ``.zip()`` and ``.concat()`` ones too): they are resolved
with the caller's ``resolve`` function, so the same code serves the task runner
and tests. A task instance takes its own entry with :meth:`MappedOperator.kwargs_for`,
which reads only that entry's elements (a ``map()`` callable runs for them alone).

As in Airflow, ``partial()`` checks its arguments against the operator's
signature and ``expand()`` its names, so a bad argument is an import error of
the DAG file rather than a failure of every mapped instance at run time.
Airflow 2.9's ``map_index_template`` is not supported.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowctl.core.airflow_names import unsupported_call
from flowctl.core.baseoperator import BaseOperator, apply_defaults, init_parameter_names
from flowctl.core.errors import (
    DagDefinitionError, FlowctlError, UnmappableXComLengthPushed, UnmappableXComTypePushed, XComForMappingNotPushed,
)
from flowctl.core.xcom_arg import (
    NOTSET, XCOM_RETURN_KEY, ConcatXComArg, MapXComArg, Resolvable, ZipXComArg, iter_resolvables,
    iter_xcom_references,
)
from flowctl.core.xcom_views import elements

NO_MAP_INDEX = -1
_BASE_PARAMS = init_parameter_names(BaseOperator)
#: The flowctl way instead of Airflow 2.9's ``map_index_template`` (a label per mapped task instance).
MAP_INDEX_TEMPLATE_WAY = (
    "mapped task instances are named by their map index (task_id[0], task_id[1]...); "
    "log a label from inside the task instead")


def check_partial_arguments(operator_class: type, kwargs: Mapping[str, Any], called: str) -> None:
    """Raise DagDefinitionError naming the keywords of ``kwargs`` that ``operator_class`` does not
    accept (NotSupportedError for ``map_index_template``); ``called`` names the call that got them."""
    unknown = set(kwargs) - init_parameter_names(operator_class)
    task_id = kwargs.get("task_id")
    if "map_index_template" in unknown:
        raise unsupported_call(f"map_index_template (task_id: {task_id})", MAP_INDEX_TEMPLATE_WAY)
    if unknown:
        raise DagDefinitionError(
            f"invalid arguments were passed to {called} (task_id: {task_id}): " + ", ".join(sorted(unknown)))


class OperatorPartial:
    """The fixed half of a mapped task; finish it with ``expand`` or ``expand_kwargs``."""

    def __init__(self, operator_class: type, kwargs: dict[str, Any], expand_into: str | None = None) -> None:
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{operator_class.__name__}.partial() needs task_id")
        check_partial_arguments(operator_class, kwargs, f"{operator_class.__name__}.partial()")
        self.operator_class = operator_class
        self.kwargs = apply_defaults(operator_class, kwargs)
        self.expand_into = expand_into

    def expand(self, **mapped: Any) -> MappedOperator:
        """Map over the cartesian product of the given lists (or XComArgs)."""
        if not mapped:
            raise DagDefinitionError(f"expand() for {self.kwargs['task_id']!r} needs at least one argument")
        self._check_names(mapped)
        return self._build(mapped, "expand")

    def expand_kwargs(self, kwargs_list: Sequence[Mapping[str, Any]] | Resolvable) -> MappedOperator:
        """Map over a list of kwargs dicts (or an XComArg resolving to one)."""
        if not isinstance(kwargs_list, Resolvable):
            for entry in kwargs_list:
                self._check_names(entry)
        return self._build(kwargs_list, "expand_kwargs")

    def _check_names(self, mapped: Mapping[str, Any]) -> None:
        task_id = self.kwargs["task_id"]
        if self.expand_into is None:
            unknown = set(mapped) - init_parameter_names(self.operator_class)
            if unknown:
                raise DagDefinitionError(f"{self.operator_class.__name__} cannot map over {sorted(unknown)} ({task_id!r})")
        fixed = set(mapped) & set(self.kwargs) | set(mapped) & set(self.kwargs.get(self.expand_into or "", None) or {})
        if fixed:
            raise DagDefinitionError(
                f"arguments were passed to both partial() and expand() of {self.operator_class.__name__} "
                f"(task_id: {task_id}): " + ", ".join(sorted(fixed)))

    def _build(self, expand_input: Any, kind: str) -> MappedOperator:
        base = {k: v for k, v in self.kwargs.items() if k in _BASE_PARAMS}
        rest = {k: v for k, v in self.kwargs.items() if k not in _BASE_PARAMS}
        return MappedOperator(
            operator_class=self.operator_class,
            partial_kwargs=rest,
            expand_input=expand_input,
            expand_kind=kind,
            expand_into=self.expand_into,
            **base,
        )


class MappedOperator(BaseOperator):
    """A task that becomes one task instance per element of its expand input."""

    is_mapped = True

    def __init__(
        self,
        *,
        operator_class: type,
        partial_kwargs: dict[str, Any],
        expand_input: Any,
        expand_kind: str,
        expand_into: str | None = None,
        **base_kwargs: Any,
    ) -> None:
        self.operator_class = operator_class
        self.partial_kwargs = partial_kwargs
        self.expand_input = expand_input
        self.expand_kind = expand_kind
        self.expand_into = expand_into
        self._base_kwargs = {k: v for k, v in base_kwargs.items() if k not in ("dag", "task_group")}
        super().__init__(**base_kwargs)

    @property
    def task_type(self) -> str:
        return self.operator_class.__name__

    @property
    def operator_module(self) -> str:
        return self.operator_class.__module__

    @property
    def template_fields(self) -> Sequence[str]:  # type: ignore[override]
        return self.operator_class.template_fields

    @property
    def ui_color(self) -> str:  # type: ignore[override]
        return self.operator_class.ui_color

    def wire_resolvable_arguments(self) -> None:
        """XComArgs in the expand input or the fixed arguments make their tasks upstream."""
        for ref in itertools.chain(iter_resolvables(self.expand_input), iter_resolvables(self.partial_kwargs)):
            for operator in ref.referenced_operators():
                operator.link_downstream(self)

    def expansion(self, resolve: Callable[[Resolvable], Any]) -> list[dict[str, Any]]:
        """One kwargs dict per map index, XComArgs resolved with ``resolve``."""
        if self.expand_kind == "expand_kwargs":
            value = self.expand_input
            entries = resolve(value) if isinstance(value, Resolvable) else value
            return [dict(entry) for entry in entries or []]
        names = list(self.expand_input)
        columns = [_as_items(resolve(v) if isinstance(v, Resolvable) else v) for v in self.expand_input.values()]
        return [dict(zip(names, combo)) for combo in itertools.product(*columns)]

    def kwargs_for(self, map_index: int, resolve: Callable[[Resolvable], Any]) -> dict[str, Any]:
        """The kwargs of map index ``map_index`` (what :meth:`expansion` has at that index), reading
        only its elements of each input; FlowctlError when the input has no such index."""
        return entry_at(self.expand_kind, self.expand_input, map_index, resolve, ("task", self.task_id))

    def values_from_xcom(self, mapped_kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
        """The values of one :meth:`expansion` entry that came from XCom (not literal lists)."""
        if self.expand_kind == "expand_kwargs":
            return tuple(mapped_kwargs.values()) if isinstance(self.expand_input, Resolvable) else ()
        return tuple(mapped_kwargs[name] for name, value in self.expand_input.items()
                     if isinstance(value, Resolvable) and name in mapped_kwargs)

    def unmap(self, mapped_kwargs: Mapping[str, Any]) -> BaseOperator:
        """The concrete operator for one map index (not added to the DAG; shares its edges).

        Its values from XCom are remembered so rendering leaves them as they are (Airflow renders
        the literal arguments of a mapped task, never what it pulled from XCom)."""
        kwargs = {**self._base_kwargs, **self.partial_kwargs}
        if self.expand_into:
            kwargs[self.expand_into] = {**(kwargs.get(self.expand_into) or {}), **mapped_kwargs}
        else:
            kwargs.update(mapped_kwargs)
        kwargs["task_id"] = self.task_id
        operator = _construct_detached(self.operator_class, kwargs)
        operator.attach_to_dag(self.dag)
        operator.task_group = self.task_group
        operator._upstream_ids = set(self.upstream_task_ids)
        operator._downstream_ids = set(self.downstream_task_ids)
        operator._values_from_xcom = self.values_from_xcom(mapped_kwargs)
        return operator


def entry_at(expand_kind: str, expand_input: Any, map_index: int, resolve: Callable[[Resolvable], Any],
             owner: tuple[str, str]) -> dict[str, Any]:
    """Entry ``map_index`` of an expand input (``expand``: the cartesian product, the last argument
    varying fastest; ``expand_kwargs``: the list of dicts), reading only that entry's elements;
    FlowctlError naming ``owner`` (``("task", task_id)``, say) when the input has no such index. Shared by mapped tasks and
    mapped task groups."""
    if expand_kind == "expand_kwargs":
        entries = elements(resolve(expand_input), "expand_kwargs") if isinstance(expand_input, Resolvable) \
            else expand_input
        entry = entries[_position(owner, map_index, len(entries))]
        if not isinstance(entry, Mapping):
            raise ValueError(f"expand_kwargs() of {owner[1]!r} needs a list of dicts; "
                             f"element {map_index} is a {type(entry).__name__}")
        return dict(entry)
    columns = [_as_elements(resolve(v) if isinstance(v, Resolvable) else v) for v in expand_input.values()]
    rest = _position(owner, map_index, math.prod(len(column) for column in columns))
    picks = []
    for column in reversed(columns):  # the last argument varies fastest, as in itertools.product
        rest, position = divmod(rest, len(column))
        picks.append(column[position])
    return dict(zip(expand_input, reversed(picks)))


def _position(owner: tuple[str, str], map_index: int, length: int) -> int:
    if not 0 <= map_index < length:
        raise FlowctlError(f"map_index {map_index} of {owner[0]} {owner[1]!r} is out of range "
                           f"(its input has {length} element(s))")
    return map_index


def _construct_detached(operator_class: type, kwargs: dict[str, Any]) -> BaseOperator:
    # Built outside any DAG so it is not registered twice; default_args were applied at partial().
    from flowctl.core.dag import DagContext

    saved = list(DagContext._stack)
    DagContext._stack.clear()
    try:
        return operator_class(**kwargs)
    finally:
        DagContext._stack[:] = saved


def _as_items(value: Any) -> list[Any]:
    return list(_as_elements(value))


def _as_elements(value: Any) -> Sequence[Any]:
    """One expand() input as the sequence of its elements, not copied (a lazy view stays lazy)."""
    if isinstance(value, (str, bytes)):
        raise DagDefinitionError(f"cannot map over a string: {value[:40]!r}")
    if value is None or isinstance(value, (Mapping, Sequence)):
        return elements(value, "expand")
    return list(value)


def mapped_ti_count(task: Any, resolve: Callable[[Resolvable], Any]) -> int | None:
    """How many instances mapped ``task`` (or a task of a mapped task group) has in a run: the length
    of its expand input, its XCom references read with ``resolve`` (a ``map()`` callable never runs:
    it keeps the length). None for a task that is not mapped (Airflow's ``expanded_ti_count``)."""
    if not getattr(task, "is_mapped", False):
        return None
    if task.expand_kind == "expand_kwargs":
        return _input_length(task.expand_input, resolve)
    return math.prod(_input_length(value, resolve) for value in task.expand_input.values())


def _input_length(value: Any, resolve: Callable[[Resolvable], Any]) -> int:
    if isinstance(value, MapXComArg):
        return _input_length(value.arg, resolve)
    if isinstance(value, ConcatXComArg):
        return sum(_input_length(arg, resolve) for arg in value.args)
    if isinstance(value, ZipXComArg):
        lengths = [_input_length(arg, resolve) for arg in value.args]
        return max(lengths) if value.fillvalue is not NOTSET else min(lengths)
    return len(_as_elements(resolve(value) if isinstance(value, Resolvable) else value))


#: Airflow's default of ``[core] max_map_length``: most elements a task may return to a mapped task.
DEFAULT_MAX_MAP_LENGTH = 1024


def check_mappable_return(task: Any, value: Any, max_map_length: int = DEFAULT_MAX_MAP_LENGTH) -> None:
    """Raise if a mapped task downstream of ``task`` maps over its return value and ``value`` cannot
    be mapped over: XComForMappingNotPushed for None (nothing pushed), UnmappableXComTypePushed for
    anything but a list (or tuple) or a dict, UnmappableXComLengthPushed for more than
    ``max_map_length`` elements (``[core] max_map_length``). An empty one is fine: it maps to no instance.

    Checked by the try that returns it, as Airflow does: the producer fails, its retries apply, and
    the mapped task ends upstream_failed instead of silently expanding to nothing. A map index of a
    mapped task is exempt: what a downstream maps over is then the list of all its indexes' values,
    each instance's value one element of it (repeated mapping; a None there is left out).
    """
    # None first: isinstance against the ABCs is costly for a type they have not seen (it walks
    # their subclasses, filling caches), and in a forked try every page that writes is copied.
    mappable = value is not None and isinstance(value, (Sequence, Mapping)) and not isinstance(value, (str, bytes))
    if mappable and len(value) <= max_map_length:
        return
    if _is_mapped_task(task):
        return
    consumer = _mapping_consumer(task)
    if consumer is None:
        return
    if mappable:
        raise UnmappableXComLengthPushed(
            f"task {consumer!r} maps over the return value of {task.task_id!r}, which has {len(value)} "
            f"elements: more than [core] max_map_length ({max_map_length})")
    if value is None:
        raise XComForMappingNotPushed(
            f"task {consumer!r} maps over the return value of {task.task_id!r}, which returned None: it must "
            "return a list or a dict (an empty one maps to no instance)")
    raise UnmappableXComTypePushed(
        f"task {consumer!r} maps over the return value of {task.task_id!r}, which must "
        f"be a list or a dict, not {type(value).__name__}")


def _mapping_consumer(task: Any) -> str | None:
    """The id of a mapped task downstream of ``task`` that maps over its return value, if any.

    Looks up the downstream tasks by id, not through ``downstream_list`` (which walks every task
    of the DAG): every try whose task returns None asks, and each task object a forked try merely
    reads costs it a copied memory page (some 90 more per no-op try of a 202-task DAG)."""
    dag = getattr(task, "dag", None)
    if dag is None:
        return None
    for task_id in sorted(task.downstream_task_ids):
        downstream = dag.get_task(task_id)
        if not getattr(downstream, "is_mapped", False):  # a mapped task, or a task of a mapped task group
            continue
        for operator, key in iter_xcom_references(downstream.expand_input):  # inside map/zip/concat too
            if key == XCOM_RETURN_KEY and operator.task_id == task.task_id:
                return str(downstream.task_id)
    return None


def _is_mapped_task(task: Any) -> bool:
    """Whether ``task`` is a mapped task or one index of it (:meth:`MappedOperator.unmap` builds
    those detached, so the DAG's own task of that id says)."""
    if getattr(task, "is_mapped", False):
        return True
    dag = getattr(task, "dag", None)
    if dag is None or not dag.has_task(task.task_id):
        return False
    return bool(getattr(dag.get_task(task.task_id), "is_mapped", False))
