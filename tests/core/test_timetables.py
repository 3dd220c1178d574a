"""Timetables: schedule parsing, Airflow catchup semantics, DST, serialization, properties."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest
from croniter import croniter
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.core.errors import DagDefinitionError
from flowctl.core.timetables.cronexpr import CronExpression
from flowctl.core.timetables import (
    ContinuousTimetable,
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DagRunInfo,
    DataInterval,
    DeltaDataIntervalTimetable,
    NullTimetable,
    OnceTimetable,
    TimeRestriction,
    Timetable,
    timetable_from_dict,
    timetable_from_schedule,
)

UTC = timezone.utc
DST_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def runs(
    timetable: Timetable, start: datetime, count: int, *, catchup: bool = True,
    end: datetime | None = None, now: datetime | None = None,
) -> list[DagRunInfo]:
    """The first ``count`` scheduled runs (fewer if the timetable stops)."""
    restriction = TimeRestriction(start, end, catchup)
    now = now or start
    found: list[DagRunInfo] = []
    last = None
    for _ in range(count):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction, now=now
        )
        if info is None:
            break
        found.append(info)
        last = info.data_interval
    return found


def spans(infos: list[DagRunInfo]) -> list[tuple[datetime, datetime]]:
    return [(i.data_interval.start, i.data_interval.end) for i in infos]


# --- timetable_from_schedule -------------------------------------------------------------

@pytest.mark.parametrize(
    ("preset", "cron"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
     ("@monthly", "0 0 1 * *"), ("@quarterly", "0 0 1 */3 *"), ("@yearly", "0 0 1 1 *"),
     ("@annually", "0 0 1 1 *")],
)
def test_cron_presets_schedule_like_their_cron_expressions(preset: str, cron: str) -> None:
    from_preset = timetable_from_schedule(preset)
    assert isinstance(from_preset, CronDataIntervalTimetable)
    assert from_preset.summary == preset
    assert runs(from_preset, utc(2024, 1, 5, 7), 5) == runs(
        timetable_from_schedule(cron), utc(2024, 1, 5, 7), 5
    )


def test_each_kind_of_schedule_gives_the_matching_timetable() -> None:
    assert isinstance(timetable_from_schedule("0 * * * *"), CronDataIntervalTimetable)
    assert isinstance(timetable_from_schedule(timedelta(hours=2)), DeltaDataIntervalTimetable)
    assert isinstance(timetable_from_schedule(relativedelta(months=1)), DeltaDataIntervalTimetable)
    assert isinstance(timetable_from_schedule(None), NullTimetable)
    assert isinstance(timetable_from_schedule("@once"), OnceTimetable)
    assert isinstance(timetable_from_schedule("@continuous"), ContinuousTimetable)


def test_a_timetable_passed_as_schedule_is_returned_as_is() -> None:
    timetable = CronTriggerTimetable("0 3 * * *", timezone="Europe/Berlin")
    assert timetable_from_schedule(timetable) is timetable


def test_an_invalid_cron_expression_is_a_dag_definition_error_naming_it() -> None:
    with pytest.raises(DagDefinitionError, match="0 25 \\* \\* \\*"):
        timetable_from_schedule("0 25 * * *")
    with pytest.raises(DagDefinitionError, match="@fortnightly"):
        timetable_from_schedule("@fortnightly")


def test_unsupported_schedules_and_time_zones_are_refused() -> None:
    with pytest.raises(DagDefinitionError):
        timetable_from_schedule(42)
    with pytest.raises(DagDefinitionError):
        timetable_from_schedule(timedelta(0))
    with pytest.raises(DagDefinitionError):
        timetable_from_schedule(relativedelta(months=-1))
    with pytest.raises(DagDefinitionError):
        timetable_from_schedule(relativedelta(day=1))
    with pytest.raises(DagDefinitionError, match="Mars/Olympus"):
        timetable_from_schedule("@daily", "Mars/Olympus")


def test_a_list_schedule_must_hold_datasets_and_says_so() -> None:
    """A list schedule is Airflow's list of datasets (flowctl.core.datasets); URIs as text are not."""
    with pytest.raises(DagDefinitionError, match=r"list schedule must hold Dataset objects only"):
        timetable_from_schedule(["s3://bucket/table"])
    with pytest.raises(DagDefinitionError, match=r"empty list is not a schedule"):
        timetable_from_schedule([])


