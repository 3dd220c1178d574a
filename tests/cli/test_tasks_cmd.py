"""`flowctl tasks run | test | render` on a migrated database and a DAG folder."""
from __future__ import annotations

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


def _invoke(world: World, *args: str) -> Result:
    env = {"FLOWCTL_HOME": str(world.folder.parent), "FLOWCTL_CONFIG": str(world.folder.parent / "none.cfg"),
           "FLOWCTL__CORE__DAGS_FOLDER": str(world.folder),
           "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": world.store.engine.url.render_as_string(hide_password=False)}
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
