"""Run one task try in the current process: claim, run, record — exactly once.

The try-number rule: a workload carries the task instance's ``try_number``
as it was when the scheduler queued it (the number of tries started so far).
:meth:`Store.start_try` claims ``queued -> running`` only if the row still
has that number, and increments it: the try that runs is
``workload.try_number + 1``, its log is ``attempt=<that>.log``. A second
``run_workload`` for the same workload finds the row running (or its number
moved on) and returns without running anything.

After the claim: heartbeats every ``[scheduler] task_heartbeat_sec``; the DAG
file is imported (cached by path and mtime); the task is unmapped for its
``map_index``; templates are rendered; ``on_execute_callback``,
``execute`` under ``execution_timeout``; the return value is pushed as the
``return_value`` XCom when ``do_xcom_push``; the extras the task set for its
outlets' dataset events (``context["outlet_events"]``, or a generator's
``Metadata``), and those of the datasets it added to its alias outlets, are checked
as small JSON objects, so one that cannot be stored fails the try; the final state (outcome.py) is
written with a compare-and-set from running in one transaction with the
rendered fields, the try's history row and the scheduler's wake-up; then the
e-mail alert of a failed or retried try is sent (alerts.py) and the state's
callback runs. A try still running at its first heartbeat stores its
rendered fields then, so they can be seen while it runs.

:func:`run_claimed` runs a try that a :class:`Supervisor` (the local
executor's zygote) has claimed already: the supervisor heartbeats it, keeps
its rendered fields, and writes its end together with its XComs (kept in
memory until then, :class:`DeferredXComs`); the try itself opens a database
connection only when its code reads or writes the database, or when the
supervisor could not write its end.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import quote, urlencode

from flowctl.core.datasets import outlet_aliases, outlet_datasets
from flowctl.core.deferral import decode_json
from flowctl.core.errors import TaskDeferred, TaskExited, TaskRescheduled, TaskSkipped, XComTooLargeError
from flowctl.core.mapping import check_mappable_return
from flowctl.core.outlet_events import alias_events, outlet_extras
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.masking import try_masker
from flowctl.core.states import TaskInstanceState
from flowctl.executors.base import Workload
from flowctl.settings import Settings
from flowctl.task_runner import alerts, dagfile, secrets
from flowctl.task_runner.execution import (
    Heartbeat, TaskTerminated, defer_sigterm, run_callbacks, run_task, terminate_on_sigterm,
)
from flowctl.task_runner.logs import LogSink, TeeStream, TryLogCapture, log_path, log_path_text, open_log_file
from flowctl.task_runner.outcome import DeferralPlan, TryOutcome, decide_outcome, describe_error, plan_deferral
from flowctl.task_runner.preparation import (
    fresh_task, make_context, rendered_for_storage, run_info, unmap_task,
)
from flowctl.task_runner.taskinstance import DeferredXComs, RuntimeTaskInstance, StoreBackend

log = logging.getLogger("flowctl.task")
TI = TaskInstanceState
DEFAULT_RETRY_DELAY = timedelta(seconds=300)
#: When set to a folder, each try writes a cProfile file there (``try-<pid>.prof``).
PROFILE_ENV = "FLOWCTL_PROFILE_TRY"
_CALLBACK_BY_STATE = {TI.SUCCESS: "on_success_callback", TI.FAILED: "on_failure_callback",
                      TI.UP_FOR_RETRY: "on_retry_callback", TI.SKIPPED: "on_skipped_callback"}


def utcnow() -> datetime:
    """The current time, aware, in UTC (only the outermost layers read the clock)."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class TryResult:
    """What happened to one workload: ``ran`` is False when the claim was lost."""

    key: TaskInstanceKey
    try_number: int
    ran: bool
    state: str | None = None
    error: str | None = None
    log_path: str | None = None
    skipped: tuple[str, ...] = ()
    return_value: Any = None


def run_workload(workload: Workload, settings: Settings, store: Any = None, *,
                 log_echo: TextIO | None = None) -> TryResult:
    """Claim and run one try of ``workload`` here; returns without running if the claim is lost.

    ``log_echo``: a stream that gets the try's log lines too, as they are written (``DAG.test()``'s terminal).
    """
    dagfile.use_dags_folder(settings.dags_folder)
    own_store = store is None
    if own_store:
        from flowctl.db.store import Store

        store = Store.from_settings(settings)
    try:
        with defer_sigterm():
            profile_dir = os.environ.get(PROFILE_ENV)
            if profile_dir:
                return _profiled(profile_dir, workload, settings, store, log_echo)
            return _claim_and_run(workload, settings, store, log_echo)
    finally:
        if own_store:
            store.close()


