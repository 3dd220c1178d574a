"""What a running task says about the dataset events its success records (Airflow 2.10's ``outlet_events``).

Owns :class:`OutletEventAccessor` (one outlet's coming event: its ``extra``),
:class:`OutletEventAccessors` (the context's ``outlet_events``, keyed by a
:class:`~flowctl.core.datasets.Dataset` or its URI, an accessor made on first use),
:class:`Metadata` (what a generator callable yields to set an extra),
:func:`call_collecting_metadata` (a callable run as Airflow runs a task's: a
generator's ``Metadata`` go into ``outlet_events`` and its ``return`` value is the
result) and :func:`outlet_extras` (the extras of a try's outlets, checked to be
small JSON objects, as its end carries them to whoever writes the events).
Pure: must not import anything outside the standard library and flowctl.core.
"""
from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from flowctl.core.airflow_names import DATASET_ALIAS_WAY, unsupported_call
from flowctl.core.datasets import Dataset
from flowctl.core.errors import DatasetExtraError

#: The most JSON text one event's extra may take (it travels with the try's end and is stored per event).
MAX_EXTRA_BYTES = 65_536


def event_key(target: object) -> str:
    """The URI an outlet event is keyed by: a Dataset's, or the text given."""
    if isinstance(target, Dataset):
        return target.uri
    if isinstance(target, str):
        return target
    raise TypeError(f"outlet events are keyed by a Dataset or its URI, not {type(target).__name__}")


class OutletEventAccessor:
    """The event a successful try will record for one outlet; set ``extra`` (a dict) to store it with it."""

    __slots__ = ("raw_key", "extra")

    def __init__(self, raw_key: object, extra: dict[str, Any] | None = None) -> None:
        self.raw_key = raw_key
        self.extra: dict[str, Any] = {} if extra is None else extra

    def __repr__(self) -> str:
        return f"OutletEventAccessor(raw_key={self.raw_key!r}, extra={self.extra!r})"

    def add(self, dataset: object, extra: Mapping[str, Any] | None = None) -> None:
        """Airflow's way to name a dataset behind an alias: not supported, as aliases are not."""
        raise unsupported_call("outlet_events[...].add() (dataset aliases)", DATASET_ALIAS_WAY)


class OutletEventAccessors(Mapping[str, OutletEventAccessor]):
    """A try's ``outlet_events``: ``outlet_events[dataset].extra = {...}`` (or by URI).

    Looking up a key makes its accessor (as Airflow's); nothing is made until a task looks,
    so a try that never does pays for one empty object.
    """

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[str, OutletEventAccessor] | None = None

    def __getitem__(self, key: str | Dataset) -> OutletEventAccessor:
        uri = event_key(key)
        if self._events is None:
            self._events = {}
        accessor = self._events.get(uri)
        if accessor is None:
            accessor = self._events[uri] = OutletEventAccessor(key)
        return accessor

    def __contains__(self, key: object) -> bool:
        try:
            return self._events is not None and event_key(key) in self._events
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._events or ())

    def __len__(self) -> int:
        return len(self._events or ())

    def __repr__(self) -> str:
        return f"OutletEventAccessors({self._events or {}!r})"

    def touched(self) -> Mapping[str, OutletEventAccessor]:
        """The accessors the task looked up, by URI (none made here)."""
        return self._events or {}


class Metadata:
    """Yielded by a generator task: ``yield Metadata(dataset, {"rows": 10})`` sets that outlet's extra
    (merged into ``outlet_events[dataset].extra``)."""

    __slots__ = ("uri", "extra", "alias_name")

    def __init__(self, target: str | Dataset, extra: Mapping[str, Any], alias: object = None) -> None:
        if alias is not None:
            raise unsupported_call("Metadata(..., alias=...) (dataset aliases)", DATASET_ALIAS_WAY)
        if not isinstance(extra, Mapping):
            raise TypeError(f"Metadata's extra must be a dict, not {type(extra).__name__}")
        self.uri = event_key(target)
        self.extra = dict(extra)
        self.alias_name: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metadata):
            return NotImplemented
        return (self.uri, self.extra) == (other.uri, other.extra)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"Metadata(uri={self.uri!r}, extra={self.extra!r})"


def call_collecting_metadata(function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any],
                             outlet_events: Mapping[str, OutletEventAccessor],
                             other: Callable[[object], None] = lambda item: None) -> Any:
    """``function(*args, **kwargs)``; a generator function is run to its end instead: each
    :class:`Metadata` it yields is merged into ``outlet_events``, anything else goes to ``other``
    (ignored, as Airflow ignores it with a warning), and its ``return`` value is the result."""
    if not inspect.isgeneratorfunction(function):
        return function(*args, **kwargs)
    generator = function(*args, **kwargs)
    while True:
        try:
            item = next(generator)
        except StopIteration as stop:
            return stop.value
        if isinstance(item, Metadata):
            outlet_events[item.uri].extra.update(item.extra)
        else:
            other(item)


def checked_extra(uri: str, extra: object, limit: int = MAX_EXTRA_BYTES) -> dict[str, Any]:
    """``extra`` as plain JSON (a copy): :class:`DatasetExtraError` unless it is a JSON object of at
    most ``limit`` bytes."""
    if not isinstance(extra, Mapping):
        raise DatasetExtraError(f"the extra of the event of dataset {uri!r} must be a dict, "
                                f"not {type(extra).__name__}")
    try:
        text = json.dumps(dict(extra), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise DatasetExtraError(f"the extra of the event of dataset {uri!r} must be JSON-serializable: "
                                f"{error}") from None
    if len(text) > limit:
        raise DatasetExtraError(f"the extra of the event of dataset {uri!r} is {len(text)} bytes of JSON; "
                                f"at most {limit} are stored")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def outlet_extras(outlet_events: object, uris: Iterable[str]) -> dict[str, dict[str, Any]] | None:
    """URI -> the checked extra the task set, for each of ``uris`` (its outlets) with a non-empty one;
    None if there is none. Extras of datasets that are not outlets are not recorded (as in Airflow)."""
    touched = outlet_events.touched() if isinstance(outlet_events, OutletEventAccessors) else {}
    if not touched:
        return None
    found = {uri: checked_extra(uri, touched[uri].extra) for uri in uris
             if uri in touched and touched[uri].extra}
    return found or None
