"""The template context: every Airflow 2 key for a fixed scheduled run, and the var/conn accessors."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pendulum
import pytest

from flowctl.core import macros
from flowctl.core.connection import Connection
from flowctl.core.context import RunInfo, as_utc, build_context, neighbour_keys
from flowctl.core.errors import ConnectionNotFound, NotFoundError, TemplateRenderError
from flowctl.core.timetables import timetable_from_schedule

UTC = pendulum.timezone("UTC")
LOGICAL = pendulum.datetime(2024, 3, 10)
END = pendulum.datetime(2024, 3, 11)

VARIABLES = {"env": "prod", "cfg": '{"retries": 3, "tags": ["a"]}', "broken": "{not json"}
CONNECTIONS = {"my_db": Connection(conn_id="my_db", conn_type="postgres", host="db.local",
                                   login="me", password="pw", port=5432, schema="sales",
                                   extra='{"sslmode": "require"}')}


class FakeDag:
    dag_id = "sales"


class FakeTask:
    task_id = "load"


def lookup_connection(conn_id: str) -> Connection:
    try:
        return CONNECTIONS[conn_id]
    except KeyError:
        raise ConnectionNotFound(f"Connection {conn_id!r} does not exist") from None


def make_run(**overrides: Any) -> RunInfo:
    fields: dict[str, Any] = dict(
        run_id="scheduled__2024-03-10T00:00:00+00:00", logical_date=LOGICAL,
        data_interval_start=LOGICAL, data_interval_end=END, run_type="scheduled",
        conf={"limit": 10}, start_date=pendulum.datetime(2024, 3, 11, 0, 5),
    )
    fields.update(overrides)
    return RunInfo(**fields)


def make_context(run: RunInfo | None = None, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = dict(
        dag=FakeDag(), task=FakeTask(), run=run or make_run(), ti="the-ti",
        params={"region": "eu"}, var_accessor=VARIABLES.get, conn_accessor=lookup_connection,
        prev_success_interval=(pendulum.datetime(2024, 3, 9), LOGICAL),
    )
    arguments.update(overrides)
    return build_context(**arguments)


def test_date_keys_of_a_daily_run_match_airflow() -> None:
    ctx = make_context()
    assert ctx["ds"] == "2024-03-10"
    assert ctx["ds_nodash"] == "20240310"
    assert ctx["ts"] == "2024-03-10T00:00:00+00:00"
    assert ctx["ts_nodash"] == "20240310T000000"
    assert ctx["ts_nodash_with_tz"] == "20240310T000000+0000"
    assert ctx["logical_date"] == LOGICAL
    assert ctx["execution_date"] == LOGICAL
    assert ctx["data_interval_start"] == LOGICAL
    assert ctx["data_interval_end"] == END


def test_datetimes_in_the_context_are_pendulum_datetimes_in_utc() -> None:
    paris = pendulum.datetime(2024, 3, 10, 1, tz="Europe/Paris")
    naive = datetime(2024, 3, 11)
    ctx = make_context(make_run(logical_date=paris, data_interval_start=paris,
                                data_interval_end=naive))
    for key in ("logical_date", "data_interval_start", "data_interval_end",
                "prev_data_interval_start_success", "next_execution_date"):
        assert isinstance(ctx[key], pendulum.DateTime), key
        assert ctx[key].utcoffset().total_seconds() == 0, key
    assert ctx["ts"] == "2024-03-10T00:00:00+00:00"
    assert ctx["data_interval_end"] == pendulum.datetime(2024, 3, 11)


def test_previous_successful_interval_is_exposed_and_none_without_one() -> None:
    ctx = make_context(prev_start_date_success=datetime(2024, 3, 10, 0, 3, tzinfo=timezone.utc))
    assert ctx["prev_data_interval_start_success"] == pendulum.datetime(2024, 3, 9)
    assert ctx["prev_data_interval_end_success"] == LOGICAL
    assert ctx["prev_start_date_success"] == pendulum.datetime(2024, 3, 10, 0, 3)
    first = make_context(prev_success_interval=None)
    assert first["prev_data_interval_start_success"] is None
    assert first["prev_data_interval_end_success"] is None
    assert first["prev_start_date_success"] is None


def test_the_previous_successful_runs_logical_and_end_dates_are_exposed_as_airflow_2() -> None:
    ctx = make_context(prev_execution_date_success=datetime(2024, 3, 9, tzinfo=timezone.utc),
                       prev_end_date_success=datetime(2024, 3, 10, 0, 7, tzinfo=timezone.utc))
    assert ctx["prev_execution_date_success"] == pendulum.datetime(2024, 3, 9)
    assert type(ctx["prev_execution_date_success"]) is pendulum.DateTime
    assert ctx["prev_end_date_success"] == pendulum.datetime(2024, 3, 10, 0, 7)
    first = make_context(prev_success_interval=None)
    assert first["prev_execution_date_success"] is None and first["prev_end_date_success"] is None


def test_neighbour_dates_of_a_scheduled_run_are_one_interval_away() -> None:
    ctx = make_context()
    assert ctx["next_ds"] == "2024-03-11"
    assert ctx["next_ds_nodash"] == "20240311"
    assert ctx["prev_ds"] == "2024-03-09"
    assert ctx["prev_ds_nodash"] == "20240309"
    assert ctx["next_execution_date"] == END
    assert ctx["prev_execution_date"] == pendulum.datetime(2024, 3, 9)
    assert ctx["yesterday_ds"] == "2024-03-09"
    assert ctx["tomorrow_ds_nodash"] == "20240311"


def test_neighbour_dates_of_a_manual_run_are_its_own_logical_date() -> None:
    ctx = make_context(make_run(run_type="manual"))
    assert ctx["next_ds"] == ctx["prev_ds"] == "2024-03-10"


# What the database hands over: stdlib datetimes in UTC. A 6-hour interval across midnight of a leap day.
STORED_START = datetime(2024, 3, 1, 3, 0, 15, 250000, tzinfo=timezone.utc)
STORED_END = datetime(2024, 3, 1, 9, 0, 15, 250000, tzinfo=timezone.utc)


def _assert_keys(ctx: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        assert ctx[key] == value, key
        if isinstance(value, datetime):
            assert type(ctx[key]) is pendulum.DateTime and ctx[key].tzinfo is UTC, key
        else:
            assert type(ctx[key]) is type(value), key


def test_date_keys_of_a_scheduled_run_from_stored_datetimes_have_these_values_and_types() -> None:
    run = make_run(logical_date=STORED_START, data_interval_start=STORED_START, data_interval_end=STORED_END)
    ctx = make_context(run, prev_success_interval=(STORED_START - timedelta(hours=6), STORED_START),
                       prev_start_date_success=STORED_START - timedelta(minutes=5))
    start = pendulum.datetime(2024, 3, 1, 3, 0, 15, 250000)
    _assert_keys(ctx, {
        "ds": "2024-03-01", "ds_nodash": "20240301", "ts": "2024-03-01T03:00:15.250000+00:00",
        "ts_nodash": "20240301T030015", "ts_nodash_with_tz": "20240301T030015.250000+0000",
        "logical_date": start, "execution_date": start,
        "data_interval_start": start, "data_interval_end": pendulum.datetime(2024, 3, 1, 9, 0, 15, 250000),
        "prev_data_interval_start_success": pendulum.datetime(2024, 2, 29, 21, 0, 15, 250000),
        "prev_data_interval_end_success": start,
        "prev_start_date_success": pendulum.datetime(2024, 3, 1, 2, 55, 15, 250000),
        "next_execution_date": pendulum.datetime(2024, 3, 1, 9, 0, 15, 250000),
        "prev_execution_date": pendulum.datetime(2024, 2, 29, 21, 0, 15, 250000),
        "next_ds": "2024-03-01", "next_ds_nodash": "20240301", "prev_ds": "2024-02-29", "prev_ds_nodash": "20240229",
        "yesterday_ds": "2024-02-29", "yesterday_ds_nodash": "20240229",
        "tomorrow_ds": "2024-03-02", "tomorrow_ds_nodash": "20240302",
        "task_instance_key_str": "sales__load__20240301",
    })


def test_date_keys_of_a_manual_run_from_stored_datetimes_have_these_values_and_types() -> None:
    run = make_run(run_type="manual", logical_date=STORED_START, data_interval_start=STORED_START,
                   data_interval_end=STORED_START)
    ctx = make_context(run, prev_success_interval=None)
    start = pendulum.datetime(2024, 3, 1, 3, 0, 15, 250000)
    _assert_keys(ctx, {
        "ds": "2024-03-01", "ts": "2024-03-01T03:00:15.250000+00:00", "logical_date": start,
        "data_interval_start": start, "data_interval_end": start,
        "next_execution_date": start, "prev_execution_date": start,
        "next_ds": "2024-03-01", "prev_ds": "2024-03-01", "prev_ds_nodash": "20240301",
        "yesterday_ds": "2024-02-29", "tomorrow_ds_nodash": "20240302",
    })
    assert ctx["prev_data_interval_start_success"] is None and ctx["prev_start_date_success"] is None


@pytest.mark.parametrize("moment", [
    datetime(2024, 3, 10, 1, 2, 3, 4),
    datetime(2024, 3, 10, 1, 2, 3, 4, fold=1),
    datetime(2024, 3, 10, tzinfo=timezone.utc),
    datetime(2024, 3, 10, fold=1, tzinfo=timezone.utc),
    datetime(2024, 3, 10, tzinfo=timezone(timedelta(hours=2))),
    datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Paris")),
    pendulum.datetime(2024, 3, 10, 5),
    pendulum.datetime(2024, 3, 10, 5, tz="Asia/Tokyo"),
    pendulum.naive(2024, 3, 10, 5),
], ids=repr)
def test_as_utc_gives_what_pendulum_gives_fold_included(moment: datetime) -> None:
    expected = pendulum.instance(moment, tz="UTC").in_timezone("UTC")
    got = as_utc(moment)
    assert type(got) is pendulum.DateTime and got.tzinfo is UTC
    assert (got, got.fold, repr(got)) == (expected, expected.fold, repr(expected))


def _previous(schedule: Any, start: datetime, end: datetime) -> Any:
    timetable = None if schedule is None else timetable_from_schedule(schedule, "UTC")
    run = make_run(logical_date=start, data_interval_start=start, data_interval_end=end)
    return neighbour_keys(run, timetable)["prev_execution_date"]


@pytest.mark.parametrize(("schedule", "start", "end", "previous"), [
    ("@monthly", datetime(2024, 3, 1), datetime(2024, 4, 1), datetime(2024, 2, 1)),  # not January 1st
    ("@yearly", datetime(2024, 1, 1), datetime(2025, 1, 1), datetime(2023, 1, 1)),
    ("0 9 * * 1-5", datetime(2024, 3, 4, 9), datetime(2024, 3, 5, 9), datetime(2024, 3, 1, 9)),  # Monday's: Friday
    ("0 9,17 * * *", datetime(2024, 3, 4, 9), datetime(2024, 3, 4, 17), datetime(2024, 3, 3, 17)),
    ("@daily", datetime(2024, 3, 1), datetime(2024, 3, 2), datetime(2024, 2, 29)),
    (timedelta(days=31), datetime(2024, 3, 1), datetime(2024, 4, 1), datetime(2024, 1, 30)),
    (None, datetime(2024, 3, 1), datetime(2024, 4, 1), datetime(2024, 1, 30)),  # no timetable: one width back
], ids=repr)
def test_the_previous_execution_date_is_the_timetables_previous_interval(
        schedule: Any, start: datetime, end: datetime, previous: datetime) -> None:
    utc = timezone.utc
    got = _previous(schedule, start.replace(tzinfo=utc), end.replace(tzinfo=utc))
    assert type(got) is pendulum.DateTime and got == previous.replace(tzinfo=utc)


def test_a_daily_schedule_in_a_zone_with_summer_time_steps_back_one_local_day() -> None:
    paris = timetable_from_schedule("@daily", "Europe/Paris")
    start = datetime(2024, 3, 31, 22, tzinfo=timezone.utc)  # April 1st, midnight in Paris (summer time)
    run = make_run(logical_date=start, data_interval_start=start, data_interval_end=start + timedelta(days=1))
    assert neighbour_keys(run, paris)["prev_execution_date"] == datetime(2024, 3, 30, 23, tzinfo=timezone.utc)


def test_objects_and_run_details_are_in_the_context() -> None:
    dag, task, run = FakeDag(), FakeTask(), make_run()
    ctx = make_context(run, dag=dag, task=task)
    assert ctx["dag"] is dag
    assert ctx["task"] is task
    assert ctx["ti"] == ctx["task_instance"] == "the-ti"
    assert ctx["run_id"] == "scheduled__2024-03-10T00:00:00+00:00"
    assert ctx["dag_run"] is run
    assert ctx["dag_run"].execution_date == LOGICAL
    assert ctx["dag_run"].external_trigger is False
    assert ctx["params"] == {"region": "eu"}
    assert ctx["conf"] is None  # the configuration view the caller passes (config=), never the run's conf
    assert make_context(config="the-config")["conf"] == "the-config"
    assert ctx["macros"] is macros
    assert ctx["inlets"] == [] and ctx["outlets"] == []  # FakeTask declares none
    assert ctx["test_mode"] is False
    assert ctx["map_index_template"] is None
    assert ctx["task_instance_key_str"] == "sales__load__20240310"


def test_extra_entries_are_added_and_win() -> None:
    ctx = make_context(extra={"ds": "overridden", "templates_dict": {"a": 1}})
    assert ctx["ds"] == "overridden"
    assert ctx["templates_dict"] == {"a": 1}


def test_var_value_reads_strings_and_get_falls_back_to_a_default() -> None:
    var = make_context()["var"]
    assert var.value.env == "prod"
    assert var.value["env"] == "prod"
    assert var.value.get("env") == "prod"
    assert var.value.get("missing", "fallback") == "fallback"
    assert var.value.get("missing") is None


def test_var_json_parses_the_value() -> None:
    var = make_context()["var"]
    assert var.json.cfg == {"retries": 3, "tags": ["a"]}
    assert var.json.get("missing", {"d": 1}) == {"d": 1}


def test_a_missing_variable_without_default_raises_an_error_naming_the_key() -> None:
    var = make_context()["var"]
    with pytest.raises(NotFoundError, match="'nope'"):
        var.value.nope
    with pytest.raises(KeyError):
        var.json.nope


def test_a_variable_that_is_not_json_raises_a_clear_error() -> None:
    with pytest.raises(TemplateRenderError, match="'broken' is not valid JSON"):
        make_context()["var"].json.broken


def test_variables_are_read_only_when_a_template_asks_for_them() -> None:
    asked: list[str] = []
    ctx = make_context(var_accessor=lambda key: asked.append(key) or "x")
    assert asked == []
    assert ctx["var"].value.anything == "x"
    assert asked == ["anything"]


def test_conn_gives_the_connection_by_id() -> None:
    conn = make_context()["conn"]
    assert conn.my_db.host == "db.local"
    assert conn.my_db.port == 5432
    assert conn.my_db.extra_dejson == {"sslmode": "require"}
    assert conn["my_db"].login == "me"
    assert conn.get("nope") is None


def test_a_missing_connection_raises_not_found() -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        make_context()["conn"].nope


@pytest.fixture
def no_remembered_runs() -> Any:
    from flowctl.core import context

    context._REMEMBERED.clear()
    yield context
    context._REMEMBERED.clear()


class DailyDag:
    dag_id = "sales"
    timetable = timetable_from_schedule("@daily", "UTC")


def test_run_keys_remembered_ahead_are_taken_as_they_are_and_equal_a_fresh_computation(
        no_remembered_runs: Any) -> None:
    from flowctl.core.context import remember_run_keys

    dag, run, interval = DailyDag(), make_run(), (pendulum.datetime(2024, 3, 9), LOGICAL)
    fresh = make_context(run=run, dag=dag)
    remember_run_keys(run, dag.timetable, interval, None)
    taken = make_context(run=make_run(), dag=dag)  # equal run values, another RunInfo object
    remembered = next(iter(no_remembered_runs._REMEMBERED.values()))[1]
    assert len(remembered) == 22 and set(remembered) <= set(taken)
    assert {k: taken[k] for k in remembered} == {k: fresh[k] for k in remembered}
    assert taken["task_instance_key_str"] == fresh["task_instance_key_str"] == "sales__load__20240310"
    assert taken["ds"] is remembered["ds"] and taken["prev_execution_date"] is remembered["prev_execution_date"]
    assert taken["ts"] is not fresh["ts"]


def test_run_keys_remembered_for_other_values_or_another_timetable_are_not_taken(no_remembered_runs: Any) -> None:
    from flowctl.core.context import remember_run_keys

    dag, run, interval = DailyDag(), make_run(), (pendulum.datetime(2024, 3, 9), LOGICAL)
    remember_run_keys(run, dag.timetable, interval, None)
    remembered = next(iter(no_remembered_runs._REMEMBERED.values()))[1]
    other_day = make_context(run=make_run(logical_date=END, data_interval_start=END,
                                          data_interval_end=END + timedelta(days=1)), dag=dag)
    assert other_day["ds"] == "2024-03-11" and other_day["ds"] is not remembered["ds"]
    no_previous = make_context(run=run, dag=dag, prev_success_interval=None)
    assert no_previous["prev_data_interval_start_success"] is None
    hourly = type("HourlyDag", (), {"dag_id": "sales", "timetable": timetable_from_schedule("@hourly", "UTC")})()
    assert make_context(run=run, dag=hourly)["ds"] is not remembered["ds"]  # a re-imported DAG's timetable


def test_remembered_run_keys_are_bounded(no_remembered_runs: Any) -> None:
    from flowctl.core.context import MAX_REMEMBERED, remember_run_keys

    for day in range(MAX_REMEMBERED + 5):
        moment = LOGICAL + timedelta(days=day)
        remember_run_keys(make_run(logical_date=moment, data_interval_start=moment,
                                   data_interval_end=moment + timedelta(days=1)), None, None, None)
    assert 0 < len(no_remembered_runs._REMEMBERED) <= MAX_REMEMBERED


def test_inlets_and_outlets_are_the_tasks_own_as_in_airflow() -> None:
    class TaskWithLineage:
        task_id = "load"
        inlets = ["s3://in"]
        outlets = ["s3://out", "s3://out2"]

    ctx = make_context(task=TaskWithLineage())
    assert ctx["inlets"] == ["s3://in"]
    assert ctx["outlets"] == ["s3://out", "s3://out2"]
