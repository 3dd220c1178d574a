"""XCom values: the tagged JSON form of datetimes, dates, times and timedeltas, and its escape."""
from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pendulum
import pytest

from flowctl.core.errors import FlowctlError
from flowctl.core.planner import map_length
from flowctl.core.xcom_values import TYPE_KEY, decode_xcom_value, encode_xcom_value

UTC = timezone.utc
PARIS = pendulum.timezone("Europe/Paris")


def stored(value: Any) -> Any:
    """What a pushed value becomes after a trip through the database (JSON text and back)."""
    return json.loads(json.dumps(encode_xcom_value(value)))


def round_trip(value: Any) -> Any:
    return decode_xcom_value(stored(value))


@pytest.mark.parametrize("value", [
    datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=UTC),
    datetime(2024, 3, 1, 12, 30, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2024, 3, 1, 12, 30),
    date(2024, 2, 29),
    time(23, 59, 59, 999999),
    time(8, 15, tzinfo=timezone(timedelta(hours=2))),
    timedelta(days=3, seconds=7, microseconds=11),
    timedelta(days=-2, hours=5),
    timedelta(0),
])
def test_each_temporal_type_comes_back_equal_and_of_the_same_type(value: Any) -> None:
    back = round_trip(value)
    assert back == value and type(back) is type(value)


def test_an_aware_datetime_stays_aware_at_the_same_instant() -> None:
    value = datetime(2024, 7, 1, 9, 0, tzinfo=PARIS)
    back = round_trip(value)
    assert back.tzinfo is not None and back.utcoffset() == timedelta(hours=2)
    assert back == value and back.timestamp() == value.timestamp()


def test_a_naive_datetime_stays_naive() -> None:
    back = round_trip(datetime(2024, 7, 1, 9, 0))
    assert back.tzinfo is None and back == datetime(2024, 7, 1, 9, 0)


def test_pendulum_values_come_back_as_equal_standard_values() -> None:
    start = pendulum.datetime(2024, 1, 2, 3, 4, 5, tz="Europe/Paris")
    back = round_trip({"start": start, "day": pendulum.date(2024, 1, 2), "gap": pendulum.duration(hours=3)})
    assert back == {"start": start, "day": date(2024, 1, 2), "gap": timedelta(hours=3)}
    assert isinstance(back["start"], datetime) and back["start"].utcoffset() == timedelta(hours=1)
    assert type(back["day"]) is date  # a pendulum Date is a date, not a datetime


def test_temporal_values_deep_inside_lists_and_dicts_come_back_in_place() -> None:
    value = {"window": [date(2024, 1, 1), date(2024, 1, 2)], "meta": {"at": datetime(2024, 1, 1, tzinfo=UTC),
                                                                       "rows": [1, "two", None, 3.5, True]},
             "nested": [[{"every": timedelta(minutes=5)}]]}
    assert round_trip(value) == value


def test_a_tuple_comes_back_as_a_tuple_at_any_depth_as_in_airflow_2_6() -> None:
    back = round_trip((date(2024, 1, 1), 2))
    assert back == (date(2024, 1, 1), 2) and type(back) is tuple
    nested = round_trip({"pair": (1, (2, [3, (4,)])), "list": [(), 5]})
    assert nested == {"pair": (1, (2, [3, (4,)])), "list": [(), 5]}
    assert type(nested["pair"][1]) is tuple and type(nested["pair"][1][1]) is list
    assert type(nested["pair"][1][1][1]) is tuple and type(nested["list"][0]) is tuple


def test_a_tuple_is_tagged_with_its_items_encoded_in_turn_and_a_stored_list_stays_a_list() -> None:
    assert encode_xcom_value((1, 2)) == {TYPE_KEY: "tuple", "value": [1, 2]}
    assert encode_xcom_value((date(2024, 1, 1),)) == {TYPE_KEY: "tuple", "value": [{TYPE_KEY: "date",
                                                                                   "value": "2024-01-01"}]}
    old_row = json.loads(json.dumps((1, 2)))  # a tuple pushed before the tag existed
    assert decode_xcom_value(old_row) == [1, 2] and type(decode_xcom_value(old_row)) is list


def test_a_mapped_task_over_a_returned_tuple_gets_one_instance_per_item() -> None:
    spec = {"expand_kind": "expand", "expand": {"x": {"__type": "xcomarg", "__var": {"task_id": "up"}}}}
    assert map_length(spec, {("up", "return_value"): stored(("a", "b", "c"))}) == 3
    assert map_length(spec, {("up", "return_value"): stored(())}) == 0


def test_the_tagged_form_is_a_two_key_dict_naming_the_type_with_readable_text() -> None:
    assert encode_xcom_value(datetime(2024, 1, 1, tzinfo=UTC)) == {
        TYPE_KEY: "datetime", "value": "2024-01-01T00:00:00+00:00"}
    assert encode_xcom_value(date(2024, 1, 1)) == {TYPE_KEY: "date", "value": "2024-01-01"}
    assert encode_xcom_value(time(6, 30)) == {TYPE_KEY: "time", "value": "06:30:00"}
    assert encode_xcom_value(timedelta(minutes=90)) == {TYPE_KEY: "timedelta", "value": 5400}
    assert encode_xcom_value(timedelta(microseconds=1500)) == {TYPE_KEY: "timedelta", "value": 0.0015}


