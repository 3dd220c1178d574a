"""Files the CLI writes for other processes and people to read: whole, and private when asked.

Owns writing such a file so that no reader ever finds it half written (a PID file another
``--daemon`` or ``celery stop`` reads, the config file whose secrets ``db init`` generates) and
that a file meant for its owner only is never readable by another user, not even while written.
A file that cannot be written is a FlowctlError in one line naming it. Standard library and
``flowctl.core.errors`` only.
"""
from __future__ import annotations

import os
from pathlib import Path

from flowctl.core.errors import FlowctlError


def write_whole(path: Path, text: str, mode: int = 0o644) -> None:
    """``text`` into ``path`` at once for any reader: written to a new file beside it, created
    with ``mode`` (less the umask) and flushed to disk, then renamed over ``path``. A crash
    mid-write leaves the previous file; nothing is left beside it. FlowctlError when the file
    or its folder cannot be written (a path given on the command line may name anything)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = f"{path.parent} is not a folder" if path.parent.exists() else \
            f"cannot make its folder {path.parent} ({exc.strerror or exc})"
        raise FlowctlError(f"cannot write {path}: {why}") from None
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write_then_rename(partial, path, text, mode)
    except OSError as exc:
        raise FlowctlError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_then_rename(partial: Path, path: Path, text: str, mode: int) -> None:
    partial.unlink(missing_ok=True)  # left by a crashed process that had this pid
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
