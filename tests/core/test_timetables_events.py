"""EventsTimetable: runs at a fixed list of instants (Airflow's airflow.timetables.events)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pendulum

from flowctl.core.timetables import DataInterval, TimeRestriction, timetable_from_dict
from flowctl.core.timetables.events import EventsTimetable

UTC = timezone.utc
EVENTS = [datetime(2024, 3, 5, 12, tzinfo=UTC), datetime(2024, 1, 1, 9, tzinfo=UTC),
          datetime(2024, 2, 1, 18, tzinfo=UTC)]
NOW = datetime(2024, 1, 15, tzinfo=UTC)


def restriction(catchup: bool, earliest: datetime | None = datetime(2023, 12, 1, tzinfo=UTC),
                latest: datetime | None = None) -> TimeRestriction:
    return TimeRestriction(earliest=earliest, latest=latest, catchup=catchup)


def next_run(timetable: EventsTimetable, last_end: datetime | None, limits: TimeRestriction,
             now: datetime = NOW) -> datetime | None:
    last = DataInterval(last_end, last_end) if last_end is not None else None
    info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=limits, now=now)
    return None if info is None else info.run_after


def test_with_catchup_each_event_runs_in_date_order_at_its_instant_with_an_empty_interval() -> None:
    timetable = EventsTimetable(event_dates=EVENTS)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction(True), now=NOW)
    assert info is not None and info.run_after == info.data_interval.start == info.data_interval.end == EVENTS[1]
    assert next_run(timetable, EVENTS[1], restriction(True)) == EVENTS[2]
    assert next_run(timetable, EVENTS[2], restriction(True)) == EVENTS[0]
    assert next_run(timetable, EVENTS[0], restriction(True)) is None


def test_without_catchup_events_before_the_latest_one_due_by_now_are_skipped() -> None:
    timetable = EventsTimetable(event_dates=EVENTS)
    assert next_run(timetable, None, restriction(False)) == EVENTS[1]  # the latest due by NOW
    assert next_run(timetable, None, restriction(False), now=EVENTS[2]) == EVENTS[2]  # due at this instant
    assert next_run(timetable, EVENTS[1], restriction(False), now=datetime(2024, 3, 1, tzinfo=UTC)) == EVENTS[2]
    assert next_run(timetable, None, restriction(False), now=datetime(2024, 3, 1, tzinfo=UTC)) == EVENTS[2]
    assert next_run(timetable, None, restriction(False), now=datetime(2023, 1, 1, tzinfo=UTC)) == EVENTS[1]


def test_events_before_start_date_or_after_end_date_do_not_run() -> None:
    timetable = EventsTimetable(event_dates=EVENTS)
    limits = restriction(True, earliest=datetime(2024, 1, 2, tzinfo=UTC), latest=datetime(2024, 3, 1, tzinfo=UTC))
    assert next_run(timetable, None, limits) == EVENTS[2]
    assert next_run(timetable, EVENTS[2], limits) is None


def test_no_events_means_no_runs() -> None:
    timetable = EventsTimetable(event_dates=[])
    assert next_run(timetable, None, restriction(True)) is None
    assert timetable.summary == "0 events" and timetable.description == "No events"


def test_a_manual_run_covers_its_trigger_time_unless_restricted_to_events() -> None:
    at = datetime(2024, 2, 10, tzinfo=UTC)
    assert EventsTimetable(event_dates=EVENTS).infer_manual_data_interval(run_after=at) == DataInterval.exact(at)
    restricted = EventsTimetable(event_dates=EVENTS, restrict_to_events=True)
    assert restricted.infer_manual_data_interval(run_after=at) == DataInterval.exact(EVENTS[2])
    early = datetime(2023, 1, 1, tzinfo=UTC)
    assert restricted.infer_manual_data_interval(run_after=early) == DataInterval.exact(EVENTS[1])


def test_pendulum_and_naive_event_dates_are_accepted_naive_in_the_default_zone_utc() -> None:
    timetable = EventsTimetable(event_dates=[pendulum.datetime(2024, 1, 1, 9, tz="Europe/Berlin"),
                                             datetime(2024, 1, 1, 9)])
    assert next_run(timetable, None, restriction(True)) == datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert next_run(timetable, datetime(2024, 1, 1, 8, tzinfo=UTC), restriction(True)) == datetime(2024, 1, 1, 9, tzinfo=UTC)


def test_the_timetable_survives_serialization_with_its_description() -> None:
    timetable = EventsTimetable(event_dates=EVENTS, restrict_to_events=True, description="launches")
    copy = timetable_from_dict(json.loads(json.dumps(timetable.serialize())))
    assert copy == timetable and copy.description == "launches" and copy.summary == "3 events"
    assert next_run(copy, None, restriction(True)) == EVENTS[1]


def test_the_airflow_path_and_a_dag_schedule_accept_it() -> None:
    from flowctl import DAG
    from flowctl.timetables.events import EventsTimetable as AirflowPath

    with DAG("launches", schedule=AirflowPath(event_dates=EVENTS), start_date=datetime(2023, 1, 1)) as dag:
        pass
    assert AirflowPath is EventsTimetable and dag.timetable.summary == "3 events"
