"""References to values that exist only at run time: XComArg and DagParam.

Owns :class:`Resolvable` (anything with ``resolve(context)``), :class:`XComArg`
(the base of every XCom reference; ``XComArg(task, key)``, ``task.output`` and
calling a ``@task`` function give the plain one, :class:`PlainXComArg`),
its derived forms of Airflow 2.4+ — ``.map(f)`` (:class:`MapXComArg`),
``.zip(*others, fillvalue=...)`` (:class:`ZipXComArg`) and ``.concat(*others)``
(:class:`ConcatXComArg`) — :class:`DagParam` (a ``@dag`` function argument) and
the helpers that find or resolve them inside nested argument structures.

Run-time contract: :meth:`PlainXComArg.resolve` calls
``context["ti"].xcom_pull(task_ids=<task_id>, key=<key>)`` (with ``default=<a marker>``
for a key other than the return value); the task runner's
task-instance object implements ``xcom_pull``. The derived forms resolve to the
lazy views of :mod:`flowctl.core.xcom_views`, so a ``map()`` callable runs only
for the elements a task reads. For the DAG's JSON each form gives ``ref_type``
and ``to_ref()`` (a map's callables by name only: the scheduler never has them).

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from flowctl.core.dependencies import DependencyMixin
from flowctl.core.errors import DagDefinitionError, XComNotFound
from flowctl.core.xcom_views import (
    NOTSET, ConcatenatedValues, MappedValues, ZippedValues, callable_name, elements,
)

XCOM_RETURN_KEY = "return_value"
#: The XCom a branch or short-circuit records its decision under (Airflow's ``XCOM_SKIPMIXIN_KEY``).
XCOM_SKIPMIXIN_KEY = "skipmixin_key"
_NOT_PUSHED = object()


class Resolvable:
    """A placeholder argument replaced by a real value when the task runs."""

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """Return the real value for this run."""
        raise NotImplementedError

    def referenced_operators(self) -> list[Any]:
        """Operators that must run before this value exists."""
        return []


class XComArg(Resolvable, DependencyMixin):
    """An XCom value of one or more tasks, usable as an argument and in ``>>``.

    ``XComArg(operator, key)`` builds the plain reference (:class:`PlainXComArg`), as in
    Airflow, where ``isinstance(value, XComArg)`` holds for every form."""

    #: The ``__type`` of this form in the DAG's JSON (``flowctl.core.planner.expansion`` reads it).
    ref_type: ClassVar[str] = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return super().__new__(PlainXComArg if cls is XComArg else cls)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("an XComArg is not iterable at DAG definition time; use .expand() to map over it")

    def iter_references(self) -> Iterator[tuple[Any, str]]:
        """The (operator, key) of every task XCom this value is made from."""
        raise NotImplementedError

    def referenced_operators(self) -> list[Any]:
        found: dict[int, Any] = {}
        for operator, _ in self.iter_references():
            found.setdefault(id(operator), operator)
        return list(found.values())

    def edge_roots(self) -> list[Any]:
        return self.referenced_operators()

    def edge_leaves(self) -> list[Any]:
        return self.referenced_operators()

    def to_ref(self) -> dict[str, Any]:
        """What the DAG's JSON keeps of this value (encoded further by the serializer)."""
        raise NotImplementedError

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        """Each element passed through ``function`` (one argument) when a mapped task instance reads it."""
        return MapXComArg(self, [function])

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> ZipXComArg:
        """Tuples of this and ``others``' elements; the shortest sets the length, or the longest
        when ``fillvalue`` is given (``itertools.zip_longest``)."""
        return ZipXComArg([self, *others], fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> ConcatXComArg:
        """This value's elements, then each of ``others``' (``itertools.chain``)."""
        return ConcatXComArg([self, *others])


class PlainXComArg(XComArg):
    """The XCom value ``key`` pushed by ``operator``."""

    ref_type = "xcomarg"

    def __init__(self, operator: Any, key: str = XCOM_RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PlainXComArg)
            and other.operator is self.operator
            and other.key == self.key
        )

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __getitem__(self, key: str) -> XComArg:
        """The XCom pushed under ``key`` (for ``multiple_outputs`` tasks)."""
        return PlainXComArg(self.operator, key)

    @property
    def task_id(self) -> str:
        """The id of the task that pushes this value."""
        return self.operator.task_id

    def iter_references(self) -> Iterator[tuple[Any, str]]:
        yield self.operator, self.key

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        self._check_return_value("map")
        return super().map(function)

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> ZipXComArg:
        self._check_return_value("zip")
        return super().zip(*others, fillvalue=fillvalue)

    def concat(self, *others: XComArg) -> ConcatXComArg:
        self._check_return_value("concat")
        return super().concat(*others)

    def _check_return_value(self, method: str) -> None:
        if self.key != XCOM_RETURN_KEY:  # Airflow: "cannot map against non-return XCom"
            raise DagDefinitionError(
                f"XComArg.{method}() works on a task's return value, not on its XCom {self.key!r} "
                f"(task {self.operator.task_id!r})")

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value; between two tasks of one mapped task group, the value of this map index only
        (used anywhere else, a mapped task's value is the list of all its map indexes' values).

        A missing return value, or a missing key of a ``multiple_outputs`` task, is None; any other
        missing key raises XComNotFound, as in Airflow (``task()["x"]`` without ``multiple_outputs``
        would otherwise be a silent None)."""
        ti = context["ti"]
        pull: dict[str, Any] = {"task_ids": self.operator.task_id, "key": self.key}
        group = getattr(self.operator, "mapped_group_id", None)
        if group is not None and getattr(context.get("task"), "mapped_group_id", None) == group:
            pull["map_indexes"] = ti.map_index
        if self.key == XCOM_RETURN_KEY or getattr(self.operator, "multiple_outputs", False):
            return ti.xcom_pull(**pull)
        found = ti.xcom_pull(**pull, default=_NOT_PUSHED)
        if found is _NOT_PUSHED:
            raise XComNotFound(self.operator.dag_id, self.operator.task_id, self.key)
        return found

    def to_ref(self) -> dict[str, Any]:
        """JSON-safe reference ``{"task_id", "key"}``."""
        return {"task_id": self.operator.task_id, "key": self.key}


class MapXComArg(XComArg):
    """An XComArg whose elements go through ``callables`` (``.map(f)``, chained ``.map(g)``...)."""

    ref_type = "xcomarg_map"

    def __init__(self, arg: XComArg, callables: Sequence[Callable[[Any], Any]]) -> None:
        for function in callables:
            _check_map_callable(function)
        self.arg = arg
        self.callables = tuple(callables)

    def __repr__(self) -> str:
        calls = "".join(f".map({getattr(f, '__name__', type(f).__name__)})" for f in self.callables)
        return f"{self.arg!r}{calls}"

    def iter_references(self) -> Iterator[tuple[Any, str]]:
        return self.arg.iter_references()

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        # a.map(f).map(g) is one MapXComArg over a, as in Airflow
        return MapXComArg(self.arg, [*self.callables, function])

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return MappedValues(elements(self.arg.resolve(context), "map"), self.callables, f"{self.arg!r}")

    def to_ref(self) -> dict[str, Any]:
        return {"arg": self.arg, "callables": [callable_name(f) for f in self.callables]}


def _check_map_callable(function: Any) -> None:
    from flowctl.core.taskflow import TaskDecorator  # taskflow imports this module

    if isinstance(function, TaskDecorator):  # Airflow refuses it the same way
        raise DagDefinitionError(
            f"XComArg.map() needs a plain function, not the @task {function.function.__name__!r}: "
            "the callable runs inside the mapped task, it is not a task of its own")
    if not callable(function):
        raise TypeError(f"XComArg.map() needs a callable of one argument, not {type(function).__name__}: "
                        f"{function!r:.60}")


class _CombinedXComArg(XComArg):
    """The forms made of several XComArgs (zip, concat): every input must be one."""

    method: ClassVar[str] = ""

    def __init__(self, args: Sequence[XComArg]) -> None:
        if not args:
            raise DagDefinitionError(f"XComArg.{self.method}() needs at least one input")
        for arg in args:
            if not isinstance(arg, XComArg):
                raise TypeError(
                    f"XComArg.{self.method}() combines task outputs (XComArgs), not {type(arg).__name__}: "
                    f"{arg!r:.60}; return the values from a task and pass its output")
        self.args = tuple(args)

    def iter_references(self) -> Iterator[tuple[Any, str]]:
        for arg in self.args:
            yield from arg.iter_references()

    def _inputs(self, context: Mapping[str, Any]) -> list[Sequence[Any]]:
        return [elements(arg.resolve(context), self.method) for arg in self.args]


class ZipXComArg(_CombinedXComArg):
    """``a.zip(b, ...)``: tuples of the inputs' elements at each position."""

    ref_type = "xcomarg_zip"
    method = "zip"

    def __init__(self, args: Sequence[XComArg], *, fillvalue: Any = NOTSET) -> None:
        super().__init__(args)
        self.fillvalue = fillvalue

    def __repr__(self) -> str:
        fill = "" if self.fillvalue is NOTSET else f", fillvalue={self.fillvalue!r}"
        return f"{self.args[0]!r}.zip({', '.join(map(repr, self.args[1:]))}{fill})"

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return ZippedValues(self._inputs(context), self.fillvalue)

    def to_ref(self) -> dict[str, Any]:
        ref: dict[str, Any] = {"args": list(self.args)}
        if self.fillvalue is not NOTSET:  # its presence makes the longest input set the length
            ref["fillvalue"] = self.fillvalue
        return ref


