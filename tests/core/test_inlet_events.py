"""inlet_events: a task reads its inlets' dataset events, oldest first, each access one read, only when used."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowctl.core.datasets import Dataset, DatasetAlias, DatasetEvent
from flowctl.core.errors import InletNotFound
from flowctl.core.inlet_events import DatasetEventSequence, InletEventsAccessors

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
A, B, ALIAS = Dataset("s3://lake/a"), Dataset("s3://lake/b"), DatasetAlias("orders")


class History:
    """A reader over a list of events, as ``Store.list_dataset_events`` reads the table; it records its calls."""

    def __init__(self, count: int) -> None:
        self.events = [DatasetEvent(i, 1, A.uri, {"n": i}, "p", "t", f"r{i}", -1, T0 + timedelta(minutes=i))
                       for i in range(count)]
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, limit: int, offset: int, *, newest_first: bool, **where: str) -> tuple[list[DatasetEvent], int]:
        self.calls.append((limit, offset, newest_first, where))
        ordered = self.events[::-1] if newest_first else self.events
        return ordered[offset:offset + limit], len(self.events)


def test_nothing_is_read_until_the_task_looks() -> None:
    history = History(3)
    accessors = InletEventsAccessors([A, ALIAS, "lineage only"], history)
    events = accessors[A]
    assert history.calls == [] and repr(events) == "DatasetEventSequence(uri='s3://lake/a')"


def test_the_newest_event_is_one_read_of_one_row() -> None:
    history = History(5)
    events = InletEventsAccessors([A], history)[A]
    assert events[-1].extra == {"n": 4} and events[-2].source_run_id == "r3"
    assert history.calls == [(1, 0, True, {"uri": "s3://lake/a"}), (1, 1, True, {"uri": "s3://lake/a"})]


def test_indices_slices_len_and_iteration_read_oldest_first() -> None:
    history = History(5)
    events = InletEventsAccessors([A], history)["s3://lake/a"]
    assert len(events) == 5 and events[0].id == 0 and events[4].id == 4
    assert [e.id for e in events[1:3]] == [1, 2] and [e.id for e in events[:2]] == [0, 1]
    assert [e.id for e in events[-2:]] == [3, 4] and [e.id for e in events[::2]] == [0, 2, 4]
    assert [e.id for e in events[3:1]] == [] and [e.id for e in events[::-1]] == [4, 3, 2, 1, 0]
    assert [e.id for e in events] == [0, 1, 2, 3, 4] and events[-1] in events
    with pytest.raises(IndexError, match="out of range"):
        events[5]
    with pytest.raises(IndexError, match="out of range"):
        events[-6]
    with pytest.raises(TypeError, match="integers or slices"):
        events["last"]  # type: ignore[call-overload]


def test_iteration_reads_a_long_history_in_pages() -> None:
    history = History(2500)
    assert sum(1 for _ in DatasetEventSequence(history, uri=A.uri)) == 2500
    assert [call[:2] for call in history.calls] == [(1000, 0), (1000, 1000), (1000, 2000)]


def test_an_alias_reads_the_events_recorded_through_it_and_an_index_names_an_inlet() -> None:
    history = History(1)
    accessors = InletEventsAccessors([A, ALIAS, "lineage only"], history)
    accessors[ALIAS][-1]
    accessors[1][-1]
    accessors[0][-1]
    assert [call[3] for call in history.calls] == [{"alias": "orders"}, {"alias": "orders"}, {"uri": "s3://lake/a"}]
    with pytest.raises(IndexError, match="neither a Dataset nor a DatasetAlias"):
        accessors[2]
    with pytest.raises(IndexError):
        accessors[3]


def test_a_dataset_or_alias_that_is_not_an_inlet_is_a_key_error_that_says_so() -> None:
    accessors = InletEventsAccessors([A, ALIAS], History(1))
    with pytest.raises(KeyError) as error:
        accessors[B]
    assert isinstance(error.value, InletNotFound)
    assert str(error.value) == ("dataset 's3://lake/b' is not among the task's inlets; inlet_events reads the events "
                                "of the datasets listed in inlets= (add Dataset('s3://lake/b') there)")
    with pytest.raises(InletNotFound, match="DatasetAlias"):
        accessors[DatasetAlias("users")]
    with pytest.raises(InletNotFound):
        InletEventsAccessors(None, History(1))["s3://lake/a"]
    with pytest.raises(TypeError, match="keyed by a Dataset"):
        accessors[1.5]


def test_the_accessors_are_a_mapping_over_the_datasets_and_aliases_in_inlets() -> None:
    accessors = InletEventsAccessors([A, "lineage only", ALIAS, A], History(0))
    assert list(accessors) == [A, ALIAS] and len(accessors) == 2
    assert A in accessors and "s3://lake/a" in accessors and ALIAS in accessors and B not in accessors
    assert len(accessors[A]) == 0 and list(accessors[A]) == [] and accessors[A][:3] == []
