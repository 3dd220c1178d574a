"""DagStateTrigger and WorkflowTrigger against a real database (SQLite and PostgreSQL): they wait
while the watched runs and tasks are unfinished, fire with Airflow's payloads once they finish,
and do their queries off the event loop."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from flowctl.core.deferral import decode_json, encode_json
from flowctl.core.keys import RunKey
from flowctl.db.store import Store
from flowctl.db.tables import TaskInstanceRow
from flowctl.settings import Settings
from flowctl.triggerer.job import load_trigger
from flowctl.triggers import metadata
from flowctl.triggers.base import TriggerEvent
from flowctl.core.taskgroup import serialized_group_task_ids as group_task_ids
from flowctl.triggers.external_task import DagStateTrigger, WorkflowTrigger

from tests.task_runner.conftest import World

OTHER = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
from flowctl.utils.task_group import TaskGroup

with DAG("other", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    first = EmptyOperator(task_id="first")
    with TaskGroup("load") as load:
        EmptyOperator(task_id="a")
        with TaskGroup("deep"):
            EmptyOperator(task_id="b")
    first >> load
'''
POLL = 0.05


@pytest.fixture
def other(world: World) -> Iterator[RunKey]:
    """A run of DAG ``other`` (running, its tasks pending) and the world's store installed for triggers."""
    world.write_dags("other", OTHER)
    metadata.use_store(world.store)
    yield world.make_run("other").key
    metadata.use_store(None)


def _set_tasks(store: Store, run: RunKey, states: Mapping[str, str]) -> None:
    """Put task instances straight in ``states`` (what their tries would have come to)."""
    with Session(store.engine) as s, s.begin():
        for task_id, state in states.items():
            s.execute(update(TaskInstanceRow).where(TaskInstanceRow.dag_id == run.dag_id, TaskInstanceRow.run_id
                                                    == run.run_id, TaskInstanceRow.task_id == task_id)
                      .values(state=state))


async def _first(trigger: Any) -> TriggerEvent:
    async for event in trigger.run():
        return event
    raise AssertionError("no event")


def _fires(trigger: Any, seconds: float = 10.0) -> Any:
    """The payload of the trigger's first event, as the resumed task gets it (through the stored JSON)."""
    event = asyncio.run(asyncio.wait_for(_first(trigger), seconds))
    return decode_json(encode_json(event.payload))


def _still_waits(trigger: Any, seconds: float = 0.3) -> bool:
    async def scenario() -> bool:
        try:
            await asyncio.wait_for(_first(trigger), seconds)
        except asyncio.TimeoutError:
            return True
        return False

    return asyncio.run(scenario())


def _rebuilt(trigger: Any) -> Any:
    classpath, kwargs = trigger.serialize()
    return load_trigger(classpath, encode_json(kwargs))  # as the triggerer builds it from its row


def test_a_dag_state_trigger_waits_for_the_run_then_fires_with_its_own_serialization(
        world: World, other: RunKey) -> None:
    trigger = _rebuilt(DagStateTrigger(dag_id="other", states=["success", "failed"], run_ids=[other.run_id],
                                       poll_interval=POLL))
    assert _still_waits(trigger)
    assert world.store.set_run_state(other, "running", "success")
    classpath, kwargs = _fires(trigger)
    assert classpath == "flowctl.triggers.external_task.DagStateTrigger"
    assert kwargs["run_ids"] == [other.run_id] and kwargs["states"] == ["success", "failed"]


def test_a_dag_state_trigger_finds_the_run_by_its_logical_date(world: World, other: RunKey) -> None:
    logical = world.store.get_run("other", other.run_id).logical_date
    trigger = _rebuilt(DagStateTrigger("other", ["failed"], [logical], poll_interval=POLL))
    assert trigger.execution_dates == [logical]
    assert world.store.set_run_state(other, "running", "success")
    assert _still_waits(trigger)  # success is not a state it waits for
    assert _fires(DagStateTrigger("other", ["success"], [logical], poll_interval=POLL))[1]["execution_dates"] \
        == [logical]


def test_a_dag_state_trigger_for_a_run_that_does_not_exist_keeps_waiting(other: RunKey) -> None:
    assert _still_waits(DagStateTrigger("other", ["success"], run_ids=["manual__nope"], poll_interval=POLL))
    with pytest.raises(ValueError, match="run_ids or execution_dates"):
        DagStateTrigger("other", ["success"])


def test_a_workflow_trigger_waits_for_the_tasks_then_reports_success(world: World, other: RunKey) -> None:
    logical = world.store.get_run("other", other.run_id).logical_date
    trigger = _rebuilt(WorkflowTrigger("other", [logical], external_task_ids=["first"], failed_states=["failed"],
                                       poke_interval=POLL))
    assert _still_waits(trigger)
    _set_tasks(world.store, other, {"first": "success"})
    assert _fires(trigger) == {"status": "success", "states": ["success"]}