def test_summaries_read_like_airflows() -> None:
    assert timetable_from_schedule("0 * * * *").summary == "0 * * * *"
    assert timetable_from_schedule("@daily").summary == "@daily"
    assert timetable_from_schedule(timedelta(days=1)).summary == "1 day, 0:00:00"
    assert timetable_from_schedule(None).summary == "None"
    assert timetable_from_schedule("@once").summary == "@once"


def test_periodic_and_can_be_scheduled_flags() -> None:
    assert timetable_from_schedule("@daily").periodic
    assert timetable_from_schedule(timedelta(hours=1)).periodic
    assert not timetable_from_schedule("@once").periodic
    assert not timetable_from_schedule(None).can_be_scheduled
    assert timetable_from_schedule("@continuous").active_runs_limit == 1


def test_a_pendulum_time_zone_object_is_accepted() -> None:
    timetable = timetable_from_schedule("@daily", pendulum.timezone("Europe/Berlin"))
    assert timetable == timetable_from_schedule("@daily", "Europe/Berlin")


# --- serialization ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "timetable",
    [
        CronDataIntervalTimetable("30 2 * * *", "Europe/Berlin"),
        DeltaDataIntervalTimetable(timedelta(hours=6, seconds=1)),
        DeltaDataIntervalTimetable(relativedelta(months=1, days=2)),
        CronTriggerTimetable("0 9 * * 1-5", timezone="America/New_York",
                             interval=timedelta(hours=1)),
        NullTimetable(), OnceTimetable(), ContinuousTimetable(),
    ],
    ids=repr,
)
def test_every_timetable_survives_a_json_round_trip(timetable: Timetable) -> None:
    data = json.loads(json.dumps(timetable.serialize()))
    assert timetable_from_dict(data) == timetable


def test_timetables_differ_when_their_schedule_or_zone_differs() -> None:
    in_tokyo = timetable_from_schedule("@daily", "Asia/Tokyo")
    assert timetable_from_schedule("@daily", "UTC") != in_tokyo
    assert timetable_from_schedule("@daily") != timetable_from_schedule("@hourly")
    assert NullTimetable() != OnceTimetable()


def test_an_unknown_serialized_type_is_refused() -> None:
    with pytest.raises(DagDefinitionError, match="nowhere.Timetable"):
        timetable_from_dict({"__type": "nowhere.Timetable"})


# --- value types --------------------------------------------------------------------------

def test_data_intervals_are_normalised_to_utc_and_refuse_naive_datetimes() -> None:
    interval = DataInterval(local("Asia/Tokyo", 2024, 1, 1, 9), local("Asia/Tokyo", 2024, 1, 2, 9))
    assert interval.start == utc(2024, 1, 1) and interval.start.tzinfo is UTC
    with pytest.raises(ValueError):
        DataInterval(datetime(2024, 1, 1), datetime(2024, 1, 2))
    with pytest.raises(ValueError):
        DataInterval(utc(2024, 1, 2), utc(2024, 1, 1))


def test_a_runs_logical_date_is_its_interval_start() -> None:
    assert DagRunInfo.interval(utc(2024, 1, 1), utc(2024, 1, 2)).logical_date == utc(2024, 1, 1)


# --- cron data intervals: catchup, end_date, manual runs ----------------------------------

def test_with_catchup_the_first_interval_is_the_first_full_one_after_start_date() -> None:
    infos = runs(timetable_from_schedule("@daily"), utc(2024, 1, 1, 10, 30), 2)
    assert spans(infos) == [(utc(2024, 1, 2), utc(2024, 1, 3)), (utc(2024, 1, 3), utc(2024, 1, 4))]
    assert infos[0].run_after == utc(2024, 1, 3)


def test_a_start_date_on_the_schedule_is_the_first_interval_start() -> None:
    infos = runs(timetable_from_schedule("@daily"), utc(2024, 1, 1), 1)
    assert spans(infos) == [(utc(2024, 1, 1), utc(2024, 1, 2))]


