"""Every Airflow-compatible import path in ARCHITECTURE.md works with ``flowctl`` in place of ``airflow``."""
from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

PATHS = [
    ("flowctl", "DAG"),
    ("flowctl.models", "DAG"),
    ("flowctl.models", "BaseOperator"),
    ("flowctl.models", "Param"),
    ("flowctl.models.dag", "DAG"),
    ("flowctl.models.baseoperator", "BaseOperator"),
    ("flowctl.models.baseoperator", "chain"),
    ("flowctl.models.baseoperator", "cross_downstream"),
    ("flowctl.models.param", "Param"),
    ("flowctl.models.xcom_arg", "XComArg"),
    ("flowctl.operators.bash", "BashOperator"),
    ("flowctl.operators.python", "PythonOperator"),
    ("flowctl.operators.python", "BranchPythonOperator"),
    ("flowctl.operators.python", "ShortCircuitOperator"),
    ("flowctl.operators.python", "PythonVirtualenvOperator"),
    ("flowctl.operators.python", "get_current_context"),
    ("flowctl.operators.empty", "EmptyOperator"),
    ("flowctl.operators.latest_only", "LatestOnlyOperator"),
    ("flowctl.operators.dummy", "DummyOperator"),
    ("flowctl.operators.branch", "BaseBranchOperator"),
    ("flowctl.sensors.base", "BaseSensorOperator"),
    ("flowctl.sensors.base", "PokeReturnValue"),
    ("flowctl.sensors.python", "PythonSensor"),
    ("flowctl.sensors.time_delta", "TimeDeltaSensor"),
    ("flowctl.sensors.date_time", "DateTimeSensor"),
    ("flowctl.sensors.filesystem", "FileSensor"),
    ("flowctl.sensors.external_task", "ExternalTaskSensor"),
    ("flowctl.sensors.bash", "BashSensor"),
    ("flowctl.sensors.time_sensor", "TimeSensor"),
    ("flowctl.sensors.time_sensor", "TimeSensorAsync"),
    ("flowctl.sensors.weekday", "DayOfWeekSensor"),
    ("flowctl.utils.weekday", "WeekDay"),
    ("flowctl.utils.dag_cycle_tester", "check_cycle"),
    ("flowctl.exceptions", "AirflowDagCycleException"),
    ("flowctl.decorators", "dag"),
    ("flowctl.decorators", "task"),
    ("flowctl.decorators", "task_group"),
    ("flowctl.utils.task_group", "TaskGroup"),
    ("flowctl.utils.trigger_rule", "TriggerRule"),
    ("flowctl.utils.weight_rule", "WeightRule"),
    ("flowctl.utils.helpers", "chain"),
    ("flowctl.utils.helpers", "cross_downstream"),
    ("flowctl.utils.dates", "days_ago"),
    ("flowctl.utils.edgemodifier", "Label"),
    ("flowctl.hooks.base", "BaseHook"),
    ("flowctl.exceptions", "AirflowException"),
    ("flowctl.exceptions", "AirflowSkipException"),
    ("flowctl.exceptions", "AirflowFailException"),
    ("flowctl.exceptions", "AirflowSensorTimeout"),
]

# Written by other parts of flowctl; skipped with a reason until they exist.
LAZY_ELSEWHERE = [
    ("flowctl.models", "DagBag", "flowctl.dag_processing.dagbag"),
    ("flowctl.models", "Variable", "flowctl.models.variable"),
]


@pytest.mark.parametrize(("module", "name"), PATHS, ids=[f"{m}.{n}" for m, n in PATHS])
def test_the_airflow_path_imports(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize(("module", "name", "home"), LAZY_ELSEWHERE, ids=[n for _, n, _ in LAZY_ELSEWHERE])
def test_lazy_names_written_elsewhere_import(module: str, name: str, home: str) -> None:
    if importlib.util.find_spec(home) is None:
        pytest.skip(f"{home} is not written yet")
    assert getattr(importlib.import_module(module), name) is not None


def test_the_same_class_is_reachable_through_every_path() -> None:
    import flowctl
    from flowctl.core.dag import DAG
    from flowctl.models import DAG as ModelsDAG
    from flowctl.utils.task_group import TaskGroup
    from flowctl.core.taskgroup import TaskGroup as CoreTaskGroup

    assert flowctl.DAG is DAG is ModelsDAG and TaskGroup is CoreTaskGroup


def test_importing_flowctl_models_is_lazy() -> None:
    code = "import sys, json, flowctl.models; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parents[1]))
    loaded = json.loads(out.stdout)
    assert "flowctl.core.dag" not in loaded and "pendulum" not in loaded


def test_an_airflow_style_dag_file_builds_with_flowctl_imports() -> None:
    from datetime import datetime

    from flowctl import DAG
    from flowctl.decorators import task
    from flowctl.operators.bash import BashOperator
    from flowctl.operators.empty import EmptyOperator
    from flowctl.utils.task_group import TaskGroup
    from flowctl.utils.trigger_rule import TriggerRule

    with DAG("ported", schedule_interval="@hourly", start_date=datetime(2024, 1, 1), catchup=False,
             default_args={"owner": "data", "retries": 1}) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("work") as work:
            BashOperator(task_id="echo", bash_command="echo {{ ds }}")

        @task
        def report(value: str) -> None:
            print(value)

        end = EmptyOperator(task_id="end", trigger_rule=TriggerRule.ALL_DONE)
        start >> work >> report("x") >> end
    assert [t.task_id for t in dag.topological_sort()] == ["start", "work.echo", "report", "end"]
    assert dag.timetable.summary == "0 * * * *" or dag.timetable.summary == "@hourly"
    assert dag.owner == "data"
