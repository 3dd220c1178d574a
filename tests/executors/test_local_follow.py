"""LocalExecutor with ``[scheduler] schedule_after_task_execution``: an end starts what it made ready."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.executors import load_executor
from flowctl.executors.base import Outcome
from flowctl.executors.local import LocalExecutor

from tests.executors.conftest import collect, wait_for
from tests.task_runner.conftest import World

CHAIN = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def noop():
    return None

def sleepy():
    import time
    time.sleep(60)

with DAG("chain", start_date=datetime(2024, 1, 1), schedule=None):
    a = PythonOperator(task_id="a", python_callable=noop)
    b = PythonOperator(task_id="b", python_callable=noop)
    c = PythonOperator(task_id="c", python_callable=noop)
    a >> b >> c
    PythonOperator(task_id="head", python_callable=noop) >> PythonOperator(task_id="sleepy", python_callable=sleepy)
    PythonOperator(task_id="first", python_callable=noop) >> PythonOperator(task_id="pooled", python_callable=noop,
                                                                           pool="closed")
'''


def _deployed(world: World, follow: bool = True) -> tuple[str, Any, LocalExecutor]:
    fileloc = world.write_dags("chain", CHAIN)
    settings = world.settings.replace(scheduler__schedule_after_task_execution=follow)
    executor = load_executor("local", settings)
    assert isinstance(executor, LocalExecutor)
    executor.start()
    return fileloc, world.make_run("chain"), executor


def _states(world: World, run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in world.store.list_task_instances(run.key)}


def test_each_end_of_a_chain_starts_the_next_task_without_the_scheduler(world: World) -> None:
    fileloc, run, executor = _deployed(world)
    try:
        executor.submit(world.queue(run, "a", fileloc))  # only the first: nobody queues b or c
        events = collect(executor, 3)
    finally:
        executor.end()
    assert [(e.key.task_id, e.try_number, e.outcome) for e in events] == [
        ("a", 0, Outcome.FINISHED), ("b", 0, Outcome.FINISHED), ("c", 0, Outcome.FINISHED)]
    states = _states(world, run)
    assert (states["a"], states["b"], states["c"]) == ("success", "success", "success")
    b = world.store.get_task_instance(TaskInstanceKey("chain", run.run_id, "b"))
    assert b.try_number == 1 and b.pid is not None and b.queued_at is not None
    assert not executor.running


def _sleepy_followed(world: World, executor: LocalExecutor, run: Any, fileloc: str) -> tuple[Any, list[Any]]:
    """Submit "head"; once "sleepy", its follower, runs and the executor knows its process: its key,
    and the events read meanwhile."""
    sleepy = TaskInstanceKey("chain", run.run_id, "sleepy")
    executor.submit(world.queue(run, "head", fileloc))
    wait_for(lambda: world.store.get_task_instance(sleepy).state == "running")
    events: list[Any] = []
    wait_for(lambda: (events.extend(executor.sync(0.05)), sleepy in executor.running)[1])
    wait_for(lambda: (executor._read_pids(), any(f.pid for f in executor._inflight.values()
                                                 if f.workload.key == sleepy))[1])
    return sleepy, events


def test_a_started_follower_is_the_executors_to_terminate(world: World) -> None:
    fileloc, run, executor = _deployed(world)
    try:
        sleepy, events = _sleepy_followed(world, executor, run, fileloc)
        assert executor.open_slots == 2 * executor.parallelism - 1
        assert executor.terminate(sleepy)
        events += collect(executor, 2 - len(events))
    finally:
        executor.end()
    assert [(e.key.task_id, e.try_number) for e in events] == [("head", 0), ("sleepy", 0)]
    assert world.store.get_task_instance(sleepy).state == "failed"  # terminated: SIGTERM, recorded by the try


def test_a_dead_zygote_reports_the_follower_it_was_running_crashed(world: World) -> None:
    fileloc, run, executor = _deployed(world)
    try:
        sleepy, events = _sleepy_followed(world, executor, run, fileloc)
        assert executor._proc is not None
        os.kill(executor._proc.pid, signal.SIGKILL)
        events += collect(executor, 2 - len(events))
    finally:
        executor.end()
    assert (events[-1].key, events[-1].try_number, events[-1].outcome) == (sleepy, 0, Outcome.CRASHED)


def test_with_the_option_off_an_end_starts_nothing(world: World) -> None:
    fileloc, run, executor = _deployed(world, follow=False)
    try:
        executor.submit(world.queue(run, "a", fileloc))
        events = collect(executor, 1)
    finally:
        executor.end()
    assert [e.key.task_id for e in events] == ["a"]
    assert (_states(world, run)["a"], _states(world, run)["b"]) == ("success", "pending")


def test_a_follower_that_cannot_start_leaves_no_process_and_no_event(world: World) -> None:
    world.store.set_pool("closed", 0)  # "pooled" may be scheduled, never queued
    fileloc, run, executor = _deployed(world)
    try:
        executor.submit(world.queue(run, "first", fileloc))
        events = collect(executor, 1)
        time.sleep(1.0)  # a spare forked for a follower that never came has been dismissed and reaped
        events += executor.sync(0.2)
        assert executor._proc is not None
        children = Path(f"/proc/{executor._proc.pid}/task/{executor._proc.pid}/children").read_text().split()
    finally:
        executor.end()
    assert [e.key.task_id for e in events] == ["first"]
    assert _states(world, run)["pooled"] == "scheduled"  # decided; the scheduler would queue it, in vain
    assert len(children) == 1  # the task agent alone: no try, no spare left
    assert not executor.running