def _profiled(folder: str, workload: Workload, settings: Settings, store: Any,
              log_echo: TextIO | None) -> TryResult:
    """Run the try under cProfile and write ``{folder}/try-<pid>.prof`` (a diagnostic aid)."""
    import cProfile

    profile = cProfile.Profile()
    try:
        return profile.runcall(_claim_and_run, workload, settings, store, log_echo)
    finally:
        Path(folder).mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(Path(folder) / f"try-{os.getpid()}.prof"))


def _claim_and_run(workload: Workload, settings: Settings, store: Any, log_echo: TextIO | None = None) -> TryResult:
    claim = store.start_try(workload.key, workload.try_number, socket.gethostname(), os.getpid(), utcnow())
    if claim is None:
        log.info("%s try %d was already claimed; not running it", workload.key, workload.try_number + 1)
        return TryResult(workload.key, workload.try_number + 1, ran=False)
    return _ClaimedTry(workload, settings, store, claim, log_echo=log_echo).run()


class Supervisor(Protocol):
    """The process that claimed a try for this one and records its end (the local executor's zygote).

    It heartbeats the try, so the try runs no heartbeat thread; it writes the final state, with the
    try's XComs, in a transaction it shares with other tries' ends. A try under a supervisor opens
    a database connection only if its own code (or its templates) reads or writes the database.
    """

    def rendered(self, fields: Mapping[str, Any]) -> None:
        """The try's rendered template fields (stored at its first heartbeat if still running)."""

    def recorded(self) -> None:
        """The try wrote its end itself (a deferral, a reschedule poke, an end :meth:`finish` could
        not write): its exit is a normal end, not a crash, and its heartbeats stop."""

    def finish(self, state: TaskInstanceState, now: datetime, fields: Mapping[str, Any],
               xcoms: Mapping[str, Any], produces: bool | None = None,
               outlet_extra: Mapping[str, Mapping[str, Any]] | None = None,
               alias_events: Sequence[Mapping[str, Any]] | None = None) -> bool | None:
        """Record the end (compare-and-set from this running try); False if someone else changed it,
        None if the supervisor is gone (the try then writes its end itself). ``produces``: whether the
        task has dataset outlets (``TryEnd.produces``); ``outlet_extra``: the extras it set for their
        events (``TryEnd.outlet_extra``); ``alias_events``: the datasets it added to its alias outlets
        (``TryEnd.alias_events``)."""


def run_claimed(workload: Workload, settings: Settings, store: Any, claim: Any,
                supervisor: Supervisor) -> TryResult:
    """Run a try that ``supervisor`` has already claimed (``claim`` is what its claim returned).

    Call it inside :func:`defer_sigterm`, entered as soon as the claim was made, so a SIGTERM
    that comes before the task starts still ends the try as terminated (and recorded).
    """
    return _ClaimedTry(workload, settings, store, claim, supervisor).run()


