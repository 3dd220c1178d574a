"""Per-try task logs: where they live, and capturing the task's logging, stdout and stderr into them.

A try's log is ``{base_log_folder}/dag_id=…/run_id=…/task_id=…/[map_index=N/]attempt=N.log``,
appended to as lines are produced (a sensor's pokes append to the same
attempt). Every line passes through the try's :class:`SecretsMasker` first.
:class:`TryLogCapture` swaps ``sys.stdout`` / ``sys.stderr`` for line-buffered
masking writers and attaches a handler to the root logger for the duration of
the try; ``tasks test`` uses the same capture with the terminal as the sink.
Must not import flowctl.db, web, cli or scheduler.
"""
from __future__ import annotations

import io
import logging
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
    # One Path built from text: each ``/`` of pathlib parses its parts again, and a forked try
    # pays for every bit of code it runs.
    return Path(base_log_folder, _relative_text(key, try_number))


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

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write_line(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the task
            self.handleError(record)


class TryLogCapture:
    """Within ``with``: logging, stdout and stderr of this process go to ``sink``."""

    def __init__(self, sink: LogSink, level: str = "info") -> None:
        self.sink = sink
        self.level = logging.getLevelName(level.upper()) if isinstance(level, str) else int(level)
        self._handler = _SinkHandler(sink, self.level)
        self._saved: tuple[TextIO, TextIO, int, int] | None = None

    def __enter__(self) -> TryLogCapture:
        root = logging.getLogger()
        self._saved = (sys.stdout, sys.stderr, root.level, task_log.level)
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
        root.removeHandler(self._handler)
        _set_level(root, root_level)
        _set_level(task_log, task_level)


def _set_level(logger: logging.Logger, level: int) -> None:
    """``logger.setLevel`` unless it has that level already (or inherits it from the root):
    setting one clears the cache of every logger, and in a forked worker that copies a page each."""
    inherits = logger.level == logging.NOTSET and logger is not logging.getLogger()
    if logger.level != level and not (inherits and logging.getLogger().level == level):
        logger.setLevel(level)


def open_log_file(path: Path) -> TextIO:
    """Open (append, line-buffered) a try's log file, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", encoding="utf-8", buffering=1)
