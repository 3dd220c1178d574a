"""flowctl.utils.timezone (flowctl.core.timezones): Airflow 2's timezone helpers."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pendulum
import pytest

from flowctl.utils import timezone


def test_utcnow_and_datetime_are_aware_in_utc() -> None:
    assert timezone.utcnow().utcoffset() == dt.timedelta(0)
    assert timezone.datetime(2024, 1, 1) == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert timezone.datetime(2024, 1, 1, tzinfo=None).tzinfo is None
    assert timezone.utc_epoch() == dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def test_make_aware_reads_a_naive_value_as_wall_time_and_refuses_an_aware_one() -> None:
    paris = timezone.make_aware(dt.datetime(2024, 1, 1, 12), "Europe/Paris")
    assert paris == dt.datetime(2024, 1, 1, 11, tzinfo=dt.timezone.utc)
    assert timezone.make_aware(dt.datetime(2024, 1, 1)) == timezone.datetime(2024, 1, 1)
    with pytest.raises(ValueError, match="naive"):
        timezone.make_aware(timezone.datetime(2024, 1, 1))
    assert timezone.make_aware(None) is None


def test_make_naive_and_convert_to_utc() -> None:
    assert timezone.make_naive(timezone.datetime(2024, 1, 1, 11), pendulum.timezone("Europe/Paris")) == \
        dt.datetime(2024, 1, 1, 12)
    assert timezone.convert_to_utc(dt.datetime(2024, 1, 1)) == timezone.datetime(2024, 1, 1)
    assert timezone.convert_to_utc(pendulum.datetime(2024, 1, 1, 1, tz="Europe/Paris")).hour == 0
    assert timezone.is_naive(dt.datetime(2024, 1, 1)) and timezone.is_localized(timezone.utcnow())


def test_parse_and_coerce_datetime_give_pendulum_values() -> None:
    assert timezone.parse("2024-01-02T03:04:05") == timezone.datetime(2024, 1, 2, 3, 4, 5)
    assert timezone.parse("2024-01-02T03:04:05+01:00").hour == 3
    coerced = timezone.coerce_datetime(dt.datetime(2024, 1, 1))
    assert isinstance(coerced, pendulum.DateTime) and coerced.tzinfo is not None
    assert timezone.coerce_datetime(None) is None


def test_a_typed_moment_is_read_the_same_way_everywhere_into_aware_utc() -> None:
    """One parser for the CLI, the web forms, the REST API and TriggerDagRunOperator (five copies
    before, with five error messages)."""
    from datetime import datetime as plain, timedelta, timezone as tz
    from zoneinfo import ZoneInfo

    from flowctl.core.timezones import parse_moment

    utc = tz.utc
    assert parse_moment("2024-01-31") == plain(2024, 1, 31, tzinfo=utc)
    assert parse_moment(" 2024-01-31 06:30 ") == plain(2024, 1, 31, 6, 30, tzinfo=utc)
    assert parse_moment("2024-01-31T06:30:00Z") == plain(2024, 1, 31, 6, 30, tzinfo=utc)
    assert parse_moment("2024-01-31T08:30:00+02:00") == plain(2024, 1, 31, 6, 30, tzinfo=utc)
    paris = parse_moment("2024-01-31T07:30", ZoneInfo("Europe/Paris"))
    assert paris == plain(2024, 1, 31, 6, 30, tzinfo=utc) and paris.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match=r"'yesterday' is not a date or date-time \(YYYY-MM-DD"):
        parse_moment("yesterday")



@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01 00:05"])
def test_a_moment_before_the_year_1_or_after_9999_in_utc_is_a_value_error_naming_it(text: str) -> None:
    """Before: an OverflowError from the conversion to UTC, which no caller turned into a 400 (naive:
    five past midnight in Paris, nine minutes ahead of UTC in the year 1, is in the year 0 in UTC)."""
    from flowctl.core.timezones import parse_moment

    with pytest.raises(ValueError, match=r"is not between the years 1 and 9999 in UTC"):
        parse_moment(text, ZoneInfo("Europe/Paris"))


def test_the_first_and_last_moments_in_utc_still_parse() -> None:
    from flowctl.core.timezones import parse_moment

    assert parse_moment("0001-01-01T00:00:00Z") == dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    assert parse_moment("9999-12-31T23:59:59+00:00").year == 9999
    assert parse_moment("0001-01-01T00:30:00-01:00").hour == 1

# --- [core] default_timezone: the zone of naive dates in DAG files ------------------------------

def _six_oclock_runs_around_the_spring_change(dag: object) -> list[dt.datetime]:
    """The data interval starts of ``dag``'s runs from 2024-03-28 to 2024-04-01 (Europe's clocks go
    forward on 2024-03-31), asked the way the scheduler asks its timetable."""
    from flowctl.core.timetables.base import DataInterval, TimeRestriction

    restriction = TimeRestriction(dag.start_date, None, True)  # type: ignore[attr-defined]
    before = pendulum.datetime(2024, 3, 28, 6, tz="Europe/Amsterdam")
    last = DataInterval(before - dt.timedelta(days=1), before)
    starts = []
    for _ in range(5):
        info = dag.timetable.next_dagrun_info(last_automated_data_interval=last,  # type: ignore[attr-defined]
                                              restriction=restriction, now=before)
        starts.append(info.data_interval.start)
        last = info.data_interval
    return starts


def test_a_naive_start_date_and_cron_schedule_follow_the_default_timezone_across_a_dst_change() -> None:
    """Airflow: with default_timezone = Europe/Amsterdam, ``datetime(2024, 1, 1)`` and ``0 6 * * *``
    run at 06:00 Amsterdam time, winter and summer."""
    from flowctl.core.dag import DAG
    from flowctl.core.timezones import use_default_timezone

    use_default_timezone("Europe/Amsterdam")
    dag = DAG("amsterdam", start_date=dt.datetime(2024, 1, 1), end_date=dt.datetime(2024, 12, 31),
              schedule="0 6 * * *")
    assert dag.timezone == "Europe/Amsterdam"
    assert dag.start_date == dt.datetime(2023, 12, 31, 23, tzinfo=dt.timezone.utc)
    assert dag.end_date == dt.datetime(2024, 12, 30, 23, tzinfo=dt.timezone.utc)
    starts = _six_oclock_runs_around_the_spring_change(dag)
    assert [s.astimezone(ZoneInfo("Europe/Amsterdam")).hour for s in starts] == [6, 6, 6, 6, 6]
    assert [s.astimezone(dt.timezone.utc).hour for s in starts] == [5, 5, 5, 4, 4]
    assert dag.timetable.serialize()["timezone"] == "Europe/Amsterdam"  # what the scheduler reads back


def test_a_naive_start_date_stays_utc_until_a_process_sets_the_default_timezone() -> None:
    from flowctl.core.dag import DAG

    dag = DAG("utc", start_date=dt.datetime(2024, 1, 1), schedule="0 6 * * *")
    assert dag.timezone == "UTC" and dag.start_date == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    starts = _six_oclock_runs_around_the_spring_change(dag)
    assert [s.astimezone(dt.timezone.utc).hour for s in starts] == [6, 6, 6, 6, 6]


def test_an_aware_start_date_keeps_its_own_zone_and_a_dag_without_one_takes_the_default() -> None:
    from flowctl.core.dag import DAG
    from flowctl.core.timezones import use_default_timezone

    use_default_timezone("Europe/Amsterdam")
    tokyo = DAG("tokyo", start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Tokyo"), schedule="0 6 * * *")
    assert tokyo.timezone == "Asia/Tokyo"
    assert DAG("none", schedule=None).timezone == "Europe/Amsterdam"
    from flowctl.core.baseoperator import BaseOperator

    with DAG("tasks", start_date=dt.datetime(2024, 1, 1), schedule=None):
        task = BaseOperator(task_id="t", start_date=dt.datetime(2024, 6, 1))
    assert task.start_date == dt.datetime(2024, 5, 31, 22, tzinfo=dt.timezone.utc)


def test_the_timezone_helpers_read_naive_values_in_the_default_timezone() -> None:
    from flowctl.core.timezones import default_timezone_name, use_default_timezone

    use_default_timezone("Europe/Amsterdam")
    assert default_timezone_name() == "Europe/Amsterdam" and timezone.TIMEZONE.name == "Europe/Amsterdam"
    winter = dt.datetime(2024, 1, 1, 5, tzinfo=dt.timezone.utc)
    assert timezone.datetime(2024, 1, 1, 6) == winter
    assert timezone.make_aware(dt.datetime(2024, 7, 1, 6)) == dt.datetime(2024, 7, 1, 4, tzinfo=dt.timezone.utc)
    assert timezone.convert_to_utc(dt.datetime(2024, 1, 1, 6)) == winter
    assert timezone.coerce_datetime(dt.datetime(2024, 1, 1, 6)) == winter
    assert timezone.parse("2024-01-01T06:00:00") == winter
    assert timezone.make_naive(winter) == dt.datetime(2024, 1, 1, 6)
    use_default_timezone("UTC")
    assert timezone.TIMEZONE is timezone.utc and timezone.datetime(2024, 1, 1).utcoffset() == dt.timedelta(0)
