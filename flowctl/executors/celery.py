"""CeleryExecutor: task tries run by Celery workers on other machines, through a real broker.

For teams that outgrow one machine (``[core] executor = celery``, the
``celery`` extra: ``pip install 'flowctl[celery]'``). The scheduler sends each
workload as a Celery task (JSON, never pickle) to the queue named by the
task's ``queue`` (``default`` unless the operator says otherwise), on the
broker of ``[celery] broker_url``; ``flowctl celery worker -q QUEUES`` takes
tasks from those queues and runs each try forked from its own warm zygote,
the local executor's (:class:`WarmTries`): a try costs a fork, not an
interpreter start, on the workers as here. The worker's own settings name the
metadata database (the same one), its dags folder (a DAG file is found by its
path, or by its path relative to the scheduler's dags folder, under the
worker's) and its log folder.

The runner owns the try's state: it claims it with the compare-and-set, so a
task delivered twice (a worker killed mid-try makes the broker deliver it
again: the messages are acknowledged once the try is over) runs once, and the
second delivery finds its try taken and ends. A try runs in a session of its
own, so it outlives a worker killed under it and records its end. The executor
polls each task's result in the result backend: SUCCESS (the try's process
ended normally) is FINISHED, FAILURE CRASHED, REVOKED REJECTED; a task the
broker refused is REJECTED at once. ``terminate`` revokes the task: a task not
yet started never starts, and a running try stops itself at its next
heartbeat, when it finds its row no longer running (as it does for every
executor). ``end`` returns at once: the tries go on on the workers, and the
next scheduler follows them by their rows.
Must not import flowctl.db, the task runner, web or cli.
"""
from __future__ import annotations

import logging
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery
from celery.exceptions import CeleryError
from kombu.exceptions import KombuError

from flowctl.core.errors import FlowctlError
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.masking import redact_url
from flowctl.executors.base import BaseExecutor, ExecutorEvent, Outcome, TaskKey, Workload
from flowctl.settings import Settings

log = logging.getLogger(__name__)

TASK_NAME = "flowctl.run_try"
#: How long a message may stay unacknowledged (a try running) before a Redis broker delivers it
#: again; a second delivery of a try that is still running finds it claimed and exits.
VISIBILITY_TIMEOUT_SECONDS = 6 * 3600
_BROKER_ERRORS = (CeleryError, KombuError, OSError)
#: How the scheduler's Redis result backend retries a lost connection while it sends a try (Celery's
#: default, 20 tries a second apart, would stall the scheduler loop for 20 s per try sent while Redis
#: is down); a try it cannot send is rejected, and failed or retried per its task's retries.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


class TryCrashed(Exception):
    """The try's process on the worker did not end normally (the task's FAILURE result)."""


def make_app(settings: Settings) -> Celery:
    """The Celery application of these settings, with the task the workers run registered."""
    app = Celery("flowctl", broker=str(settings.get("celery", "broker_url")),
                 backend=str(settings.get("celery", "result_backend")), set_as_current=False)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],  # no pickle
        task_acks_late=True, task_reject_on_worker_lost=True,  # a killed worker's try is delivered again
        worker_prefetch_multiplier=1, task_track_started=True, result_expires=24 * 3600,
        task_default_queue="default", broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False, worker_redirect_stdouts=False,
    )
    prefix = str(settings.get("celery", "key_prefix") or "")
    if prefix:  # a Redis shared by several deployments: each keeps to its own keys
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "global_keyprefix": prefix}
        app.conf.result_backend_transport_options = {"global_keyprefix": prefix}

    tries = WarmTries(settings, int(settings.get("celery", "worker_concurrency")))

    @app.task(name=TASK_NAME)
    def run_try(payload: dict[str, Any]) -> dict[str, Any]:
        return run_payload(payload, settings, tries)

    app.flowctl_tries = tries  # type: ignore[attr-defined]  # the worker command sizes and ends it
    return app


