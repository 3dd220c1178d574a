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
    ("flowctl.models.baseoperator", "chain_linear"),
    ("flowctl.models", "TaskInstance"),
    ("flowctl.models", "DagRun"),
    ("flowctl.models.taskinstance", "TaskInstance"),
    ("flowctl.models.dagrun", "DagRun"),
    ("flowctl.models.xcom", "XCOM_RETURN_KEY"),
    ("flowctl.models.param", "Param"),
    ("flowctl.models.xcom_arg", "XComArg"),
    ("flowctl.operators.bash", "BashOperator"),
    ("flowctl.operators.email", "EmailOperator"),
    ("flowctl.utils.email", "send_email"),
    ("flowctl.operators.python", "PythonOperator"),
    ("flowctl.operators.python", "BranchPythonOperator"),
    ("flowctl.operators.python", "ShortCircuitOperator"),
    ("flowctl.operators.python", "PythonVirtualenvOperator"),
    ("flowctl.operators.python", "get_current_context"),
    ("flowctl.operators.empty", "EmptyOperator"),
    ("flowctl.operators.latest_only", "LatestOnlyOperator"),
    ("flowctl.operators.dummy", "DummyOperator"),
    ("flowctl.operators.dummy_operator", "DummyOperator"),
    ("flowctl.operators.bash_operator", "BashOperator"),
    ("flowctl.operators.python_operator", "PythonOperator"),
    ("flowctl.operators.python_operator", "BranchPythonOperator"),
    ("flowctl.operators.python_operator", "ShortCircuitOperator"),
    ("flowctl.operators.trigger_dagrun", "TriggerDagRunOperator"),
    ("flowctl.operators.branch", "BaseBranchOperator"),
    ("flowctl.sensors.base", "BaseSensorOperator"),
    ("flowctl.sensors.base", "PokeReturnValue"),
    ("flowctl.sensors.base", "poke_mode_only"),
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
    ("flowctl.decorators", "setup"),
    ("flowctl.decorators", "teardown"),
    ("flowctl.utils.task_group", "TaskGroup"),
    ("flowctl.utils.trigger_rule", "TriggerRule"),
    ("flowctl.utils.weight_rule", "WeightRule"),
    ("flowctl.utils.helpers", "chain"),
    ("flowctl.utils.helpers", "cross_downstream"),
    ("flowctl.utils.helpers", "chain_linear"),
    ("flowctl.utils.state", "State"),
    ("flowctl.utils.state", "TaskInstanceState"),
    ("flowctl.utils.state", "DagRunState"),
    ("flowctl.utils.dates", "days_ago"),
    ("flowctl.utils.edgemodifier", "Label"),
    ("flowctl.hooks.base", "BaseHook"),
    ("flowctl.exceptions", "AirflowException"),
    ("flowctl.exceptions", "AirflowSkipException"),
    ("flowctl.exceptions", "AirflowFailException"),
    ("flowctl.exceptions", "AirflowSensorTimeout"),
    ("flowctl.utils.timezone", "utcnow"),
    ("flowctl.utils.timezone", "datetime"),
    ("flowctl.utils.timezone", "parse"),
    ("flowctl.utils.timezone", "make_aware"),
    ("flowctl.utils.timezone", "make_naive"),
    ("flowctl.utils.timezone", "convert_to_utc"),
    ("flowctl.utils.timezone", "coerce_datetime"),
    ("flowctl.utils.timezone", "utc"),
    ("flowctl.utils.context", "Context"),
    ("flowctl.operators.weekday", "BranchDayOfWeekOperator"),
    ("flowctl.operators.datetime", "BranchDateTimeOperator"),
    ("flowctl.configuration", "conf"),
    ("flowctl.hooks.base_hook", "BaseHook"),
    ("flowctl.sensors.external_task_sensor", "ExternalTaskSensor"),
    ("flowctl.sensors.external_task_sensor", "ExternalTaskMarker"),
    ("flowctl.sensors.base_sensor_operator", "BaseSensorOperator"),
    ("flowctl.sensors.date_time_sensor", "DateTimeSensor"),
    ("flowctl.sensors.time_delta_sensor", "TimeDeltaSensor"),
    ("flowctl.sensors.weekday_sensor", "DayOfWeekSensor"),
    ("flowctl.operators.latest_only_operator", "LatestOnlyOperator"),
    ("flowctl.operators.branch_operator", "BaseBranchOperator"),
    ("flowctl.operators.dagrun_operator", "TriggerDagRunOperator"),
    ("flowctl.utils.log.secrets_masker", "mask_secret"),
    ("flowctl.utils.log.secrets_masker", "redact"),
    ("flowctl.utils.log.secrets_masker", "should_hide_value_for_key"),
    ("flowctl.utils.log.logging_mixin", "LoggingMixin"),
    ("flowctl.utils.types", "DagRunType"),
    ("flowctl.datasets", "Dataset"),
    ("flowctl", "Dataset"),
    ("flowctl.datasets", "DatasetAll"),
    ("flowctl.datasets", "DatasetAlias"),
    ("flowctl.datasets", "DatasetAny"),
    ("flowctl.timetables.datasets", "DatasetOrTimeSchedule"),
    ("flowctl", "XComArg"),
    ("flowctl.exceptions", "AirflowConfigException"),
    ("flowctl.exceptions", "AirflowBadRequest"),
    ("flowctl.exceptions", "AirflowTaskTimeout"),
    ("flowctl.exceptions", "AirflowNotFoundException"),
    ("flowctl.exceptions", "AirflowRescheduleException"),
    ("flowctl.exceptions", "DuplicateTaskIdFound"),
    ("flowctl.exceptions", "ParamValidationError"),
    ("flowctl.exceptions", "TaskDeferred"),
    ("flowctl.utils.module_loading", "import_string"),
    ("flowctl.utils.module_loading", "qualname"),
    # The rest of the Airflow 2 names of ARCHITECTURE.md's compatibility contract.
    ("flowctl.operators.python", "ExternalPythonOperator"),  # refuses construction; tested below
    ("flowctl.operators.python", "BranchPythonVirtualenvOperator"),
    ("flowctl.operators.python", "BranchExternalPythonOperator"),
    ("flowctl.operators.bash", "BashOperator"),
    ("flowctl.models", "Variable"),
    ("flowctl.models", "Connection"),
    ("flowctl.models", "MappedOperator"),
    ("flowctl.models", "ParamsDict"),
    ("flowctl.models.variable", "Variable"),
    ("flowctl.models.connection", "Connection"),
    ("flowctl.models.mappedoperator", "MappedOperator"),
    ("flowctl.models.dagbag", "DagBag"),
    ("flowctl.models.param", "ParamsDict"),
    ("flowctl.timetables.base", "Timetable"),
    ("flowctl.timetables.base", "DagRunInfo"),
    ("flowctl.timetables.base", "DataInterval"),
    ("flowctl.timetables.base", "TimeRestriction"),
    ("flowctl.timetables.interval", "CronDataIntervalTimetable"),
    ("flowctl.timetables.interval", "DeltaDataIntervalTimetable"),
    ("flowctl.timetables.trigger", "CronTriggerTimetable"),
    ("flowctl.timetables.events", "EventsTimetable"),
    ("flowctl.timetables.simple", "NullTimetable"),
    ("flowctl.timetables.simple", "OnceTimetable"),
    ("flowctl.timetables.simple", "ContinuousTimetable"),
    ("flowctl.timetables.simple", "DatasetTriggeredTimetable"),
    ("flowctl.macros", "ds_add"),
    ("flowctl.macros", "ds_format"),
    ("flowctl.macros", "datetime"),
    ("flowctl.macros", "timedelta"),
    ("flowctl.utils.timezone", "datetime"),
]