def test_without_catchup_the_next_run_is_the_latest_complete_interval() -> None:
    now = utc(2024, 6, 15, 13, 20)
    infos = runs(timetable_from_schedule("@daily"), utc(2024, 1, 1), 2, catchup=False, now=now)
    assert spans(infos)[0] == (utc(2024, 6, 14), utc(2024, 6, 15))
    # The following run is the next interval, created once it is complete.
    assert spans(infos)[1] == (utc(2024, 6, 15), utc(2024, 6, 16))


def test_without_catchup_an_old_last_run_is_skipped_ahead_to_now() -> None:
    timetable = timetable_from_schedule("0 * * * *")
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2024, 1, 1), utc(2024, 1, 1, 1)),
        restriction=TimeRestriction(utc(2024, 1, 1), None, False),
        now=utc(2024, 3, 1, 12, 0),
    )
    assert info is not None and spans([info]) == [(utc(2024, 3, 1, 11), utc(2024, 3, 1, 12))]


def test_without_catchup_a_future_start_date_wins_over_now() -> None:
    infos = runs(timetable_from_schedule("@daily"), utc(2030, 1, 1), 1, catchup=False,
                 now=utc(2024, 1, 1))
    assert spans(infos) == [(utc(2030, 1, 1), utc(2030, 1, 2))]


def test_end_date_stops_scheduling_after_the_interval_that_starts_on_it() -> None:
    infos = runs(timetable_from_schedule("@daily"), utc(2024, 1, 1), 10, end=utc(2024, 1, 3))
    assert [i.data_interval.start for i in infos] == [utc(2024, 1, d) for d in (1, 2, 3)]


def test_without_a_start_date_nothing_is_scheduled() -> None:
    timetable = timetable_from_schedule("@daily")
    assert timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(None, None, True), now=utc(2024, 1, 1),
    ) is None


def test_a_manual_run_covers_the_last_complete_interval() -> None:
    timetable = timetable_from_schedule("@daily")
    interval = timetable.infer_manual_data_interval(run_after=utc(2024, 3, 25, 1))
    assert interval == DataInterval(utc(2024, 3, 24), utc(2024, 3, 25))
    at_boundary = timetable.infer_manual_data_interval(run_after=utc(2024, 3, 25))
    assert at_boundary == DataInterval(utc(2024, 3, 24), utc(2024, 3, 25))


def test_cron_is_evaluated_in_the_dags_time_zone() -> None:
    infos = runs(timetable_from_schedule("0 9 * * *", "Asia/Tokyo"), utc(2024, 1, 1), 1)
    assert spans(infos) == [(utc(2024, 1, 1), utc(2024, 1, 2))]  # 09:00 JST is 00:00 UTC


# --- daylight saving time --------------------------------------------------------------

def test_a_daily_run_at_a_skipped_wall_time_runs_just_after_the_spring_forward_jump() -> None:
    zone = "Europe/Berlin"  # 2024-03-31 02:00 CET jumps to 03:00 CEST
    infos = runs(timetable_from_schedule("30 2 * * *", zone), local(zone, 2024, 3, 30, 2, 30), 2)
    assert spans(infos) == [
        (local(zone, 2024, 3, 30, 2, 30), local(zone, 2024, 3, 31, 3, 30)),
        (local(zone, 2024, 3, 31, 3, 30), local(zone, 2024, 4, 1, 2, 30)),
    ]


def test_a_daily_run_at_two_on_spring_forward_day_is_not_lost() -> None:
    zone = "Europe/Berlin"
    infos = runs(timetable_from_schedule("0 2 * * *", zone), local(zone, 2024, 3, 29, 2), 3)
    ends = [i.data_interval.end for i in infos]
    assert ends == [local(zone, 2024, 3, 30, 2), local(zone, 2024, 3, 31, 3),
                    local(zone, 2024, 4, 1, 2)]


def test_a_daily_run_at_a_repeated_wall_time_runs_once_on_its_first_occurrence() -> None:
    zone = "America/New_York"  # 2024-11-03 02:00 EDT falls back to 01:00 EST
    infos = runs(timetable_from_schedule("30 1 * * *", zone), local(zone, 2024, 11, 2, 1, 30), 2)
    ends = [i.data_interval.end for i in infos]
    assert ends == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]
    assert [i.data_interval.end - i.data_interval.start for i in infos] == [
        timedelta(hours=24), timedelta(hours=25)]


