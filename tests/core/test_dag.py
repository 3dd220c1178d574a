"""DAG: ids, schedule arguments, graph queries, cycles, subsets."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG, DagContext, find_cycle
from flowctl.core.errors import (
    CycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    NotSupportedError,
    ParamValidationError,
    TaskNotFound,
)
from flowctl.core.datasets import Dataset
from flowctl.core.params import Param
from flowctl.core.timetables import (
    DagRunInfo,
    DataInterval,
    DatasetOrTimeSchedule,
    EventsTimetable,
    TimeRestriction,
    Timetable,
)

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _op(task_id: str, **kwargs: object) -> BaseOperator:
    return BaseOperator(task_id=task_id, **kwargs)


def test_dag_ids_allow_letters_digits_dash_underscore_and_dot() -> None:
    assert DAG("my-dag_1.v2", start_date=START).dag_id == "my-dag_1.v2"


@pytest.mark.parametrize("bad", ["", "has space", "slash/no", "x" * 251, "ünï"])
def test_invalid_dag_ids_are_rejected_with_a_clear_error(bad: str) -> None:
    with pytest.raises(DagDefinitionError, match="dag_id"):
        DAG(bad)


def test_a_dag_without_a_schedule_runs_daily() -> None:
    dag = DAG("d", start_date=START)
    assert dag.schedule_interval == "@daily"
    assert dag.timetable.summary == "@daily"


def test_schedule_and_schedule_interval_are_both_accepted_but_not_together() -> None:
    assert DAG("a", schedule="0 * * * *").timetable.summary == "0 * * * *"
    assert DAG("b", schedule_interval=timedelta(hours=2)).schedule_interval == timedelta(hours=2)
    assert DAG("c", schedule=None).schedule_interval is None
    with pytest.raises(DagDefinitionError, match="only one"):
        DAG("d", schedule="@daily", schedule_interval="@hourly")


def test_naive_start_dates_are_utc_and_the_timezone_comes_from_the_start_date() -> None:
    assert DAG("a", start_date=datetime(2024, 1, 1)).start_date == pendulum.datetime(2024, 1, 1, tz="UTC")
    assert DAG("a", start_date=datetime(2024, 1, 1)).timezone == "UTC"
    berlin = pendulum.datetime(2024, 1, 1, tz="Europe/Berlin")
    assert DAG("b", start_date=berlin).timezone == "Europe/Berlin"
    assert DAG("c").timezone == "UTC"


def test_start_date_falls_back_to_default_args() -> None:
    dag = DAG("d", default_args={"start_date": START})
    assert dag.start_date == START


def test_catchup_is_stored_as_given_and_resolves_none_to_true() -> None:
    assert DAG("a").catchup_setting is None and DAG("a").catchup is True
    assert DAG("b", catchup=False).catchup is False


def test_operators_created_inside_with_join_the_dag_and_the_stack_unwinds() -> None:
    with DAG("d", start_date=START) as dag:
        task = _op("t")
        assert DagContext.current() is dag
    assert DagContext.current() is None
    assert task.dag is dag and dag.task_ids == ["t"] and task.dag_id == "d"


def test_the_dag_keyword_attaches_an_operator_without_a_with_block() -> None:
    dag = DAG("d")
    task = _op("t", dag=dag)
    assert dag.get_task("t") is task and dag.has_task("t") and dag.task_count == 1


def test_a_task_inherits_the_dag_start_date() -> None:
    with DAG("d", start_date=START):
        task = _op("t")
    assert task.start_date == START


def test_duplicate_task_ids_raise() -> None:
    with DAG("d"):
        _op("t")
        with pytest.raises(DuplicateTaskIdError, match="'t'"):
            _op("t")


def test_get_task_names_the_missing_task_and_the_dag() -> None:
    with pytest.raises(TaskNotFound, match="'nope'.*'d'"):
        DAG("d").get_task("nope")


def test_roots_leaves_and_transitive_relatives() -> None:
    with DAG("d") as dag:
        a, b, c, d = _op("a"), _op("b"), _op("c"), _op("d")
        a >> [b, c] >> d
    assert dag.roots == [a] and dag.leaves == [d]
    assert dag.get_downstream_task_ids("a") == {"b", "c", "d"}
    assert dag.get_upstream_task_ids("d") == {"a", "b", "c"}


def test_topological_sort_is_stable_by_insertion_order() -> None:
    with DAG("d") as dag:
        z, y, x, w = _op("z"), _op("y"), _op("x"), _op("w")
        z >> w
        y >> w
        x >> y
    assert [t.task_id for t in dag.topological_sort()] == ["z", "x", "y", "w"]


def test_a_cycle_is_reported_by_name() -> None:
    with DAG("d") as dag:
        a, b, c = _op("a"), _op("b"), _op("c")
        a >> b >> c >> a
    with pytest.raises(CycleError, match="a -> b -> c -> a"):
        dag.check_cycle()
    with pytest.raises(CycleError):
        dag.topological_sort()


def test_find_cycle_returns_none_for_an_acyclic_graph() -> None:
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_validate_checks_param_defaults_and_continuous_runs() -> None:
    DAG("ok", start_date=START, params={"n": Param(1, type="integer")}).validate()
    with pytest.raises(ParamValidationError, match="'n'"):
        DAG("bad", start_date=START, params={"n": Param("x", type="integer")}).validate()
    with pytest.raises(DagDefinitionError, match="max_active_runs"):
        DAG("c", start_date=START, schedule="@continuous", max_active_runs=2).validate()


def test_a_scheduled_dag_needs_a_start_date_and_defaults_for_its_required_params_as_in_airflow() -> None:
    """Before: both were accepted, and the DAG then never ran, or every scheduled run failed."""
    with pytest.raises(DagDefinitionError, match="no start_date"):
        DAG("no_start", schedule="@daily").validate()
    with DAG("task_start", schedule="@daily") as dag:
        _op("a", start_date=START)
    dag.validate()  # a task's start_date is enough, as in Airflow
    DAG("manual_only", schedule=None).validate()
    with pytest.raises(DagDefinitionError, match="param 'must' has no default"):
        DAG("required", start_date=START, schedule="@daily", params={"must": Param(type="string")}).validate()
    DAG("nullable", start_date=START, schedule="@daily", params={"may": Param(type=["null", "string"])}).validate()
    DAG("manual", start_date=START, schedule=None, params={"must": Param(type="string")}).validate()


class AfterWorkday(Timetable):
    """A custom timetable as Airflow's documentation writes one (registered there by a plugin)."""

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        return None


