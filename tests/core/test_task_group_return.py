"""What calling a ``@task_group`` function returns: the function's value when it is not None, else the group.

Run-time values are checked the way ``flowctl dags test`` runs a DAG (``run_for_test``, XComs in memory).
"""
from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any

from flowctl.core.dag import DAG
from flowctl.core.taskgroup import TaskGroup
from flowctl.core.xcom_arg import XComArg
from flowctl.decorators import task, task_group
from flowctl.operators.empty import EmptyOperator
from flowctl.task_runner.adhoc import adhoc_run_info, run_for_test
from flowctl.task_runner.taskinstance import MemoryBackend

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _run(dag: DAG) -> dict[str, Any]:
    memory, results = MemoryBackend(), {}
    for op in dag.topological_sort():
        result = run_for_test(dag, op.task_id, adhoc_run_info(T0), memory=memory, log_stream=io.StringIO())
        assert result.state == "success", result.error
        results[op.task_id] = result.return_value
    return results


@task_group
def increment(x: Any) -> XComArg:
    @task
    def inc(v: int) -> int:
        return v + 1

    return inc(x)


@task_group
def quiet() -> None:
    EmptyOperator(task_id="first") >> EmptyOperator(task_id="last")


@task
def show(value: int) -> int:
    return value * 10


def test_a_group_returning_an_xcomarg_passes_the_value_to_the_next_task() -> None:
    with DAG("d", schedule=None, start_date=T0) as dag:
        result = increment(1)
        shown = show(result)
    assert isinstance(result, XComArg) and result.task_id == "increment.inc"
    assert dag.get_task(shown.task_id).upstream_task_ids == {"increment.inc"}
    assert "increment" in dag.task_group_dict
    assert _run(dag) == {"increment.inc": 2, "show": 20}


def test_a_group_returning_none_returns_the_group_for_dependencies() -> None:
    with DAG("d", schedule=None, start_date=T0):
        group = quiet()
        after = EmptyOperator(task_id="after")
        group >> after
    assert isinstance(group, TaskGroup) and group.group_id == "quiet"
    assert after.upstream_task_ids == {"quiet.last"}


def test_shifting_a_returned_xcomarg_links_its_task() -> None:
    with DAG("d", schedule=None, start_date=T0) as dag:
        before = EmptyOperator(task_id="before")
        before >> increment(1) >> EmptyOperator(task_id="after")
    assert dag.get_task("increment.inc").upstream_task_ids == {"before"}
    assert dag.get_task("after").upstream_task_ids == {"increment.inc"}


def test_each_call_of_a_group_returning_a_value_gets_its_own_group() -> None:
    with DAG("d", schedule=None, start_date=T0) as dag:
        show(increment(increment(1)))
    assert dag.get_task("increment__1.inc").upstream_task_ids == {"increment.inc"}
    assert _run(dag) == {"increment.inc": 2, "increment__1.inc": 3, "show": 30}


def test_an_overridden_group_returns_the_value_too() -> None:
    with DAG("d", schedule=None, start_date=T0) as dag:
        result = increment.override(group_id="named")(5)
    assert result.task_id == "named.inc"
    assert _run(dag) == {"named.inc": 6}