# Airflow names flowctl does not support: importing one says so and names the flowctl way.
UNSUPPORTED = [
    ("flowctl.models", "XCom", r"xcom_pull\(\)"),
    ("flowctl.models.xcom", "XCom", r"xcom_pull\(\)"),
    ("flowctl.models", "Pool", "flowctl pools set"),
    ("flowctl.models.pool", "Pool", "flowctl pools set"),
    ("flowctl.operators.subdag", "SubDagOperator", "TaskGroup"),
    ("flowctl.utils.log.secrets_masker", "SecretsMasker", r"mask_secret\(value\)"),
    ("flowctl.utils.log.logging_mixin", "StreamLogWriter", "captured into its log"),
    ("flowctl.utils.log.logging_mixin", "ExternalLoggingMixin", "base_log_folder"),
    ("flowctl.utils.types", "NOTSET", "sentinel"),
    ("flowctl.utils.types", "ArgNotSet", "sentinel"),
    ("flowctl.sensors.time_delta", "WaitSensor", "TimeDeltaSensor"),
    ("flowctl.hooks.subprocess", "SubprocessHook", "BashOperator"),
    ("flowctl.hooks.subprocess", "SubprocessResult", "BashOperator"),
    ("flowctl.hooks.filesystem", "FSHook", r"get_connection\(fs_conn_id\)"),
    ("flowctl.models.baseoperatorlink", "BaseOperatorLink", "doc_md"),
    ("flowctl.models.baseoperator", "BaseOperatorLink", "doc_md"),
    ("flowctl.operators.sql", "SQLExecuteQueryOperator", r"get_connection\(conn_id\)"),
    ("flowctl.operators.sql", "BranchSQLOperator", r"@task.branch"),
    ("flowctl.operators.sql", "SQLCheckOperator", r"get_connection\(conn_id\)"),
    ("flowctl.operators.sql", "SQLValueCheckOperator", r"get_connection\(conn_id\)"),
    ("flowctl.operators.sql", "SQLIntervalCheckOperator", r"get_connection\(conn_id\)"),
    ("flowctl.operators.sql", "SQLThresholdCheckOperator", r"get_connection\(conn_id\)"),
    ("flowctl.operators.sql", "SQLColumnCheckOperator", r"get_connection\(conn_id\)"),
    ("flowctl.operators.sql", "SQLTableCheckOperator", r"get_connection\(conn_id\)"),
    ("flowctl.sensors.sql", "SqlSensor", r"PythonSensor"),
    ("flowctl.hooks.dbapi", "DbApiHook", r"get_connection\(conn_id\)"),
    ("flowctl.operators.generic_transfer", "GenericTransfer", r"get_connection\(conn_id\)"),
    ("flowctl.plugins_manager", "AirflowPlugin", r"user_defined_macros"),
    ("flowctl.models", "DagModel", r"flowctl dags"),
    ("flowctl.models.dag", "DagModel", r"flowctl dags"),
    ("flowctl.operators.trigger_dagrun", "TriggerDagRunLink", "doc_md"),
    ("flowctl.settings", "Session", "no database access"),
    ("flowctl.utils.session", "provide_session", "no database access"),
    ("flowctl.utils.session", "create_session", r"xcom_pull\(\)"),
    ("flowctl.models.skipmixin", "SkipMixin", "choose_branch"),
    ("flowctl.notifications.basenotifier", "BaseNotifier", "on_failure_callback"),
    ("flowctl.settings", "TIMEZONE", r"conf.get\('core', 'default_timezone'\)"),
    ("flowctl.settings", "DAGS_FOLDER", r"conf.get\('core', 'dags_folder'\)"),
]