def payload(workload: Workload, dags_folder: Path | None) -> dict[str, Any]:
    """What the task message carries: the workload, and its DAG file relative to the dags folder."""
    key = workload.key
    relative = None
    if dags_folder is not None:
        try:
            relative = str(Path(workload.fileloc).resolve().relative_to(dags_folder.resolve()))
        except ValueError:
            relative = None
    return {"dag_id": key.dag_id, "run_id": key.run_id, "task_id": key.task_id, "map_index": key.map_index,
            "try_number": workload.try_number, "fileloc": workload.fileloc, "relative_fileloc": relative,
            "queue": workload.queue}


def run_payload(data: dict[str, Any], settings: Settings, tries: WarmTries) -> dict[str, Any]:
    """On a worker: run the try, forked from the worker's warm zygote; raise :class:`TryCrashed`
    (the task's FAILURE) if its process did not end normally."""
    key = TaskInstanceKey(str(data["dag_id"]), str(data["run_id"]), str(data["task_id"]), int(data["map_index"]))
    workload = Workload(key=key, try_number=int(data["try_number"]), queue=str(data.get("queue") or "default"),
                        fileloc=worker_fileloc(str(data["fileloc"]), data.get("relative_fileloc"),
                                               settings.dags_folder))
    event = tries.run(workload)
    host = socket.gethostname()
    where = f"{key.dag_id}.{key.task_id}" + (f"[{key.map_index}]" if key.map_index >= 0 else "")
    if event.outcome is not Outcome.FINISHED:
        raise TryCrashed(f"try {workload.try_number + 1} of {where} @ {key.run_id} {event.outcome.value} on {host}"
                         + (f": {event.detail}" if event.detail else ""))
    print(f"{where} @ {key.run_id}: try {workload.try_number + 1} ended on {host}", flush=True)
    return {"host": host, "code": 0}


class WarmTries:
    """A worker's tries, each forked from one warm zygote (the local executor's, started on first
    use): a try costs a fork, not an interpreter start. Called from the worker pool's threads: each
    waits for its own try's end, which one pump thread reads from the executor."""

    def __init__(self, settings: Settings, concurrency: int) -> None:
        # The worker runs what the scheduler sent it, nothing more: no follow-ups of its own.
        self.settings = settings.replace(scheduler__schedule_after_task_execution=False)
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._executor: Any = None
        # Per key, first come first served: a message delivered again while its first delivery
        # still runs here waits beside it (the second finds the try claimed and ends at once).
        self._waiting: dict[TaskKey, list[tuple[threading.Event, list[ExecutorEvent]]]] = {}

    def run(self, workload: Workload) -> ExecutorEvent:
        """Run ``workload`` and wait for its end."""
        done: threading.Event = threading.Event()
        slot: list[ExecutorEvent] = []
        with self._lock:
            if self._executor is None:
                self._start()
            self._waiting.setdefault(workload.key, []).append((done, slot))
            self._executor.submit(workload)
        done.wait()
        return slot[0]

    def end(self) -> None:
        """Let the zygote finish its tries and exit (the worker is stopping)."""
        with self._lock:
            if self._executor is not None:
                self._executor.end()

    def _start(self) -> None:
        from flowctl.executors.local import LocalExecutor

        self._executor = LocalExecutor(self.concurrency, self.settings)
        self._executor.start()
        threading.Thread(target=self._pump, name="flowctl-tries", daemon=True).start()

    def _pump(self) -> None:
        while True:
            fd = self._executor.wakeup_fileno()
            if fd is not None:
                try:
                    select.select([fd], [], [], 0.5)
                except (OSError, ValueError):  # the pipe was closed by end()
                    time.sleep(0.5)
            else:
                time.sleep(0.05)
            with self._lock:
                events = self._executor.sync(0.0)
                for event in events:
                    waiters = self._waiting.get(event.key)
                    if not waiters:
                        continue
                    done, slot = waiters.pop(0)
                    if not waiters:
                        del self._waiting[event.key]
                    slot.append(event)
                    done.set()


def worker_fileloc(fileloc: str, relative: str | None, dags_folder: Path) -> str:
    """The DAG file on this worker: the scheduler's path if it is here, else the same file under
    this worker's dags folder (workers may mount the folder elsewhere)."""
    if relative and not Path(fileloc).is_file():
        candidate = dags_folder / relative
        if candidate.is_file():
            return str(candidate)
    return fileloc


