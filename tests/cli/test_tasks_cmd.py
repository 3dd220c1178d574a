"""`flowctl tasks run | test | render` on a migrated database and a DAG folder."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flowctl.cli.app import cli
from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store

from tests.task_runner.conftest import World

DAG_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def greet(name):
    print(f"hello {name}")
    return name

with DAG("greet", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="hello", python_callable=greet, op_kwargs={"name": "{{ ds }}"})
'''


@pytest.fixture
def world(sqlite_store: Store, tmp_path: Path) -> World:
    from flowctl.settings import Settings

    folder = tmp_path / "dags"
    folder.mkdir()
    return World(sqlite_store, Settings.load(environ={"FLOWCTL_HOME": str(tmp_path)}), folder)


def _invoke(world: World, *args: str, **settings: str) -> Result:
    env: dict[str, str | None] = {  # FLOWCTL_HOME has no config.cfg: defaults, and no FLOWCTL_CONFIG
           "FLOWCTL_HOME": str(world.folder.parent), "FLOWCTL_CONFIG": None,
           "FLOWCTL__CORE__DAGS_FOLDER": str(world.folder),
           "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": world.store.engine.url.render_as_string(hide_password=False),
           **{f"FLOWCTL__{name.upper()}": value for name, value in settings.items()}}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_tasks_run_runs_a_pending_task_by_hand_and_records_success(world: World) -> None:
    world.write_dags("greet", DAG_SOURCE)
    run = world.make_run("greet")
    result = _invoke(world, "tasks", "run", "greet", "hello", run.run_id)
    assert result.exit_code == 0, result.output
    assert "try 1 -> success" in result.output
    key = TaskInstanceKey("greet", run.run_id, "hello")
    assert world.store.get_task_instance(key).state == "success"
    assert world.store.xcom_pull(run.key, "hello") == "2024-01-01"


def test_tasks_run_refuses_a_finished_task_and_says_to_clear_it(world: World) -> None:
    world.write_dags("greet", DAG_SOURCE)
    run = world.make_run("greet")
    assert _invoke(world, "tasks", "run", "greet", "hello", run.run_id).exit_code == 0
    from flowctl.core.errors import FlowctlError

    with pytest.raises(FlowctlError, match="clear it first"):
        _invoke(world, "tasks", "run", "greet", "hello", run.run_id)


CHAIN_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG("chain", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False):
    first = BashOperator(task_id="first", bash_command="echo first")
    second = BashOperator(task_id="second", bash_command="echo second")
    past = BashOperator(task_id="past", bash_command="echo past", depends_on_past=True)
    first >> second
'''


def test_tasks_run_refuses_a_task_whose_upstream_is_not_done_unless_told_to_ignore_dependencies(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    world.write_dags("chain", CHAIN_SOURCE)
    run = world.make_run("chain")
    key = TaskInstanceKey("chain", run.run_id, "second")
    code, out, err = _main(world, monkeypatch, capsys, "tasks", "run", "chain", "second", run.run_id)
    assert code == 1
    assert "trigger rule all_success" in err and "--ignore-dependencies" in err
    assert world.store.get_task_instance(key).state == "pending"
    result = _invoke(world, "tasks", "run", "chain", "second", run.run_id, "--ignore-dependencies")
    assert result.exit_code == 0, result.output
    assert world.store.get_task_instance(key).state == "success"


def test_tasks_run_checks_depends_on_past_unless_told_to_ignore_it(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    world.write_dags("chain", CHAIN_SOURCE)
    world.make_run("chain")
    later = world.make_run("chain", day=1)
    code, _, err = _main(world, monkeypatch, capsys, "tasks", "run", "chain", "past", later.run_id)
    assert code == 1 and "depends_on_past" in err
    result = _invoke(world, "tasks", "run", "chain", "past", later.run_id, "-I")
    assert result.exit_code == 0, result.output
    assert world.store.get_task_instance(TaskInstanceKey("chain", later.run_id, "past")).state == "success"
    result = _invoke(world, "tasks", "run", "chain", "first", later.run_id)
    assert result.exit_code == 0, result.output


def test_tasks_test_prints_the_log_and_records_nothing(world: World) -> None:
    world.write_dags("greet", DAG_SOURCE)
    run = world.make_run("greet")
    result = _invoke(world, "tasks", "test", "greet", "hello", "2024-03-05")
    assert result.exit_code == 0, result.output
    assert "hello 2024-03-05" in result.output
    assert world.store.get_task_instance(TaskInstanceKey("greet", run.run_id, "hello")).state == "pending"


def test_tasks_render_prints_each_rendered_template_field(world: World) -> None:
    world.write_dags("greet", DAG_SOURCE)
    result = _invoke(world, "tasks", "render", "greet", "hello", "2024-03-05")
    assert result.exit_code == 0, result.output
    assert "# property: op_kwargs" in result.output and "'name': '2024-03-05'" in result.output


WINDOW_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG("window", start_date=datetime(2024, 1, 1), schedule="0 6 * * *"):
    BashOperator(task_id="show", bash_command="echo window {{ data_interval_start }} {{ data_interval_end }}")
'''


def test_tasks_test_and_render_use_the_interval_a_manual_run_at_that_date_would_have(world: World) -> None:
    """As a trigger (and ``dags test``) at that date would: the schedule's last complete interval,
    not an empty one that makes every SQL window select nothing."""
    world.write_dags("window", WINDOW_SOURCE)
    expected = "window 2024-03-03 06:00:00+00:00 2024-03-04 06:00:00+00:00"
    result = _invoke(world, "tasks", "test", "window", "show", "2024-03-05")
    assert result.exit_code == 0, result.output
    assert expected in result.output
    result = _invoke(world, "tasks", "render", "window", "show", "2024-03-05")
    assert result.exit_code == 0, result.output
    assert expected.replace("window ", "echo window ") in result.output


def _main(world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
          *args: str) -> tuple[int, str, str]:
    """The console script's entry point (one-line errors, exit codes) on the world's folder and database."""
    from flowctl.cli import main

    monkeypatch.setenv("FLOWCTL_HOME", str(world.folder.parent))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)  # FLOWCTL_HOME has no config.cfg: defaults
    monkeypatch.setenv("FLOWCTL__CORE__DAGS_FOLDER", str(world.folder))
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", world.store.engine.url.render_as_string(hide_password=False))
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_sequential_executors_tasks_run_takes_its_run_id_as_given_without_looking_it_up(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor passes the exact run id with --try-number: resolving it would cost every try
    a query for nothing."""
    from flowctl.executors.base import Workload
    from flowctl.executors.sequential import tasks_run_command

    fileloc = world.write_dags("greet", DAG_SOURCE)
    run = world.make_run("greet")
    key = TaskInstanceKey("greet", run.run_id, "hello")
    assert world.store.set_task_state(key, "pending", "scheduled")
    assert world.store.set_task_state(key, "scheduled", "queued")

    def no_lookup(*args: object) -> None:
        raise AssertionError("the executor's run id was looked up")

    monkeypatch.setattr("flowctl.cli.tasks_cmd.resolve_run", no_lookup)
    args = tasks_run_command(Workload(key, 0, fileloc))[3:]
    result = _invoke(world, *args)
    assert result.exit_code == 0, result.output
    assert world.store.get_task_instance(key).state == "success"


