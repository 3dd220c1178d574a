"""The triggerer job: take triggers from the database, run them in the loop, resume their tasks.

:meth:`Triggerer.sync` is one round at ``now``: write what triggers came to (an event moves
the task deferred -> scheduled with ``event`` in its next_kwargs; an error resumes it in
``__fail__``), take the triggers this job may run (unassigned ones and those of triggerers
whose heartbeat stopped, up to ``[triggerer] default_capacity``; several triggerers never take
the same one), start the new ones in the loop, and cancel those whose task no longer waits
(cleared, marked, timed out). :meth:`Triggerer.run_forever` is the only clock reader: it waits
on the loop's outcomes so an event is written as soon as it comes, and syncs at least every
``POLL_SECONDS``; the job heartbeats every ``[triggerer] job_heartbeat_sec``. With a
:class:`~flowctl.triggerer.trigger_logs.TriggerLogRouter`, each trigger's lines go to the log of
the try it resumes (``attempt=N.log``), as Airflow's UI shows them.
Must not import flask, click, SQLAlchemy, web, cli or scheduler.
"""
from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flowctl.core.deferral import decode_json
from flowctl.triggerer.loop import TriggerLoop, TriggerOutcome
from flowctl.triggerer.trigger_logs import TriggerLogRouter

log = logging.getLogger("flowctl.triggerer")
POLL_SECONDS = 1.0  # new triggers are picked up this often at the latest


def utcnow() -> datetime:
    """The current instant in UTC (only the outermost loop reads it)."""
    return datetime.now(timezone.utc)


def load_trigger(classpath: str, kwargs: Any) -> Any:
    """The trigger ``classpath(**kwargs)`` (kwargs as stored JSON); ImportError / TypeError if not."""
    module_name, _, name = classpath.rpartition(".")
    if not module_name:
        raise ImportError(f"{classpath!r} is not a dotted class path")
    cls = getattr(importlib.import_module(module_name), name, None)
    if cls is None:
        raise ImportError(f"module {module_name!r} has no trigger class {name!r}")
    return cls(**decode_json(dict(kwargs or {})))


@dataclass(frozen=True, slots=True)
class SyncReport:
    """One round: triggers started, cancelled, and outcomes written."""

    started: int = 0
    cancelled: int = 0
    written: int = 0