def test_a_daily_run_at_half_past_one_in_berlin_keeps_its_wall_time_over_fall_back() -> None:
    zone = "Europe/Berlin"  # 2024-10-27 03:00 CEST falls back to 02:00 CET
    infos = runs(timetable_from_schedule("30 1 * * *", zone), local(zone, 2024, 10, 26, 1, 30), 3)
    assert [i.data_interval.end.astimezone(ZoneInfo(zone)).hour for i in infos] == [1, 1, 1]
    assert infos[1].data_interval.end - infos[1].data_interval.start == timedelta(hours=25)


def test_an_hourly_schedule_runs_every_real_hour_across_dst_changes() -> None:
    zone = "America/New_York"
    fall = runs(timetable_from_schedule("@hourly", zone), local(zone, 2024, 11, 3), 30)
    fall_day = [i for i in fall if i.data_interval.start < local(zone, 2024, 11, 4)]
    assert len(fall_day) == 25
    spring = runs(timetable_from_schedule("@hourly", zone), local(zone, 2024, 3, 10), 30)
    assert len([i for i in spring if i.data_interval.start < local(zone, 2024, 3, 11)]) == 23
    assert {i.data_interval.end - i.data_interval.start for i in fall + spring} == {
        timedelta(hours=1)}


@pytest.mark.parametrize("zone", DST_ZONES)
@pytest.mark.parametrize("cron", ["0 0 * * *", "30 1 * * *", "0 2 * * *", "15 2 * * *",
                                  "45 23 * * *"])
def test_a_daily_schedule_runs_exactly_once_per_local_day_for_a_whole_year(
    zone: str, cron: str
) -> None:
    infos = runs(timetable_from_schedule(cron, zone), local(zone, 2024, 1, 1), 400)
    tz = ZoneInfo(zone)
    days = [i.data_interval.end.astimezone(tz).date() for i in infos]
    assert days == [date(2024, 1, 1) + timedelta(days=n) for n in range(1, 401)][: len(days)]
    assert all(i.data_interval.end > i.data_interval.start for i in infos)


# --- delta, trigger, once, continuous, null --------------------------------------------

def test_a_delta_schedule_starts_at_start_date_and_steps_by_the_delta() -> None:
    infos = runs(timetable_from_schedule(timedelta(hours=6)), utc(2024, 1, 1, 1), 3)
    assert [i.data_interval.start for i in infos] == [utc(2024, 1, 1, h) for h in (1, 7, 13)]


def test_a_delta_schedule_without_catchup_covers_the_last_delta_before_now() -> None:
    now = utc(2024, 5, 5, 5, 5)
    infos = runs(timetable_from_schedule(timedelta(hours=1)), utc(2024, 1, 1), 1, catchup=False,
                 now=now)
    assert spans(infos) == [(now - timedelta(hours=1), now)]


def test_a_delta_schedule_without_catchup_follows_on_from_a_run_when_asked_as_the_next_one_falls_due() -> None:
    """Before: asked a moment after the next interval ended (when the scheduler creates it), the
    interval started that moment after the last run's end: a gap, and a logical date drifting by the
    scheduler's latency at every run."""
    timetable = timetable_from_schedule(timedelta(hours=1))
    restriction = TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=False)
    last = DataInterval(utc(2024, 5, 5, 4), utc(2024, 5, 5, 5))
    due = utc(2024, 5, 5, 6) + timedelta(milliseconds=7)
    info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=due)
    assert info == DagRunInfo.interval(utc(2024, 5, 5, 5), utc(2024, 5, 5, 6))
    late = utc(2024, 5, 5, 7, 30)  # more than one interval behind: skip ahead, as Airflow does
    info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=late)
    assert info == DagRunInfo.interval(late - timedelta(hours=1), late)


def test_a_relativedelta_schedule_steps_by_calendar_months() -> None:
    infos = runs(timetable_from_schedule(relativedelta(months=1)), utc(2024, 1, 31), 3)
    assert [i.data_interval.end for i in infos] == [utc(2024, 2, 29), utc(2024, 3, 29),
                                                    utc(2024, 4, 29)]


def test_a_cron_trigger_runs_at_the_cron_time_with_an_interval_ending_then() -> None:
    timetable = CronTriggerTimetable("0 6 * * *", timezone="UTC", interval=timedelta(hours=6))
    infos = runs(timetable, utc(2024, 1, 1, 7), 2)
    assert [i.run_after for i in infos] == [utc(2024, 1, 2, 6), utc(2024, 1, 3, 6)]
    assert spans(infos)[0] == (utc(2024, 1, 2), utc(2024, 1, 2, 6))