# Airflow 1 module paths Airflow 2 still accepts with a DeprecationWarning (and so does flowctl).
DEPRECATED = [
    ("flowctl.operators.bash_operator", "flowctl.operators.bash"),
    ("flowctl.operators.python_operator", "flowctl.operators.python"),
    ("flowctl.operators.dummy_operator", "flowctl.operators.empty"),
    ("flowctl.operators.dummy", "flowctl.operators.empty"),
    ("flowctl.hooks.base_hook", "flowctl.hooks.base"),
    ("flowctl.sensors.external_task_sensor", "flowctl.sensors.external_task"),
    ("flowctl.sensors.base_sensor_operator", "flowctl.sensors.base"),
    ("flowctl.sensors.date_time_sensor", "flowctl.sensors.date_time"),
    ("flowctl.sensors.time_delta_sensor", "flowctl.sensors.time_delta"),
    ("flowctl.sensors.weekday_sensor", "flowctl.sensors.weekday"),
    ("flowctl.operators.latest_only_operator", "flowctl.operators.latest_only"),
    ("flowctl.operators.branch_operator", "flowctl.operators.branch"),
    ("flowctl.operators.dagrun_operator", "flowctl.operators.trigger_dagrun"),
]

# Written by other parts of flowctl; skipped with a reason until they exist.
LAZY_ELSEWHERE = [
    ("flowctl.models", "DagBag", "flowctl.dag_processing.dagbag"),
    ("flowctl.models", "Variable", "flowctl.models.variable"),
]


