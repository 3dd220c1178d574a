"""Datasets: URIs as Airflow checks them, conditions with & and |, their JSON form, dataset schedules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flowctl.core.datasets import (
    Dataset,
    DatasetAlias,
    DatasetAll,
    DatasetAny,
    DatasetEvent,
    TriggeringDatasetEvents,
    condition_from_json,
    outlet_aliases,
    outlet_datasets,
    resolve_aliases,
)
from flowctl.core.errors import DagDefinitionError
from flowctl.core.timetables import (
    CronTriggerTimetable,
    TimeRestriction,
    timetable_from_dict,
    timetable_from_schedule,
)
from flowctl.core.timetables.datasets import (
    DatasetOrTimeSchedule,
    DatasetTriggeredTimetable,
    dataset_condition_of,
    dataset_run_interval,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
A, B, C = Dataset("s3://lake/a"), Dataset("s3://lake/b"), Dataset("s3://lake/c")


@pytest.mark.parametrize(("uri", "message"), [
    ("", "cannot be empty"),
    ("   ", "cannot be empty"),
    ("s3://lake/café", "ASCII"),
    ("airflow://dag/x", "'airflow' is reserved"),
    ("AIRFLOW://dag/x", "'airflow' is reserved"),
    ("s3://" + "x" * 1500, "longer than 1500"),
])
def test_a_dataset_uri_is_checked_as_airflow_checks_it(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Dataset(uri)


def test_a_dataset_uri_must_be_text() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        Dataset(42)  # type: ignore[arg-type]


def test_datasets_with_the_same_uri_are_equal_whatever_their_extra() -> None:
    assert Dataset("s3://x", extra={"a": 1}) == Dataset("s3://x") and len({Dataset("s3://x"), Dataset("s3://x")}) == 1
    assert Dataset("file:///data/out.csv").uri == "file:///data/out.csv" and Dataset("plain_name").uri == "plain_name"
    assert Dataset("s3://x", extra={"a": 1}).extra == {"a": 1}


def test_and_and_or_build_all_and_any_conditions() -> None:
    assert A & B == DatasetAll(A, B) and A | B == DatasetAny(A, B)
    assert A & B & C == DatasetAll(A, B, C) and A | B | C == DatasetAny(A, B, C)
    assert (A | B) & C == DatasetAll(DatasetAny(A, B), C)


def test_all_holds_once_every_dataset_was_updated_and_any_once_one_was() -> None:
    assert not (A & B).evaluate({"s3://lake/a"}) and (A & B).evaluate({"s3://lake/a", "s3://lake/b"})
    assert (A | B).evaluate({"s3://lake/b"}) and not (A | B).evaluate({"s3://lake/c"})
    nested = (A | B) & C
    assert not nested.evaluate({"s3://lake/a"}) and nested.evaluate({"s3://lake/a", "s3://lake/c"})


def test_a_condition_lists_each_dataset_once() -> None:
    assert [uri for uri, _ in ((A | B) & (A | C)).iter_datasets()] == ["s3://lake/a", "s3://lake/b", "s3://lake/c"]


def test_a_condition_needs_datasets() -> None:
    with pytest.raises(TypeError, match="at least one"):
        DatasetAll()
    with pytest.raises(TypeError, match="takes datasets"):
        DatasetAny(A, "s3://lake/b")  # type: ignore[arg-type]


def test_a_condition_survives_its_json_form() -> None:
    condition = (A | Dataset("s3://lake/b", extra={"k": "v"})) & C
    again = condition_from_json(condition.as_json())
    assert again == condition and again.objects[0].objects[1].extra == {"k": "v"}  # type: ignore[attr-defined]
    with pytest.raises(DagDefinitionError, match="not a serialized dataset condition"):
        condition_from_json({"nothing": []})


def test_a_list_schedule_means_all_of_its_datasets() -> None:
    timetable = timetable_from_schedule([A, B])
    assert isinstance(timetable, DatasetTriggeredTimetable) and timetable.summary == "Dataset"
    assert timetable.dataset_condition == A & B
    assert timetable_from_schedule(A | B).dataset_condition == A | B  # type: ignore[attr-defined]
    assert timetable_from_schedule(A).dataset_condition == A  # type: ignore[attr-defined]


def test_a_dataset_schedule_makes_no_runs_by_time() -> None:
    timetable = timetable_from_schedule([A])
    assert timetable.next_dagrun_info(last_automated_data_interval=None,
                                      restriction=TimeRestriction(earliest=T0, latest=None, catchup=True),
                                      now=T0 + timedelta(days=3)) is None


def test_dataset_timetables_survive_serialization_with_their_condition() -> None:
    triggered = DatasetTriggeredTimetable(A | B)
    assert timetable_from_dict(triggered.serialize()) == triggered
    either = DatasetOrTimeSchedule(timetable=CronTriggerTimetable("0 1 * * *", timezone="UTC"), datasets=[A, B])
    again = timetable_from_dict(either.serialize())
    assert again == either and dataset_condition_of(again) == A & B
    assert dataset_condition_of(timetable_from_schedule("@daily")) is None


def test_datasets_or_time_runs_on_the_time_schedule_too() -> None:
    cron = CronTriggerTimetable("0 1 * * *", timezone="UTC")
    either = DatasetOrTimeSchedule(timetable=cron, datasets=A)
    restriction = TimeRestriction(earliest=T0, latest=None, catchup=True)
    info = either.next_dagrun_info(last_automated_data_interval=None, restriction=restriction, now=T0)
    assert info == cron.next_dagrun_info(last_automated_data_interval=None, restriction=restriction, now=T0)
    assert info is not None and either.summary == "0 1 * * *"
    with pytest.raises(DagDefinitionError, match="needs a Timetable"):
        DatasetOrTimeSchedule(timetable="0 1 * * *", datasets=A)  # type: ignore[arg-type]
    with pytest.raises(DagDefinitionError, match="datasets must be"):
        DatasetOrTimeSchedule(timetable=cron, datasets=[])


def test_a_dataset_runs_interval_spans_its_events() -> None:
    spans = [(T0 + timedelta(hours=2), T0 + timedelta(hours=3)), (T0, T0 + timedelta(hours=1))]
    interval = dataset_run_interval(T0 + timedelta(days=1), spans)
    assert (interval.start, interval.end) == (T0, T0 + timedelta(hours=3))
    empty = dataset_run_interval(T0, [])
    assert (empty.start, empty.end) == (T0, T0)


def test_a_tasks_outlets_are_its_datasets_once_each() -> None:
    assert outlet_datasets([A, "lineage only", A, B]) == [A, B]
    assert outlet_datasets(None) == []  # type: ignore[arg-type]


def test_triggering_dataset_events_are_read_once_on_first_use() -> None:
    calls: list[int] = []
    event = DatasetEvent(1, 1, "s3://lake/a", None, "p", "make", "r1", -1, T0)

    def load() -> dict[str, list[DatasetEvent]]:
        calls.append(1)
        return {"s3://lake/a": [event]}

    events = TriggeringDatasetEvents(load)
    assert calls == []
    assert events["s3://lake/a"][0].source_task_id == "make" and list(events) == ["s3://lake/a"] and len(events) == 1
    assert calls == [1] and events["s3://lake/a"][0].dataset == A


ALIAS = DatasetAlias("orders")


@pytest.mark.parametrize(("name", "error", "message"), [
    ("", ValueError, "cannot be empty"), ("  ", ValueError, "cannot be empty"),
    ("café", ValueError, "ASCII"), ("x" * 1501, ValueError, "longer than 1500"), (7, TypeError, "must be a string"),
])
def test_a_dataset_alias_name_is_checked(name: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        DatasetAlias(name)  # type: ignore[arg-type]


def test_aliases_with_the_same_name_are_equal_and_never_equal_a_dataset() -> None:
    assert DatasetAlias("orders") == ALIAS and len({ALIAS, DatasetAlias("orders")}) == 1
    assert DatasetAlias("s3://lake/a") != A and repr(ALIAS) == "DatasetAlias(name='orders')"


def test_an_unresolved_alias_holds_for_no_update_and_names_no_dataset() -> None:
    assert not ALIAS.evaluate({"s3://lake/a", "orders"}) and list(ALIAS.iter_datasets()) == []
    assert (ALIAS | A).evaluate({"s3://lake/a"}) and not (ALIAS & A).evaluate({"s3://lake/a"})


def test_a_condition_lists_its_aliases_once_and_its_json_keeps_them() -> None:
    condition = (ALIAS | A) & (DatasetAlias("users") | ALIAS)
    assert [a.name for a in condition.iter_dataset_aliases()] == ["orders", "users"]
    assert list(A.iter_dataset_aliases()) == []
    assert condition_from_json(condition.as_json()) == condition and ALIAS.as_json() == {"alias": "orders"}


def test_resolving_replaces_each_alias_by_any_of_its_datasets_and_leaves_an_unresolved_one() -> None:
    condition = ALIAS & (DatasetAlias("users") | C)
    resolved = resolve_aliases(condition, {"orders": ["s3://lake/b", "s3://lake/a"]})
    assert resolved == DatasetAll(DatasetAny(A, B), DatasetAny(DatasetAlias("users"), C))
    assert resolved.evaluate({"s3://lake/b", "s3://lake/c"}) and not resolved.evaluate({"s3://lake/a"})
    assert resolve_aliases(ALIAS, {}) == ALIAS and resolve_aliases(A, {"orders": ["x"]}) == A


def test_an_alias_schedule_alone_or_in_a_list_or_condition_is_a_dataset_schedule() -> None:
    assert timetable_from_schedule(ALIAS).dataset_condition == ALIAS  # type: ignore[attr-defined]
    assert timetable_from_schedule([ALIAS, A]).dataset_condition == ALIAS & A  # type: ignore[attr-defined]
    triggered = DatasetTriggeredTimetable(ALIAS | B)
    assert timetable_from_dict(triggered.serialize()) == triggered


def test_a_tasks_outlet_aliases_are_its_aliases_once_each() -> None:
    assert outlet_aliases([A, ALIAS, "lineage", DatasetAlias("orders"), DatasetAlias("b")]) == [
        ALIAS, DatasetAlias("b")]
    assert outlet_datasets([A, ALIAS]) == [A]