def test_a_cron_trigger_without_catchup_runs_the_latest_missed_time_then_continues() -> None:
    timetable = CronTriggerTimetable("0 * * * *", timezone="UTC")
    infos = runs(timetable, utc(2024, 1, 1), 2, catchup=False, now=utc(2024, 2, 1, 10, 30))
    assert [i.run_after for i in infos] == [utc(2024, 2, 1, 10), utc(2024, 2, 1, 11)]
    assert infos[0].data_interval == DataInterval.exact(utc(2024, 2, 1, 10))


def test_a_cron_trigger_manual_run_covers_the_interval_before_it() -> None:
    timetable = CronTriggerTimetable("0 * * * *", timezone="UTC", interval=timedelta(hours=1))
    assert timetable.infer_manual_data_interval(run_after=utc(2024, 1, 1, 5, 10)) == DataInterval(
        utc(2024, 1, 1, 4, 10), utc(2024, 1, 1, 5, 10))


def test_once_runs_a_single_time_at_the_start_date() -> None:
    infos = runs(timetable_from_schedule("@once"), utc(2024, 1, 1, 12), 5)
    assert infos == [DagRunInfo.exact(utc(2024, 1, 1, 12))]
    assert runs(timetable_from_schedule("@once"), utc(2024, 1, 2), 5, end=utc(2024, 1, 1)) == []


def test_continuous_starts_the_next_run_where_the_last_ended_at_now() -> None:
    timetable = timetable_from_schedule("@continuous")
    restriction = TimeRestriction(utc(2024, 1, 1), None, False)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction, now=utc(2024, 1, 5))
    assert first == DagRunInfo.interval(utc(2024, 1, 1), utc(2024, 1, 5))
    second = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval, restriction=restriction,
        now=utc(2024, 1, 5, 0, 3))
    assert second == DagRunInfo.interval(utc(2024, 1, 5), utc(2024, 1, 5, 0, 3))


def test_a_null_schedule_never_runs_by_itself_and_manual_runs_are_exact() -> None:
    assert runs(NullTimetable(), utc(2024, 1, 1), 3) == []
    assert NullTimetable().infer_manual_data_interval(run_after=utc(2024, 1, 1)) == (
        DataInterval.exact(utc(2024, 1, 1)))


# --- cron expressions (checked against croniter as an independent oracle) -------------

ORACLE_CRONS = ["0 * * * *", "*/20 * * * *", "30 1 * * *", "0 0 1 */3 *", "45 1,2 * * 1-5",
                "0 0 29 2 *", "5 4 13 * fri", "0 9-17/2 * jan-mar mon-fri", "0 0 1,15 * 3",
                "* * * * *", "59 23 31 12 *", "0 12 * * 7", "3/7 * * * *", "0 0 * * 5-7"]


@settings(max_examples=150, deadline=None)
@given(cron=st.sampled_from(ORACLE_CRONS),
       moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)))
def test_cron_expressions_step_like_croniter(cron: str, moment: datetime) -> None:
    expression = CronExpression.parse(cron)
    assert expression.next_wall(moment) == croniter(cron, moment).get_next(datetime)
    assert expression.prev_wall(moment) == croniter(cron, moment).get_prev(datetime)
    minute = moment.replace(second=0, microsecond=0)
    assert expression.matches(minute) == croniter.match(cron, minute)


@pytest.mark.parametrize("text", ["0 25 * * *", "* * *", "a b c d e", "*/0 * * * *",
                                  "1-x * * * *"])
def test_malformed_cron_expressions_are_refused_with_their_text(text: str) -> None:
    with pytest.raises(DagDefinitionError, match="invalid cron expression"):
        CronExpression.parse(text)


def test_a_cron_expression_that_never_fires_is_refused() -> None:
    with pytest.raises(DagDefinitionError, match="never fires"):
        timetable_from_schedule("0 0 30 2 *")


# --- properties ----------------------------------------------------------------------------