@pytest.mark.filterwarnings("ignore:flowctl.*is deprecated:DeprecationWarning")  # tested below
@pytest.mark.parametrize(("module", "name"), PATHS, ids=[f"{m}.{n}" for m, n in PATHS])
def test_the_airflow_path_imports(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize(("module", "name", "home"), LAZY_ELSEWHERE, ids=[n for _, n, _ in LAZY_ELSEWHERE])
def test_lazy_names_written_elsewhere_import(module: str, name: str, home: str) -> None:
    if importlib.util.find_spec(home) is None:
        pytest.skip(f"{home} is not written yet")
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize(("module", "name", "way"), UNSUPPORTED, ids=[f"{m}.{n}" for m, n, _ in UNSUPPORTED])
def test_an_unsupported_airflow_name_says_so_and_names_the_flowctl_way(module: str, name: str, way: str) -> None:
    """Before: a bare ModuleNotFoundError / ImportError ("cannot import name ...")."""
    from flowctl.core.errors import NotSupportedError

    code = f"from {module} import {name}"
    with pytest.raises(NotSupportedError, match=rf"^{module}\.{name} is not supported by flowctl; .*{way}"):
        exec(code, {})
    with pytest.raises(ImportError):  # so `except ImportError:` fallbacks for older Airflow versions still work
        exec(code, {})


def test_other_missing_names_of_those_modules_stay_attribute_errors() -> None:
    import flowctl.datasets
    import flowctl.models

    assert not hasattr(flowctl.datasets, "Nothing") and not hasattr(flowctl.models, "Nothing")


@pytest.mark.parametrize(("module", "new"), DEPRECATED, ids=[m for m, _ in DEPRECATED])
def test_a_deprecated_airflow_1_path_warns_at_the_importing_line_and_names_the_new_one(module: str, new: str) -> None:
    code = f"import sys, warnings; warnings.simplefilter('always'); import {module}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parents[1]))
    assert f"<string>:1: DeprecationWarning: {module} is deprecated" in out.stderr
    assert f"import from {new}" in out.stderr


def test_apply_defaults_of_airflow_1_operators_is_a_no_op_that_warns_as_in_airflow_2() -> None:
    from flowctl.models.baseoperator import BaseOperator
    from flowctl.utils.decorators import apply_defaults

    with pytest.warns(DeprecationWarning, match="apply_defaults is deprecated"):
        class OldStyle(BaseOperator):
            @apply_defaults
            def __init__(self, table: str, **kwargs: object) -> None:
                super().__init__(**kwargs)
                self.table = table

            def execute(self, context: object) -> str:
                return self.table

    task = OldStyle(task_id="t", table="sales", default_args={"retries": 2})
    assert (task.table, task.retries) == ("sales", 2)  # default_args still apply, as for any operator


def test_models_taskinstance_and_dagrun_are_the_classes_of_ti_and_dag_run_in_the_context() -> None:
    from flowctl.core.context import RunInfo
    from flowctl.core.errors import NotSupportedError
    from flowctl.models import DagRun, TaskInstance
    from flowctl.task_runner.taskinstance import RuntimeTaskInstance

    assert TaskInstance is RuntimeTaskInstance and DagRun is RunInfo
    with pytest.raises(NotSupportedError, match=r"DagRun.find\(\) is not supported.*ExternalTaskSensor"):
        DagRun.find(dag_id="etl")


def test_state_constants_have_airflows_names_and_values() -> None:
    from flowctl.utils.state import DagRunState, State, TaskInstanceState

    assert State.SUCCESS == "success" and State.FAILED == "failed" and State.SKIPPED == "skipped"
    assert TaskInstanceState.UP_FOR_RETRY == "up_for_retry" and State.UP_FOR_RETRY is TaskInstanceState.UP_FOR_RETRY
    assert DagRunState.QUEUED == "queued" and str(DagRunState.RUNNING) == "running"
    assert State.finished == {"success", "failed", "skipped", "upstream_failed", "removed"}
    assert State.failed_states == {"failed", "upstream_failed"} and State.success_states == {"success", "skipped"}
    assert State.finished_dr_states == {"success", "failed"} and State.unfinished_dr_states == {"queued", "running"}
    assert State.NONE == "pending" and State.NONE in State.unfinished  # flowctl's state before any other


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


def test_the_secrets_masker_path_masks_values_for_this_process() -> None:
    """Before: ModuleNotFoundError: No module named 'flowctl.utils.log'."""
    from flowctl.utils.log.secrets_masker import mask_secret, redact, should_hide_value_for_key

    mask_secret("compat-path-s3cret")
    assert redact("token compat-path-s3cret") == "token ***"
    assert redact({"password": "short", "user": "me"}) == {"password": "***", "user": "me"}
    assert redact("anything", "api_key") == "***"
    assert should_hide_value_for_key("db_password") and not should_hide_value_for_key("colour")


def test_logging_mixin_gives_a_logger_named_after_the_module_and_class() -> None:
    from flowctl.utils.log.logging_mixin import LoggingMixin

    class Audited(LoggingMixin):
        pass

    class Renamed(LoggingMixin):
        _logger_name = "custom.name"

    assert Audited().log.name == f"{__name__}.Audited" and Audited.logger().name == f"{__name__}.Audited"
    assert Renamed().log.name == "custom.name"
    assert Audited().log is Audited().log


def test_dag_run_type_has_airflows_names_for_the_run_types_flowctl_records() -> None:
    from datetime import datetime, timezone

    from flowctl.db.records import RUN_TYPES
    from flowctl.utils.types import DagRunType

    assert DagRunType.MANUAL == "manual" and DagRunType.SCHEDULED == "scheduled"
    assert DagRunType.BACKFILL_JOB == "backfill" and str(DagRunType.MANUAL) == "manual"
    assert {t.value for t in DagRunType} == set(RUN_TYPES)
    assert DagRunType("dataset_triggered") is DagRunType.DATASET_TRIGGERED == "dataset_triggered"  # Airflow's value
    when = datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert DagRunType.SCHEDULED.generate_run_id(when) == "scheduled__2024-03-01T00:00:00+00:00"
    assert DagRunType.from_run_id("backfill__2024-03-01T00:00:00+00:00") is DagRunType.BACKFILL_JOB
    assert DagRunType.from_run_id("my own id") is DagRunType.MANUAL


def test_flowctl_xcomarg_is_the_class_of_a_tasks_output() -> None:
    import flowctl
    from flowctl.core.xcom_arg import XComArg

    assert flowctl.XComArg is XComArg


def test_airflows_config_and_bad_request_exceptions_are_flowctl_errors_callers_can_catch() -> None:
    from flowctl.core.errors import ConfigError
    from flowctl.exceptions import AirflowBadRequest, AirflowConfigException, AirflowException

    assert AirflowConfigException is ConfigError and issubclass(AirflowConfigException, AirflowException)
    with pytest.raises(AirflowException, match="bad"):
        raise AirflowBadRequest("bad")


def test_import_string_returns_the_named_attribute_or_raises_import_error() -> None:
    """Before: ModuleNotFoundError: No module named 'flowctl.utils.module_loading'."""
    from flowctl.operators.bash import BashOperator
    from flowctl.utils.module_loading import import_string, qualname

    assert import_string("flowctl.operators.bash.BashOperator") is BashOperator
    assert qualname(BashOperator) == "flowctl.operators.bash.BashOperator"
    with pytest.raises(ImportError, match="doesn't look like a module path"):
        import_string("BashOperator")
    with pytest.raises(ImportError, match='does not define a "Nope"'):
        import_string("flowctl.operators.bash.Nope")
    with pytest.raises(ImportError):
        import_string("flowctl.no_such_module.Thing")


def test_the_external_python_branch_operator_says_it_is_not_supported() -> None:
    from flowctl.core.errors import NotSupportedError
    from flowctl.operators.python import BranchExternalPythonOperator

    with pytest.raises(NotSupportedError, match="not supported by flowctl; .*BranchPythonOperator"):
        BranchExternalPythonOperator(task_id="b", python="/usr/bin/python3", python_callable=print)


@pytest.mark.parametrize("name", ["PythonVirtualenvOperator", "ExternalPythonOperator",
                                  "BranchPythonVirtualenvOperator", "BranchExternalPythonOperator"])
def test_the_other_environment_python_operators_import_but_refuse_construction_naming_the_flowctl_way(name: str) -> None:
    import flowctl.operators.python
    from flowctl.core.errors import NotSupportedError

    with pytest.raises(NotSupportedError, match=rf"^{name} is not supported by flowctl; .*(PythonOperator|worker)"):
        getattr(flowctl.operators.python, name)(task_id="t", python_callable=print)


@pytest.mark.parametrize("kind", ["virtualenv", "external_python", "docker", "kubernetes", "branch_virtualenv",
                                  "branch_external_python"])
def test_task_decorators_of_other_environments_say_they_are_not_supported(kind: str) -> None:
    from flowctl.core.errors import NotSupportedError
    from flowctl.decorators import task

    with pytest.raises(NotSupportedError, match=rf"@task.{kind} is not supported by flowctl; use @task"):
        getattr(task, kind)