def test_a_workflow_trigger_reports_failed_and_skipped_external_tasks(world: World, other: RunKey) -> None:
    watch = {"external_task_ids": ["first", "load.a"], "failed_states": ["failed", "upstream_failed"],
             "skipped_states": ["skipped"], "run_ids": [other.run_id], "poke_interval": POLL}
    _set_tasks(world.store, other, {"first": "skipped", "load.a": "skipped"})
    assert _fires(WorkflowTrigger("other", **watch))["status"] == "skipped"
    _set_tasks(world.store, other, {"first": "success", "load.a": "upstream_failed"})
    assert _fires(WorkflowTrigger("other", **watch)) == {"status": "failed", "states": ["success", "upstream_failed"]}


def test_a_workflow_trigger_watches_every_task_of_a_task_group_nested_ones_included(
        world: World, other: RunKey) -> None:
    trigger = WorkflowTrigger("other", run_ids=[other.run_id], external_task_group_id="load", poke_interval=POLL)
    _set_tasks(world.store, other, {"load.a": "success"})
    assert _still_waits(trigger)  # load.deep.b is not done yet
    _set_tasks(world.store, other, {"load.deep.b": "success"})
    assert _fires(trigger) == {"status": "success", "states": ["success", "success"]}
    missing = WorkflowTrigger("other", run_ids=[other.run_id], external_task_group_id="nope", poke_interval=POLL)
    with pytest.raises(Exception, match="no task group 'nope'"):
        _fires(missing)


def test_a_workflow_trigger_without_task_ids_watches_the_run_itself(world: World, other: RunKey) -> None:
    trigger = WorkflowTrigger("other", run_ids=[other.run_id], failed_states=["failed"], poke_interval=POLL)
    assert _still_waits(trigger)
    assert world.store.set_run_state(other, "running", "failed")
    assert _fires(trigger)["status"] == "failed"


def test_the_group_of_a_serialized_task_group_tree_lists_its_tasks_at_any_depth() -> None:
    tree = {"group_id": None, "children": ["first", {"group_id": "load", "children": [
        "load.a", {"group_id": "load.deep", "children": ["load.deep.b"]}]}]}
    assert group_task_ids(tree, "load") == ["load.a", "load.deep.b"]
    assert group_task_ids(tree, "load.deep") == ["load.deep.b"] and group_task_ids(tree, "x") is None


class SlowStore:
    """A real Store whose reads take a while, as on a loaded database server."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        verb = getattr(self._store, name)

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.3)
            return verb(*args, **kwargs)

        return slow


def test_a_slow_query_of_a_trigger_never_stalls_the_event_loop(world: World, other: RunKey) -> None:
    metadata.use_store(SlowStore(world.store))
    assert world.store.set_run_state(other, "running", "success")

    async def scenario() -> tuple[Any, float]:
        ticks = [time.monotonic()]

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        beat = asyncio.ensure_future(ticker())
        event = await _first(DagStateTrigger("other", ["success"], run_ids=[other.run_id], poll_interval=POLL))
        beat.cancel()
        ticks.append(time.monotonic())
        return event, max(b - a for a, b in zip(ticks, ticks[1:]))

    event, longest_gap = asyncio.run(scenario())
    assert event.payload[1]["run_ids"] == [other.run_id]
    assert longest_gap < 0.2  # the 0.3 s query ran in a thread


def test_without_an_installed_store_triggers_read_the_database_of_this_process_settings(
        world: World, other: RunKey, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FLOWCTL_HOME", str(tmp_path))
    monkeypatch.delenv("FLOWCTL_CONFIG", raising=False)
    monkeypatch.setenv("FLOWCTL__DATABASE__SQL_ALCHEMY_CONN", world.store.engine.url.render_as_string(False))
    metadata.use_store(None)
    assert Settings.load().sql_alchemy_conn == world.store.engine.url.render_as_string(False)
    assert world.store.set_run_state(other, "running", "success")
    try:
        assert _fires(DagStateTrigger("other", ["success"], run_ids=[other.run_id], poll_interval=POLL))
        built = metadata.metadata_store()
        assert built is not world.store and str(built.engine.url) == str(world.store.engine.url)
    finally:
        built = metadata._store
        metadata.use_store(None)
        if built is not None:
            built.close()


def test_a_store_installed_for_a_block_is_used_there_only(world: World) -> None:
    metadata.use_store(None)
    with metadata.using_store(world.store):
        assert metadata.metadata_store() is world.store
    assert metadata._store is None
