"""Running the operator itself: execution_timeout, termination, callbacks, heartbeats.

``execution_timeout`` is enforced with SIGALRM when the try runs on the main
thread (always, in a worker process): the task gets :class:`TaskTimeout`,
which counts as a failure (retried per policy) and calls ``on_kill``. SIGTERM
(``terminate`` from an executor, kill-runs, a heartbeat that finds the try no
longer running) raises :class:`TaskTerminated` the same way. Callbacks get
the context; one that raises is logged and never changes the try's state.
Must not import web, cli or scheduler.
"""
from __future__ import annotations

import _signal  # signal's C half: ``signal.signal`` turns each result into an Enum (see below)
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from flowctl.alarm import deadline
from flowctl.core.errors import TaskExited, TaskTimeout

log = logging.getLogger("flowctl.task")


class TaskTerminated(Exception):
    """The try was told to stop (SIGTERM); counts as a failure."""


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def execution_timeout(timeout: timedelta | None, task_id: str) -> Iterator[None]:
    """Raise TaskTimeout inside the block after ``timeout`` (main thread only; else no limit)."""
    if timeout is None or not _on_main_thread():
        yield
        return
    seconds = max(timeout.total_seconds(), 0.001)
    message = f"task {task_id!r} timed out after {seconds:g}s (execution_timeout)"
    with deadline(seconds, lambda: TaskTimeout(message)):
        yield


_termination = {"requested": False}
# The handlers are swapped through ``_signal``: ``signal.signal`` converts the previous handler
# to a ``Handlers`` member, which for a function means a failed Enum lookup and its exception,
# and a forked try pays for that code in copied pages. The handlers are the same either way.
_SIGTERM = int(signal.SIGTERM)


@contextlib.contextmanager
def defer_sigterm() -> Iterator[None]:
    """Remember a SIGTERM instead of dying (between claim and execute, and while recording the end)."""
    if not _on_main_thread():
        yield
        return
    _termination["requested"] = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        _termination["requested"] = True

    previous = _signal.signal(_SIGTERM, on_term)
    try:
        yield
    finally:
        _signal.signal(_SIGTERM, previous)


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into TaskTerminated inside the block (and at once if one came earlier)."""
    if not _on_main_thread():
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise TaskTerminated("the try was terminated (SIGTERM)")

    previous = _signal.signal(_SIGTERM, on_term)
    try:
        if _termination["requested"]:
            _termination["requested"] = False
            raise TaskTerminated("the try was terminated (SIGTERM) before it started")
        yield
    finally:
        _signal.signal(_SIGTERM, previous)


def run_task(task: Any, context: Mapping[str, Any], resume: Callable[[Mapping[str, Any]], Any] | None = None) -> Any:
    """pre_execute, execute (under execution_timeout), post_execute; on_kill when stopped.

    ``resume``: what runs instead of ``execute`` in a deferred task's resumption (its
    ``resume_execution``), under what is left of execution_timeout since the try started.
    ``sys.exit(0)`` (or ``sys.exit()``) in task code ends it as a success with no return value;
    another code is a failure (:class:`TaskExited`), as in Airflow: the try's process goes on to
    record it rather than exiting with the task's code.
    """
    timeout = getattr(task, "execution_timeout", None)
    if resume is not None and timeout is not None:
        started = getattr(context.get("ti"), "start_date", None)
        timeout = timeout if started is None else timeout - (datetime.now(started.tzinfo) - started)
    try:
        with execution_timeout(timeout, task.task_id):
            task.pre_execute(context)
            result = (resume or task.execute)(context)
            task.post_execute(context, result)
            return result
    except (TaskTimeout, TaskTerminated):
        _call_on_kill(task)
        raise
    except SystemExit as exc:
        if exc.code in (0, None):
            return None
        raise TaskExited.of(exc) from None


def _call_on_kill(task: Any) -> None:
    try:
        task.on_kill()
    except Exception:  # noqa: BLE001 - a failing on_kill must not hide why the try stopped
        log.exception("on_kill of task %r failed", task.task_id)


def run_callbacks(callbacks: Any, context: Mapping[str, Any], name: str) -> bool:
    """Call a callback (or each of a list); errors are logged, never raised. False if one raised."""
    ok = True
    for callback in (callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]) if callbacks else ():
        try:
            callback(context)
        except (Exception, SystemExit):  # noqa: BLE001 - callbacks never change the state (nor end the try)
            log.exception("%s %r failed", name, getattr(callback, "__name__", callback))
            ok = False
    return ok


class Heartbeat:
    """A daemon thread recording that the try is alive; calls ``on_lost`` if the row says otherwise."""

    def __init__(self, beat: Callable[[datetime], bool], every: float, clock: Callable[[], datetime],
                 on_lost: Callable[[], None]) -> None:
        self._beat = beat
        self._every = every
        self._clock = clock
        self._on_lost = on_lost
        # Made only when it runs: a supervised try has neither.
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._every > 0:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="flowctl-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self._every):
            try:
                alive = self._beat(self._clock())
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the task
                log.warning("heartbeat failed; will retry", exc_info=True)
                continue
            if not alive and not stop.is_set():
                log.error("the task instance is no longer running in the database; stopping the try")
                self._on_lost()
                return