def test_tasks_run_takes_the_logical_date_of_the_run_instead_of_its_id(world: World) -> None:
    world.write_dags("greet", DAG_SOURCE)
    run = world.make_run("greet")
    world.make_run("greet", day=1)
    result = _invoke(world, "tasks", "run", "greet", "hello", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert "try 1 -> success" in result.output
    assert world.store.get_task_instance(TaskInstanceKey("greet", run.run_id, "hello")).state == "success"
    # the run of the next day is untouched
    assert world.store.get_task_instance(
        TaskInstanceKey("greet", "manual__2024-01-02T00:00:00+00:00", "hello")).state == "pending"


def test_tasks_run_of_a_date_without_a_run_exits_3_with_one_line(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    world.write_dags("greet", DAG_SOURCE)
    world.make_run("greet")
    code, out, err = _main(world, monkeypatch, capsys, "tasks", "run", "greet", "hello", "2024-01-09")
    assert (code, out) == (3, "")
    assert err == "flowctl: error: no run of DAG 'greet' with run_id or logical date '2024-01-09'\n"


RUN_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG("window", start_date=datetime(2024, 1, 1), schedule="0 6 * * *"):
    BashOperator(task_id="show", bash_command="echo run {{ run_id }} {{ ds }} conf={{ dag_run.conf.get('who', '-') }} "
                                              "{{ data_interval_start }} {{ data_interval_end }}")
'''


def _run_with_conf(world: World) -> str:
    logical = datetime(2024, 3, 5, tzinfo=timezone.utc)
    run = world.store.create_run("window", f"manual__{logical.isoformat()}", run_type="manual", logical_date=logical,
                                 now=logical, conf={"who": "ada"},
                                 data_interval=(datetime(2024, 2, 1, tzinfo=timezone.utc), logical))
    return run.run_id


def test_tasks_test_of_a_run_id_uses_that_runs_date_interval_and_conf(world: World) -> None:
    world.write_dags("window", RUN_SOURCE)
    run_id = _run_with_conf(world)
    result = _invoke(world, "tasks", "test", "window", "show", run_id)
    assert result.exit_code == 0, result.output
    assert (f"run {run_id} 2024-03-05 conf=ada 2024-02-01 00:00:00+00:00 2024-03-05 00:00:00+00:00"
            in result.output)
    assert world.store.get_task_instance(TaskInstanceKey("window", run_id, "show")).state == "pending"


def test_tasks_render_of_a_run_id_uses_that_runs_conf_with_task_params_laid_over_it(world: World) -> None:
    world.write_dags("window", RUN_SOURCE)
    run_id = _run_with_conf(world)
    result = _invoke(world, "tasks", "render", "window", "show", run_id)
    assert result.exit_code == 0, result.output
    assert "conf=ada 2024-02-01 00:00:00+00:00 2024-03-05 00:00:00+00:00" in result.output
    result = _invoke(world, "tasks", "render", "window", "show", run_id, "--task-params", '{"who": "bob"}')
    assert result.exit_code == 0, result.output
    assert "conf=bob 2024-02-01" in result.output


def test_tasks_test_and_render_of_the_logical_date_of_a_run_use_that_run_as_airflow_does(world: World) -> None:
    world.write_dags("window", RUN_SOURCE)
    run_id = _run_with_conf(world)
    for verb in ("test", "render"):
        result = _invoke(world, "tasks", verb, "window", "show", "2024-03-05")
        assert result.exit_code == 0, result.output
        assert f"run {run_id} 2024-03-05 conf=ada 2024-02-01 00:00:00+00:00 2024-03-05 00:00:00+00:00" in result.output
    assert world.store.get_task_instance(TaskInstanceKey("window", run_id, "show")).state == "pending"


PREV_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG("prev", start_date=datetime(2024, 1, 1), schedule="@daily"):
    BashOperator(task_id="show", bash_command="echo prev {{ prev_data_interval_start_success }} "
                                              "{{ prev_execution_date_success }} {{ prev_start_date_success }}")
'''


def test_tasks_test_and_render_see_the_previous_successful_run_as_a_scheduled_try(world: World) -> None:
    from flowctl.core.keys import RunKey

    world.write_dags("prev", PREV_SOURCE)
    day = datetime(2024, 3, 4, tzinfo=timezone.utc)
    started = datetime(2024, 3, 5, 0, 1, tzinfo=timezone.utc)
    done = world.store.create_run("prev", "scheduled__2024-03-04", run_type="scheduled", logical_date=day, now=started,
                                  data_interval=(day, datetime(2024, 3, 5, tzinfo=timezone.utc)))
    assert world.store.set_run_state(RunKey("prev", done.run_id), "queued", "running", start_date=started)
    assert world.store.finish_run(RunKey("prev", done.run_id), "success", started)
    for verb in ("test", "render"):
        result = _invoke(world, "tasks", verb, "prev", "show", "2024-03-05")
        assert result.exit_code == 0, result.output
        assert "prev 2024-03-04 00:00:00+00:00 2024-03-04 00:00:00+00:00 2024-03-05 00:01:00+00:00" in result.output


def test_tasks_test_of_a_date_beside_a_run_at_another_date_makes_a_run_at_that_date(world: World) -> None:
    world.write_dags("window", RUN_SOURCE)
    _run_with_conf(world)
    result = _invoke(world, "tasks", "test", "window", "show", "2024-03-06")
    assert result.exit_code == 0, result.output
    assert "conf=- 2024-03-04 06:00:00+00:00 2024-03-05 06:00:00+00:00" in result.output


XCOM_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task
from flowctl.operators.bash import BashOperator

with DAG("etl", start_date=datetime(2024, 1, 1), schedule=None):
    @task
    def extract():
        return {"rows": 42}

    @task
    def load(data):
        print("loading", data["rows"])

    e = extract()
    load(e) >> BashOperator(task_id="report", bash_command="echo rows={{ ti.xcom_pull(task_ids='extract')['rows'] }}")
'''


def test_tasks_test_and_render_of_a_runs_logical_date_see_its_upstream_xcoms(world: World) -> None:
    world.write_dags("etl", XCOM_SOURCE)
    run = world.make_run("etl")
    assert _invoke(world, "tasks", "run", "etl", "extract", run.run_id).exit_code == 0
    result = _invoke(world, "tasks", "test", "etl", "load", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert "loading 42" in result.output
    result = _invoke(world, "tasks", "render", "etl", "report", "2024-01-01")
    assert result.exit_code == 0, result.output
    assert "echo rows=42" in result.output


def test_tasks_test_of_neither_a_run_id_nor_a_date_exits_3_with_one_line(world: World,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    world.write_dags("window", RUN_SOURCE)
    code, out, err = _main(world, monkeypatch, capsys, "tasks", "test", "window", "show", "manual__nope")
    assert (code, out) == (3, "")
    assert err == ("flowctl: error: no run of DAG 'window' with run_id 'manual__nope', "
                   "and it is not an ISO date or date-time (e.g. 2024-01-31)\n")


def test_usage_of_run_test_and_render_names_the_argument_as_airflow_does(world: World) -> None:
    for command in ("run", "test", "render"):
        result = _invoke(world, "tasks", command, "--help")
        assert "EXECUTION_DATE_OR_RUN_ID" in result.output, command


WHEN_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG("when", start_date=datetime(2024, 1, 1), schedule=None):
    BashOperator(task_id="show", bash_command="echo at {{ logical_date.isoformat() }}")
'''


def test_tasks_test_and_render_read_a_naive_date_in_the_default_timezone_as_every_other_command(
        world: World) -> None:
    """``dags trigger --logical-date``, ``dags test`` and ``dags backfill`` read 2024-03-05 in
    [core] default_timezone; so do ``tasks test`` and ``tasks render`` (as in Airflow)."""
    world.write_dags("when", WHEN_SOURCE)
    for verb in ("test", "render"):
        result = _invoke(world, "tasks", verb, "when", "show", "2024-03-05", core__default_timezone="Europe/Amsterdam")
        assert result.exit_code == 0, result.output
        assert "at 2024-03-04T23:00:00+00:00" in result.output, result.output


ZONE_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG("zoned", start_date=datetime(2024, 1, 1), schedule="0 6 * * *"):
    BashOperator(task_id="show", bash_command="echo zone {{ dag.timezone }} from {{ dag.start_date.isoformat() }}")
'''


def test_tasks_test_imports_the_dag_file_with_naive_dates_in_the_default_timezone(world: World) -> None:
    world.write_dags("zoned", ZONE_SOURCE)
    result = _invoke(world, "tasks", "test", "zoned", "show", "2024-03-05", core__default_timezone="Europe/Amsterdam")
    assert result.exit_code == 0, result.output
    assert "zone Europe/Amsterdam from 2024-01-01T00:00:00+01:00" in result.output, result.output


RESCHEDULE_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.sensors.python import PythonSensor

with DAG("waits", start_date=datetime(2024, 1, 1), schedule=None):
    PythonSensor(task_id="wait", python_callable=lambda: False, mode="reschedule", poke_interval=60)
'''


def test_tasks_test_of_a_reschedule_sensor_not_yet_done_pokes_once_and_exits_0_as_airflow(world: World) -> None:
    world.write_dags("waits", RESCHEDULE_SOURCE)
    result = _invoke(world, "tasks", "test", "waits", "wait", "2024-03-05")
    assert result.exit_code == 0, result.output
    assert "up_for_reschedule" in result.output and "None" not in result.output


MAPPED_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task

@task
def three():
    return [1, 2, 3]

@task
def each(v):
    return v

with DAG("mapped", start_date=datetime(2024, 1, 1), schedule=None):
    each.expand(v=three())
'''


def test_tasks_test_fails_a_task_returning_more_than_max_map_length_elements_to_a_mapped_task(world: World) -> None:
    world.write_dags("mapped", MAPPED_SOURCE)
    assert _invoke(world, "tasks", "test", "mapped", "three", "2024-03-05").exit_code == 0
    from flowctl.core.errors import FlowctlError

    with pytest.raises(FlowctlError, match=r"task 'three' ended failed: UnmappableXComLengthPushed: task 'each' maps "
                       r"over the return value of 'three', which has 3 elements: "
                       r"more than \[core\] max_map_length \(2\)"):
        _invoke(world, "tasks", "test", "mapped", "three", "2024-03-05", core__max_map_length="2")


CONTEXT_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def report(events, url, count):
    print(f"events={events} count={count} url={url}")

with DAG("context", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="report", python_callable=report, op_kwargs={
        "events": "{{ triggering_dataset_events | length }}", "url": "{{ ti.log_url }}",
        "count": "{{ expanded_ti_count }}"})
'''


def test_tasks_test_gives_the_task_the_context_a_real_run_does(world: World) -> None:
    """triggering_dataset_events, ti.log_url and expanded_ti_count, as under dags test and the scheduler."""
    world.write_dags("context", CONTEXT_SOURCE)
    result = _invoke(world, "tasks", "test", "context", "report", "2024-03-05")
    assert result.exit_code == 0, result.output
    assert "events=0 count=None url=http" in result.output
    assert "/dags/context/grid?" in result.output and "task_id=report" in result.output


@pytest.mark.parametrize(("command", "params", "problem"), [
    ("test", "{bad", "not valid JSON: Expecting property name enclosed in double quotes (line 1 column 2)"),
    ("test", "[1]", "must be a JSON object, e.g. '{\"key\": \"value\"}'"),
    ("render", "{x", "not valid JSON: Expecting property name enclosed in double quotes (line 1 column 2)"),
])
def test_task_params_that_are_not_a_json_object_exit_2_with_one_line(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     command: str, params: str, problem: str) -> None:
    """Before: a JSONDecodeError or TypeError traceback (dags trigger --conf said it in one line)."""
    world.write_dags("greet", DAG_SOURCE)
    code, out, err = _main(world, monkeypatch, capsys, "tasks", command, "greet", "hello", "2024-05-05", "-t", params)
    assert (code, out) == (2, "")
    assert err == f"flowctl: error: Invalid value for --task-params: {problem}\n"


SECRET_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG("login", start_date=datetime(2024, 1, 1), schedule=None):
    BashOperator(task_id="call", bash_command="echo pw={{ var.value.my_password }} region={{ var.value.region }}")
'''


def test_tasks_render_masks_a_sensitive_variable_as_tasks_test_does(world: World, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Before: render printed `pw=hunter2` where test's log said `pw=***`."""
    from flowctl.db.secrets import generate_key

    world.write_dags("login", SECRET_SOURCE)
    key = generate_key()  # a sensitive variable is stored only encrypted
    monkeypatch.setenv("FLOWCTL__CORE__FERNET_KEY", key)
    keyed = Store(world.store.engine, fernet_key=key)
    keyed.set_variable("my_password", "hunter2")
    keyed.set_variable("region", "eu-west-1")
    code, out, err = _main(world, monkeypatch, capsys, "tasks", "test", "login", "call", "2024-05-05")
    assert code == 0, err
    assert "pw=*** region=eu-west-1" in out and "hunter2" not in out
    code, out, err = _main(world, monkeypatch, capsys, "tasks", "render", "login", "call", "2024-05-05")
    assert code == 0, err
    assert "echo pw=*** region=eu-west-1" in out and "hunter2" not in out


@pytest.mark.parametrize("command", ["test", "render"])
def test_a_map_index_for_a_task_that_is_not_mapped_exits_2_with_one_line(world: World, command: str,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Before: accepted silently, and the unmapped task ran (or rendered) as if it were map index 5."""
    world.write_dags("greet", DAG_SOURCE)
    code, out, err = _main(world, monkeypatch, capsys, "tasks", command, "greet", "hello", "2024-05-05",
                           "--map-index", "5")
    assert (code, out) == (2, "")
    assert err == ("flowctl: error: Invalid value for --map-index: task 'hello' of DAG 'greet' is not mapped "
                   "(only a mapped task has map indexes)\n")
