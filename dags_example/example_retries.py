"""A flaky task that fails on its first try and succeeds on the retry (deterministic)."""
from __future__ import annotations

from datetime import datetime, timedelta

from flowctl import DAG
from flowctl.exceptions import AirflowException
from flowctl.operators.python import PythonOperator


def call_flaky_api(ti) -> str:
    if ti.try_number < 2:
        raise AirflowException(f"try {ti.try_number}: the API timed out (this example always fails once)")
    return f"succeeded on try {ti.try_number}"


with DAG(
    dag_id="example_retries",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    PythonOperator(
        task_id="call_flaky_api",
        python_callable=call_flaky_api,
        retries=2,
        retry_delay=timedelta(seconds=1),
    )
