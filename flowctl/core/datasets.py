"""Datasets (Airflow 2.4+ data-aware scheduling): what a task produces and what a DAG waits for.

Owns :class:`Dataset` (a URI, checked as Airflow checks it), :class:`DatasetAlias`
(Airflow 2.10: a name for the datasets a task names while it runs), the conditions
built with ``&`` and ``|`` (:class:`DatasetAll`, :class:`DatasetAny`), their JSON form
(what the serialized DAG carries, so the scheduler evaluates a condition without
importing the DAG file), :func:`resolve_aliases` (a condition with each alias replaced
by the datasets it has resolved to, which the caller looked up) and
:class:`DatasetEvent`, one recorded update as a dataset-triggered run's
``triggering_dataset_events`` show it.
Pure: must not import anything outside the standard library and flowctl.core.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flowctl.core.errors import DagDefinitionError

#: The longest URI the metadata database stores (``dataset.uri``).
MAX_URI_LENGTH = 1500


def check_uri(uri: object) -> str:
    """``uri`` if it may name a dataset (Airflow's rules: text, not empty, ASCII, no ``airflow`` scheme)."""
    if not isinstance(uri, str):
        raise TypeError(f"a Dataset URI must be a string, not {type(uri).__name__}")
    if not uri or uri.isspace():
        raise ValueError("Dataset URI cannot be empty")
    if not uri.isascii():
        raise ValueError(f"Dataset URI must only consist of ASCII characters: {uri!r}")
    if len(uri) > MAX_URI_LENGTH:
        raise ValueError(f"Dataset URI is longer than {MAX_URI_LENGTH} characters: {uri[:60]!r}...")
    if urlsplit(uri).scheme.lower() == "airflow":
        raise ValueError(f"Dataset scheme 'airflow' is reserved: {uri!r}")
    return uri


class BaseDataset:
    """A dataset condition: one dataset, or all / any of several (``a & b``, ``a | b``)."""

    __slots__ = ()

    def __or__(self, other: BaseDataset) -> DatasetAny:
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAny(self, other)

    def __and__(self, other: BaseDataset) -> DatasetAll:
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAll(self, other)

    def evaluate(self, updated: Collection[str]) -> bool:
        """Whether the condition holds when the datasets with these URIs (and no others) were updated."""
        raise NotImplementedError

    def iter_datasets(self) -> Iterator[tuple[str, Dataset]]:
        """Each dataset of the condition once, as ``(uri, dataset)``."""
        raise NotImplementedError

    def iter_dataset_aliases(self) -> Iterator[DatasetAlias]:
        """Each alias of the condition once (none, unless the condition names one)."""
        return iter(())

    def as_json(self) -> dict[str, Any]:
        """The JSON form :func:`condition_from_json` reads back."""
        raise NotImplementedError


class Dataset(BaseDataset):
    """A named piece of data (``Dataset("s3://bucket/key")``); equal datasets have equal URIs."""

    __slots__ = ("uri", "extra")

    def __init__(self, uri: str, extra: Mapping[str, Any] | None = None) -> None:
        self.uri = check_uri(uri)
        self.extra = dict(extra) if extra else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return self.uri == other.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __repr__(self) -> str:
        return f"Dataset(uri={self.uri!r}, extra={self.extra!r})"

    def evaluate(self, updated: Collection[str]) -> bool:
        return self.uri in updated

    def iter_datasets(self) -> Iterator[tuple[str, Dataset]]:
        yield self.uri, self

    def as_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "extra": self.extra}


def check_alias_name(name: object) -> str:
    """``name`` if it may name a dataset alias (as a URI: text, not blank, ASCII, not too long)."""
    if not isinstance(name, str):
        raise TypeError(f"a DatasetAlias name must be a string, not {type(name).__name__}")
    if not name or name.isspace():
        raise ValueError("DatasetAlias name cannot be empty")
    if not name.isascii():
        raise ValueError(f"DatasetAlias name must only consist of ASCII characters: {name!r}")
    if len(name) > MAX_URI_LENGTH:
        raise ValueError(f"DatasetAlias name is longer than {MAX_URI_LENGTH} characters: {name[:60]!r}...")
    return name