def test_a_custom_timetable_is_refused_at_parse_time_naming_the_flowctl_ways() -> None:
    """Before: the file parsed, then the scheduler logged "unknown timetable type" every 30 s and
    never ran the DAG (it runs no DAG-file code, so it cannot rebuild a class defined there)."""
    pattern = r"AfterWorkday is not supported by flowctl; .*CronTriggerTimetable.*EventsTimetable"
    with pytest.raises(NotSupportedError, match=pattern):
        DAG("custom", start_date=START, schedule=AfterWorkday()).validate()
    either = DatasetOrTimeSchedule(timetable=AfterWorkday(), datasets=[Dataset("s3://b/k")])
    with pytest.raises(NotSupportedError, match=pattern):
        DAG("custom_or_data", start_date=START, schedule=either).validate()
    DAG("events", start_date=START, schedule=EventsTimetable(event_dates=[START])).validate()


def test_owner_joins_the_task_owners() -> None:
    with DAG("d") as dag:
        _op("a", owner="bob")
        _op("b", owner="alice")
        _op("c", owner="bob")
    assert dag.owner == "alice, bob"


def test_fileloc_is_the_file_that_created_the_dag() -> None:
    assert DAG("d").fileloc == __file__


def test_partial_subset_keeps_the_selected_tasks_and_requested_relatives() -> None:
    with DAG("d") as dag:
        a, b, c, d = _op("a"), _op("b"), _op("c"), _op("d")
        a >> b >> c >> d
    down = dag.partial_subset(["b"], include_downstream=True, include_upstream=False)
    assert down.task_ids == ["b", "c", "d"]
    assert down.get_task("b").upstream_task_ids == set()
    up = dag.partial_subset("^c$")
    assert up.task_ids == ["a", "b", "c"] and up.get_task("c").downstream_task_ids == set()
    assert dag.task_ids == ["a", "b", "c", "d"] and b.upstream_task_ids == {"a"}
    with pytest.raises(TaskNotFound):
        dag.partial_subset(["zz"])


def test_dag_cli_is_not_supported_and_names_the_flowctl_command() -> None:
    with pytest.raises(NotSupportedError, match="use the `flowctl` command"):
        DAG("d").cli()


def test_concurrency_is_an_alias_of_max_active_tasks() -> None:
    assert DAG("d", concurrency=4).max_active_tasks == 4


def test_closing_a_with_block_registers_the_dag_for_the_file_processor() -> None:
    DagContext.autoregistered.clear()
    with DAG("reg") as dag:
        pass
    assert DagContext.autoregistered == [dag]
    DagContext.autoregistered.clear()


def test_an_unknown_default_view_or_orientation_is_an_error_naming_the_choices_as_in_airflow() -> None:
    with pytest.raises(DagDefinitionError, match=r"orientation of DAG 'o' must be one of LR, TB, RL, BT, not 'XX'"):
        DAG("o", orientation="XX")
    with pytest.raises(DagDefinitionError, match=r"default_view of DAG 'v' must be one of grid, graph"):
        DAG("v", default_view="calendar2")
    assert DAG("t", default_view="tree").default_view == "grid"  # Airflow 2.3+ took tree to grid
    assert DAG("g", default_view="gantt", orientation="TB").orientation == "TB"
