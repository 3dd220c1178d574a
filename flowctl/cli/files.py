"""Files the CLI writes for other processes and people to read: whole, and private when asked.

Owns writing such a file so that no reader ever finds it half written (a PID file another
``--daemon`` or ``celery stop`` reads, the config file whose secrets ``db init`` generates) and
that a file meant for its owner only is never readable by another user, not even while written.
Standard library only.
"""
from __future__ import annotations

import os
from pathlib import Path


def write_whole(path: Path, text: str, mode: int = 0o644) -> None:
    """``text`` into ``path`` at once for any reader: written to a new file beside it, created
    with ``mode`` (less the umask) and flushed to disk, then renamed over ``path``. A crash
    mid-write leaves the previous file; nothing is left beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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
