"""Deferrable tasks: they wait in the triggerer (`flowctl triggerer`; `flowctl standalone` starts one),
not in a worker slot. A short wait, then another DAG's run triggered and waited for."""
from __future__ import annotations

from datetime import datetime, timedelta

from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.trigger_dagrun import TriggerDagRunOperator
from flowctl.sensors.time_delta import TimeDeltaSensorAsync

with DAG(
    dag_id="example_deferrable",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "deferrable"],
) as dag:
    pause = TimeDeltaSensorAsync(task_id="wait_five_seconds", delta=timedelta(seconds=5))
    run_other = TriggerDagRunOperator(
        task_id="run_example_sensor",
        trigger_dag_id="example_sensor",
        wait_for_completion=True,
        deferrable=True,
        poke_interval=2,
    )
    pause >> run_other >> EmptyOperator(task_id="done")