CRONS = ["0 * * * *", "*/20 * * * *", "30 1 * * *", "0 2 * * *", "15 2 * * *",
         "0 0 * * 0", "0 0 1 */3 *", "45 1,2 * * 1-5", "*/10 2-3 * * *"]
ZONES = ["UTC", *DST_ZONES]
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                       timezones=st.just(UTC))


def _is_cron_match(cron: str, zone: str, moment: datetime) -> bool:
    """Matches on the wall clock, or stands for a wall time skipped by spring-forward."""
    tz = ZoneInfo(zone)
    wall = moment.astimezone(tz).replace(tzinfo=None)
    if croniter.match(cron, wall):
        return True
    before = (moment - timedelta(hours=3)).astimezone(tz).utcoffset()
    skipped_wall = (moment + before).replace(tzinfo=None)  # type: ignore[operator]
    exists = skipped_wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(
        tzinfo=None) == skipped_wall
    return not exists and croniter.match(cron, skipped_wall)


@settings(max_examples=60, deadline=None)
@given(cron=st.sampled_from(CRONS), zone=st.sampled_from(ZONES), start=moments)
def test_intervals_are_contiguous_positive_and_end_on_cron_matches(
    cron: str, zone: str, start: datetime
) -> None:
    infos = runs(timetable_from_schedule(cron, zone), start, 12)
    assert len(infos) == 12
    for info in infos:
        assert info.data_interval.start < info.data_interval.end <= info.run_after
        assert _is_cron_match(cron, zone, info.data_interval.end)
    for earlier, later in zip(infos, infos[1:]):
        assert later.data_interval.start == earlier.data_interval.end
    assert infos[0].data_interval.start >= start


@settings(max_examples=60, deadline=None)
@given(cron=st.sampled_from(CRONS), zone=st.sampled_from(ZONES), now=moments)
def test_without_catchup_the_next_run_is_the_latest_complete_interval_at_now(
    cron: str, zone: str, now: datetime
) -> None:
    timetable = timetable_from_schedule(cron, zone)
    (info,) = runs(timetable, datetime(2019, 1, 1, tzinfo=UTC), 1, catchup=False, now=now)
    assert info.data_interval.end <= now
    (following,) = runs(timetable, info.data_interval.end, 1)
    assert following.data_interval.end > now  # no complete interval was skipped over
    assert following.data_interval.start == info.data_interval.end


@settings(max_examples=40, deadline=None)
@given(cron=st.sampled_from(["0 0 * * *", "30 1 * * *", "0 2 * * *", "15 2 * * *", "30 2 * * *"]),
       zone=st.sampled_from(DST_ZONES), start=moments)
def test_daily_schedules_in_dst_zones_neither_skip_nor_repeat_a_day(
    cron: str, zone: str, start: datetime
) -> None:
    infos = runs(timetable_from_schedule(cron, zone), start, 40)
    tz = ZoneInfo(zone)
    days = [i.data_interval.end.astimezone(tz).date() for i in infos]
    assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:]))
    assert all(i.data_interval.end - i.data_interval.start >= timedelta(hours=22) for i in infos)


@settings(max_examples=40, deadline=None)
@given(hours=st.integers(1, 24 * 9), start=moments, now=moments)
def test_delta_runs_are_contiguous_and_skip_to_the_last_delta_without_catchup(
    hours: int, start: datetime, now: datetime
) -> None:
    timetable = timetable_from_schedule(timedelta(hours=hours))
    infos = runs(timetable, start, 5)
    assert all(b.data_interval.start == a.data_interval.end for a, b in zip(infos, infos[1:]))
    assert all(i.run_after == i.data_interval.end for i in infos)
    (latest,) = runs(timetable, start, 1, catchup=False, now=now)
    assert latest.data_interval.start == max(start, now - timedelta(hours=hours))


@settings(max_examples=40, deadline=None)
@given(cron=st.sampled_from(CRONS), zone=st.sampled_from(ZONES), start=moments)
def test_cron_triggers_run_at_increasing_cron_matches(
    cron: str, zone: str, start: datetime
) -> None:
    infos = runs(CronTriggerTimetable(cron, timezone=zone), start, 8)
    times = [i.run_after for i in infos]
    assert times == sorted(set(times)) and times[0] >= start
    assert all(_is_cron_match(cron, zone, t) for t in times)
    assert all(i.data_interval.end == i.run_after for i in infos)