class DatasetAlias(BaseDataset):
    """A name for datasets a task decides on while it runs (Airflow 2.10): listed in ``outlets``, the
    task adds real datasets to it (``outlet_events[DatasetAlias("a")].add(Dataset(...))``); in a
    ``schedule``, it stands for the datasets it has resolved to so far, and holds for none until then."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = check_alias_name(name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DatasetAlias):
            return NotImplemented
        return self.name == other.name

    def __hash__(self) -> int:
        return hash((DatasetAlias, self.name))

    def __repr__(self) -> str:
        return f"DatasetAlias(name={self.name!r})"

    def evaluate(self, updated: Collection[str]) -> bool:
        return False  # unresolved; resolve_aliases() replaces a resolved alias by its datasets

    def iter_datasets(self) -> Iterator[tuple[str, Dataset]]:
        return iter(())

    def iter_dataset_aliases(self) -> Iterator[DatasetAlias]:
        yield self

    def as_json(self) -> dict[str, Any]:
        return {"alias": self.name}


class _DatasetBooleanCondition(BaseDataset):
    """Several conditions combined; the subclass says how (all, any)."""

    __slots__ = ("objects",)
    _kind = ""
    _combine = staticmethod(all)

    def __init__(self, *objects: BaseDataset) -> None:
        if not objects:
            raise TypeError(f"{type(self).__name__} needs at least one dataset")
        for obj in objects:
            if not isinstance(obj, BaseDataset):
                raise TypeError(f"{type(self).__name__} takes datasets (or their conditions), not {obj!r}")
        self.objects = tuple(objects)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _DatasetBooleanCondition)
        return self.objects == other.objects

    def __hash__(self) -> int:
        return hash((type(self), self.objects))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"

    def evaluate(self, updated: Collection[str]) -> bool:
        return self._combine(obj.evaluate(updated) for obj in self.objects)

    def iter_datasets(self) -> Iterator[tuple[str, Dataset]]:
        seen: set[str] = set()
        for obj in self.objects:
            for uri, dataset in obj.iter_datasets():
                if uri not in seen:
                    seen.add(uri)
                    yield uri, dataset

    def iter_dataset_aliases(self) -> Iterator[DatasetAlias]:
        seen: set[str] = set()
        for obj in self.objects:
            for alias in obj.iter_dataset_aliases():
                if alias.name not in seen:
                    seen.add(alias.name)
                    yield alias

    def as_json(self) -> dict[str, Any]:
        return {self._kind: [obj.as_json() for obj in self.objects]}


class DatasetAll(_DatasetBooleanCondition):
    """Holds once every one of its conditions holds (``a & b``; a list schedule ``[a, b]``)."""

    __slots__ = ()
    _kind = "all"
    _combine = staticmethod(all)

    def __and__(self, other: BaseDataset) -> DatasetAll:
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAll(*self.objects, other)  # a & b & c: one level, as Airflow


class DatasetAny(_DatasetBooleanCondition):
    """Holds once any one of its conditions holds (``a | b``)."""

    __slots__ = ()
    _kind = "any"
    _combine = staticmethod(any)

    def __or__(self, other: BaseDataset) -> DatasetAny:
        if not isinstance(other, BaseDataset):
            return NotImplemented
        return DatasetAny(*self.objects, other)


def condition_of(schedule: object) -> BaseDataset | None:
    """The condition a DAG's ``schedule`` of datasets means (a list: all of them); None otherwise."""
    if isinstance(schedule, BaseDataset):
        return schedule
    if isinstance(schedule, (list, tuple, set, frozenset)) and schedule:
        items = list(schedule)
        if all(isinstance(item, BaseDataset) for item in items):
            return DatasetAll(*items)
        raise DagDefinitionError(f"a list schedule must hold Dataset objects only (flowctl.datasets.Dataset, or "
                                 f"DatasetAlias), got {schedule!r}")
    return None


