"""outlet_events and Metadata: what a task says about the dataset events its success records."""
from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from flowctl.core.datasets import Dataset, DatasetAlias
from flowctl.core.errors import DatasetExtraError
from flowctl.core.outlet_events import (
    DatasetAliasEvent,
    Metadata,
    OutletEventAccessors,
    alias_events,
    call_collecting_metadata,
    checked_extra,
    outlet_extras,
)

A, B = Dataset("s3://lake/a"), Dataset("s3://lake/b")
ALIAS = DatasetAlias("orders")


def test_an_accessor_is_made_on_first_lookup_by_dataset_or_uri_and_is_the_same_for_both() -> None:
    events = OutletEventAccessors()
    assert len(events) == 0 and A not in events
    events[A].extra = {"rows": 3}
    events["s3://lake/a"].extra["day"] = "2024-01-01"
    assert events[A].extra == {"rows": 3, "day": "2024-01-01"} and events[A].raw_key == A
    assert list(events) == ["s3://lake/a"] and A in events and "s3://lake/a" in events and B not in events


def test_outlet_events_are_keyed_by_a_dataset_its_uri_or_an_alias_only() -> None:
    with pytest.raises(TypeError, match="keyed by a Dataset or its URI"):
        OutletEventAccessors()[42]  # type: ignore[index]
    assert 42 not in OutletEventAccessors()


def test_add_names_datasets_behind_an_alias_by_dataset_or_uri_with_their_extras() -> None:
    events = OutletEventAccessors()
    events[ALIAS].add(A, extra={"rows": 1})
    events["orders"].add("s3://lake/b")  # the alias by its name, as Airflow
    assert events[ALIAS] is events["orders"] and ALIAS in events
    assert events[ALIAS].dataset_alias_events == [DatasetAliasEvent("orders", "s3://lake/a", {"rows": 1}),
                                                  DatasetAliasEvent("orders", "s3://lake/b", {})]


