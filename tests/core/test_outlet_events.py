"""outlet_events and Metadata: what a task says about the dataset events its success records."""
from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from flowctl.core.datasets import Dataset
from flowctl.core.errors import DatasetExtraError, NotSupportedError
from flowctl.core.outlet_events import (
    Metadata,
    OutletEventAccessors,
    call_collecting_metadata,
    checked_extra,
    outlet_extras,
)

A, B = Dataset("s3://lake/a"), Dataset("s3://lake/b")


def test_an_accessor_is_made_on_first_lookup_by_dataset_or_uri_and_is_the_same_for_both() -> None:
    events = OutletEventAccessors()
    assert len(events) == 0 and A not in events
    events[A].extra = {"rows": 3}
    events["s3://lake/a"].extra["day"] = "2024-01-01"
    assert events[A].extra == {"rows": 3, "day": "2024-01-01"} and events[A].raw_key == A
    assert list(events) == ["s3://lake/a"] and A in events and "s3://lake/a" in events and B not in events


def test_outlet_events_are_keyed_by_a_dataset_or_its_uri_only() -> None:
    with pytest.raises(TypeError, match="keyed by a Dataset or its URI"):
        OutletEventAccessors()[42]  # type: ignore[index]
    assert 42 not in OutletEventAccessors()


def test_dataset_aliases_are_not_supported_and_say_the_flowctl_way() -> None:
    with pytest.raises(NotSupportedError, match="Dataset objects"):
        OutletEventAccessors()[A].add(B)
    with pytest.raises(NotSupportedError, match="aliases"):
        Metadata(A, {}, alias="orders")


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