@pytest.mark.parametrize("value", [
    None, 0, 3.5, True, "text", [], {}, [1, [2, {"a": None}]], {"rows": [1, 2], "ok": True},
    {"__type": "xcomarg", "value": 1}, {"type": "datetime", "value": "2024-01-01"}, "2024-01-01T00:00:00",
])
def test_a_value_without_temporal_types_is_stored_exactly_as_it_was_the_same_object(value: Any) -> None:
    assert encode_xcom_value(value) is value
    assert decode_xcom_value(value) is value


def test_plain_json_stored_before_this_form_existed_reads_back_unchanged() -> None:
    old_rows = [{"rows": [1, 2], "ok": True}, [[1], [2], [3]], "2024-01-01", 42, None]
    assert [decode_xcom_value(json.loads(json.dumps(row))) for row in old_rows] == old_rows


@pytest.mark.parametrize("value", [
    {TYPE_KEY: "datetime", "value": "2024-01-01T00:00:00+00:00"},
    {TYPE_KEY: "mine"},
    {TYPE_KEY: "date", "value": "2024-01-01", "extra": 1},
    {TYPE_KEY + "~": "datetime", "value": "2024-01-01"},
    {TYPE_KEY: [1], TYPE_KEY + "~": {TYPE_KEY: "x"}, TYPE_KEY + "~~": 3},
    [{TYPE_KEY: "timedelta", "value": 5, "when": datetime(2024, 1, 1, tzinfo=UTC)}],
])
def test_a_users_dict_that_uses_the_type_key_round_trips_unchanged(value: Any) -> None:
    back = round_trip(value)
    assert back == value
    assert json.dumps(back, default=repr, sort_keys=True) == json.dumps(value, default=repr, sort_keys=True)


def test_escaping_keeps_the_shape_so_map_lengths_counted_on_stored_json_stay_right() -> None:
    users = {TYPE_KEY: 1, "b": 2, "c": 3}
    assert len(stored(users)) == 3 and TYPE_KEY not in stored(users)
    spec = {"expand_kind": "expand", "expand": {"x": {"__type": "xcomarg", "__var": {"task_id": "up"}}}}
    days = [date(2024, 1, d) for d in (1, 2, 3, 4)]
    assert map_length(spec, {("up", "return_value"): stored(days)}) == 4
    assert map_length(spec, {("up", "return_value"): stored(users)}) == 3


def test_a_malformed_tag_left_by_old_data_is_read_as_the_plain_dict_it_is() -> None:
    old = {TYPE_KEY: "datetime", "value": "not a date"}
    assert decode_xcom_value(old) == old


@pytest.mark.parametrize(("value", "named"), [
    ({"a": [1, object()]}, "object"), (b"bytes", "bytes"), ({1, b"x"}, "bytes"), (complex(1, 2), "complex"),
])
def test_other_types_are_refused_naming_the_type_and_what_is_supported(value: Any, named: str) -> None:
    with pytest.raises(FlowctlError, match=rf"\b{named}\b") as caught:
        encode_xcom_value(value)
    message = str(caught.value)
    assert "datetime" in message and "Decimal" in message and "set" in message and "JSON" in message


def test_a_refusal_says_where_in_the_value_the_type_was_found() -> None:
    with pytest.raises(FlowctlError, match=r"\['a'\]\[1\]"):
        encode_xcom_value({"a": [1, {2: object()}]})


def test_decimals_sets_and_frozensets_come_back_as_themselves_as_in_airflow() -> None:
    """Before: refused (a NUMERIC column's rows, a set of ids, could not be returned by a task)."""
    value = {"total": Decimal("12.50"), "ids": {3, 1, 2}, "days": frozenset({date(2024, 1, 1)}),
             "rows": [(1, Decimal("-0.001")), (2, Decimal("NaN"))]}
    back = round_trip(value)
    assert back["total"] == Decimal("12.50") and str(back["total"]) == "12.50"
    assert back["ids"] == {1, 2, 3} and type(back["ids"]) is set
    assert back["days"] == frozenset({date(2024, 1, 1)}) and type(back["days"]) is frozenset
    assert back["rows"][0] == (1, Decimal("-0.001")) and back["rows"][1][1].is_nan()
    assert encode_xcom_value(Decimal("1.10")) == {TYPE_KEY: "decimal", "value": "1.10"}
    assert encode_xcom_value({1}) == {TYPE_KEY: "set", "value": [1]}


@pytest.mark.parametrize("value", [{TYPE_KEY: "decimal", "value": "one"}, {TYPE_KEY: "set", "value": [[1]]},
                                   {TYPE_KEY: "frozenset", "value": "ab"}])
def test_a_malformed_decimal_or_set_tag_reads_as_the_plain_dict(value: Any) -> None:
    assert decode_xcom_value(value) == value


def test_a_dict_key_json_cannot_hold_is_refused_naming_its_type() -> None:
    with pytest.raises(FlowctlError, match="key of type date"):
        encode_xcom_value({date(2024, 1, 1): 1})


def test_a_value_that_contains_itself_is_refused_rather_than_recursing_forever() -> None:
    loop: list[Any] = [datetime(2024, 1, 1)]
    loop.append(loop)
    with pytest.raises(FlowctlError, match="contains itself"):
        encode_xcom_value(loop)
