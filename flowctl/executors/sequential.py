"""SequentialExecutor: one task try at a time, each in a ``flowctl tasks run`` subprocess.

Simple and debuggable: the command it runs is printed by ``ps`` and can be
re-run by hand. The subprocess gets the executor's settings as
``FLOWCTL__SECTION__KEY`` variables and its own session, so ``terminate``
stops the task and anything it started. ``end`` returns at once; a try still
running finishes on its own and records its state.
Must not import flowctl.db, the task runner, web or cli.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import deque

from flowctl.executors import settings_environ
from flowctl.executors.base import BaseExecutor, ExecutorEvent, Outcome, TaskKey, Workload
from flowctl.settings import Settings


def tasks_run_command(workload: Workload) -> list[str]:
    """``python -m flowctl tasks run DAG TASK RUN --map-index N --try-number T --fileloc F``."""
    key = workload.key
    return [sys.executable, "-m", "flowctl", "tasks", "run", key.dag_id, key.task_id, key.run_id,
            "--map-index", str(key.map_index), "--try-number", str(workload.try_number),
            "--fileloc", workload.fileloc]


class SequentialExecutor(BaseExecutor):
    """Runs workloads one after another in subprocesses."""

    name = "sequential"

    def __init__(self, settings: Settings) -> None:
        super().__init__(parallelism=1)
        self.settings = settings
        self._queue: deque[Workload] = deque()
        self._current: tuple[Workload, subprocess.Popen[bytes]] | None = None
        self._pending: list[ExecutorEvent] = []

    def start(self) -> None:
        pass

    def submit(self, workload: Workload) -> None:
        self._queue.append(workload)
        self.running.add(workload.key)
        if self._current is None:
            self._start_next()

    def sync(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        events, self._pending = self._pending, []
        if self._current is None:
            self._start_next()
        if self._current is not None:
            workload, proc = self._current
            try:
                code = proc.wait(timeout=max(timeout, 0.0))
            except subprocess.TimeoutExpired:
                return events
            self._current = None
            self.running.discard(workload.key)
            outcome = Outcome.FINISHED if code == 0 else Outcome.CRASHED
            events.append(ExecutorEvent(workload.key, workload.try_number, outcome,
                                        "" if code == 0 else f"`flowctl tasks run` exited with code {code}"))
            self._start_next()
        return events

    def end(self) -> None:
        self._queue.clear()

    def terminate(self, key: TaskKey) -> bool:
        if self._current is not None and self._current[0].key == key:
            try:
                os.killpg(self._current[1].pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            return True
        for workload in list(self._queue):
            if workload.key == key:
                self._queue.remove(workload)
                self.running.discard(key)
                self._pending.append(ExecutorEvent(key, workload.try_number, Outcome.REJECTED,
                                                   "terminated before it started"))
                return True
        return False

    def _start_next(self) -> None:
        if self._current is not None or not self._queue:
            return
        workload = self._queue.popleft()
        env = {**os.environ, **settings_environ(self.settings)}
        proc = subprocess.Popen(tasks_run_command(workload), env=env, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        self._current = (workload, proc)
