"""Lazy sequences that ``XComArg.map()``, ``.zip()`` and ``.concat()`` resolve to when a task runs.

A mapped task instance needs one element of its input (its map index's), so
these views compute only the elements read: a ``map()`` callable runs once per
element read, in the process that reads it (the task's worker), never over the
whole list, and never in the scheduler, which counts lengths from the
serialized DAG (:mod:`flowctl.core.planner.expansion`). As with a plain
``expand()``, a dict input is the list of its ``(key, value)`` items and None (an
upstream that returned nothing) is empty.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowctl.core.errors import FlowctlError, MapCallableError


class _NotSet:
    """zip()'s fillvalue when none was given: the shortest input sets the length."""

    def __repr__(self) -> str:
        return "NOTSET"


NOTSET: Any = _NotSet()


def elements(value: Any, method: str) -> Sequence[Any]:
    """``value`` as the elements mapping goes over (a dict's items, None as empty); ValueError
    naming ``XComArg.<method>()`` for a value that is neither a list nor a dict."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return value
    raise ValueError(f"XComArg.{method}() needs a list or a dict, not {type(value).__name__}")


def callable_name(function: Any) -> str:
    """``module.qualname`` of a callable: stable across parses (no memory address), for the DAG's JSON."""
    owner = function if hasattr(function, "__qualname__") else type(function)
    return f"{getattr(owner, '__module__', None) or '?'}.{owner.__qualname__}"


class _View(Sequence[Any]):
    """Index access (negative indexes and slices too) over ``_length()`` and ``_at(position)``."""

    def _length(self) -> int:
        raise NotImplementedError

    def _at(self, position: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._length()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self)))]
        length = len(self)
        position = index + length if index < 0 else index
        if not 0 <= position < length:
            raise IndexError(f"index {index} is out of range ({length} element(s))")
        return self._at(position)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self)} element(s)>"


class MappedValues(_View):
    """Each element of ``values`` passed through ``callables`` in turn, when it is read."""

    def __init__(self, values: Sequence[Any], callables: Sequence[Callable[[Any], Any]], source: str) -> None:
        self._values = values
        self._callables = tuple(callables)
        self._source = source

    def _length(self) -> int:
        return len(self._values)

    def _at(self, position: int) -> Any:
        value = self._values[position]
        for function in self._callables:
            value = _call(function, value, position, self._source)
        return value


def _call(function: Callable[[Any], Any], value: Any, position: int, source: str) -> Any:
    try:
        return function(value)
    except FlowctlError:
        raise  # AirflowSkipException, AirflowFailException...: the task's own decision, as it is
    except Exception as exc:
        name = getattr(function, "__name__", type(function).__name__)
        raise MapCallableError(f"{source}.map({name}) failed on element {position}: "
                               f"{type(exc).__name__}: {exc}") from exc


class ZippedValues(_View):
    """Tuples of the inputs' elements at one position: as long as the shortest input, or as the
    longest when a ``fillvalue`` stands in for the shorter inputs' missing elements."""

    def __init__(self, inputs: Sequence[Sequence[Any]], fillvalue: Any = NOTSET) -> None:
        self._inputs = tuple(inputs)
        self._fillvalue = fillvalue

    def _length(self) -> int:
        lengths = [len(values) for values in self._inputs]
        return min(lengths) if self._fillvalue is NOTSET else max(lengths)

    def _at(self, position: int) -> Any:
        return tuple(values[position] if position < len(values) else self._fillvalue for values in self._inputs)


class ConcatenatedValues(_View):
    """The inputs' elements one input after the other (``itertools.chain`` with index access)."""

    def __init__(self, inputs: Sequence[Sequence[Any]]) -> None:
        self._inputs = tuple(inputs)

    def _length(self) -> int:
        return sum(len(values) for values in self._inputs)

    def _at(self, position: int) -> Any:
        for values in self._inputs:
            if position < len(values):
                return values[position]
            position -= len(values)
        raise IndexError(position)  # not reached: __getitem__ checked the bounds
