"""`flowctl tasks run | test --map-index N` on a task of a mapped task group: the index's group
argument and the same index's upstream value reach the task; the other indexes stay as they were."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from flowctl.cli.app import cli
from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store

from tests.task_runner.conftest import World

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAG_SOURCE = '''
from datetime import datetime
from flowctl import DAG
from flowctl.decorators import task, task_group

@task
def numbers():
    return [1, 2, 3]

@task
def scale(x, factor):
    print(f"scaling {x} by {factor}")
    return x * factor

@task
def shift(y):
    print(f"shifting {y}")
    return y + 1

@task_group
def pipeline(x, factor):
    return shift(scale(x, factor))

with DAG("grouped", start_date=datetime(2024, 1, 1), schedule=None):
    pipeline.partial(factor=10).expand(x=numbers())
'''


@pytest.fixture
def world(sqlite_store: Store, tmp_path: Path) -> World:
    from flowctl.settings import Settings

    folder = tmp_path / "dags"
    folder.mkdir()
    return World(sqlite_store, Settings.load(environ={"FLOWCTL_HOME": str(tmp_path)}), folder)


def _invoke(world: World, *args: str) -> Result:
    env: dict[str, str | None] = {
        "FLOWCTL_HOME": str(world.folder.parent), "FLOWCTL_CONFIG": None,
        "FLOWCTL__CORE__DAGS_FOLDER": str(world.folder),
        "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": world.store.engine.url.render_as_string(hide_password=False)}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_tasks_run_with_a_map_index_runs_that_index_of_a_group_task_alone(world: World) -> None:
    world.write_dags("grouped", DAG_SOURCE)
    run = world.make_run("grouped")
    assert _invoke(world, "tasks", "run", "grouped", "numbers", run.run_id).exit_code == 0
    for task_id in ("pipeline.scale", "pipeline.shift"):
        assert world.store.expand_mapped_task(run.key, task_id, 3, NOW)
    for task_id in ("pipeline.scale", "pipeline.shift"):
        result = _invoke(world, "tasks", "run", "grouped", task_id, run.run_id, "--map-index", "2")
        assert result.exit_code == 0 and "try 1 -> success" in result.output, result.output
    assert world.store.xcom_pull(run.key, "pipeline.scale", "return_value", 2, None) == 30
    assert world.store.xcom_pull(run.key, "pipeline.shift", "return_value", 2, None) == 31  # scale[2]'s value
    states = {i: world.store.get_task_instance(TaskInstanceKey("grouped", run.run_id, "pipeline.shift", i)).state
              for i in range(3)}
    assert states == {0: "pending", 1: "pending", 2: "success"}


def test_tasks_test_with_a_map_index_gives_that_index_its_group_argument(world: World) -> None:
    world.write_dags("grouped", DAG_SOURCE)
    run = world.make_run("grouped")
    assert _invoke(world, "tasks", "run", "grouped", "numbers", run.run_id).exit_code == 0
    result = _invoke(world, "tasks", "test", "grouped", "pipeline.scale", "2024-01-01", "--map-index", "1")
    assert result.exit_code == 0, result.output
    assert "scaling 2 by 10" in result.output
