"""Fixtures for executor tests: a DAG folder and settings whose database is the test store's."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowctl.db.store import Store
from flowctl.executors.base import BaseExecutor, ExecutorEvent
from flowctl.settings import Settings

from tests.task_runner.conftest import World


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    folder = tmp_path / "dags"
    folder.mkdir()
    url = store.engine.url.render_as_string(hide_password=False)
    settings = Settings.load(environ={"FLOWCTL_HOME": str(tmp_path)}).replace(
        core__dags_folder=str(folder), logging__base_log_folder=str(tmp_path / "logs"),
        database__sql_alchemy_conn=url, scheduler__task_heartbeat_sec=0.5)
    return World(store, settings, folder)


def collect(executor: BaseExecutor, count: int, deadline: float = 60.0,
            until: Callable[[list[ExecutorEvent]], bool] | None = None) -> list[ExecutorEvent]:
    """sync() until ``count`` events arrived (or ``until`` holds); fails after ``deadline`` seconds."""
    events: list[ExecutorEvent] = []
    end = time.monotonic() + deadline
    while len(events) < count and (until is None or not until(events)):
        assert time.monotonic() < end, f"only {len(events)} of {count} events after {deadline}s: {events}"
        events.extend(executor.sync(timeout=0.5))
    return events


def wait_for(condition: Callable[[], bool], deadline: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)