@dataclass
class _Sent:
    workload: Workload
    result: Any  # celery.result.AsyncResult


class CeleryExecutor(BaseExecutor):
    """Sends workloads to Celery workers; reports their ends from the result backend."""

    name = "celery"
    ends_notify_scheduler = True  # a try that exits 0 wrote its end, with the scheduler's wake-up

    def __init__(self, settings: Settings) -> None:
        super().__init__(parallelism=int(settings.get("core", "parallelism")))
        self.settings = settings
        self.app = make_app(settings)
        self.app.conf.result_backend_transport_options = {
            **(self.app.conf.result_backend_transport_options or {}), "retry_policy": SEND_RETRY_POLICY}
        self._sent: dict[TaskKey, _Sent] = {}
        self._pending: list[ExecutorEvent] = []
        self._results_down = False  # the result backend failed a read: said once, until it answers again

    def start(self) -> None:
        """Check the broker answers, so a wrong ``broker_url`` is one clear line at start-up."""
        url = str(self.settings.get("celery", "broker_url"))
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0.2, timeout=5)
        except _BROKER_ERRORS as exc:
            raise FlowctlError(f"cannot reach the Celery broker at {redact_url(url)}: {exc}") from exc

    def submit(self, workload: Workload) -> None:
        self.running.add(workload.key)
        try:
            result = self.app.send_task(TASK_NAME, args=[payload(workload, self.settings.dags_folder)],
                                        queue=workload.queue or "default")
        except Exception as exc:  # noqa: BLE001 - the broker's and backend's clients raise their own errors
            # (a Redis result backend that gives up reconnecting raises RuntimeError): the try is rejected
            log.error("%s: could not send the try to the Celery broker: %s", workload.key, exc)
            self.running.discard(workload.key)
            self._pending.append(ExecutorEvent(workload.key, workload.try_number, Outcome.REJECTED,
                                               f"the Celery broker refused it: {exc}"))
            return
        self._sent[workload.key] = _Sent(workload, result)

    def sync(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        """The tasks whose result is final now (one result-backend read per task in flight)."""
        events, self._pending = self._pending, []
        for key, sent in list(self._sent.items()):
            try:
                state = sent.result.state
            except Exception as exc:  # noqa: BLE001 - the backend is away (its client's own errors): ask again next time
                if not self._results_down:  # sync runs several times a second: one line per outage
                    log.warning("cannot read Celery results (%s); will retry", exc)
                self._results_down = True
                break
            if self._results_down:
                log.info("reading Celery results again")
                self._results_down = False
            event = _event(sent, state)
            if event is not None:
                events.append(event)
                del self._sent[key]
                self.running.discard(key)
                try:
                    sent.result.forget()
                except Exception:  # noqa: BLE001 - it expires on its own (result_expires)
                    pass
        return events

    def terminate(self, key: TaskKey) -> bool:
        sent = self._sent.get(key)
        if sent is None:
            return False
        try:
            sent.result.revoke()
        except Exception as exc:  # noqa: BLE001 - the try still stops at its next heartbeat
            log.warning("%s: could not revoke its Celery task: %s", key, exc)
        return True

    def in_flight(self) -> dict[TaskKey, int]:
        return {key: sent.workload.try_number for key, sent in self._sent.items()}

    def release(self, key: TaskKey) -> None:
        self._sent.pop(key, None)
        self.running.discard(key)

    def end(self) -> None:
        self._sent.clear()
        self.running.clear()


def _event(sent: _Sent, state: str) -> ExecutorEvent | None:
    workload = sent.workload
    if state == "SUCCESS":
        return ExecutorEvent(workload.key, workload.try_number, Outcome.FINISHED)
    if state == "FAILURE":
        return ExecutorEvent(workload.key, workload.try_number, Outcome.CRASHED, str(sent.result.result))
    if state == "REVOKED":
        return ExecutorEvent(workload.key, workload.try_number, Outcome.REJECTED, "its Celery task was revoked")
    return None