class _ClaimedTry:
    """One claimed try: everything between the claim and the final state."""

    def __init__(self, workload: Workload, settings: Settings, store: Any, claim: Any,
                 supervisor: Supervisor | None = None, log_echo: TextIO | None = None) -> None:
        self.workload = workload
        self.key = workload.key
        self.settings = settings
        self.store = store
        self.ti_row = claim.ti
        self.run_row = claim.run
        self.previous_success = claim.previous_success
        self.try_number = claim.ti.try_number
        self.masker = try_masker()  # the process's mask_secret values too (Variable.get, task authors)
        self.task: Any = None
        self.skipped: list[str] = []
        self.rendered: dict[str, Any] | None = None  # saved with the final state (or by the first heartbeat)
        self.rendered_saved = False
        self.supervisor = supervisor
        self.deferred: DeferredXComs | None = None  # a supervised try's XComs, written with its end
        self.ended_at: datetime | None = None  # the end_date the try's end was written with
        self.log_echo = log_echo  # a second stream for the log lines (DAG.test()'s terminal)
        self.outlet_extra: dict[str, dict[str, Any]] | None = None  # extras of a success's dataset events
        self.alias_events: list[dict[str, Any]] | None = None  # the datasets it added to its alias outlets
        self.interrupted: KeyboardInterrupt | None = None  # Ctrl-C, raised again once the end is recorded

    def run(self) -> TryResult:
        path = log_path_text(self.settings.log_folder_text, self.key, self.try_number)
        with open_log_file(path) as file:
            stream = file if self.log_echo is None else TeeStream(file, self.log_echo)
            capture = TryLogCapture(LogSink(stream, self.masker), str(self.settings.get("logging", "logging_level")))
            with capture, secrets.installed(self.store, self.masker) as backend:
                log.info("Running %s, try %d of %d on %s (pid %d)", self.key, self.try_number,
                         self.ti_row.max_tries + 1, socket.gethostname(), os.getpid())
                outcome, context, value = self._execute(backend)
                recorded = self._record(outcome)
                if recorded:
                    self._alert(outcome)
                if recorded and context is not None:
                    context["ti"].record_end(outcome.state.value, self.ended_at)  # what the callback reads
                    self._callback(outcome, context)
        if self.interrupted is not None:
            raise self.interrupted
        state = outcome.state.value if recorded else None
        return TryResult(self.key, self.try_number, ran=True, state=state, error=outcome.error,
                         log_path=path, skipped=tuple(self.skipped), return_value=value)

    def _execute(self, backend: secrets.MaskingBackend) -> tuple[TryOutcome, dict[str, Any] | None, Any]:
        context: dict[str, Any] | None = None
        value: Any = None
        every = 0.0 if self.supervisor is not None else float(self.settings.get("scheduler", "task_heartbeat_sec"))
        beat = Heartbeat(self._beat, every, utcnow, _try_stopper())
        try:
            with terminate_on_sigterm(), beat:
                context = self._prepare(backend)
                self._unmap_and_render(context)  # failing here, the try's callbacks still get the context
                value = self._run_task(context)
            error: BaseException | None = None
        except (Exception, TaskTerminated, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - the try's outcome
            error = TaskExited.of(exc) if isinstance(exc, SystemExit) else exc  # in the DAG file or a template
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C on a try run in this process: it fails (as
                self.interrupted = exc  # Airflow's), and the interrupt goes on once that is recorded
            log_task_error(exc)
            if context is not None:
                context["exception"] = exc
        outcome = self._decide(error)
        return outcome, context, value

    def _prepare(self, backend: secrets.MaskingBackend) -> dict[str, Any]:
        dag = dagfile.load_dag(self.workload.fileloc, self.key.dag_id)
        dagfile.use_environment_of(self.workload.fileloc)
        task = fresh_task(dagfile.get_task(dag, self.key.task_id))
        self.task = task
        first_poke, reschedules = None, 0
        if getattr(task, "mode", None) == "reschedule":
            first_poke, reschedules = self.store.reschedule_history(self.key, self.try_number)
        xcoms: Any = StoreBackend(self.store, utcnow)  # not ``backend``: the variables' reader, used below
        if self.supervisor is not None:
            xcoms = self.deferred = DeferredXComs(xcoms, self.key, self.store.check_xcom)
        ti = RuntimeTaskInstance(self.key, task, self.try_number, self.ti_row.max_tries,
                                 _SkipRecorder(xcoms, self.skipped),
                                 hostname=socket.gethostname(), start_date=first_poke or self.ti_row.start_date,
                                 log_url_of=partial(log_url, self.settings, self.key, self.try_number), row=self.ti_row)
        ti.reschedule_count = reschedules  # type: ignore[attr-defined]
        run = run_info(self.run_row)
        context = make_context(
            dag, task, run, ti, var_lookup=secrets.variable_lookup(backend),
            conn_lookup=secrets.connection_lookup(self.masker), store=self.store,
            prev_success=self.previous_success)
        return context

    def _unmap_and_render(self, context: dict[str, Any]) -> None:
        """The concrete task of a mapped one's map index (its ``map()`` callables run here), then its
        rendered template fields, kept for the end and handed to the supervisor."""
        self.task = task = unmap_task(self.task, self.key.map_index, context)
        rendered = task.render_template_fields(context)
        self.rendered = rendered_for_storage(rendered, self.masker)
        if self.supervisor is not None:
            self.supervisor.rendered(self.rendered)

    def _beat(self, now: datetime) -> bool:
        """One heartbeat; the first also stores the rendered fields of a try still running then."""
        alive = bool(self.store.heartbeat_task(self.key, now, try_number=self.try_number))
        rendered = self.rendered
        if alive and rendered is not None and not self.rendered_saved:
            self.store.save_rendered_fields(self.key, rendered)
            self.rendered_saved = True
        return alive

    def _run_task(self, context: dict[str, Any]) -> Any:
        task = self.task
        run_callbacks(getattr(task, "on_execute_callback", None), context, "on_execute_callback")
        result = run_task(task, context, self._resumption())
        pushed = result if getattr(task, "do_xcom_push", True) else None
        check_mappable_return(task, pushed, int(self.settings.get("core", "max_map_length")))  # None too
        if pushed is not None:
            context["ti"].xcom_push("return_value", pushed)
        outlets = getattr(task, "outlets", None)
        if outlets:  # checked here, so an extra that cannot be stored fails the try
            events = context.get("outlet_events")
            self.outlet_extra = outlet_extras(events, [d.uri for d in outlet_datasets(outlets)])
            self.alias_events = alias_events(events, [a.name for a in outlet_aliases(outlets)])
        return result

    def _resumption(self) -> Any:
        """A deferred try's resumption (``task.resume_execution`` with its method and kwargs), or None."""
        method = self.ti_row.next_method
        if method is None:
            return None
        log.info("Resuming after deferral: calling %s()", method)
        return partial(self.task.resume_execution, method, decode_json(dict(self.ti_row.next_kwargs or {})))

    def _decide(self, error: BaseException | None) -> TryOutcome:
        if isinstance(error, XComTooLargeError):  # retrying cannot make the value smaller
            return TryOutcome(TI.FAILED, error=describe_error(error))
        task = self.task
        if isinstance(error, TaskDeferred):
            try:
                return TryOutcome(TI.DEFERRED, deferral=plan_deferral(
                    error, now=utcnow(), started=self.ti_row.start_date,
                    execution_timeout=getattr(task, "execution_timeout", None)))
            except Exception as exc:  # noqa: BLE001 - a trigger that cannot be stored fails the try
                log_task_error(exc)
                error = exc
        delay = (task.retry_delay_for_try if task is not None and hasattr(task, "retry_delay_for_try")
                 else (lambda n: DEFAULT_RETRY_DELAY))
        return decide_outcome(error, try_number=self.try_number, max_tries=self.ti_row.max_tries,
                              retry_delay=delay, now=utcnow())

    def _record(self, outcome: TryOutcome) -> bool:
        now = self.ended_at = utcnow()
        if outcome.deferral is not None:
            return self._record_deferral(outcome.deferral, now)
        fields: dict[str, Any] = {}
        if self.ti_row.next_method is not None:  # a resumed try's end: a later try starts afresh
            fields.update(next_method=None, next_kwargs=None)
        if outcome.state is TI.UP_FOR_RETRY:
            fields["next_retry_at"] = outcome.next_retry_at
        if outcome.state is TI.UP_FOR_RESCHEDULE:
            fields.update(reschedule_date=outcome.reschedule_date, try_number=self.try_number - 1)
        if self.rendered is not None:
            fields["rendered_fields"] = self.rendered
        xcoms = self.deferred.pushed if self.deferred is not None else {}
        # What the try knows of its task's outlets: a success of a task without any is spared their look-up.
        produces = None if self.task is None else bool(outlet_datasets(getattr(self.task, "outlets", None) or ()))
        won: bool | None = None
        if self.supervisor is not None and outcome.state is not TI.UP_FOR_RESCHEDULE:
            won = self.supervisor.finish(outcome.state, now, fields, xcoms, produces, outlet_extra=self.outlet_extra,
                                         alias_events=self.alias_events)
        if won is None:  # not supervised, a poke (with its reschedule row), or the supervisor is gone
            won = bool(self.store.finish_try(self.key, outcome.state, now, running_try=self.try_number,
                                             started=self.ti_row.start_date, wake="task finished", xcoms=xcoms,
                                             produces=produces, outlet_extra=self.outlet_extra,
                                             alias_events=self.alias_events, **fields))
            self._wrote_own_end()
        if won and outcome.state is TI.UP_FOR_RESCHEDULE:
            assert outcome.reschedule_date is not None
            self.store.record_reschedule(self.key, self.try_number, self.ti_row.start_date or now, now,
                                         outcome.reschedule_date)
        if won:
            log.info("Marking task as %s (%s)", outcome.state.value.upper(), _when(outcome))
        else:
            log.warning("The task instance was changed by someone else while it ran; its state was not written")
        return won

    def _record_deferral(self, plan: DeferralPlan, now: datetime) -> bool:
        """running -> deferred with the trigger to run (written by the try itself, as a poke is)."""
        xcoms = self.deferred.pushed if self.deferred is not None else {}
        won = bool(self.store.defer_try(self.key, self.try_number, plan.classpath, plan.trigger_kwargs,
                                        plan.next_method, plan.next_kwargs, plan.timeout_at, now,
                                        rendered_fields=self.rendered, xcoms=xcoms))
        self._wrote_own_end()
        if won:
            until = f", at most until {plan.timeout_at.isoformat()}" if plan.timeout_at else ""
            log.info("Pausing task as DEFERRED: waiting for %s%s, then %s()", plan.classpath, until, plan.next_method)
        else:
            log.warning("The task instance was changed by someone else while it ran; its deferral was not written")
        return won

    def _wrote_own_end(self) -> None:
        """Tell the supervisor, if any, that this try wrote its end itself: without that it would
        report the try's exit as a crash, which the scheduler, once the task resumed (or was poked
        again) in the same try number, could apply to that next run of the try."""
        if self.supervisor is not None:
            self.supervisor.recorded()

    def _alert(self, outcome: TryOutcome) -> None:
        """E-mail ``task.email`` about a failed or retried try (alerts.py), once its state is recorded."""
        if alerts.alert_flag(self.task, outcome.state) is None:
            return
        url = log_url(self.settings, self.key, self.try_number)
        error = self.masker.redact_text(outcome.error or "")
        alert = alerts.TryAlert(self.key, outcome.state.value, self.try_number, self.ti_row.max_tries, error, url,
                                socket.gethostname())
        alerts.send_alert(self.task, alert, self.settings)

    def _callback(self, outcome: TryOutcome, context: Mapping[str, Any]) -> None:
        name = _CALLBACK_BY_STATE.get(outcome.state)
        if name is not None and self.task is not None:
            run_callbacks(getattr(self.task, name, None), context, name)


def log_task_error(error: BaseException) -> None:
    """Log what ended a task: a skip or a sensor's reschedule is information (as in Airflow), anything
    else an error with its traceback."""
    if isinstance(error, TaskSkipped):
        log.info("Skipping the task: %s", error)
    elif isinstance(error, TaskDeferred):
        log.info("Deferring the task: %s", error)
    elif isinstance(error, TaskRescheduled):
        log.info("Rescheduling the task: next poke at %s", _iso(error.reschedule_date))
    else:
        log.error("Task failed: %s", describe_error(error), exc_info=error)


def _iso(moment: Any) -> str:
    return moment.isoformat() if isinstance(moment, datetime) else str(moment)


class _SkipRecorder:
    """Passes through to a backend and remembers which task ids a branch skipped."""

    def __init__(self, backend: Any, skipped: list[str]) -> None:
        self._backend = backend
        self._skipped = skipped

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def skip(self, run: Any, task_ids: set[str]) -> list[str]:
        changed = self._backend.skip(run, task_ids)
        self._skipped.extend(changed)
        return changed


def _try_stopper() -> Any:
    """What the heartbeat calls when the row says the try is no longer running.

    SIGTERM to this process stops the try, but only a try on the main thread
    turns it into TaskTerminated; elsewhere (a runner embedded in a thread) it
    would kill the whole process, so the try is left to finish.
    """
    if threading.current_thread() is threading.main_thread():
        return lambda: os.kill(os.getpid(), signal.SIGTERM)
    return lambda: None


def _when(outcome: TryOutcome) -> str:
    if outcome.next_retry_at is not None:
        return f"next try at {outcome.next_retry_at.isoformat()}"
    if outcome.reschedule_date is not None:
        return f"next poke at {outcome.reschedule_date.isoformat()}"
    return outcome.error or "done"


def log_url(settings: Settings, key: TaskInstanceKey, try_number: int) -> str:
    """The web UI address of a try's log (``ti.log_url``, as in Airflow)."""
    query = urlencode({"dag_run_id": key.run_id, "task_id": key.task_id, "map_index": key.map_index,
                       "try_number": try_number, "tab": "logs"})
    return f"{settings.web_url}/dags/{quote(key.dag_id)}/grid?{query}"


def log_of(settings: Settings, key: TaskInstanceKey, try_number: int) -> Path:
    """Where try ``try_number`` of ``key`` logs (for CLIs and the web UI)."""
    return log_path(settings.base_log_folder, key, try_number)
