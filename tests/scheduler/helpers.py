"""Test doubles for the scheduler tests: an in-process executor and DAG builders.

``InlineExecutor`` runs each submitted workload when ``sync`` is called, by
doing what a worker does through the Store's compare-and-set verbs (claim,
then the final state). A task's behaviour is chosen per task id: success
(default), fail, crash (the worker dies before claiming), or hang (claimed,
never finishes); ``xcoms`` holds each task's return value. Both are keyed by task id,
or by ``"task_id[i]"`` for one map index (which wins).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flowctl.core.dag import DAG
from flowctl.core.planner import failed_try, task_graph
from flowctl.dag_processing.serialization import serialize_dag
from flowctl.executors.base import BaseExecutor, ExecutorEvent, Outcome, Workload
from flowctl.settings import Settings

T0 = datetime(2024, 1, 10, tzinfo=timezone.utc)


def settings(tmp_path: Path, **options: str) -> Settings:
    """Settings with a home in tmp_path and ``section__key`` overrides."""
    env = {"FLOWCTL_HOME": str(tmp_path)}
    env.update({f"FLOWCTL__{k.upper()}": v for k, v in options.items()})
    return Settings.load(environ=env)


def sync(store: Any, dag: DAG, fileloc: str = "/dags/test.py", now: datetime = T0) -> dict[str, Any]:
    """Serialize ``dag`` and store it as if the DAG processor had parsed it."""
    data = serialize_dag(dag)
    store.sync_dag(data, fileloc, now)
    return data


class InlineExecutor(BaseExecutor):
    """Runs workloads synchronously inside ``sync`` through the Store, like a worker would."""

    name = "inline"

    def __init__(self, store: Any, parallelism: int = 32) -> None:
        super().__init__(parallelism)
        self.store = store
        self.behaviour: dict[str, str] = {}
        self.pending: list[Workload] = []
        self.submitted: list[Workload] = []
        self.ran: list[str] = []
        self.now = T0
        self.terminated: list[Any] = []
        self.xcoms: dict[str, Any] = {}

    def start(self) -> None:
        pass

    def end(self) -> None:
        pass

    def submit(self, workload: Workload) -> None:
        self.pending.append(workload)
        self.submitted.append(workload)
        self.running.add(workload.key)

    def terminate(self, key: Any) -> bool:
        self.terminated.append(key)
        return True

    def sync(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        events = [self._run(w) for w in self.pending]
        self.pending = [w for w, e in zip(self.pending, events) if e is None]
        return [e for e in events if e is not None]

    def _run(self, w: Workload) -> ExecutorEvent | None:
        label = w.key.task_id if w.key.map_index < 0 else f"{w.key.task_id}[{w.key.map_index}]"
        what = self.behaviour.get(label, self.behaviour.get(w.key.task_id, "success"))
        if what == "crash":
            self.running.discard(w.key)
            return ExecutorEvent(w.key, w.try_number, Outcome.CRASHED, "worker died")
        if not self.store.claim_queued_task(w.key, "host", 1, self.now):
            self.running.discard(w.key)
            return ExecutorEvent(w.key, w.try_number, Outcome.FINISHED)
        self.ran.append(label)
        if what == "hang":
            return ExecutorEvent(w.key, w.try_number, Outcome.FINISHED, "left running")
        if what == "fail":
            ti = self.store.get_task_instance(w.key)
            run = self.store.get_run(w.key.dag_id, w.key.run_id)
            spec = task_graph(self.store.get_serialized_dag(run.serialized_dag_id).data).tasks[w.key.task_id]
            outcome = failed_try(w.key, spec, ti.try_number, ti.max_tries, self.now)
            self.store.set_task_state(w.key, "running", outcome.state, next_retry_at=outcome.next_retry_at,
                                      end_date=self.now)
        else:
            value = self.xcoms.get(label, self.xcoms.get(w.key.task_id))
            if value is not None:  # as a worker: a None return value is not pushed
                self.store.xcom_push(w.key, "return_value", value, self.now)
            self.store.set_task_state(w.key, "running", "success", end_date=self.now)
        self.running.discard(w.key)
        return ExecutorEvent(w.key, w.try_number, Outcome.FINISHED)


def tick_until_idle(scheduler: Any, now: datetime, limit: int = 50) -> int:
    """Tick at ``now`` until a tick changes nothing; returns the number of ticks."""
    for count in range(1, limit + 1):
        report = scheduler.tick(now)
        if not (report.busy or report.events or report.queued or report.changed):
            return count
    raise AssertionError(f"scheduler still busy after {limit} ticks")


def day(n: int) -> timedelta:
    return timedelta(days=n)
