"""BranchDayOfWeekOperator and BranchDateTimeOperator: follow one set of tasks or the other."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError
from flowctl.operators.datetime import BranchDateTimeOperator, target_times_as_dates
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.weekday import BranchDayOfWeekOperator
from tests.operators.contract_ti import ContractTI, context_for

SATURDAY = pendulum.datetime(2024, 3, 9, 10)


def _branch(operator_class: type, clock: Any = None, **kwargs: Any) -> tuple[Any, DAG]:
    with DAG("branching", start_date=dt.datetime(2024, 1, 1)) as dag:
        branch = operator_class(task_id="branch", follow_task_ids_if_true="yes", follow_task_ids_if_false="no",
                                **kwargs)
        branch >> [EmptyOperator(task_id="yes"), EmptyOperator(task_id="no")]
    if clock is not None:
        branch.clock = lambda: clock
    return branch, dag


def _skipped(branch: Any, **context: Any) -> set[str]:
    ti = ContractTI()
    branch.execute(context_for(branch, ti, **context))
    return ti.skipped


def test_the_weekday_branch_follows_the_true_tasks_on_the_given_days() -> None:
    branch, _ = _branch(BranchDayOfWeekOperator, SATURDAY, week_day={"saturday", "sunday"})
    assert _skipped(branch) == {"no"}
    branch, _ = _branch(BranchDayOfWeekOperator, SATURDAY, week_day="Monday")
    assert _skipped(branch) == {"yes"}


def test_the_weekday_branch_can_use_the_logical_date() -> None:
    branch, _ = _branch(BranchDayOfWeekOperator, SATURDAY, week_day="Monday", use_task_logical_date=True)
    assert _skipped(branch, logical_date=pendulum.datetime(2024, 3, 11)) == {"no"}


def test_the_datetime_branch_follows_the_true_tasks_inside_the_window() -> None:
    branch, _ = _branch(BranchDateTimeOperator, SATURDAY, target_lower=dt.time(9), target_upper=dt.time(11))
    assert _skipped(branch) == {"no"}
    branch, _ = _branch(BranchDateTimeOperator, SATURDAY, target_lower=dt.time(11))
    assert _skipped(branch) == {"yes"}
    branch, _ = _branch(BranchDateTimeOperator, SATURDAY, target_upper=dt.datetime(2024, 3, 9, 12))
    assert _skipped(branch) == {"no"}


def test_an_upper_time_before_the_lower_one_is_on_the_next_day() -> None:
    base = dt.datetime(2024, 3, 9, 23)
    assert target_times_as_dates(base, dt.time(22), dt.time(2)) == (dt.datetime(2024, 3, 9, 22),
                                                                    dt.datetime(2024, 3, 10, 2))


def test_the_datetime_branch_needs_a_bound() -> None:
    with pytest.raises(DagDefinitionError, match="give at least one"):
        _branch(BranchDateTimeOperator)
    with pytest.raises(DagDefinitionError, match="must be a datetime, a time or None"):
        _branch(BranchDateTimeOperator, target_lower="09:00")


def test_both_branches_read_the_clock_and_naive_bounds_in_a_dag_zone_of_a_fixed_offset() -> None:
    """A DAG whose start date has a fixed offset is in that zone (as the TimeSensor reads it)."""
    plus_nine = dt.timezone(dt.timedelta(hours=9))
    with DAG("fixed", start_date=dt.datetime(2024, 1, 1, tzinfo=plus_nine), schedule=None):
        weekday = BranchDayOfWeekOperator(task_id="weekday", follow_task_ids_if_true="yes",
                                          follow_task_ids_if_false="no", week_day="Sunday")
        window = BranchDateTimeOperator(task_id="window", follow_task_ids_if_true="yes",
                                        follow_task_ids_if_false="no", target_lower=dt.datetime(2024, 3, 10, 5),
                                        target_upper=dt.datetime(2024, 3, 10, 6))
    saturday_evening_utc = pendulum.datetime(2024, 3, 9, 20, 30)  # Sunday 05:30 at +09:00
    for branch in (weekday, window):
        branch.clock = lambda: saturday_evening_utc
        assert branch.choose_branch({}) == "yes"


def test_the_weekday_branch_reads_the_day_in_the_zone_of_naive_start_dates() -> None:
    from flowctl.core.timezones import use_default_timezone

    use_default_timezone("Asia/Tokyo")  # [core] default_timezone of the process that parsed the file
    branch, dag = _branch(BranchDayOfWeekOperator, pendulum.datetime(2024, 3, 9, 20, 30), week_day="Sunday")
    assert dag.timezone == "Asia/Tokyo" and _skipped(branch) == {"no"}
