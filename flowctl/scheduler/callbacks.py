"""DAG callbacks, and task callbacks of dead tries, without user code in the scheduler.

Choice: when a run finishes and its DAG has the callback, the scheduler starts
a short-lived child process, ``python -m flowctl.scheduler.callback_main``,
that imports the DAG file, builds the callback context and calls the
callback (Airflow runs them in its DAG file processor for the same reason).
A try that died without recording its end (a zombie,
a crashed worker) gets its task's on_failure_callback (or on_retry_callback)
the same way, in ``callback_main --task``; a DAG's sla_miss_callback for its SLA misses not
notified yet in ``callback_main --sla`` (one such child per DAG at a time). The scheduler never waits for it: children are reaped on later ticks,
killed once they ran past ``[core] dag_file_processor_timeout`` (as Airflow kills the processor that
runs them, so a callback that hangs neither lives for ever nor holds back its DAG's next SLA
callback), and given a grace period at shutdown. A callback's failure is logged by the child
and changes nothing in the database.
Must not import flask, click or SQLAlchemy.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flowctl.core.states import DagRunState
from flowctl.executors import settings_environ
from flowctl.scheduler.graphs import GraphCache
from flowctl.settings import Settings

log = logging.getLogger(__name__)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class DagCallbacks:
    """Starts callback children for finished runs and reaps them."""

    def __init__(self, store: Any, graphs: GraphCache, settings: Settings) -> None:
        self.store = store
        self.graphs = graphs
        self.settings = settings
        self._children: list[subprocess.Popen[bytes]] = []
        self._deadlines: dict[int, float] = {}  # child pid -> time.monotonic() past which it is killed
        self._sla_children: dict[str, subprocess.Popen[bytes]] = {}
        self._sla_waiting: set[str] = set()  # new misses came while the DAG's SLA child still ran

    def run_finished(self, run: Any, state: DagRunState, reason: str) -> None:
        """Start the DAG's callback for a run that just ended in ``state``, if it has one."""
        if run.serialized_dag_id is None:
            return
        graph = self.graphs.graph(run.serialized_dag_id)
        wanted = graph.has_success_callback if state is DagRunState.SUCCESS else graph.has_failure_callback
        if not wanted:
            return
        fileloc = self.store.get_dag(run.dag_id).fileloc
        if not fileloc:
            return
        kind = "success" if state is DagRunState.SUCCESS else "failure"
        self._children.append(self._spawn([fileloc, run.dag_id, run.run_id, kind, reason]))

    def try_died(self, ti: Any, try_number: int, state: str, reason: str) -> None:
        """Start the task's on_failure_callback / on_retry_callback, and its e-mail alert, for a try
        that died without recording its end (now ``state``), if the task has one."""
        run = self.store.get_run(ti.dag_id, ti.run_id)
        if run.serialized_dag_id is None:
            return
        spec = self.graphs.graph(run.serialized_dag_id).tasks.get(ti.task_id)
        wanted = {"failed": spec is not None and (spec.has_failure_callback or spec.emails_on_failure),
                  "up_for_retry": spec is not None and (spec.has_retry_callback or spec.emails_on_retry)
                  }.get(state, False)
        fileloc = self.store.get_dag(ti.dag_id).fileloc if wanted else None
        if fileloc:
            self._children.append(self._spawn(["--task", fileloc, ti.dag_id, ti.run_id, ti.task_id,
                                               str(ti.map_index), str(try_number), state, reason]))

    def sla_missed(self, dag_id: str) -> None:
        """Start the DAG's sla_miss_callback for its misses not notified yet; if the DAG's previous
        SLA child still runs, start it once that one ended (so no miss is notified twice)."""
        child = self._sla_children.get(dag_id)
        if child is not None and child.poll() is None:
            self._sla_waiting.add(dag_id)
            return
        self._sla_waiting.discard(dag_id)
        fileloc = self.store.get_dag(dag_id).fileloc
        if fileloc:
            self._sla_children[dag_id] = self._spawn(["--sla", fileloc, dag_id])
            self._children.append(self._sla_children[dag_id])

    def _spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, **settings_environ(self.settings)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        child = subprocess.Popen([sys.executable, "-m", "flowctl.scheduler.callback_main", *args],
                                 stdin=subprocess.DEVNULL, env=env)
        timeout = float(self.settings.get("core", "dag_file_processor_timeout"))
        self._deadlines[child.pid] = time.monotonic() + timeout
        return child

    def _kill_overdue(self, now: float) -> None:
        """Kill each child that ran past ``[core] dag_file_processor_timeout``."""
        for child in self._children:
            if child.poll() is None and now > self._deadlines.get(child.pid, now):
                log.warning("callback process %s (%s) ran past [core] dag_file_processor_timeout; killing it",
                            child.pid, " ".join(str(a) for a in child.args[3:]))
                child.kill()
                child.wait()

    def reap(self) -> int:
        """Kill children past their timeout, forget those that ended; how many are still running."""
        self._kill_overdue(time.monotonic())
        self._children = [c for c in self._children if c.poll() is None]
        self._deadlines = {c.pid: self._deadlines[c.pid] for c in self._children if c.pid in self._deadlines}
        for dag_id in [d for d in self._sla_waiting if self._sla_children[d].poll() is not None]:
            self.sla_missed(dag_id)
        return len(self._children)

    def close(self, grace: float = 10.0) -> None:
        """Give running callbacks ``grace`` seconds, then kill them."""
        deadline = time.monotonic() + grace
        for child in self._children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("DAG callback process %s did not end in time; killing it", child.pid)
                child.kill()
                child.wait()
        self._children = []
        self._deadlines.clear()
        self._sla_children.clear()
        self._sla_waiting.clear()
