"""References to values that exist only at run time: XComArg and DagParam.

Owns :class:`Resolvable` (anything with ``resolve(context)``), :class:`XComArg`
(a task's XCom, created by ``task.output`` or by calling a ``@task`` function),
:class:`DagParam` (a ``@dag`` function argument) and the helpers that find or
resolve them inside nested argument structures.

Run-time contract: :meth:`XComArg.resolve` calls
``context["ti"].xcom_pull(task_ids=<task_id>, key=<key>)``; the task runner's
task-instance object implements ``xcom_pull``.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flowctl.core.dependencies import DependencyMixin
from flowctl.core.errors import NotSupportedError

XCOM_RETURN_KEY = "return_value"


class Resolvable:
    """A placeholder argument replaced by a real value when the task runs."""

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """Return the real value for this run."""
        raise NotImplementedError

    def referenced_operators(self) -> list[Any]:
        """Operators that must run before this value exists."""
        return []


class XComArg(Resolvable, DependencyMixin):
    """The XCom value ``key`` pushed by ``operator``; usable as an argument and in ``>>``."""

    def __init__(self, operator: Any, key: str = XCOM_RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, XComArg)
            and other.operator is self.operator
            and other.key == self.key
        )

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __getitem__(self, key: str) -> XComArg:
        """The XCom pushed under ``key`` (for ``multiple_outputs`` tasks)."""
        return XComArg(self.operator, key)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("an XComArg is not iterable at DAG definition time; use .expand() to map over it")

    def map(self, *_: Any, **__: Any) -> Any:
        raise _unsupported("map", "transform the values in the task that returns them, or in the mapped task, "
                                  "and .expand() over its output")

    def zip(self, *_: Any, **__: Any) -> Any:
        raise _unsupported("zip", "return the pairs from one task and .expand() over its output (or "
                                  ".expand_kwargs() over a list of dicts)")

    def concat(self, *_: Any, **__: Any) -> Any:
        raise _unsupported("concat", "return the joined list from one task and .expand() over its output")

    @property
    def task_id(self) -> str:
        """The id of the task that pushes this value."""
        return self.operator.task_id

    def edge_roots(self) -> list[Any]:
        return [self.operator]

    def edge_leaves(self) -> list[Any]:
        return [self.operator]

    def referenced_operators(self) -> list[Any]:
        return [self.operator]

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return context["ti"].xcom_pull(task_ids=self.operator.task_id, key=self.key)

    def to_ref(self) -> dict[str, str]:
        """JSON-safe reference ``{"task_id", "key"}`` (used by serialization)."""
        return {"task_id": self.operator.task_id, "key": self.key}


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


def _unsupported(method: str, instead: str) -> Exception:
    return NotSupportedError(f"XComArg.{method}() is not supported; {instead}")


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
