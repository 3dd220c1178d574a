"""Airflow 2 DAG files run on flowctl once ``airflow`` becomes ``flowctl`` in their imports.

Each file below is written as it would be for Apache Airflow 2, ported by
replacing the package name in import lines, then loaded both in process
(DagBag) and through the subprocess processor.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flowctl.dag_processing.dagbag import DagBag
from flowctl.dag_processing.processor import parse_folder
from flowctl.dag_processing.serialization import deserialize_dag
from flowctl.settings import Settings

# The controller file uses Airflow 1 paths on purpose; their warning is tested in tests/test_compat_paths.py.
pytestmark = pytest.mark.filterwarnings("ignore:flowctl.operators.*is deprecated:DeprecationWarning")

ETL = '''
from datetime import datetime, timedelta
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

def transform(ti, **_):
    raw = ti.xcom_pull(task_ids="extract")
    return raw.upper()

default_args = {"owner": "data-team", "retries": 3, "retry_delay": timedelta(minutes=5)}

with DAG("ported_etl", default_args=default_args, schedule_interval="0 3 * * *",
         start_date=datetime(2023, 1, 1), catchup=False, tags=["etl"]) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo hello")
    clean = PythonOperator(task_id="transform", python_callable=transform)
    load = BashOperator(task_id="load", bash_command="echo {{ ti.xcom_pull(task_ids='transform') }}",
                        pool="warehouse", pool_slots=2)
    extract >> clean >> load
'''

TASKFLOW = '''
import pendulum
from airflow.decorators import dag, task

@dag(schedule="@daily", start_date=pendulum.datetime(2023, 1, 1, tz="UTC"), catchup=False, tags=["taskflow"])
def ported_taskflow():
    @task()
    def extract():
        return {"1001": 301.27, "1002": 433.21}

    @task(multiple_outputs=True)
    def transform(order_data: dict):
        return {"total_order_value": sum(order_data.values())}

    @task(retries=2)
    def load(total_order_value: float):
        print(f"Total order value is: {total_order_value:.2f}")

    summary = transform(extract())
    load(summary["total_order_value"])

ported_taskflow()
'''

GENERATED = '''
from datetime import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

for customer in ["acme", "globex", "initech"]:
    dag_id = f"ported_customer_{customer}"
    with DAG(dag_id, schedule="@hourly", start_date=datetime(2023, 1, 1), catchup=False) as dag:
        EmptyOperator(task_id="start") >> EmptyOperator(task_id="finish")
    globals()[dag_id] = dag
'''

GROUPS = '''
from datetime import datetime
from airflow.models.dag import DAG
from airflow.operators.empty import EmptyOperator
from airflow.operators.bash import BashOperator
from airflow.utils.task_group import TaskGroup
from airflow.utils.trigger_rule import TriggerRule

with DAG(dag_id="ported_groups", schedule=None, start_date=datetime(2023, 1, 1)) as dag:
    start = EmptyOperator(task_id="start")
    with TaskGroup("section_1", tooltip="Tasks for section_1") as section_1:
        task_1 = EmptyOperator(task_id="task_1")
        task_2 = BashOperator(task_id="task_2", bash_command="echo 1")
        task_1 >> task_2
    with TaskGroup("section_2") as section_2:
        with TaskGroup("inner_section_2") as inner:
            EmptyOperator(task_id="task_3")
    end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.ALL_DONE)
    start >> section_1 >> section_2 >> end
'''

POOLS = '''
from datetime import datetime, timedelta
from airflow import DAG
from airflow.operators.python import PythonOperator

def work():
    return "done"

with DAG("ported_pools", schedule=timedelta(hours=6), start_date=datetime(2023, 1, 1),
         max_active_runs=1, max_active_tasks=3) as dag:
    for i in range(3):
        PythonOperator(task_id=f"query_{i}", python_callable=work, pool="db_pool", priority_weight=10 - i,
                       retries=4, retry_delay=timedelta(seconds=30), retry_exponential_backoff=True,
                       max_retry_delay=timedelta(minutes=10), queue="heavy")
'''

CONTROLLER = '''
from datetime import datetime
from airflow import DAG
from airflow.models import TaskInstance
from airflow.models.baseoperator import chain_linear
from airflow.operators.bash_operator import BashOperator
from airflow.operators.python_operator import PythonOperator
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.utils.state import State

try:  # written to run on Airflow versions with and without datasets
    from airflow.datasets import Dataset
except ImportError:
    Dataset = None

def check(ti: TaskInstance, **_):
    assert isinstance(ti, TaskInstance)
    return ti.xcom_pull(task_ids=["prepare", "nothing"])

with DAG("ported_controller", schedule="@daily" if Dataset is None else [Dataset("s3://x")],
         start_date=datetime(2023, 1, 1), catchup=False) as dag:
    prepare = BashOperator(task_id="prepare", bash_command="echo {{ ds }}")
    checks = [PythonOperator(task_id=f"check_{i}", python_callable=check) for i in range(2)]
    trigger = TriggerDagRunOperator(task_id="run_etl", trigger_dag_id="ported_etl", conf={"day": "{{ ds }}"},
                                    wait_for_completion=True, poke_interval=30,
                                    allowed_states=[State.SUCCESS], failed_states=[State.FAILED])
    chain_linear(prepare, checks, trigger)
'''

FILES = {"etl.py": ETL, "taskflow.py": TASKFLOW, "generated.py": GENERATED, "groups.py": GROUPS,
         "pools.py": POOLS, "controller.py": CONTROLLER}


def port(source: str) -> str:
    """Replace the package name ``airflow`` with ``flowctl`` in import lines only."""
    return re.sub(r"^(\s*)(from|import) airflow", r"\1\2 flowctl", source, flags=re.MULTILINE)


@pytest.fixture(params=["dagbag", "processor"])
def dags(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The ported files' DAGs, loaded in process or through child processes."""
    folder = tmp_path / "dags"
    folder.mkdir()
    for name, source in FILES.items():
        (folder / name).write_text(port(source))
    settings = Settings.load(environ={"FLOWCTL_HOME": str(tmp_path), "FLOWCTL__CORE__DAGS_FOLDER": str(folder)})
    if request.param == "dagbag":
        bag = DagBag(settings=settings)
        assert bag.import_errors == {}
        return bag.dags
    result = parse_folder(settings)
    assert result.import_errors == {}
    return {r.dag_id: deserialize_dag(r.data) for r in result.dags}


