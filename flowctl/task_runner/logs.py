"""Per-try task logs: where they live, and capturing the task's logging, stdout and stderr into them.

A try's log is ``{base_log_folder}/dag_id=…/run_id=…/task_id=…/[map_index=N/]attempt=N.log``,
appended to as lines are produced (a sensor's pokes append to the same
attempt). Every line passes through the try's :class:`SecretsMasker` first.
:class:`TryLogCapture` swaps ``sys.stdout`` / ``sys.stderr`` for line-buffered
masking writers and attaches a handler to the root logger for the duration of
the try; ``tasks test`` uses the same capture with the terminal as the sink, and
``DAG.test()`` writes each line to both the file and the terminal (:class:`TeeStream`).
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import io
import logging
import os
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import TextIO

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.masking import SecretsMasker

LOG_FORMAT = "[%(asctime)s] {%(name)s} %(levelname)s - %(message)s"
task_log = logging.getLogger("flowctl.task")


def _safe(part: str) -> str:
    return part.replace("/", "_").replace("\\", "_").replace("\0", "_") or "_"


def _relative_text(key: TaskInstanceKey, try_number: int) -> str:
    index = f"map_index={key.map_index}/" if key.map_index >= 0 else ""
    return (f"dag_id={_safe(key.dag_id)}/run_id={_safe(key.run_id)}/task_id={_safe(key.task_id)}/"
            f"{index}attempt={max(try_number, 1)}.log")


def log_relative_path(key: TaskInstanceKey, try_number: int) -> Path:
    """``dag_id=…/run_id=…/task_id=…/[map_index=N/]attempt=N.log`` (Airflow's layout)."""
    return Path(_relative_text(key, try_number))


def log_path(base_log_folder: Path, key: TaskInstanceKey, try_number: int) -> Path:
    """The log file of try ``try_number`` of ``key``."""
    return Path(log_path_text(base_log_folder, key, try_number))


def log_path_text(base_log_folder: Path | str, key: TaskInstanceKey, try_number: int) -> str:
    """:func:`log_path` as text, for a forked try, which pays for every bit of code it runs
    (pathlib's included) in copied pages."""
    return os.path.join(base_log_folder, _relative_text(key, try_number))


class LogSink:
    """A thread-safe, masking writer of whole lines to one text stream."""

    def __init__(self, stream: TextIO, masker: SecretsMasker) -> None:
        self.stream = stream
        self.masker = masker
        self._lock = threading.Lock()

    def write_line(self, text: str) -> None:
        """Mask ``text`` (one or more lines) and write it, newline-terminated, at once."""
        masked = self.masker.redact_text(text)
        with self._lock:
            self.stream.write(masked if masked.endswith("\n") else masked + "\n")
            self.stream.flush()


class TeeStream(io.TextIOBase):
    """Writes to several text streams at once: a try's log file and ``DAG.test()``'s terminal."""

    def __init__(self, *streams: TextIO) -> None:
        super().__init__()
        self.streams = streams

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:  # type: ignore[override]
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


class _LineWriter(io.TextIOBase):
    """What ``print`` writes to during a try: buffered up to each newline, then masked."""

    def __init__(self, sink: LogSink, name: str) -> None:
        super().__init__()
        self._sink = sink
        self._buffer = ""
        self._name = name

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._name

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:  # type: ignore[override]
        self._buffer += text
        if "\n" in self._buffer:
            complete, self._buffer = self._buffer.rsplit("\n", 1)
            self._sink.write_line(complete + "\n")
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._sink.write_line(self._buffer)
            self._buffer = ""


#: Formatters keep no state between records: one serves every try of this process.
_FORMATTER = logging.Formatter(LOG_FORMAT)


class _SinkHandler(logging.Handler):
    def __init__(self, sink: LogSink, level: int) -> None:
        super().__init__(level)
        self.sink = sink
        self.setFormatter(_FORMATTER)

    @classmethod
    def borrow(cls, sink: LogSink, level: int) -> _SinkHandler:
        """A handler of this process not in use, pointed at ``sink``; :meth:`give_back` it after.

        A forked try then reuses its zygote's handler instead of making one (its lock, its
        weak references), which it would pay for in copied pages.
        """
        try:
            handler = _IDLE_HANDLERS.pop()
        except IndexError:
            return cls(sink, level)
        handler.sink = sink
        handler.setLevel(level)
        return handler

    def give_back(self) -> None:
        _IDLE_HANDLERS.append(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write_line(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the task
            self.handleError(record)


_IDLE_HANDLERS: list[_SinkHandler] = []


class TryLogCapture:
    """Within ``with``: logging, stdout and stderr of this process go to ``sink``."""

    def __init__(self, sink: LogSink, level: str = "info") -> None:
        self.sink = sink
        self.level = logging.getLevelName(level.upper()) if isinstance(level, str) else int(level)
        self._handler: _SinkHandler | None = None
        self._saved: tuple[TextIO, TextIO, int, int] | None = None

    def __enter__(self) -> TryLogCapture:
        root = logging.getLogger()
        self._saved = (sys.stdout, sys.stderr, root.level, task_log.level)
        self._handler = _SinkHandler.borrow(self.sink, self.level)
        root.addHandler(self._handler)
        _set_level(root, self.level)
        _set_level(task_log, self.level)
        sys.stdout = _LineWriter(self.sink, "<stdout>")  # type: ignore[assignment]
        sys.stderr = _LineWriter(self.sink, "<stderr>")  # type: ignore[assignment]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._saved is not None
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - user code may have replaced or closed them
                pass
        sys.stdout, sys.stderr, root_level, task_level = self._saved
        root = logging.getLogger()
        assert self._handler is not None
        root.removeHandler(self._handler)
        self._handler.give_back()
        self._handler = None
        _set_level(root, root_level)
        _set_level(task_log, task_level)


def prepare_for_tries(level: str) -> None:
    """In a process that forks tries (the zygote): set the root logger to the tries' level once,
    so each try's capture finds it set. Setting a level clears every logger's cache, which a
    forked try would pay for in copied pages, twice (set, then restored)."""
    _set_level(logging.getLogger(), logging.getLevelName(level.upper()))


def _set_level(logger: logging.Logger, level: int) -> None:
    """``logger.setLevel`` unless it has that level already (or inherits it from the root):
    setting one clears the cache of every logger, and in a forked worker that copies a page each."""
    inherits = logger.level == logging.NOTSET and logger is not logging.getLogger()
    if logger.level != level and not (inherits and logging.getLogger().level == level):
        logger.setLevel(level)


def open_log_file(path: Path | str) -> TextIO:
    """Open (append, line-buffered) a try's log file, creating its folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return open(path, "a", encoding="utf-8", buffering=1)