def test_add_on_a_datasets_own_accessor_or_of_something_else_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"outlet_events\[DatasetAlias\(name\)\]"):
        OutletEventAccessors()[A].add(B)
    with pytest.raises(TypeError, match="must be a string"):
        OutletEventAccessors()[ALIAS].add(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'airflow' is reserved"):
        OutletEventAccessors()[ALIAS].add("airflow://x")
    with pytest.raises(TypeError, match="must be a dict"):
        OutletEventAccessors()[ALIAS].add(A, extra=[1])  # type: ignore[arg-type]


def test_alias_events_are_one_per_dataset_and_extra_with_every_alias_that_added_it() -> None:
    events = OutletEventAccessors()
    assert alias_events(events, ["orders"]) is None  # nothing looked up: nothing to send
    events[ALIAS].add(A, extra={"rows": 1})
    events[ALIAS].add(A, extra={"rows": 1})  # the same again: one event
    events[ALIAS].add(A, extra={"rows": 2})  # another extra: another event
    events[DatasetAlias("mirror")].add(A, extra={"rows": 1})
    events[DatasetAlias("not-an-outlet")].add(B)
    assert alias_events(events, ["orders", "mirror"]) == [
        {"uri": "s3://lake/a", "extra": {"rows": 1}, "aliases": ["orders", "mirror"]},
        {"uri": "s3://lake/a", "extra": {"rows": 2}, "aliases": ["orders"]}]
    assert alias_events(events, ["unused"]) is None and alias_events({}, ["orders"]) is None


def test_an_added_datasets_extra_that_is_not_json_is_reported_for_its_dataset() -> None:
    events = OutletEventAccessors()
    events[ALIAS].add(B, extra={"when": object()})
    with pytest.raises(DatasetExtraError, match="s3://lake/b"):
        alias_events(events, ["orders"])


def test_metadata_with_an_alias_sets_the_extra_and_adds_the_dataset_to_the_alias() -> None:
    def produce() -> Iterator[Metadata]:
        yield Metadata(A, {"rows": 4}, alias=ALIAS)
        yield Metadata("s3://lake/b", {}, alias="orders")

    events = OutletEventAccessors()
    call_collecting_metadata(produce, [], {}, events)
    assert events[A].extra == {"rows": 4}
    assert [(e.dest_dataset_uri, e.extra) for e in events[ALIAS].dataset_alias_events] == [
        ("s3://lake/a", {"rows": 4}), ("s3://lake/b", {})]
    assert Metadata(A, {}, alias=ALIAS) == Metadata(A, {}, alias="orders") != Metadata(A, {})
    with pytest.raises(TypeError, match="DatasetAlias or its name"):
        Metadata(A, {}, alias=A)  # type: ignore[arg-type]


def test_metadata_names_its_dataset_by_uri_and_copies_its_extra() -> None:
    extra = {"rows": 1}
    metadata = Metadata(A, extra)
    extra["rows"] = 2
    assert (metadata.uri, metadata.extra) == ("s3://lake/a", {"rows": 1})
    assert Metadata("s3://lake/a", {"rows": 1}) == metadata
    with pytest.raises(TypeError, match="must be a dict"):
        Metadata(A, [("rows", 1)])  # type: ignore[arg-type]


def test_a_plain_callable_is_called_and_its_value_returned() -> None:
    events = OutletEventAccessors()
    assert call_collecting_metadata(lambda x, y=0: x + y, [1], {"y": 2}, events) == 3
    assert len(events) == 0


def test_a_generators_metadata_become_outlet_extras_and_its_return_value_is_the_result() -> None:
    def produce(n: int) -> Iterator[object]:
        yield Metadata(A, {"rows": n})
        yield "something else"
        yield Metadata(A, {"day": "2024-01-01"})
        yield Metadata(B, {"rows": 0})
        return n * 2

    events, others = OutletEventAccessors(), []
    assert call_collecting_metadata(produce, [5], {}, events, others.append) == 10
    assert events[A].extra == {"rows": 5, "day": "2024-01-01"} and events[B].extra == {"rows": 0}
    assert others == ["something else"]


def test_a_generator_without_a_return_value_returns_none() -> None:
    def produce() -> Iterator[Metadata]:
        yield Metadata(A, {"k": "v"})

    assert call_collecting_metadata(produce, [], {}, OutletEventAccessors()) is None


def test_outlet_extras_are_those_of_the_outlets_that_were_set() -> None:
    events = OutletEventAccessors()
    assert outlet_extras(events, [A.uri]) is None  # nothing looked up: nothing to send
    events[B].extra  # looked up, left empty
    assert outlet_extras(events, [A.uri, B.uri]) is None
    events[A].extra = {"rows": (1, 2)}
    events["s3://not/an/outlet"].extra = {"x": 1}
    assert outlet_extras(events, [A.uri, B.uri]) == {"s3://lake/a": {"rows": [1, 2]}}  # as JSON stores it
    assert outlet_extras({}, [A.uri]) is None


@pytest.mark.parametrize(("extra", "message"), [
    ({"when": object()}, "JSON-serializable"),
    ({"nan": math.nan}, "JSON-serializable"),
    (["not", "a", "dict"], "must be a dict"),
    ({"big": "x" * 70_000}, "at most 65536"),
])
def test_an_extra_that_is_not_a_small_json_object_is_a_clear_error(extra: object, message: str) -> None:
    with pytest.raises(DatasetExtraError, match=message) as error:
        checked_extra("s3://lake/a", extra)
    assert "s3://lake/a" in str(error.value)


def test_a_bad_extra_set_through_outlet_events_is_reported_for_its_dataset() -> None:
    events = OutletEventAccessors()
    events[A].extra = {"when": {1, 2}}
    with pytest.raises(DatasetExtraError, match="s3://lake/a"):
        outlet_extras(events, [A.uri])


def test_metadata_is_importable_from_the_airflow_path() -> None:
    from flowctl.datasets.metadata import Metadata as Exported

    assert Exported is Metadata
