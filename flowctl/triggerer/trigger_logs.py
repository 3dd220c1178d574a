"""A trigger's log lines, appended to the log of the task try it waits for (as Airflow's UI shows them).

Each trigger runs in an asyncio task of its own, and :func:`route_to` sets a context variable in
that task to the trigger's :class:`TryLogTarget`. So whatever is logged while its ``run()`` runs
— its ``self.log``, the libraries it calls, the threads it starts with ``asyncio.to_thread`` (they
copy the context) — reaches the :class:`TriggerLogRouter`'s handler on the root logger, which
formats it as task logs are formatted and queues it. One writer thread masks the lines (the
trigger's secret-looking kwargs and this process's ``mask_secret`` values), marks each with
``[triggerer]`` and appends them to ``attempt=N.log``; the event loop never waits on a disk. The
resumed run of the task is the same try and goes on writing to the same file.

Cheap at ``[triggerer] default_capacity`` (1000) triggers: a record logged outside a trigger
costs one context-variable look-up, and no file stays open (each batch opens what it writes to).
Only a file that exists is appended to: a try that ran on another machine (no shared log folder)
has its log there, and a part written here would hide it from a web server on this machine. A file
that is missing or cannot be written costs the trigger nothing; the router warns once.
Must not import flask, click, SQLAlchemy, web, cli or scheduler.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flowctl.core.masking import SecretsMasker, process_masker, should_mask
from flowctl.task_runner.logs import LOG_FORMAT, log_path_text

log = logging.getLogger("flowctl.triggerer")
#: What marks a line of a try's log as the triggerer's.
MARK = "[triggerer] "
_STOP = object()
_TARGET: ContextVar[TryLogTarget | None] = ContextVar("flowctl_trigger_log_target", default=None)


@dataclass(frozen=True, slots=True)
class TryLogTarget:
    """Where one trigger's lines go: a try's log file, masked with ``masker``, from ``level`` up."""

    path: str
    masker: SecretsMasker
    level: int
    router: TriggerLogRouter


def route_to(target: TryLogTarget | None) -> None:
    """From now on in this asyncio task (and the threads it starts), log records go to ``target`` too."""
    _TARGET.set(target)


class _RoutingHandler(logging.Handler):
    """On the root logger: a record logged inside a routed trigger goes to its router's queue."""

    def __init__(self, router: TriggerLogRouter) -> None:
        super().__init__()
        self.router = router
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        # No handler lock: the queue is thread-safe, and most records are not a trigger's.
        target = _TARGET.get()
        if target is None or target.router is not self.router or record.levelno < target.level:
            return False
        try:
            self.router.put(target, self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break a trigger
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


class TriggerLogRouter:
    """The handler that routes triggers' records and the thread that appends them to try logs."""

    def __init__(self, base_log_folder: str, level: str | int = "info") -> None:
        self.base_log_folder = base_log_folder
        self.level = logging.getLevelName(level.upper()) if isinstance(level, str) else int(level)
        self._handler = _RoutingHandler(self)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name="flowctl-trigger-logs", daemon=True)
        self._root_level: int | None = None
        self._warned = False

    @classmethod
    def from_settings(cls, settings: Any) -> TriggerLogRouter:
        """A router for ``[logging] base_log_folder`` at ``[logging] logging_level``."""
        return cls(settings.log_folder_text, str(settings.get("logging", "logging_level")))

    def start(self) -> None:
        """Route from now on: the handler goes on the root logger (whose level lets the records through)."""
        root = logging.getLogger()
        if root.level > self.level:  # as a try's capture does: a trigger's INFO lines must reach the file
            self._root_level = root.level
            root.setLevel(self.level)
        root.addHandler(self._handler)
        self._thread.start()

    def stop(self, grace: float = 5.0) -> None:
        """Write what is queued, then stop routing."""
        logging.getLogger().removeHandler(self._handler)
        if self._root_level is not None:
            logging.getLogger().setLevel(self._root_level)
            self._root_level = None
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=grace)

    def target(self, waiting: Any, trigger_kwargs: Mapping[str, Any] | None = None) -> TryLogTarget:
        """The target of a trigger that ``waiting`` (a WaitingTry: key, try_number) waits on; the
        values of its secret-looking kwargs are masked in its lines."""
        path = log_path_text(self.base_log_folder, waiting.key, waiting.try_number)
        return TryLogTarget(path, _masker_for(trigger_kwargs or {}), self.level, self)

    def put(self, target: TryLogTarget, text: str) -> None:
        """Queue ``text`` (one formatted record) for ``target``'s file."""
        self._queue.put((target, text))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued before this call is written (or given up); False on timeout."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _drain(self) -> None:
        while True:
            batch = [self._queue.get()]
            try:
                while len(batch) < 1000:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            stop = any(item is _STOP for item in batch)
            try:
                self._write([item for item in batch if isinstance(item, tuple)])
            except Exception:  # noqa: BLE001 - the thread's boundary: the next batch is written all the same
                log.exception("trigger lines could not be written to the task logs")
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            if stop:
                return

    def _write(self, items: list[tuple[TryLogTarget, str]]) -> None:
        """Append each file's lines in one write (masked, marked); a file that fails is skipped."""
        texts: dict[str, list[str]] = {}
        for target, text in items:
            masked = target.masker.redact_text(text)
            texts.setdefault(target.path, []).extend(MARK + line + "\n" for line in masked.splitlines())
        for path, lines in texts.items():
            try:
                append_existing(path, "".join(lines).encode("utf-8"))
            except OSError as exc:
                self._cannot_write(path, exc)

    def _cannot_write(self, path: str, exc: OSError) -> None:
        if self._warned:
            log.debug("trigger lines not written to %s: %s", path, exc)
            return
        self._warned = True
        log.warning("cannot add the triggers' lines to the task log %s (%s): is this triggerer on another "
                    "machine than the workers, without their log folder? The triggers run on; further such "
                    "failures are not reported", path, exc.strerror or exc)


def append_existing(path: str, data: bytes) -> None:
    """Append ``data`` to the file at ``path`` in one write; FileNotFoundError if there is none."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _masker_for(kwargs: Mapping[str, Any]) -> SecretsMasker:
    """This process's masker, or a child of it that also knows the secret-looking values of ``kwargs``."""
    secrets: list[Any] = []
    _collect_secrets(kwargs, secrets)
    if not secrets:
        return process_masker()
    masker = SecretsMasker(parent=process_masker())
    for secret in secrets:
        masker.add_mask(secret, "secret")
    return masker


def _collect_secrets(value: Any, found: list[Any]) -> None:
    """The values under secret-looking keys (password, token, ...), at any depth of ``value``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if should_mask(str(key)):
                found.append(item)
            else:
                _collect_secrets(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_secrets(item, found)
