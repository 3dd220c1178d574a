"""Forking the zygote's children without the after-fork work a single-threaded parent does not need,
and reaping them (:func:`reap_one`: what a killed try left in its process group dies with it).

``os.fork`` runs, in every child, the Python-level handlers registered with
``os.register_at_fork``: threading's (it rebuilds its table of threads and
their locks), logging's (a new lock for every handler) and random's (a new
seed). They exist for a parent with other threads, whose locks a child could
inherit held. In the warm zygote they run cold code over inherited objects:
a fork that only ``_exit``\\ s copies 217 pages with them and 45 without, about
0.5 ms of CPU in each child, a tenth of a no-op try.

:func:`forker` gives libc's ``fork`` instead (C-level ``pthread_atfork``
handlers still run) and in the child does the one handler's job that matters
without other threads: it reseeds :mod:`random`. It does so only where that is
sound: CPython 3.11 to 3.13 with the GIL, called from the main thread, with no
other thread in the process, and no at-fork handler registered since
:func:`watch_at_fork_handlers` (a DAG file imported by the zygote may register
one, and then expects it to run). Anywhere else it is ``os.fork``.
Must not import SQLAlchemy.
"""
from __future__ import annotations

import os
import random
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

#: Interpreters whose after-fork work in C (the GIL, the import lock, the runtime's locks) is
#: only needed when another thread may have held a lock at the fork.
_SOUND_ON = ((3, 11), (3, 12), (3, 13))
_UNAVAILABLE: Any = object()
_libc_fork: Callable[[], int] | None = None  # found on first use (_UNAVAILABLE: there is none)
_watching = False
_registered_since_watch = False


def watch_at_fork_handlers() -> None:
    """From now on, note every ``os.register_at_fork`` (still registered): :func:`forker` then gives ``os.fork``.

    Call it once, early in the zygote: the handlers registered before it (threading's, logging's,
    random's) are the ones :func:`forker` knows it may skip.
    """
    global _watching
    if _watching:
        return
    _watching = True
    register = os.register_at_fork

    def noting(**handlers: Any) -> None:
        global _registered_since_watch
        register(**handlers)
        _registered_since_watch = True
    os.register_at_fork = noting  # type: ignore[assignment]


def forker() -> Callable[[], int]:
    """The fork for the forks about to be made together: one check, then no work between them.

    ``os.fork`` itself where skipping the Python-level after-fork handlers is not known to be sound.
    Signals with Python handlers must be blocked across those forks (a signal caught just before
    one would be handled in the child as well: ``os.fork`` clears that, libc's fork cannot).
    """
    raw = _raw_fork()
    if raw is None or not _single_threaded():
        return os.fork
    return partial(_fork_skipping_handlers, raw)


def _fork_skipping_handlers(raw: Callable[[], int]) -> int:
    pid = raw()
    if pid < 0:
        import ctypes

        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    if pid == 0:
        random.seed()  # what random's own handler does: children must not share a sequence
    return pid


def _raw_fork() -> Callable[[], int] | None:
    global _libc_fork
    if (not _watching or _registered_since_watch or sys.implementation.name != "cpython"
            or sys.version_info[:2] not in _SOUND_ON or not getattr(sys, "_is_gil_enabled", lambda: True)()):
        return None
    if _libc_fork is None:
        try:
            import ctypes

            # PyDLL: the call keeps the GIL, so the child starts holding it, as the parent's thread did.
            libc = ctypes.PyDLL(None, use_errno=True)
            libc.fork.restype = ctypes.c_int
            libc.fork.argtypes = ()
        except (ImportError, OSError, AttributeError):  # a Python without ctypes, a libc without fork
            _libc_fork = _UNAVAILABLE
        else:
            _libc_fork = libc.fork
    return None if _libc_fork is _UNAVAILABLE else _libc_fork


def _single_threaded() -> bool:
    if threading.current_thread() is not threading.main_thread() or threading.active_count() != 1:
        return False
    try:  # threads started outside the threading module (C extensions, _thread)
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def reap_one() -> tuple[int, int] | None:
    """Reap one exited child: ``(pid, wait status)``, or None if none has exited. A child that did
    not exit normally (killed, crashed) may leave processes in its process group (each try is its
    own; a BashOperator's command runs in it): they are killed first, while the unreaped child still
    holds the group's id, so no other group can have taken it. Else a retry would run beside them."""
    try:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if info is None or info.si_pid == 0:
        return None
    if not (info.si_code == os.CLD_EXITED and info.si_status == 0):
        from flowctl.executors.local import killpg  # the zygote has it imported already

        killpg(info.si_pid, signal.SIGKILL)
    return os.waitpid(info.si_pid, 0)
