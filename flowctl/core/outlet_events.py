"""What a running task says about the dataset events its success records (Airflow 2.10's ``outlet_events``).

Owns :class:`OutletEventAccessor` (one outlet's coming event: its ``extra``; for a
dataset alias, the datasets the task adds to it with :meth:`OutletEventAccessor.add`),
:class:`OutletEventAccessors` (the context's ``outlet_events``, keyed by a
:class:`~flowctl.core.datasets.Dataset` or its URI, or by a
:class:`~flowctl.core.datasets.DatasetAlias` or its name, an accessor made on first use),
:class:`Metadata` (what a generator callable yields to set an extra, or add a dataset
to an alias), :func:`call_collecting_metadata` (a callable run as Airflow runs a
task's: a generator's ``Metadata`` go into ``outlet_events`` and its ``return`` value
is the result), :func:`outlet_extras` (the extras of a try's outlets, checked to be
small JSON objects, as its end carries them to whoever writes the events) and
:func:`alias_events` (the events the try's alias outlets add, likewise checked).
Pure: must not import anything outside the standard library and flowctl.core.
"""
from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowctl.core.datasets import Dataset, DatasetAlias, check_uri
from flowctl.core.errors import DatasetExtraError

#: The most JSON text one event's extra may take (it travels with the try's end and is stored per event).
MAX_EXTRA_BYTES = 65_536


def event_key(target: object) -> str:
    """The text an outlet event is keyed by: a Dataset's URI, a DatasetAlias's name, or the text given."""
    if isinstance(target, Dataset):
        return target.uri
    if isinstance(target, DatasetAlias):
        return target.name
    if isinstance(target, str):
        return target
    raise TypeError(f"outlet events are keyed by a Dataset or its URI (or a DatasetAlias), "
                    f"not {type(target).__name__}")


@dataclass(frozen=True, slots=True)
class DatasetAliasEvent:
    """A dataset a task added to an alias, with the extra of the event it asks for (Airflow 2.10)."""

    source_alias_name: str
    dest_dataset_uri: str
    extra: dict[str, Any] = field(default_factory=dict)


class OutletEventAccessor:
    """The event a successful try will record for one outlet; set ``extra`` (a dict) to store it with it.
    For an alias, :meth:`add` names the datasets behind it."""

    __slots__ = ("raw_key", "extra", "dataset_alias_events")

    def __init__(self, raw_key: object, extra: dict[str, Any] | None = None) -> None:
        self.raw_key = raw_key
        self.extra: dict[str, Any] = {} if extra is None else extra
        self.dataset_alias_events: list[DatasetAliasEvent] = []

    def __repr__(self) -> str:
        return f"OutletEventAccessor(raw_key={self.raw_key!r}, extra={self.extra!r})"

    def add(self, dataset: Dataset | str, extra: Mapping[str, Any] | None = None) -> None:
        """Add ``dataset`` (a Dataset or its URI) to this alias: the try's success records an event of
        it, with ``extra``, linked to the alias (``outlet_events[DatasetAlias("a")].add(...)``)."""
        if isinstance(self.raw_key, Dataset):
            raise TypeError(f"add() names a dataset behind a dataset alias: call it on "
                            f"outlet_events[DatasetAlias(name)], not on outlet_events[{self.raw_key!r}]")
        uri = dataset.uri if isinstance(dataset, Dataset) else check_uri(dataset)
        if extra is not None and not isinstance(extra, Mapping):
            raise TypeError(f"the extra of an added dataset must be a dict, not {type(extra).__name__}")
        name = self.raw_key.name if isinstance(self.raw_key, DatasetAlias) else str(self.raw_key)
        self.dataset_alias_events.append(DatasetAliasEvent(name, uri, dict(extra or {})))


class OutletEventAccessors(Mapping[str, OutletEventAccessor]):
    """A try's ``outlet_events``: ``outlet_events[dataset].extra = {...}`` (or by URI).

    Looking up a key makes its accessor (as Airflow's); nothing is made until a task looks,
    so a try that never does pays for one empty object.
    """

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[str, OutletEventAccessor] | None = None

    def __getitem__(self, key: str | Dataset | DatasetAlias) -> OutletEventAccessor:
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
    (merged into ``outlet_events[dataset].extra``); with ``alias=`` (a DatasetAlias or its name) it
    also adds the dataset, with that extra, to the alias (``outlet_events[alias].add(...)``)."""

    __slots__ = ("uri", "extra", "alias_name")

    def __init__(self, target: str | Dataset, extra: Mapping[str, Any],
                 alias: DatasetAlias | str | None = None) -> None:
        if not isinstance(extra, Mapping):
            raise TypeError(f"Metadata's extra must be a dict, not {type(extra).__name__}")
        if alias is not None and not isinstance(alias, (DatasetAlias, str)):
            raise TypeError(f"Metadata's alias must be a DatasetAlias or its name, not {type(alias).__name__}")
        self.uri = event_key(target)
        self.extra = dict(extra)
        self.alias_name: str | None = alias.name if isinstance(alias, DatasetAlias) else alias

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Metadata):
            return NotImplemented
        return (self.uri, self.extra, self.alias_name) == (other.uri, other.extra, other.alias_name)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        alias = f", alias_name={self.alias_name!r}" if self.alias_name is not None else ""
        return f"Metadata(uri={self.uri!r}, extra={self.extra!r}{alias})"


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
            if item.alias_name is not None:
                outlet_events[item.alias_name].add(item.uri, extra=item.extra)
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


def alias_events(outlet_events: object, names: Iterable[str]) -> list[dict[str, Any]] | None:
    """The events the datasets added to the aliases ``names`` (the try's alias outlets) ask for, each
    ``{"uri", "extra", "aliases"}``: one per dataset and extra, with every alias that added it so (as
    Airflow); None if there is none. Additions to aliases that are not outlets are not recorded."""
    touched = outlet_events.touched() if isinstance(outlet_events, OutletEventAccessors) else {}
    if not touched:
        return None
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for name in names:
        accessor = touched.get(name)
        for added in accessor.dataset_alias_events if accessor is not None else ():
            extra = checked_extra(added.dest_dataset_uri, added.extra)
            key = (added.dest_dataset_uri, json.dumps(extra, sort_keys=True))
            event = grouped.setdefault(key, {"uri": added.dest_dataset_uri, "extra": extra, "aliases": []})
            if name not in event["aliases"]:
                event["aliases"].append(name)
    return list(grouped.values()) or None
