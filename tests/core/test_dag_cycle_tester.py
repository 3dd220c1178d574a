"""``flowctl.utils.dag_cycle_tester.check_cycle``: what users' DagBag tests call (Airflow's path)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flowctl.core.dag import DAG
from flowctl.exceptions import AirflowDagCycleException, DagCycleException
from flowctl.operators.empty import EmptyOperator

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_check_cycle_passes_a_dag_without_one_and_names_the_cycle_of_one_with() -> None:
    from flowctl.utils.dag_cycle_tester import check_cycle

    with DAG("fine", start_date=T0, schedule=None) as fine:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    check_cycle(fine)
    with DAG("loop", start_date=T0, schedule=None) as loop:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b >> a
    with pytest.raises(DagCycleException, match="a -> b -> a"):
        check_cycle(loop)
    assert AirflowDagCycleException is DagCycleException
