"""ETL with Bash and Python operators, passing data through XCom.

`extract` prints a JSON record on its last line (BashOperator pushes it as
XCom), `transform` pulls and reshapes it, `load` prints a summary.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from flowctl import DAG
from flowctl.operators.bash import BashOperator
from flowctl.operators.python import PythonOperator


def transform(ti) -> dict:
    raw = json.loads(ti.xcom_pull(task_ids="extract"))
    total = sum(order["amount"] for order in raw["orders"])
    return {"day": raw["day"], "orders": len(raw["orders"]), "total": total}


def load(ti) -> None:
    summary = ti.xcom_pull(task_ids="transform")
    print(f"loaded {summary['orders']} orders worth {summary['total']} for {summary['day']}")


with DAG(
    dag_id="example_etl",
    description="Extract orders with Bash, transform and load them with Python.",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"owner": "data-eng", "retries": 1, "retry_delay": timedelta(seconds=5)},
    tags=["example", "etl"],
    doc_md=__doc__,
) as dag:
    extract = BashOperator(
        task_id="extract",
        bash_command=(
            "echo 'extracting orders for {{ ds }}' >&2; "
            "echo '{\"day\": \"{{ ds }}\", \"orders\": [{\"amount\": 12}, {\"amount\": 30}]}'"
        ),
    )
    transform_task = PythonOperator(task_id="transform", python_callable=transform)
    load_task = PythonOperator(task_id="load", python_callable=load)

    extract >> transform_task >> load_task