class Triggerer:
    """One triggerer job: its database side (this thread) and its TriggerLoop."""

    def __init__(self, store: Any, loop: TriggerLoop, job_id: int, *, capacity: int, health_threshold: float,
                 heartbeat_every: float, logs: TriggerLogRouter | None = None) -> None:
        self.store = store
        self.loop = loop
        self.job_id = job_id
        self.capacity = capacity
        self.health_threshold = health_threshold
        self.heartbeat_every = heartbeat_every
        self.logs = logs  # started: the triggers' lines go to their tries' logs
        self.running: set[int] = set()  # handed to the loop, outcome not yet written
        self._deadlines: dict[int, datetime] = {}  # of running triggers whose deferral has a timeout
        self._next_beat: datetime | None = None
        self._stopping = False

    @classmethod
    def start(cls, store: Any, settings: Any, now: datetime) -> Triggerer:
        """Register a triggerer job and start its loop."""
        job = store.create_job("triggerer", socket.gethostname(), os.getpid(), now)
        logs = TriggerLogRouter.from_settings(settings)
        logs.start()
        loop = TriggerLoop()
        loop.start()
        return cls(store, loop, job.id, capacity=int(settings.get("triggerer", "default_capacity")),
                   health_threshold=float(settings.get("triggerer", "triggerer_health_check_threshold")),
                   heartbeat_every=float(settings.get("triggerer", "job_heartbeat_sec")), logs=logs)

    def sync(self, now: datetime, outcomes: list[TriggerOutcome] | None = None) -> SyncReport:
        """Write ``outcomes`` (and whatever else the loop has), then take, start and cancel triggers."""
        written = self.write(list(outcomes or []) + self.loop.outcomes(0.0), now)
        self._heartbeat_if_due(now)
        ids = self.store.assign_triggers(self.job_id, self.capacity, now - timedelta(seconds=self.health_threshold))
        wanted = set(ids)
        gone = self.running - wanted
        for trigger_id in gone:
            self.loop.cancel(trigger_id, self._why_gone(trigger_id, now))
            self.running.discard(trigger_id)
        started = 0
        for record in self.store.triggers([i for i in ids if i not in self.running]):
            started += self._start_one(record, now)
        return SyncReport(started=started, cancelled=len(gone), written=written)

    def write(self, outcomes: list[TriggerOutcome], now: datetime) -> int:
        """Record what triggers came to: their tasks resume (or fail); the triggers are deleted."""
        for outcome in outcomes:
            self.running.discard(outcome.trigger_id)
            self._deadlines.pop(outcome.trigger_id, None)
            if outcome.error is None:
                keys = self.store.fire_trigger(outcome.trigger_id, outcome.payload, now)
            else:
                keys = self.store.fail_trigger(outcome.trigger_id, outcome.error, now)
            for key in keys:
                log.info("%s: trigger %d %s; the task resumes", key, outcome.trigger_id,
                         "fired" if outcome.error is None else "failed")
        return len(outcomes)

    def _start_one(self, record: Any, now: datetime) -> int:
        try:
            trigger = load_trigger(record.classpath, record.kwargs)
        except Exception as exc:  # noqa: BLE001 - a trigger that cannot be built fails its task
            log.warning("trigger %d (%s) cannot be built: %s", record.id, record.classpath, exc)
            self.write([TriggerOutcome(record.id, error=unbuildable(record.classpath, exc))], now)
            return 0
        trigger.trigger_id = record.id
        waiting = record.waiting
        target = None if self.logs is None or waiting is None else self.logs.target(waiting, record.kwargs)
        if waiting is not None and waiting.timeout_at is not None:
            self._deadlines[record.id] = waiting.timeout_at
        self.running.add(record.id)
        self.loop.add(record.id, trigger, target)
        return 1

    def _why_gone(self, trigger_id: int, now: datetime) -> str:
        """How the line of a trigger this triggerer no longer runs ends: timed out, or cleared / marked / taken over."""
        deadline = self._deadlines.pop(trigger_id, None)
        if deadline is not None and deadline <= now:
            return (f"timed out: the deferral's deadline ({deadline.isoformat()}) passed; "
                    "the task resumes to fail with TaskDeferralTimeout")
        return "cancelled: its task no longer waits on it here (cleared or marked, or another triggerer took it over)"

    def _heartbeat_if_due(self, now: datetime) -> None:
        if self._next_beat is not None and now < self._next_beat:
            return
        self._next_beat = now + timedelta(seconds=self.heartbeat_every)
        self.store.heartbeat_job(self.job_id, now)
        self.store.delete_unused_triggers()  # those of cleared / marked / timed-out tasks

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after its current round."""
        self._stopping = True

    def run_forever(self, clock: Callable[[], datetime] = utcnow, rounds: int = -1) -> int:
        """Sync until stopped (or ``rounds`` rounds); each round waits for outcomes up to POLL_SECONDS."""
        done = 0
        outcomes: list[TriggerOutcome] = []
        try:
            while not self._stopping and (rounds < 0 or done < rounds):
                self.sync(clock(), outcomes)
                done += 1
                outcomes = self.loop.outcomes(POLL_SECONDS)
        finally:
            try:
                self.loop.stop()
                if outcomes:
                    self.write(outcomes, clock())
                self.store.end_job(self.job_id, "success", clock())
            finally:
                if self.logs is not None:
                    self.logs.stop()  # after the loop: the lines of the triggers it stopped are written too
        return done


def unbuildable(classpath: str, exc: Exception) -> str:
    """Why the task of a trigger the triggerer cannot build fails: the error, and for a class
    written in a DAG file (whose module only the process that parsed it knows) where it belongs."""
    from flowctl.dag_processing.loader import DAG_FILE_MODULE_PREFIX

    error = f"the triggerer cannot build the trigger {classpath}: {type(exc).__name__}: {exc}"
    if classpath.startswith(DAG_FILE_MODULE_PREFIX):
        error += ("; its class is defined in a DAG file, and a trigger's class must be importable by the "
                  "triggerer: move it to a module of its own in the dags folder (on the triggerer's path) and import it from there")
    return error
