"""Tries that died without recording their end: executor crash reports, zombies, orphaned queued TIs.

A crashed or rejected workload whose TI is still queued/running for that try,
and a running TI whose heartbeat stopped (a zombie), count as a failed try:
failed or up_for_retry per the task's retry policy (``core.planner.failed_try``),
the reason recorded in the TI note and its try history; a try that had
started also gets its task's on_failure_callback / on_retry_callback (in a
child process, see ``callbacks.py``). A queued TI whose
scheduler job is gone is put back to scheduled, to be queued again. A workload
the executor still counts as running whose row says its try is over (a remote
worker killed mid-try never reports it) is released, so its slot is free again.
Must not import flask, click or SQLAlchemy.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from collections.abc import Callable
from typing import Any

from flowctl.core.errors import TaskInstanceNotFound
from flowctl.core.planner import TaskSpec, failed_try
from flowctl.executors.base import BaseExecutor, ExecutorEvent, Outcome
from flowctl.scheduler.graphs import GraphCache

log = logging.getLogger(__name__)


class Recovery:
    """Applies the failed-try rule to dead tries."""

    def __init__(self, store: Any, graphs: GraphCache,
                 on_dead_try: Callable[[Any, int, str, str], None] | None = None) -> None:
        self.store = store
        self.graphs = graphs
        self.on_dead_try = on_dead_try  # (ti, try number, new state, reason): the task's callback

    def _spec(self, ti: Any) -> TaskSpec | None:
        try:
            run = self.store.get_run(ti.dag_id, ti.run_id)
            if run.serialized_dag_id is None:
                return None
            return self.graphs.graph(run.serialized_dag_id).tasks.get(ti.task_id)
        except LookupError:
            return None

    def fail_try(self, ti: Any, now: datetime, note: str) -> bool:
        """Record ``ti``'s current try (queued or running) as failed or up for retry."""
        try_number = ti.try_number + (1 if ti.state == "queued" else 0)
        outcome = failed_try(ti.key, self._spec(ti), try_number, ti.max_tries, now)
        won = self.store.fail_dead_try(ti.key, ti.state, outcome.state, now, seen_try=ti.try_number,
                                       next_retry_at=outcome.next_retry_at, note=note)
        if won:
            log.warning("%s: %s -> %s (%s)", ti.key, ti.state, outcome.state.value, note)
            if self.on_dead_try is not None and ti.state == "running":  # a queued try never ran: no callback
                self.on_dead_try(ti, try_number, outcome.state.value, note)
        return bool(won)

    def handle_events(self, events: list[ExecutorEvent], now: datetime) -> int:
        """Fail the tries of CRASHED / REJECTED workloads that did not record an end."""
        changed = 0
        for event in events:
            if event.outcome is Outcome.FINISHED:
                continue
            try:
                ti = self.store.get_task_instance(event.key)
            except TaskInstanceNotFound:
                continue
            if _current(ti, event.try_number):
                detail = f": {event.detail}" if event.detail else ""
                changed += self.fail_try(ti, now, f"the executor reported the try {event.outcome.value}{detail}")
        return changed

    def release_ended(self, executor: BaseExecutor) -> int:
        """Release the workloads the executor still counts as running whose rows say their try is
        over: a remote worker killed mid-try never reports it (``BaseExecutor.in_flight``)."""
        released = 0
        for key, try_number in executor.in_flight().items():
            try:
                ti = self.store.get_task_instance(key)
            except TaskInstanceNotFound:
                ti = None
            if ti is None or not _current(ti, try_number):
                log.info("%s: try %d is over (its row is %s) but its executor never said so; its slot is free",
                         key, try_number + 1, "gone" if ti is None else ti.state)
                executor.release(key)
                released += 1
        return released

    def reap_zombies(self, now: datetime, threshold: float) -> list[Any]:
        """Fail running TIs whose heartbeat is older than ``threshold`` seconds; the ones failed."""
        failed = []
        for ti in self.store.find_zombies(now - timedelta(seconds=threshold)):
            if self.fail_try(ti, now, f"zombie: no heartbeat for over {threshold:g}s (worker gone?)"):
                failed.append(ti)
        return failed

    def requeue_orphans(self, now: datetime, job_threshold: float, own_job_id: int | None) -> int:
        """queued TIs of dead scheduler jobs -> scheduled (queued again by this scheduler)."""
        keys = self.store.requeue_orphaned_tasks(now - timedelta(seconds=job_threshold), own_job_id, now)
        for key in keys:
            log.info("%s: queued by a scheduler that is gone; scheduling it again", key)
        return len(keys)


def _current(ti: Any, try_number: int) -> bool:
    """Whether ``ti`` is still at the try a workload submitted with ``try_number`` runs: queued
    for it, or running it (a claim adds one to the row's try_number)."""
    return ((ti.state == "queued" and ti.try_number == try_number)
            or (ti.state == "running" and ti.try_number == try_number + 1))
