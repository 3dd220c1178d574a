"""The scheduler loop: store -> planner -> store -> executor, event driven.

``Scheduler.tick(now)`` does one round at a given instant (tests call it
directly): executor events, DAG folder scan when due, run creation, run
starts, due retries and deferrals past their timeout, zombies and orphans when due, examination of running
runs, queueing and submission, SLA misses when due. ``run_forever`` is the only clock reader: it
ticks again at once while a tick changed something, otherwise sleeps in
select() on the executor's wake-up fd, the database notification listener
and a signal pipe, until the next due run / retry / reschedule / periodic
duty. A tick that fails because the database connection dropped (the
pool is then invalidated) is logged and retried after ``RECONNECT_PAUSE``;
every verb is its own compare-and-set transaction, so a half-done tick is
safe to redo. SIGTERM/SIGINT stop it cleanly; running tries keep running (their
workers heartbeat) and queued ones are re-queued by the next scheduler.
Must not import flask, click or SQLAlchemy.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flowctl.core.errors import first_line
from flowctl.executors.base import BaseExecutor, ExecutorEvent, Outcome, Workload
from flowctl.scheduler.callbacks import DagCallbacks
from flowctl.scheduler.dag_sync import DagSync
from flowctl.scheduler.examine import ExamineReport, RunExaminer
from flowctl.scheduler.graphs import GraphCache
from flowctl.scheduler.recovery import Recovery
from flowctl.scheduler.run_creation import RunCreator
from flowctl.scheduler.sla import SlaMonitor
from flowctl.settings import Settings

log = logging.getLogger(__name__)
MAX_SLEEP = 30.0
TASK_FINISHED = "task finished"  # the task runner's wake-up reason
MAX_UPKEEP_GAP = 5.0  # upkeep at least this often, in case a wake-up notification was lost
POLL_WITHOUT_FD = 0.2
LISTENER_LOST = "listener connection lost"  # the PostgreSQL listener's reason when its connection broke
RECONNECT_PAUSE = 1.0  # seconds between ticks that failed on a dropped database connection
RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure: try again
RETRY_PAUSE = 0.05  # seconds before redoing a tick whose transaction the database aborted
#: Reacting rounds start at least this far apart: under load one round takes every event that
#: arrived meanwhile (one examination and one queueing for many finished tasks); an idle
#: scheduler reacts at once, since its last round is long past.
REACT_GAP = 0.01


def utcnow() -> datetime:
    """The current instant in UTC (only the outermost loop calls this)."""
    return datetime.now(timezone.utc)


def database_reason(error: BaseException) -> str:
    """One line for a database error: the driver's first line, without the statement and its
    parameters that SQLAlchemy's text appends (a log line, not a page per lost connection)."""
    cause, text = getattr(error, "orig", None) or error, first_line(error)
    return text if text == type(cause).__name__ else f"{type(cause).__name__}: {text}"


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did, and when the next one is due at the latest."""

    events: int = 0
    parsed_files: int = 0
    created_runs: int = 0
    started_runs: int = 0
    requeued: int = 0
    changed: int = 0
    finished_runs: int = 0
    queued: int = 0
    recovered: int = 0
    expanded: int = 0
    next_wakeup: datetime | None = None
    examined: bool = True  # False: only clean exits came, nothing needed a look at the runs

    @property
    def busy(self) -> bool:
        """True when another tick at once may find more to do (finished runs, expansions, recoveries).

        Plain scheduling decisions do not count: the planner cascades within a
        run and this tick already queued what they made ready. Nor do runs this tick
        created or started, retries it made due or files it parsed: it examined them.
        """
        return bool(self.finished_runs or self.expanded or self.recovered)


class Scheduler:
    """One scheduler process: ``start(now)``, ``tick(now)`` ..., ``shutdown(now)``; or ``run_forever()``."""

    def __init__(self, settings: Settings, store: Any, executor: BaseExecutor, processor: Any = None, *,
                 dag_sync: DagSync | None = None) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self.graphs = GraphCache(store)
        self.dag_sync = dag_sync or (DagSync(settings, store, processor) if processor is not None else None)
        if self.dag_sync is not None:
            self.dag_sync.on_version = self._version_parsed
            self.dag_sync.wake = self._parse_done
        self.paused_run_types = settings.paused_run_types
        self.callbacks = DagCallbacks(store, self.graphs, settings)
        self.recovery = Recovery(store, self.graphs, self.callbacks.try_died)
        self.creator = RunCreator(store, self.graphs, catchup_default=bool(settings.get("scheduler", "catchup_by_default")),
                                  default_max_active_runs=int(settings.get("core", "max_active_runs_per_dag")))
        self.slas = SlaMonitor(store, self.callbacks.sla_missed) if settings.get("core", "check_slas") else None
        self.examiner = RunExaminer(store, self.graphs, self.paused_run_types, self.callbacks.run_finished)
        self.job_id: int | None = None
        self._due: dict[str, datetime] = {}
        self._upkeep_due = datetime.min.replace(tzinfo=timezone.utc)
        self._pending_events: list[ExecutorEvent] = []
        # Whether the next reacting round must examine the running runs (see _examination_needed).
        self._notified = True
        self._scheduled_left: int | None = None
        # Kill requests (a person stopped running tries) acted on: the newest one's time, and those at it.
        self._kill_mark: datetime | None = None
        self._kills_done: set[tuple[Any, datetime]] = set()
        self._warned_unrunnable: set[tuple[Any, str]] = set()  # (key, reason) warned about once
        self._stopping = False
        self._listener: Any = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def _parse_done(self) -> None:
        """From the parsing thread: wake the loop, whose next round stores what it parsed."""
        try:
            os.write(self._wake_w, b"p")
        except OSError:
            pass

    def _version_parsed(self, serialized_dag_id: int, data: Any) -> None:
        """What the scheduler derives from a version the scan just stored, built from the data in hand."""
        self.graphs.prime(serialized_dag_id, data)
        if self.slas is not None:
            self.slas.prime(serialized_dag_id, data)

    def _seconds(self, key: str) -> float:
        return float(self.settings.get("scheduler", key))

    def start(self, now: datetime) -> None:
        """Register the job row, start the executor and the wake-up listener."""
        job = self.store.create_job("scheduler", socket.gethostname(), os.getpid(), now, executor_class=self.executor.name)
        self.job_id = job.id
        self.creator.job_id = job.id
        self.executor.start()
        self._listener = self.store.scheduler_listener()
        self._due = {"recovery": now, "heartbeat": now + timedelta(seconds=self._seconds("heartbeat_sec"))}
        if self.dag_sync is not None:  # a scheduler without its own DAG processor never scans
            self._due["scan"] = now
        if self.slas is not None:
            self._due["sla"] = now

    def tick(self, now: datetime) -> TickReport:
        """One full scheduling round at ``now``: the critical path, then upkeep."""
        return self._round(now, full=True)

    def react(self, now: datetime) -> TickReport:
        """The critical path only (executor events -> plan -> queue); upkeep too if it is due.

        What run_forever does when only the executor woke it: under load the
        upkeep queries (new runs, due retries, orphans) run at their due time,
        not once per finished task.
        """
        return self._round(now, full=now >= self._upkeep_due)

    def _round(self, now: datetime, full: bool) -> TickReport:
        """Executor events, kill requests, examination and queueing; ``full``: upkeep too.

        A full round first terminates the tries people stopped (a run marked failed: its work
        stops before the examination queues its teardowns), then starts the queued runs (a
        triggered run's first task then waits for one round, not two), examines and queues:
        that is the critical path from a trigger to its first task. The rest of the upkeep
        comes after it: due retries and reschedules, the folder scan, new runs from timetables
        (and starting them), then, if that made any work, a second examination and queueing in
        the same round; and last the recovery, the job's heartbeat and the next wake-up.
        """
        events = self._pending_events = self._pending_events + self.executor.sync(0.0)
        recovered = self.recovery.handle_events(events, now)
        self._pending_events = []  # kept until handled: a tick that fails redoes them
        done: dict[str, int] = {}
        if full:  # a person's trigger, clear, mark or kill wakes a full tick; every upkeep looks too
            self._terminate_killed(now)
            done["started_runs"] = self._start_queued_runs(now)
        elif not (recovered or self._examination_needed(events)):
            return TickReport(events=len(events), next_wakeup=self._upkeep_due, examined=False)
        report, queued = self._examine_and_queue(now, full)
        if full:
            made = self._new_work(now, again=bool(report.finished))
            if any(made.values()):  # due retries, parsed files, new or started runs: looked at now
                again, queued_again = self._examine_and_queue(now, full)
                report, queued = report.merged(again), queued + queued_again
            done = {**made, "started_runs": done["started_runs"] + made["started_runs"]}
            done["recovered"] = self._recover_if_due(now)
            self._check_slas_if_due(now)
            self._heartbeat_if_due(now)
            self._upkeep_due = self._next_wakeup(now)
        self.callbacks.reap()
        return TickReport(events=len(events), changed=report.changed, finished_runs=len(report.finished),
                          queued=queued, expanded=report.expanded, recovered=recovered + done.get("recovered", 0),
                          parsed_files=done.get("parsed_files", 0), created_runs=done.get("created_runs", 0),
                          started_runs=done.get("started_runs", 0), requeued=done.get("requeued", 0),
                          next_wakeup=self._upkeep_due)

    def _examine_and_queue(self, now: datetime, full: bool) -> tuple[ExamineReport, int]:
        """Examine the running runs, terminate what they say to, queue what they scheduled."""
        self._notified = False  # a wake-up from now on may be about a change this examination misses
        # Runs a person marked finished, whose teardowns still run, are looked at in full rounds only:
        # the query is not worth paying at every task's end for a path that rare.
        report = self.examiner.examine(now, defer_scheduling=True, with_marked_runs=full)
        for key in report.to_terminate:
            self.executor.terminate(key)
        # The examination saw every running run's states: with nothing scheduled there is nothing to queue.
        queued = (self._queue(now, known_scheduled=report.scheduled is not None, schedule=report.to_schedule)
                  if report.scheduled != 0 else 0)
        self._scheduled_left = None if report.scheduled is None else max(0, report.scheduled - queued)
        return report, queued

    def _terminate_killed(self, now: datetime) -> None:
        """Terminate (through the executor) each try a person stopped since the last look, once.

        Requests older than the first look are left to the tries' supervisors, which stop a try
        whose row no longer runs within ``[scheduler] task_heartbeat_sec`` anyway.
        """
        if self._kill_mark is None:
            self._kill_mark = now
            return
        requests = self.store.kill_requests(self._kill_mark)
        for request in requests:
            if (request.key, request.dttm) not in self._kills_done:
                log.info("%s was stopped by a person; terminating its try", request.key)
                self.executor.terminate(request.key)
        if requests:
            self._kill_mark = requests[-1].dttm
            self._kills_done = {(r.key, r.dttm) for r in requests if r.dttm == self._kill_mark}

    def _examination_needed(self, events: list[ExecutorEvent]) -> bool:
        """False when a reacting round has nothing to examine: only clean exits were reported.

        A try that ended normally wrote its end and woke us (on a reliable listener) as that
        end committed, so the round that wake-up started examined it already; its exit
        matters only if it frees an executor slot that a scheduled task instance waits for.
        Without a reliable wake-up (SQLite's datagrams, an executor whose workers do not
        notify) every report is examined, as is anything else (a crash, a wake-up since).
        """
        return (self._notified or self._scheduled_left != 0
                or not getattr(self.executor, "ends_notify_scheduler", False)
                or not getattr(self._listener, "reliable", False)
                or any(event.outcome is not Outcome.FINISHED for event in events))

    def _start_queued_runs(self, now: datetime) -> int:
        """queued -> running for the runs max_active_runs lets start; how many started."""
        return len(self.store.start_queued_runs(
            now, int(self.settings.get("core", "max_active_runs_per_dag")), self.paused_run_types))

    def _new_work(self, now: datetime, again: bool) -> dict[str, int]:
        """The upkeep that makes work for the examination: due retries and reschedules, the folder
        scan, new runs from timetables, and those started (max_active_runs); ``again``: runs just
        finished, whose places queued runs may take, so those are started again too."""
        done = {"requeued": self.store.requeue_due_waits(now) + self._time_out_deferrals(now),
                "parsed_files": self._scan_if_due(now)}
        self.creator.refresh_next_dagruns(now)
        done["created_runs"] = self.creator.create_due_runs(now)
        # The round started the queued runs already: only a run created or finished since makes more.
        done["started_runs"] = self._start_queued_runs(now) if done["created_runs"] or again else 0
        return done

    def _time_out_deferrals(self, now: datetime) -> int:
        """Deferred tasks past their trigger_timeout resume in ``__fail__``: they fail with
        TaskDeferralTimeout, retried per their policy (Airflow's rule)."""
        keys = self.store.time_out_deferrals(now)
        for key in keys:
            log.info("%s: its deferral timed out; the task fails", key)
        return len(keys)

    def _scan_if_due(self, now: datetime) -> int:
        """Files parsed and stored now: a background parse that finished, or the scan when it is due."""
        if self.dag_sync is None:
            return 0
        due = now >= self._due.get("scan", now)
        if not (due or self.dag_sync.results_waiting):
            return 0
        if due:
            self._due["scan"] = now + timedelta(seconds=self._seconds("dag_dir_list_interval"))
        return self.dag_sync.scan(now, start=due).parsed

    def _recover_if_due(self, now: datetime) -> int:
        if now < self._due.get("recovery", now):
            return 0
        self._due["recovery"] = now + timedelta(seconds=self._seconds("zombie_detection_interval"))
        zombies = self.recovery.reap_zombies(now, self._seconds("zombie_threshold_sec"))
        for ti in zombies:
            self.executor.terminate(ti.key)
        orphans = self.recovery.requeue_orphans(now, self._seconds("scheduler_health_check_threshold"), self.job_id)
        self.recovery.release_ended(self.executor)
        self._warn_unrunnable()
        return len(zombies) + orphans

    def _warn_unrunnable(self) -> None:
        """Warn, once each, about scheduled task instances no pool can ever hold (a missing pool,
        more pool_slots than it has): they wait for a person, as in Airflow, but not silently."""
        found = getattr(self.store, "unrunnable_scheduled", None)
        for task in (found() if found is not None else []):
            if (task.key, task.reason) in self._warned_unrunnable:
                continue
            if len(self._warned_unrunnable) >= 10_000:
                self._warned_unrunnable.clear()
            self._warned_unrunnable.add((task.key, task.reason))
            fix = "create it" if task.reason.endswith("does not exist") else "grow the pool"
            log.warning("%s.%s in run %s can never run: %s (%s with `flowctl pools set`, or change the task)",
                        task.key.dag_id, task.key.task_id, task.key.run_id, task.reason, fix)

    def _queue(self, now: datetime, known_scheduled: bool = False,
               schedule: dict[Any, list[Any]] | None = None) -> int:
        """Schedule what the examination decided (``schedule``) and queue, in one transaction."""
        queued = self.store.queue_scheduled_tasks(
            now, self.executor.open_slots, job_id=self.job_id, known_scheduled=known_scheduled, schedule=schedule,
            default_max_active_tasks=int(self.settings.get("core", "max_active_tasks_per_dag")),
            task_limits=self.graphs.task_limits, run_task_limits=self.graphs.run_task_limits,
            paused_run_types=self.paused_run_types,
            limit=int(self.settings.get("scheduler", "max_tis_per_query")))
        for q in queued:
            self.executor.submit(Workload(key=q.key, try_number=q.try_number, fileloc=q.fileloc, queue=q.queue,
                                          priority_weight=q.priority_weight, pool=q.pool, pool_slots=q.pool_slots))
        return len(queued)

    def _check_slas_if_due(self, now: datetime) -> None:
        if self.slas is None or now < self._due.get("sla", now):
            return
        self._due["sla"] = now + timedelta(seconds=self._seconds("sla_check_interval"))
        self.slas.check(now)

    def _heartbeat_if_due(self, now: datetime) -> None:
        if self.job_id is None or now < self._due.get("heartbeat", now):
            return
        self._due["heartbeat"] = now + timedelta(seconds=self._seconds("heartbeat_sec"))
        self.store.heartbeat_job(self.job_id, now)

    def _next_wakeup(self, now: datetime) -> datetime:
        moments = [m for m in (self.store.next_timer(now), self.store.next_trigger_timeout(now), *self._due.values())
                   if m is not None]
        return min([*moments, now + timedelta(seconds=MAX_UPKEEP_GAP)])

    def stop(self) -> None:
        """Ask run_forever to return after the current tick (safe from a signal handler)."""
        self._stopping = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def shutdown(self, now: datetime) -> None:
        """End the job row, the executor and the listener; running tries keep running."""
        if self.dag_sync is not None:
            self.dag_sync.wake = None  # a parse still running must not write to the pipe closed below
        self.callbacks.close()
        self.executor.end()
        if self._listener is not None:
            self._listener.close()
        if self.job_id is not None:
            self.store.end_job(self.job_id, "success", now)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def run_forever(self, num_runs: int = -1, clock: Callable[[], datetime] = utcnow) -> int:
        """Tick until stopped (SIGTERM/SIGINT) or ``num_runs`` ticks; returns the number of ticks."""
        self._install_signals()
        self.start(clock())
        ticks = 0
        try:
            woken_by_executor = False
            last_round: datetime | None = None
            while not self._stopping and (num_runs < 0 or ticks < num_runs):
                if woken_by_executor and last_round is not None:
                    self._pending_events.extend(self.executor.sync(0.0))
                    if self._examination_needed(self._pending_events):  # else: nothing worth batching
                        self._gather_events(last_round, clock)
                now = clock()
                report = self._guarded(self.react if woken_by_executor else self.tick, now)
                if report.examined:  # a round that only read clean exits does not delay the next one
                    last_round = now
                ticks += 1
                woken_by_executor = True
                if report.finished_runs or report.busy:
                    woken_by_executor = False  # a finished run may let the next one start
                elif not self._stopping:
                    woken_by_executor = self._sleep_until(report.next_wakeup, clock)
        finally:
            self.shutdown(clock())
        return ticks

    def _gather_events(self, last_round: datetime, clock: Callable[[], datetime]) -> None:
        """Wait out the rest of REACT_GAP since ``last_round`` (a stop request ends the wait)."""
        remaining = REACT_GAP - (clock() - last_round).total_seconds()
        if remaining > 0:
            select.select([self._wake_r], [], [], remaining)

    def _guarded(self, round_: Callable[[datetime], TickReport], now: datetime) -> TickReport:
        """``round_(now)``; a dropped database connection, or a transaction the database aborted
        (a deadlock with another scheduler or a person's clear), costs a pause, not the scheduler.
        The round's events are kept and the next round redoes it."""
        try:
            return round_(now)
        except Exception as error:
            self._notified = True  # whatever the failed round was to examine, the next one examines
            if getattr(error, "connection_invalidated", False):
                log.warning("database connection lost during a tick (%s); retrying", database_reason(error))
                return TickReport(next_wakeup=now + timedelta(seconds=RECONNECT_PAUSE))
            if getattr(getattr(error, "orig", None), "pgcode", None) in RETRY_SQLSTATES:
                log.warning("the database aborted a tick's transaction (%s); retrying", database_reason(error))
                return TickReport(next_wakeup=now + timedelta(seconds=RETRY_PAUSE))
            raise

    def _reopen_listener(self) -> None:
        """A new LISTEN connection for a broken one; none (the timers still fire) while the database is down."""
        if self._listener is not None:
            self._listener.close()
        try:
            self._listener = self.store.scheduler_listener()
        except Exception as error:  # noqa: BLE001 - retried before the next sleep
            log.warning("cannot reopen the wake-up listener (%s); relying on timers", error)
            self._listener = None

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                signal.signal(sig, lambda _s, _f: self.stop())
            except ValueError:  # not the main thread: the caller stops us with stop()
                return

    def _sleep_until(self, wakeup: datetime | None, clock: Callable[[], datetime]) -> bool:
        """Sleep until ``wakeup`` or a wake-up; True when only the executor woke us."""
        if self._listener is None and self.job_id is not None:
            self._reopen_listener()
        fds = [self._wake_r] + ([self._listener.fileno()] if self._listener is not None else [])
        exec_fd = self.executor.wakeup_fileno()
        if exec_fd is not None:
            fds.append(exec_fd)
        while not self._stopping:
            remaining = (wakeup - clock()).total_seconds() if wakeup else MAX_SLEEP
            if remaining <= 0:
                return False
            wait = min(remaining, MAX_SLEEP) if exec_fd is not None else min(remaining, POLL_WITHOUT_FD)
            readable = select.select(fds, [], [], wait)[0]
            if self._listener is not None and self._listener.fileno() in readable:
                self._listener.drain()
                reasons = getattr(self._listener, "reasons", [])
                self._notified = True
                if LISTENER_LOST in reasons:
                    self._reopen_listener()
                # A worker saying its task finished is what the executor tells us too: react only.
                finished_only = bool(reasons) and all(r == TASK_FINISHED for r in reasons)
                if finished_only and exec_fd is not None and self.executor.open_slots == 0:
                    continue  # nothing can be queued before our executor reports an exit, which wakes us
                return finished_only
            if self._wake_r in readable:
                os.read(self._wake_r, 512)
                return False
            if exec_fd is not None and exec_fd in readable:
                return True
            if exec_fd is None:
                self._pending_events.extend(self.executor.sync(0.0))
                if self._pending_events:
                    return True
        return False
