"""A trigger's lines in the log of the try it waits for, on SQLite and PostgreSQL: a real try defers,
the triggerer's job and loop run its trigger, and the resumed try goes on in the same attempt file;
secrets are masked, and a log file the triggerer cannot write costs the trigger nothing."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.masking import mask_secret
from flowctl.task_runner import run_workload
from flowctl.task_runner.logs import log_path
from flowctl.triggerer.job import Triggerer
from flowctl.triggerer.loop import TriggerLoop
from flowctl.triggerer.trigger_logs import MARK, TriggerLogRouter
from flowctl.triggers.base import BaseTrigger, TriggerEvent

from tests.task_runner.conftest import World

#: Registered with mask_secret in this process, as Variable.get of a secret key or a hook would.
PROCESS_SECRET = "s3cr3t-of-the-process-7f1c"
#: A secret-looking kwarg of the trigger (``api_token``).
KWARG_SECRET = "tok-9d2e-never-in-a-log"

DAG = '''
from datetime import datetime, timedelta
from flowctl import DAG
from flowctl.models.baseoperator import BaseOperator
from tests.triggerer.test_trigger_logs import Chatty


class Waiter(BaseOperator):
    def __init__(self, wait_for="event", **kwargs):
        super().__init__(**kwargs)
        self.wait_for = wait_for

    def execute(self, context):
        self.log.info("deferring now")
        self.defer(trigger=Chatty(api_token="%s", wait_for=self.wait_for), method_name="done",
                   timeout=timedelta(hours=1))

    def done(self, context, event=None):
        self.log.info("resumed with %%s", event)
        return event


with DAG("chatty", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    Waiter(task_id="wait")
    Waiter(task_id="forever", wait_for="never")
    Waiter(task_id="other")
''' % KWARG_SECRET


class Chatty(BaseTrigger):
    """Logs through ``self.log``, another library's logger and a thread, then fires (or waits forever)."""

    def __init__(self, api_token: str, wait_for: str = "event", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_token = api_token
        self.wait_for = wait_for

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.Chatty", {"api_token": self.api_token, "wait_for": self.wait_for}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self.log.info("polling with token %s", self.api_token)
        logging.getLogger("somelib.client").warning("the service answered %s", PROCESS_SECRET)
        await asyncio.to_thread(logging.getLogger("somelib.pool").info, "checked in a thread")
        if self.wait_for == "never":
            await asyncio.sleep(3600)
        yield TriggerEvent({"rows": 3})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def _process_secret() -> None:
    mask_secret(PROCESS_SECRET)


@pytest.fixture
def fileloc(world: World) -> str:
    return world.write_dags("chatty", DAG)


@pytest.fixture
def router(world: World) -> Iterator[TriggerLogRouter]:
    made = TriggerLogRouter.from_settings(world.settings)
    made.start()
    yield made
    made.stop()


@pytest.fixture
def triggerer(world: World, router: TriggerLogRouter) -> Iterator[Triggerer]:
    loop = TriggerLoop()
    loop.start()
    job = world.store.create_job("triggerer", "here", 1, utcnow())
    made = Triggerer(world.store, loop, job.id, capacity=1000, health_threshold=30, heartbeat_every=5, logs=router)
    yield made
    loop.stop()


def _deferred(world: World, fileloc: str, task_id: str, run: Any) -> TaskInstanceKey:
    """Run ``task_id``'s first try for real: it defers (its log, attempt=1.log, exists)."""
    result = run_workload(world.queue(run, task_id, fileloc), world.settings, world.store)
    assert result.state == "deferred" and result.try_number == 1
    return result.key


def _until(triggerer: Triggerer, done: Callable[[], bool], now: Callable[[], datetime] = utcnow) -> None:
    deadline = time.monotonic() + 10
    outcomes: list[Any] = []
    while not done():
        assert time.monotonic() < deadline, "the condition did not come in time"
        triggerer.sync(now(), outcomes)
        outcomes = triggerer.loop.outcomes(0.05)


def _log_until(world: World, router: TriggerLogRouter, key: TaskInstanceKey, text: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        assert router.flush()
        log = world.log_text(key, 1)
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def test_a_triggers_lines_are_in_its_tries_log_between_the_deferral_and_the_resumed_run(
        world: World, fileloc: str, router: TriggerLogRouter, triggerer: Triggerer) -> None:
    run = world.make_run("chatty")
    key = _deferred(world, fileloc, "wait", run)
    trigger_id = world.store.get_task_instance(key).trigger_id
    _until(triggerer, lambda: world.store.get_task_instance(key).state == "scheduled")
    assert router.flush()
    resumed = run_workload(world.queue(run, "wait", fileloc), world.settings, world.store)
    assert resumed.state == "success" and resumed.try_number == 1  # the same try, the same file
    assert not log_path(world.settings.base_log_folder, key, 2).exists()
    lines = world.log_text(key, 1).splitlines()
    mine = [line for line in lines if line.startswith(MARK)]
    order = [next(i for i, line in enumerate(lines) if text in line) for text in (
        "deferring now", f"trigger {trigger_id} starting on", "polling with token", "the service answered",
        "checked in a thread", f"trigger {trigger_id} fired: TriggerEvent<{{'rows': 3}}>", "resumed with")]
    assert order == sorted(order)
    assert len(mine) == 5 and all("deferring" not in line and "resumed" not in line for line in mine)
    assert "{tests.triggerer.test_trigger_logs.Chatty} INFO - polling with token" in mine[1]
    assert "{somelib.client} WARNING - the service answered" in mine[2]


def test_secrets_in_a_triggers_lines_are_masked(world: World, fileloc: str, router: TriggerLogRouter,
                                                triggerer: Triggerer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flowctl.triggerer")
    key = _deferred(world, fileloc, "wait", world.make_run("chatty"))
    _until(triggerer, lambda: world.store.get_task_instance(key).state == "scheduled")
    assert router.flush()
    log = world.log_text(key, 1)
    assert KWARG_SECRET not in log and PROCESS_SECRET not in log
    assert f"{MARK}" in log and "polling with token ***" in log and "the service answered ***" in log
    assert "api_token='***'" in log  # the start line's repr of the trigger
    (start,) = [r.getMessage() for r in caplog.records if "starting on" in r.getMessage()]
    assert "api_token='***'" in start  # the triggerer's own log has the start line too, masked as well


def test_a_trigger_whose_deferral_timed_out_says_so_in_the_log(world: World, fileloc: str,
                                                               router: TriggerLogRouter, triggerer: Triggerer) -> None:
    key = _deferred(world, fileloc, "forever", world.make_run("chatty"))
    trigger_id = world.store.get_task_instance(key).trigger_id
    assert triggerer.sync(utcnow()).started == 1
    _log_until(world, router, key, "checked in a thread")
    later = utcnow() + timedelta(hours=2)
    assert world.store.time_out_deferrals(later) == [key]  # the scheduler's part
    assert triggerer.sync(later).cancelled == 1
    log = _log_until(world, router, key, "timed out")
    (line,) = [line for line in log.splitlines() if f"trigger {trigger_id} timed out" in line]
    assert line.startswith(MARK) and "the task resumes to fail with TaskDeferralTimeout" in line


def test_a_cleared_tasks_trigger_says_it_was_cancelled(world: World, fileloc: str, router: TriggerLogRouter,
                                                      triggerer: Triggerer) -> None:
    key = _deferred(world, fileloc, "forever", world.make_run("chatty"))
    trigger_id = world.store.get_task_instance(key).trigger_id
    assert triggerer.sync(utcnow()).started == 1
    _log_until(world, router, key, "checked in a thread")
    world.store.clear_task_instances([key], utcnow())
    assert triggerer.sync(utcnow()).cancelled == 1
    log = _log_until(world, router, key, "cancelled")
    assert f"{MARK}" in log and f"trigger {trigger_id} cancelled: its task no longer waits on it" in log


def test_a_log_file_the_triggerer_cannot_write_warns_once_and_the_triggers_fire_all_the_same(
        world: World, fileloc: str, router: TriggerLogRouter, triggerer: Triggerer,
        caplog: pytest.LogCaptureFixture) -> None:
    run = world.make_run("chatty")
    blocked = _deferred(world, fileloc, "wait", run)
    elsewhere = _deferred(world, fileloc, "other", run)
    path = log_path(world.settings.base_log_folder, blocked, 1)
    path.unlink()
    path.mkdir()  # a file it cannot open for writing (root may write anywhere: chmod would not stop it)
    log_path(world.settings.base_log_folder, elsewhere, 1).unlink()  # the try logged on another machine
    caplog.set_level(logging.WARNING, logger="flowctl.triggerer")
    _until(triggerer, lambda: all(world.store.get_task_instance(k).state == "scheduled" for k in (blocked, elsewhere)))
    assert router.flush()
    for key in (blocked, elsewhere):
        assert dict(world.store.get_task_instance(key).next_kwargs or {})["event"] == {"rows": 3}
    warnings = [r for r in caplog.records if "cannot add the triggers' lines" in r.getMessage()]
    assert len(warnings) == 1 and "another machine" in warnings[0].getMessage()
    assert path.is_dir() and os.listdir(path) == []
    assert not log_path(world.settings.base_log_folder, elsewhere, 1).exists()  # no stray part of its log here


def test_records_logged_outside_a_trigger_go_to_no_try_log(world: World, fileloc: str,
                                                           router: TriggerLogRouter, triggerer: Triggerer) -> None:
    key = _deferred(world, fileloc, "wait", world.make_run("chatty"))
    before = world.log_text(key, 1)
    logging.getLogger("flowctl.triggerer").warning("a line of the triggerer itself")
    assert router.flush()
    assert world.log_text(key, 1) == before
