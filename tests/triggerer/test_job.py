"""The triggerer job on SQLite and PostgreSQL: triggers fire and resume their tasks, failures fail
them, cleared tasks' triggers stop, and several triggerers never run one trigger twice."""
from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowctl.core.deferral import FAIL_METHOD, encode_json
from flowctl.core.keys import TaskInstanceKey
from flowctl.db.store import Store
from flowctl.triggerer.job import Triggerer
from flowctl.triggerer.loop import TriggerLoop
from flowctl.triggers.base import BaseTrigger, TriggerEvent
from flowctl.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger

from tests.task_runner.conftest import World

DAG = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator

with DAG("waits", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    for i in range(12):
        EmptyOperator(task_id=f"t{i}")
'''


class Exploding(BaseTrigger):
    """A trigger that raises once it runs."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.Exploding", {}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        raise RuntimeError("the bucket is gone")
        yield TriggerEvent(None)  # pragma: no cover - makes run an async generator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _defer(world: World, run_id: str, task_id: str, trigger: BaseTrigger) -> TaskInstanceKey:
    """Put a task instance in deferred, waiting on ``trigger`` (what a deferring try writes)."""
    key = TaskInstanceKey("waits", run_id, task_id)
    store, now = world.store, utcnow()
    assert store.set_task_state(key, "pending", "scheduled") and store.set_task_state(key, "scheduled", "queued")
    assert store.start_try(key, 0, "here", 1, now) is not None
    classpath, kwargs = trigger.serialize()
    assert store.defer_try(key, 1, classpath, encode_json(kwargs), "done", {"n": 1}, None, now)
    return key


@pytest.fixture
def run_id(world: World) -> str:
    world.write_dags("waits", DAG)
    return world.make_run("waits").run_id


@pytest.fixture
def loops() -> Iterator[list[TriggerLoop]]:
    made: list[TriggerLoop] = []
    yield made
    for loop in made:
        loop.stop()


def _triggerer(store: Store, loops: list[TriggerLoop], capacity: int = 1000) -> Triggerer:
    loop = TriggerLoop()
    loop.start()
    loops.append(loop)
    job = store.create_job("triggerer", "here", 1, utcnow())
    return Triggerer(store, loop, job.id, capacity=capacity, health_threshold=30, heartbeat_every=5)


def _until(triggerer: Triggerer, done: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    outcomes: list[Any] = []
    while not done():
        assert time.monotonic() < deadline, "the condition did not come in time"
        triggerer.sync(utcnow(), outcomes)
        outcomes = triggerer.loop.outcomes(0.05)


def test_a_time_delta_trigger_of_a_fifth_of_a_second_fires_and_its_task_is_scheduled_with_the_event(
        world: World, run_id: str, loops: list[TriggerLoop]) -> None:
    trigger = TimeDeltaTrigger(timedelta(seconds=0.2))
    key = _defer(world, run_id, "t0", trigger)
    triggerer = _triggerer(world.store, loops)
    started = time.monotonic()
    _until(triggerer, lambda: world.store.get_task_instance(key).state == "scheduled")
    assert time.monotonic() - started >= 0.15
    ti = world.store.get_task_instance(key)
    assert dict(ti.next_kwargs or {}) == {"n": 1, "event": encode_json(trigger.moment)}
    assert ti.next_method == "done" and ti.trigger_id is None and ti.try_number == 0
    assert world.store.triggers([1, 2, 3]) == [] and triggerer.running == set()


def test_a_trigger_that_raises_fails_its_task(world: World, run_id: str, loops: list[TriggerLoop]) -> None:
    key = _defer(world, run_id, "t0", Exploding())
    triggerer = _triggerer(world.store, loops)
    _until(triggerer, lambda: world.store.get_task_instance(key).state == "scheduled")
    ti = world.store.get_task_instance(key)
    assert ti.next_method == FAIL_METHOD and "the bucket is gone" in ti.next_kwargs["traceback"]


def test_a_trigger_that_cannot_be_imported_fails_its_task(world: World, run_id: str,
                                                          loops: list[TriggerLoop]) -> None:
    key = TaskInstanceKey("waits", run_id, "t0")
    store = world.store
    store.set_task_state(key, "pending", "scheduled")
    store.set_task_state(key, "scheduled", "queued")
    store.start_try(key, 0, "here", 1, utcnow())
    store.defer_try(key, 1, "nowhere.NoTrigger", {}, "done", {}, None, utcnow())
    _triggerer(store, loops).sync(utcnow())
    ti = store.get_task_instance(key)
    assert ti.state == "scheduled" and ti.next_method == FAIL_METHOD and "nowhere" in ti.next_kwargs["traceback"]


def test_a_trigger_class_defined_in_a_dag_file_fails_its_task_saying_where_to_put_it(
        world: World, run_id: str, loops: list[TriggerLoop]) -> None:
    """A trigger whose serialize() names its own module, written in the DAG file, gets the DAG
    file's module name, which no other process can import: the task's log said only
    "No module named 'flowctl_dagfile_…'", a name the user never wrote."""
    from flowctl.dag_processing.loader import module_name_for

    key = TaskInstanceKey("waits", run_id, "t0")
    store = world.store
    store.set_task_state(key, "pending", "scheduled")
    store.set_task_state(key, "scheduled", "queued")
    store.start_try(key, 0, "here", 1, utcnow())
    classpath = f"{module_name_for(world.folder / 'waits.py')}.MyTrigger"
    store.defer_try(key, 1, classpath, {}, "done", {}, None, utcnow())
    _triggerer(store, loops).sync(utcnow())
    ti = store.get_task_instance(key)
    assert ti.state == "scheduled" and ti.next_method == FAIL_METHOD
    error = ti.next_kwargs["traceback"]
    assert "MyTrigger" in error and "defined in a DAG file" in error and "importable" in error


def test_the_trigger_of_a_task_cleared_meanwhile_is_cancelled_and_deleted(world: World, run_id: str,
                                                                          loops: list[TriggerLoop]) -> None:
    key = _defer(world, run_id, "t0", DateTimeTrigger(utcnow() + timedelta(hours=1)))
    triggerer = _triggerer(world.store, loops)
    assert triggerer.sync(utcnow()).started == 1
    world.store.clear_task_instances([key], utcnow())
    assert triggerer.sync(utcnow()).cancelled == 1 and triggerer.running == set()
    assert world.store.delete_unused_triggers() == 1


def test_a_triggerer_runs_no_more_triggers_than_its_capacity(world: World, run_id: str,
                                                             loops: list[TriggerLoop]) -> None:
    for i in range(5):
        _defer(world, run_id, f"t{i}", DateTimeTrigger(utcnow() + timedelta(hours=1)))
    first = _triggerer(world.store, loops, capacity=3)
    second = _triggerer(world.store, loops)
    assert first.sync(utcnow()).started == 3
    assert second.sync(utcnow()).started == 2
    assert first.sync(utcnow()).started == 0 and len(first.running) == 3


def test_two_triggerers_never_take_the_same_trigger(world: World, run_id: str, loops: list[TriggerLoop]) -> None:
    for i in range(12):
        _defer(world, run_id, f"t{i}", DateTimeTrigger(utcnow() + timedelta(hours=1)))
    jobs = [world.store.create_job("triggerer", "here", n, utcnow()).id for n in (1, 2)]
    alive_after = utcnow() - timedelta(seconds=30)
    taken: dict[int, list[int]] = {}
    barrier = threading.Barrier(2)

    def take(job_id: int) -> None:
        barrier.wait()
        got: list[int] = []
        for _ in range(6):  # two at a time, racing the other triggerer
            got = world.store.assign_triggers(job_id, len(got) + 2, alive_after)
        taken[job_id] = got

    threads = [threading.Thread(target=take, args=(job_id,)) for job_id in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = (set(taken[job_id]) for job_id in jobs)
    assert not first & second
    assert len(first | second) == 12


def test_the_triggers_of_a_triggerer_whose_heartbeat_stopped_are_taken_over(world: World, run_id: str,
                                                                            loops: list[TriggerLoop]) -> None:
    _defer(world, run_id, "t0", DateTimeTrigger(utcnow() + timedelta(hours=1)))
    long_ago = utcnow() - timedelta(minutes=5)
    gone = world.store.create_job("triggerer", "elsewhere", 1, long_ago).id
    assert len(world.store.assign_triggers(gone, 10, long_ago - timedelta(seconds=1))) == 1
    successor = _triggerer(world.store, loops)
    assert successor.sync(utcnow()).started == 1
    (trigger,) = world.store.triggers(sorted(successor.running))
    assert trigger.triggerer_id == successor.job_id
