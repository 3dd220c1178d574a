"""A sensor in reschedule mode waits for a file that the upstream task writes."""
from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from flowctl import DAG
from flowctl.operators.python import PythonOperator
from flowctl.sensors.python import PythonSensor


def _marker(run_id: str) -> Path:
    safe = "".join(c if c.isalnum() else "_" for c in run_id)
    return Path(tempfile.gettempdir()) / f"flowctl_example_sensor_{safe}.ready"


def land_file(run_id) -> None:
    _marker(run_id).write_text("ready\n")


def file_landed(run_id) -> bool:
    return _marker(run_id).exists()


def consume(run_id) -> None:
    marker = _marker(run_id)
    print(f"consuming {marker}")
    marker.unlink(missing_ok=True)


with DAG(
    dag_id="example_sensor",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "sensor"],
) as dag:
    land = PythonOperator(task_id="land_file", python_callable=land_file)
    wait = PythonSensor(
        task_id="wait_for_file",
        python_callable=file_landed,
        mode="reschedule",
        poke_interval=1,
        timeout=60,
    )
    use = PythonOperator(task_id="consume", python_callable=consume)
    land >> wait >> use
