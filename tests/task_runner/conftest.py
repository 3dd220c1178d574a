"""Fixtures for the task runner tests: a DAG folder, settings pointing at it, and a queued-try helper."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from flowctl.core.keys import TaskInstanceKey
from flowctl.dag_processing.serialization import serialize_dag
from flowctl.db.records import DagRunRecord
from flowctl.db.store import Store
from flowctl.db.tables import TaskInstanceRow
from flowctl.executors.base import Workload
from flowctl.settings import Settings
from flowctl.task_runner import dagfile

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@dataclass
class World:
    """A DAG folder on disk, settings for it, and a store."""

    store: Store
    settings: Settings
    folder: Path

    def write_dags(self, name: str, source: str) -> str:
        """Write a DAG file, import it, sync its DAGs to the store; returns its path."""
        path = self.folder / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        dagfile.forget(str(path))
        for dag in dagfile.load_file(str(path)).values():
            self.store.sync_dag(serialize_dag(dag), str(path), T0)
        return str(path)

    def make_run(self, dag_id: str, day: int = 0) -> DagRunRecord:
        logical = T0 + timedelta(days=day)
        return self.store.create_run(dag_id, f"manual__{logical.isoformat()}", run_type="manual",
                                     logical_date=logical, now=T0, state="running",
                                     data_interval=(logical, logical + timedelta(days=1)))

    def queue(self, run: DagRunRecord, task_id: str, fileloc: str, map_index: int = -1) -> Workload:
        """Move a task instance to queued and return the workload the scheduler would send."""
        key = TaskInstanceKey(run.dag_id, run.run_id, task_id, map_index)
        ti = self.store.get_task_instance(key)
        if ti.state in ("pending", "up_for_retry", "up_for_reschedule"):
            assert self.store.set_task_state(key, ti.state, "scheduled")
        assert self.store.set_task_state(key, "scheduled", "queued", queued_at=T0)
        return Workload(key, self.store.get_task_instance(key).try_number, fileloc)

    def expand(self, run: DagRunRecord, task_id: str, length: int) -> None:
        """Create map indexes 0..length-1 of a mapped task (the scheduler's job, done by hand)."""
        with Session(self.store.engine) as s, s.begin():
            for index in range(length):
                s.add(TaskInstanceRow(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, map_index=index,
                                      state="pending", try_number=0, max_tries=0))

    def log_text(self, key: TaskInstanceKey, try_number: int) -> str:
        from flowctl.task_runner.logs import log_path

        return log_path(self.settings.base_log_folder, key, try_number).read_text()


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    folder = tmp_path / "dags"
    folder.mkdir()
    settings = Settings.load(environ={"FLOWCTL_HOME": str(tmp_path)}).replace(
        core__dags_folder=str(folder), logging__base_log_folder=str(tmp_path / "logs"),
        scheduler__task_heartbeat_sec=0.2)
    return World(store, settings, folder)


def supervised_end(world: World, workload: Workload) -> tuple[Any, dict[str, Any]]:
    """Run ``workload``'s try here as a zygote's child runs it (claimed for it, a PipeSupervisor whose
    answer "won" is written ahead): its result, and the end message it sent to its supervisor."""
    import json
    import os

    from flowctl.task_runner.execution import defer_sigterm
    from flowctl.task_runner.pipes import PipeSupervisor
    from flowctl.task_runner.runner import run_claimed

    claim = world.store.start_try(workload.key, workload.try_number, "host", 1, datetime.now(timezone.utc))
    results_r, results_w = os.pipe()
    answers_r, answers_w = os.pipe()
    os.write(answers_w, b'{"won": true}\n')  # the zygote's answer, ahead
    try:
        with defer_sigterm():
            result = run_claimed(workload, world.settings, world.store, claim, PipeSupervisor(results_w, answers_r))
        os.close(results_w)
        lines = b""
        while chunk := os.read(results_r, 65536):
            lines += chunk
    finally:
        for fd in (results_r, answers_r, answers_w):
            os.close(fd)
    return result, [json.loads(line)["end"] for line in lines.splitlines() if b'"end"' in line][0]