class ConcatXComArg(_CombinedXComArg):
    """``a.concat(b, ...)``: the inputs' elements one input after the other."""

    ref_type = "xcomarg_concat"
    method = "concat"

    def __repr__(self) -> str:
        return f"{self.args[0]!r}.concat({', '.join(map(repr, self.args[1:]))})"

    def concat(self, *others: XComArg) -> ConcatXComArg:
        # a.concat(b).concat(c) is one ConcatXComArg, as in Airflow
        return ConcatXComArg([*self.args, *others])

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return ConcatenatedValues(self._inputs(context))

    def to_ref(self) -> dict[str, Any]:
        return {"args": list(self.args)}


class DagParam(Resolvable):
    """A DAG-level param used as a task argument; resolves to ``context["params"][name]``."""

    def __init__(self, name: str, default: Any = None) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"

    def resolve(self, context: Mapping[str, Any]) -> Any:
        params = context.get("params") or {}
        return params.get(self.name, self.default)


def iter_xcom_references(value: Any) -> Iterator[tuple[Any, str]]:
    """The (operator, key) of every task XCom that the XComArgs inside ``value`` are made from."""
    for ref in iter_resolvables(value):
        if isinstance(ref, XComArg):
            yield from ref.iter_references()


def iter_resolvables(value: Any) -> Iterator[Resolvable]:
    """Yield every Resolvable inside nested lists, tuples, sets and dict values."""
    if isinstance(value, Resolvable):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_resolvables(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_resolvables(item)


def resolve_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Return ``value`` with every nested Resolvable replaced by its run-time value."""
    if isinstance(value, Resolvable):
        return value.resolve(context)
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(resolve_value(item, context) for item in value)
    if isinstance(value, dict):
        return {key: resolve_value(item, context) for key, item in value.items()}
    return value
