"""What a running task reads of the events of its inlets (Airflow 2.10's ``inlet_events``).

Owns :class:`InletEventsAccessors` (the context's ``inlet_events``: keyed by a
:class:`~flowctl.core.datasets.Dataset` among the task's ``inlets`` or its URI, a
:class:`~flowctl.core.datasets.DatasetAlias` among them, or an index into ``inlets``)
and :class:`DatasetEventSequence` (one inlet's events, oldest first: ``[-1]``,
slices, ``len()``, iteration). Nothing is read until a task asks: each access is one
call of the reader given (``Store.list_dataset_events``, through the task agent in
a forked try), so a try that never looks costs one small object.
Pure: must not import anything outside the standard library and flowctl.core.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from flowctl.core.datasets import Dataset, DatasetAlias, DatasetEvent
from flowctl.core.errors import InletNotFound

#: ``read(limit, offset, *, newest_first, uri= or alias=)`` -> (that page of events, how many there are).
EventReader = Callable[..., tuple[list[DatasetEvent], int]]
#: How many events one read of an iteration takes.
PAGE = 1000


class DatasetEventSequence(Sequence[DatasetEvent]):
    """The events of one dataset (``uri=``) or of one alias (``alias=``, the events added through
    it), oldest first, read when used: ``events[-1]`` is one read of one event, ``len(events)`` a count."""

    __slots__ = ("_read", "_where")

    def __init__(self, read: EventReader, **where: str) -> None:
        self._read = read
        self._where = where

    def __len__(self) -> int:
        return self._read(0, 0, newest_first=False, **self._where)[1]

    @overload
    def __getitem__(self, index: int) -> DatasetEvent: ...

    @overload
    def __getitem__(self, index: slice) -> list[DatasetEvent]: ...

    def __getitem__(self, index: int | slice) -> DatasetEvent | list[DatasetEvent]:
        if isinstance(index, slice):
            return self._slice(index)
        if not isinstance(index, int):
            raise TypeError(f"dataset event indices must be integers or slices, not {type(index).__name__}")
        if index >= 0:
            found = self._read(1, index, newest_first=False, **self._where)[0]
        else:  # from the newest: [-1] reads one row, whatever the history's length
            found = self._read(1, -index - 1, newest_first=True, **self._where)[0]
        if not found:
            raise IndexError(f"dataset event index {index} out of range")
        return found[0]

    def _slice(self, index: slice) -> list[DatasetEvent]:
        start, stop, step = index.start, index.stop, index.step
        if (step in (None, 1) and isinstance(start, (int, type(None))) and isinstance(stop, int)
                and (start or 0) >= 0 and stop >= 0):  # [a:b] from the oldest: one read, no count
            first = start or 0
            return self._read(stop - first, first, newest_first=False, **self._where)[0] if stop > first else []
        positions = range(*index.indices(len(self)))
        if not positions:
            return []
        low, high = min(positions), max(positions)
        window = self._read(high - low + 1, low, newest_first=False, **self._where)[0]
        return [window[i - low] for i in positions if i - low < len(window)]

    def __iter__(self) -> Iterator[DatasetEvent]:
        offset = 0
        while True:
            page = self._read(PAGE, offset, newest_first=False, **self._where)[0]
            yield from page
            if len(page) < PAGE:
                return
            offset += len(page)

    def __repr__(self) -> str:
        what = ", ".join(f"{name}={value!r}" for name, value in self._where.items())
        return f"DatasetEventSequence({what})"


class InletEventsAccessors(Mapping[Any, DatasetEventSequence]):
    """A try's ``inlet_events``: ``inlet_events[Dataset("uri")][-1].extra`` (or by URI, by a DatasetAlias,
    or by position in ``inlets``); only what the task lists in its ``inlets`` (as Airflow), anything
    else is an :class:`~flowctl.core.errors.InletNotFound` (a KeyError)."""

    __slots__ = ("_inlets", "_read", "_known")

    def __init__(self, inlets: Sequence[Any] | None, read: EventReader) -> None:
        self._inlets = inlets or ()
        self._read = read
        self._known: tuple[set[str], set[str]] | None = None  # (URIs, alias names), made on first use

    def _names(self) -> tuple[set[str], set[str]]:
        if self._known is None:
            self._known = ({i.uri for i in self._inlets if isinstance(i, Dataset)},
                           {i.name for i in self._inlets if isinstance(i, DatasetAlias)})
        return self._known

    def __getitem__(self, key: Any) -> DatasetEventSequence:
        if isinstance(key, int) and not isinstance(key, bool):
            key = self._inlets[key]  # an IndexError past the end, as a list's
            if not isinstance(key, (Dataset, DatasetAlias)):
                raise IndexError(f"inlet {key!r} is neither a Dataset nor a DatasetAlias")
        uris, aliases = self._names()
        if isinstance(key, DatasetAlias):
            if key.name not in aliases:
                raise InletNotFound(f"{key!r} is not among the task's inlets; inlet_events reads the events of "
                                    f"the datasets and aliases listed in inlets=")
            return DatasetEventSequence(self._read, alias=key.name)
        if not isinstance(key, (Dataset, str)):
            raise TypeError(f"inlet_events is keyed by a Dataset, its URI, a DatasetAlias or an index into "
                            f"inlets, not {type(key).__name__}")
        uri = key.uri if isinstance(key, Dataset) else key
        if uri not in uris:
            raise InletNotFound(f"dataset {uri!r} is not among the task's inlets; inlet_events reads the events "
                                f"of the datasets listed in inlets= (add Dataset({uri!r}) there)")
        return DatasetEventSequence(self._read, uri=uri)

    def __contains__(self, key: object) -> bool:
        uris, aliases = self._names()
        if isinstance(key, Dataset):
            return key.uri in uris
        if isinstance(key, DatasetAlias):
            return key.name in aliases
        return isinstance(key, str) and key in uris

    def __iter__(self) -> Iterator[Any]:
        return iter(dict.fromkeys(i for i in self._inlets if isinstance(i, (Dataset, DatasetAlias))))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"InletEventsAccessors({list(self)!r})"
