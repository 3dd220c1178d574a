"""The asyncio event loop that runs triggers, in a thread of its own.

The job's thread (``job.py``) hands it triggers (:meth:`TriggerLoop.add`) and cancels them
(:meth:`TriggerLoop.cancel`); the loop runs each trigger's ``run()`` until its first event and
reports a :class:`TriggerOutcome` (the event's payload as JSON data, or the error) on a queue
the job's thread waits on (:meth:`TriggerLoop.outcomes`). A trigger that ends without an event
fails its task, as in Airflow. ``cleanup()`` is awaited whenever a trigger stops. Database work
never happens on the loop: a slow query cannot stall the triggers. A trigger given a
:class:`~flowctl.triggerer.trigger_logs.TryLogTarget` logs into its task try's log as well: what it
logs, a line when it starts, and one with its event, its failure or why it was cancelled.
Must not import flask, click, SQLAlchemy, web, cli or scheduler.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import socket
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from flowctl.core.deferral import encode_json
from flowctl.core.masking import redact
from flowctl.triggerer.trigger_logs import TryLogTarget, route_to

log = logging.getLogger("flowctl.triggerer")
NO_EVENT = "the trigger exited without sending an event"
#: Why the triggers of a triggerer that stops are cancelled (the try's log says so).
STOPPING = "stopped: the triggerer is shutting down (another triggerer, or this one restarted, takes it over)"


@dataclass(frozen=True, slots=True)
class TriggerOutcome:
    """What one trigger came to: its first event's payload (JSON data), or why it failed."""

    trigger_id: int
    payload: Any = None
    error: str | None = None


class TriggerLoop:
    """An asyncio loop in a daemon thread, running the triggers it is given."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="flowctl-triggers", daemon=True)
        self._tasks: dict[int, asyncio.Task[None]] = {}  # touched on the loop's thread only
        self._outcomes: queue.SimpleQueue[TriggerOutcome] = queue.SimpleQueue()

    def start(self) -> None:
        self._thread.start()

    def add(self, trigger_id: int, trigger: Any, target: TryLogTarget | None = None) -> None:
        """Start running ``trigger`` (a BaseTrigger) for ``trigger_id``; it logs into ``target`` too."""
        self._loop.call_soon_threadsafe(self._add, trigger_id, trigger, target)

    def cancel(self, trigger_id: int, reason: str = "cancelled") -> None:
        """Stop the trigger of ``trigger_id`` (its task no longer waits on it); its cleanup still runs.
        ``reason`` completes the line ``trigger N <reason>`` logged when it stops."""
        self._loop.call_soon_threadsafe(self._cancel, trigger_id, reason)

    def outcomes(self, timeout: float) -> list[TriggerOutcome]:
        """What triggers came to since the last call: waits up to ``timeout`` seconds for the first."""
        found: list[TriggerOutcome] = []
        try:
            found.append(self._outcomes.get(timeout=max(timeout, 0.0)) if timeout > 0 else self._outcomes.get_nowait())
            while True:
                found.append(self._outcomes.get_nowait())
        except queue.Empty:
            return found

    def stop(self, grace: float = 5.0) -> None:
        """Cancel every trigger (their cleanups run), then stop the loop and its thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._cancel_all(), self._loop).result(timeout=grace)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=grace)

    def _add(self, trigger_id: int, trigger: Any, target: TryLogTarget | None) -> None:
        if trigger_id not in self._tasks:
            self._tasks[trigger_id] = self._loop.create_task(self._run(trigger_id, trigger, target))

    def _cancel(self, trigger_id: int, reason: str) -> None:
        task = self._tasks.get(trigger_id)
        if task is not None:
            task.cancel(reason)

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel(STOPPING)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, trigger_id: int, trigger: Any, target: TryLogTarget | None) -> None:
        route_to(target)  # this task's context only: its records (and its threads') go to the try's log
        try:
            self._outcomes.put(await run_trigger(trigger_id, trigger))
        except asyncio.CancelledError as stop:
            log.info("trigger %d %s", trigger_id, stop.args[0] if stop.args and stop.args[0] else "cancelled")
        finally:
            self._tasks.pop(trigger_id, None)


async def run_trigger(trigger_id: int, trigger: Any) -> TriggerOutcome:
    """Run ``trigger`` to its first event: the payload, or why it failed; its ``cleanup()`` is
    awaited whatever happens (a cancellation goes on to the caller)."""
    log.info("trigger %d starting on %s: %s", trigger_id, socket.gethostname(), describe(trigger))
    try:
        return await _first_event(trigger_id, trigger)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a trigger that raises fails its task, not its runner
        log.error("trigger %d failed, the task resumes to fail: %s", trigger_id, exc, exc_info=exc)
        return TriggerOutcome(trigger_id, error="".join(traceback.format_exception(exc)).strip())
    finally:
        try:
            await trigger.cleanup()
        except Exception:  # noqa: BLE001 - a failing cleanup changes nothing
            log.exception("cleanup of trigger %d failed", trigger_id)


def describe(trigger: Any) -> str:
    """``<classpath kwarg=value, ...>`` with the values of secret-looking kwargs as ``***`` (the
    triggerer's own log shows this line too, unmasked by any try's masker)."""
    try:
        classpath, kwargs = trigger.serialize()
    except Exception:  # noqa: BLE001 - a trigger that cannot say what it is still runs
        return f"<{type(trigger).__module__}.{type(trigger).__qualname__}>"
    args = ", ".join(f"{k}={v!r}" for k, v in redact(dict(kwargs)).items())
    return f"<{classpath} {args}>" if args else f"<{classpath}>"


def run_until_event(trigger_id: int, trigger: Any, timeout: float | None) -> TriggerOutcome | None:
    """Run one trigger, with an event loop of its own, until its first event (``dags test`` and
    ``DAG.test()`` need no triggerer): its outcome, or None when ``timeout`` seconds passed first.

    In this thread, or, when this thread runs an event loop already (``dag.test()`` in a Jupyter
    notebook's cell), in a thread of its own, waited for: a thread has one running loop at most.
    """
    async def first() -> TriggerOutcome | None:
        try:
            return await asyncio.wait_for(run_trigger(trigger_id, trigger), timeout)
        except asyncio.TimeoutError:
            return None

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # none: the usual case
        return asyncio.run(first())
    result: list[TriggerOutcome | None] = []
    failure: list[BaseException] = []

    def in_own_thread() -> None:
        try:
            result.append(asyncio.run(first()))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=in_own_thread, name=f"flowctl-trigger-{trigger_id}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def _first_event(trigger_id: int, trigger: Any) -> TriggerOutcome:
    """Run ``trigger`` until it yields; its payload as JSON data."""
    events = trigger.run()
    try:
        async for event in events:
            log.info("trigger %d fired: %r; the task resumes", trigger_id, event)
            return TriggerOutcome(trigger_id, payload=encode_json(event.payload, "the trigger event's payload"))
    finally:
        await events.aclose()
    log.error("trigger %d failed, the task resumes to fail: %s", trigger_id, NO_EVENT)
    return TriggerOutcome(trigger_id, error=NO_EVENT)