def condition_from_json(data: Mapping[str, Any]) -> BaseDataset:
    """The condition :meth:`BaseDataset.as_json` wrote."""
    if "uri" in data:
        return Dataset(data["uri"], data.get("extra"))
    if "alias" in data:
        return DatasetAlias(data["alias"])
    if "all" in data:
        return DatasetAll(*(condition_from_json(item) for item in data["all"]))
    if "any" in data:
        return DatasetAny(*(condition_from_json(item) for item in data["any"]))
    raise DagDefinitionError(f"not a serialized dataset condition: {data!r}")


def resolve_aliases(condition: BaseDataset, resolved: Mapping[str, Collection[str]]) -> BaseDataset:
    """``condition`` with each alias that ``resolved`` (alias name -> URIs) gives datasets for replaced
    by any of them (Airflow 2.10); an alias with none stays, and holds for no update."""
    if isinstance(condition, DatasetAlias):
        uris = sorted(resolved.get(condition.name, ()))
        return DatasetAny(*(Dataset(uri) for uri in uris)) if uris else condition
    if isinstance(condition, _DatasetBooleanCondition):
        return type(condition)(*(resolve_aliases(obj, resolved) for obj in condition.objects))
    return condition


def outlet_datasets(outlets: Iterable[Any]) -> list[Dataset]:
    """The datasets among a task's ``outlets`` (other objects there are lineage only), each once."""
    found: dict[str, Dataset] = {}
    for outlet in outlets or ():
        if isinstance(outlet, Dataset):
            found.setdefault(outlet.uri, outlet)
    return list(found.values())


def outlet_aliases(outlets: Iterable[Any]) -> list[DatasetAlias]:
    """The dataset aliases among a task's ``outlets``, each once."""
    found: dict[str, DatasetAlias] = {}
    for outlet in outlets or ():
        if isinstance(outlet, DatasetAlias):
            found.setdefault(outlet.name, outlet)
    return list(found.values())


@dataclass(frozen=True, slots=True)
class DatasetEvent:
    """One recorded update of a dataset (Airflow's ``DatasetEvent``, as a task's context shows it)."""

    id: int
    dataset_id: int
    uri: str
    extra: Mapping[str, Any] | None
    source_dag_id: str | None
    source_task_id: str | None
    source_run_id: str | None
    source_map_index: int | None
    timestamp: datetime
    source_alias_names: tuple[str, ...] = ()  # the dataset aliases a task recorded it through, by name

    @property
    def dataset(self) -> Dataset:
        """The dataset updated (``event.dataset.uri``, as in Airflow)."""
        return Dataset(self.uri)

    @property
    def source_aliases(self) -> list[DatasetAlias]:
        """The dataset aliases the event was recorded through (Airflow 2.10), by name; none for an
        outlet's own event."""
        return [DatasetAlias(name) for name in self.source_alias_names]


class TriggeringDatasetEvents(Mapping[str, "list[DatasetEvent]"]):
    """A run's ``triggering_dataset_events`` (dataset URI -> its events), read on first use:
    most tasks never look, and a run that no dataset triggered has none."""

    __slots__ = ("_load", "_events")

    def __init__(self, load: Callable[[], Mapping[str, list[DatasetEvent]]]) -> None:
        self._load = load
        self._events: Mapping[str, list[DatasetEvent]] | None = None

    def _all(self) -> Mapping[str, list[DatasetEvent]]:
        if self._events is None:
            self._events = dict(self._load())
        return self._events

    def __getitem__(self, uri: str) -> list[DatasetEvent]:
        return self._all()[uri]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"TriggeringDatasetEvents({dict(self._all())!r})"
