"""Task groups: the same extract/clean steps for each source, then one merge."""
from __future__ import annotations

from datetime import datetime

from flowctl import DAG
from flowctl.operators.bash import BashOperator
from flowctl.operators.empty import EmptyOperator
from flowctl.utils.task_group import TaskGroup

SOURCES = ["crm", "billing", "web"]

with DAG(
    dag_id="example_task_groups",
    schedule="0 6 * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    start = EmptyOperator(task_id="start")
    merge = BashOperator(task_id="merge", bash_command="echo 'merging {{ params.sources }}'",
                         params={"sources": ",".join(SOURCES)})

    for source in SOURCES:
        with TaskGroup(group_id=source, tooltip=f"extract and clean {source}") as group:
            fetch = BashOperator(task_id="fetch", bash_command=f"echo fetching {source}")
            clean = BashOperator(task_id="clean", bash_command=f"echo cleaning {source}")
            fetch >> clean
        start >> group >> merge
