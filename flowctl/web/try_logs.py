"""Reading one try's log: the file here, or else the machine that ran the try.

The web server reads ``[logging] base_log_folder`` (the task runner's layout,
:func:`flowctl.task_runner.logs.log_path`). A try that ran on a Celery worker
on another machine wrote its log there: when the file is not here, the log is
asked of that machine's log server (the task instance's ``hostname``, ``[logging]
worker_log_server_port``; :mod:`flowctl.task_runner.log_server`), read in the
same chunks. A worker that does not answer gives a line saying so instead of the
log. Must not import flowctl.cli or flowctl.scheduler.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.web import context

LOG_CHUNK = 512 * 1024
MAX_WHOLE_LOG = 64 * 1024 * 1024  # a download from a worker stops here: a runaway log must not fill memory
#: The largest byte offset a file can have (a signed 64-bit ``off_t``): no log offset is larger.
MAX_LOG_OFFSET = 2**63 - 1


@dataclass(frozen=True, slots=True)
class LogChunk:
    text: str
    offset: int
    exists: bool


def log_file(key: TaskInstanceKey, try_number: int) -> Path:
    """The log file of one try under ``[logging] base_log_folder`` (the task runner's layout)."""
    from flowctl.task_runner.logs import log_path

    return log_path(context.settings().base_log_folder, key, try_number)


def log_size(path: Path) -> int:
    """The log's size in bytes now (0 when there is no file)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def parse_log_offset(text: str | None) -> int:
    """A byte offset a page or a script sent back (0 when absent or empty); ValueError unless it is
    ASCII digits up to :data:`MAX_LOG_OFFSET` (``int`` alone takes "\uff11", " 1", "+1" and "1_0")."""
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_LOG_OFFSET)) \
            or int(text) > MAX_LOG_OFFSET:
        raise ValueError(f"offset must be a byte offset from 0 to {MAX_LOG_OFFSET} in digits 0-9, "
                         f"not {text[:30]!r}")
    return int(text)


def read_log(path: Path, offset: int, limit: int = LOG_CHUNK) -> LogChunk:
    """Up to ``limit`` bytes of a log from byte ``offset`` (whole lines only, unless one is huge); from
    past its end nothing, and the chunk's offset is the end (as Airflow's reader, which slices the log)."""
    try:
        with path.open("rb") as handle:
            start = min(max(offset, 0), handle.seek(0, 2))
            handle.seek(start)
            data = handle.read(limit)
    except OSError:
        return LogChunk("", offset, False)
    return _chunk(data, start, limit)


def _chunk(data: bytes, offset: int, limit: int) -> LogChunk:
    if len(data) == limit and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    return LogChunk(data.decode("utf-8", errors="replace"), max(offset, 0) + len(data), True)


def try_log(key: TaskInstanceKey, try_number: int, ti: Any, offset: int,
            limit: int = LOG_CHUNK) -> tuple[LogChunk, int]:
    """A chunk of one try's log from ``offset`` and the log's whole size: from the file here, or
    from the worker that ran the try. Not found anywhere: ``exists`` False, and the chunk's text
    says why when a worker was asked."""
    path = log_file(key, try_number)
    chunk = read_log(path, offset, limit)
    source = _worker(ti)
    if chunk.exists or source is None:
        return chunk, log_size(path) if chunk.exists else 0
    from flowctl.task_runner.log_server import fetch

    host, port, secret = source
    remote = fetch(host, port, _relative(path), secret, offset, limit)
    if not remote.found:
        return LogChunk(f"*** the log is not in {path.parent} here, and {remote.error}\n", offset, False), 0
    return _chunk(remote.data, min(max(offset, 0), remote.size), limit), remote.size


def whole_log(key: TaskInstanceKey, try_number: int, ti: Any) -> bytes | None:
    """One try's whole log, byte for byte, from the worker that ran it (up to MAX_WHOLE_LOG), or None."""
    source = _worker(ti)
    if source is None:
        return None
    from flowctl.task_runner.log_server import fetch

    host, port, secret = source
    relative = _relative(log_file(key, try_number))
    parts: list[bytes] = []
    offset = 0
    while offset < MAX_WHOLE_LOG:
        remote = fetch(host, port, relative, secret, offset, LOG_CHUNK)
        if not remote.found:
            return b"".join(parts) if parts else None
        if not remote.data:
            break
        parts.append(remote.data)
        offset += len(remote.data)
        if offset >= remote.size:
            break
    return b"".join(parts)


def _worker(ti: Any) -> tuple[str, int, str] | None:
    """(host, port, secret) of the log server that may hold ``ti``'s log; None if none may."""
    settings = context.settings()
    port = int(settings.get("logging", "worker_log_server_port"))
    secret = str(settings.get("webserver", "secret_key") or "")
    host = str(getattr(ti, "hostname", "") or "")
    if not port or not secret or not host or host == socket.gethostname():
        return None
    return host, port, secret


def _relative(path: Path) -> str:
    return str(path.relative_to(Path(context.settings().base_log_folder)))
