"""LatestOnlyOperator: downstream tasks run only for the newest scheduled interval (and manual runs)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flowctl.core.context import RunInfo
from flowctl.core.dag import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.latest_only import LatestOnlyOperator, is_latest_run
from tests.operators.contract_ti import ContractTI, context_for

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _run(day: int, run_type: str = "scheduled") -> RunInfo:
    start = START + timedelta(days=day)
    return RunInfo(run_id=f"r{day}", logical_date=start, data_interval_start=start,
                   data_interval_end=start + timedelta(days=1), run_type=run_type)


def _dag() -> tuple[DAG, LatestOnlyOperator]:
    with DAG("d", start_date=START, schedule="@daily") as dag:
        latest = LatestOnlyOperator(task_id="latest")
        latest >> EmptyOperator(task_id="after")
    return dag, latest


def test_only_the_interval_whose_successor_has_not_ended_is_the_latest() -> None:
    dag, _ = _dag()
    now = START + timedelta(days=5, hours=3)  # inside the interval of day 5, so day 4's run is the latest
    assert is_latest_run(dag.timetable, _run(4), now)
    assert not is_latest_run(dag.timetable, _run(3), now)


def test_an_old_scheduled_run_skips_the_downstream_tasks() -> None:
    _, latest = _dag()
    ti = ContractTI()
    latest.execute(context_for(latest, ti, dag_run=_run(0)))
    assert ti.skipped == {"after"}


def test_a_manual_run_always_runs_the_downstream_tasks() -> None:
    _, latest = _dag()
    ti = ContractTI()
    latest.execute(context_for(latest, ti, dag_run=_run(0, run_type="manual")))
    assert ti.skipped == set()