def test_porting_replaces_only_import_lines() -> None:
    assert "from flowctl.operators.bash import" in port(ETL)
    assert port("x = 'airflow'\n") == "x = 'airflow'\n"


def test_the_ported_etl_keeps_its_dependencies_pools_and_retries(dags: dict[str, Any]) -> None:
    dag = dags["ported_etl"]
    assert [t.task_id for t in dag.topological_sort()] == ["extract", "transform", "load"]
    load = dag.get_task("load")
    assert (load.pool, load.pool_slots, load.retries, load.owner) == ("warehouse", 2, 3, "data-team")
    assert load.task_type == "BashOperator" and "bash_command" in load.template_fields
    assert dag.get_task("transform").upstream_task_ids == {"extract"}
    assert dag.timetable.summary == "0 3 * * *" and dag.tags == ["etl"]


def test_the_ported_taskflow_pipeline_wires_its_data_dependencies(dags: dict[str, Any]) -> None:
    dag = dags["ported_taskflow"]
    assert {t.task_id for t in dag.tasks} == {"extract", "transform", "load"}
    assert dag.get_task("transform").upstream_task_ids == {"extract"}
    assert dag.get_task("load").upstream_task_ids == {"transform"}
    assert dag.get_task("load").retries == 2
    assert dag.get_task("transform").multiple_outputs is True


def test_one_file_can_generate_three_dags(dags: dict[str, Any]) -> None:
    generated = sorted(d for d in dags if d.startswith("ported_customer_"))
    assert generated == ["ported_customer_acme", "ported_customer_globex", "ported_customer_initech"]
    for dag_id in generated:
        assert dags[dag_id].get_task("finish").upstream_task_ids == {"start"}


def test_task_groups_prefix_ids_and_link_as_a_unit(dags: dict[str, Any]) -> None:
    dag = dags["ported_groups"]
    assert set(dag.task_ids) == {"start", "section_1.task_1", "section_1.task_2",
                                 "section_2.inner_section_2.task_3", "end"}
    assert dag.get_task("section_1.task_1").upstream_task_ids == {"start"}
    assert dag.get_task("section_2.inner_section_2.task_3").upstream_task_ids == {"section_1.task_2"}
    assert dag.get_task("end").trigger_rule == "all_done"
    assert dag.get_task("section_2.inner_section_2.task_3").task_group.group_id == "section_2.inner_section_2"
    assert dag.task_group.children["section_1"].tooltip == "Tasks for section_1"


def test_pools_priorities_and_retry_policies_survive(dags: dict[str, Any]) -> None:
    dag = dags["ported_pools"]
    assert (dag.max_active_runs, dag.max_active_tasks) == (1, 3)
    query = dag.get_task("query_2")
    assert (query.pool, query.priority_weight, query.queue, query.retries) == ("db_pool", 8, "heavy", 4)
    assert query.retry_exponential_backoff is True
    assert query.max_retry_delay.total_seconds() == 600


def test_airflow_1_paths_trigger_dagrun_state_chain_linear_and_a_dataset_schedule_port(
        dags: dict[str, Any]) -> None:
    dag = dags["ported_controller"]
    assert dag.timetable.summary == "Dataset"  # `from flowctl.datasets import Dataset` imports: no fallback
    assert dag.get_task("run_etl").upstream_task_ids == {"check_0", "check_1"}
    assert dag.get_task("check_1").upstream_task_ids == {"prepare"}
    trigger = dag.get_task("run_etl")
    assert trigger.task_type == "TriggerDagRunOperator" and "conf" in trigger.template_fields


def test_a_users_dag_integrity_test_runs_unchanged_after_porting(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "etl.py").write_text(port(ETL))
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    # What Airflow users write in tests/test_dags.py, with the package renamed.
    namespace: dict[str, Any] = {}
    exec(port("from airflow.models import DagBag\nfrom airflow.models.dagbag import DagBag as DagBag2\n"
              "dagbag = DagBag(include_examples=False)\n"), namespace)
    dagbag = namespace["dagbag"]
    assert dagbag.import_errors == {}
    assert dagbag.get_dag("ported_etl") is not None
    assert len(dagbag.get_dag("ported_etl").tasks) == 3
    assert namespace["DagBag2"] is type(dagbag)
