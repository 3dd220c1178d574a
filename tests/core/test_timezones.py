"""flowctl.utils.timezone (flowctl.core.timezones): Airflow 2's timezone helpers."""
from __future__ import annotations

import datetime as dt

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
