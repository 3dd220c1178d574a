"""Branching: weekdays get the full report, weekends a light one; both join."""
from __future__ import annotations

from datetime import datetime

from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.python import BranchPythonOperator, PythonOperator
from flowctl.utils.edgemodifier import Label
from flowctl.utils.trigger_rule import TriggerRule


def choose(logical_date) -> str:
    return "weekend_report" if logical_date.weekday() >= 5 else "full_report"


with DAG(
    dag_id="example_branching",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    pick = BranchPythonOperator(task_id="pick_report", python_callable=choose)
    full = PythonOperator(task_id="full_report", python_callable=lambda: print("full report"))
    light = PythonOperator(task_id="weekend_report", python_callable=lambda: print("light report"))
    publish = EmptyOperator(task_id="publish", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

    pick >> Label("on a weekday") >> full >> publish  # the graph view writes each label on its edge
    pick >> Label("on a weekend") >> light >> publish
