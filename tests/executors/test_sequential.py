"""SequentialExecutor: one `flowctl tasks run` subprocess at a time."""
from __future__ import annotations

from flowctl.executors import load_executor
from flowctl.executors.base import Outcome
from flowctl.executors.sequential import SequentialExecutor, tasks_run_command

from tests.executors.conftest import collect
from tests.task_runner.conftest import World

PAIR = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

with DAG("pair", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="a", python_callable=lambda: "A")
    PythonOperator(task_id="b", python_callable=lambda: "B")
'''


def test_the_sequential_executor_runs_workloads_one_at_a_time_in_subprocesses(world: World) -> None:
    fileloc = world.write_dags("pair", PAIR)
    run = world.make_run("pair")
    executor = load_executor("sequential", world.settings)
    assert isinstance(executor, SequentialExecutor)
    executor.start()
    first, second = world.queue(run, "a", fileloc), world.queue(run, "b", fileloc)
    executor.submit(first)
    assert executor.open_slots == 0
    executor.submit(second)
    events = collect(executor, 2)
    executor.end()
    assert [(e.key.task_id, e.outcome) for e in events] == [("a", Outcome.FINISHED), ("b", Outcome.FINISHED)]
    assert world.store.xcom_pull(run.key, "b") == "B"
    assert {ti.state for ti in world.store.list_task_instances(run.key)} == {"success"}


def test_terminating_a_workload_that_has_not_started_rejects_it(world: World) -> None:
    fileloc = world.write_dags("pair", PAIR)
    run = world.make_run("pair")
    executor = SequentialExecutor(world.settings)
    first, second = world.queue(run, "a", fileloc), world.queue(run, "b", fileloc)
    executor.submit(first)
    executor.submit(second)
    assert executor.terminate(second.key)
    events = collect(executor, 2)
    assert {(e.key.task_id, e.outcome) for e in events} == {("a", Outcome.FINISHED), ("b", Outcome.REJECTED)}


def test_the_command_names_the_try_it_was_queued_with(world: World) -> None:
    fileloc = world.write_dags("pair", PAIR)
    run = world.make_run("pair")
    command = tasks_run_command(world.queue(run, "a", fileloc))
    assert command[-8:] == ["a", run.run_id, "--map-index", "-1", "--try-number", "0", "--fileloc", fileloc]
