"""Making the warm zygote's memory cheap to fork: immortal objects, and no holes for a try to fill.

A forked try shares its zygote's memory until it writes to it, and CPython
writes to every object a try merely uses: its reference count, raised and
lowered again. Each such write copies a 4 KiB page, about 2.5 µs of kernel
time, and most of the pages a no-op try copies are copied for nothing else.
From CPython 3.12 (PEP 683) an object whose count holds the immortal value is
never counted: ``Py_INCREF`` and ``Py_DECREF`` leave it alone. So once the
zygote has imported and warmed up everything a try needs, and frozen those
objects out of the collector's way, :func:`immortalize_heap` gives each of
them that count. They are never freed afterwards, which is what a zygote's
imports are anyway. A try then copies about 440 pages instead of 700
(``bench/executor_fork.py`` on Python 3.12).

Left mortal: files and sockets (the zygote may rely on dropping one to close it)
and anything made later (the DAG files it imports, its own state), which a
changed file or a finished try must still be able to free. Only on the
interpreters whose object header is known here (CPython 3.12 and 3.13 with the
GIL); elsewhere it does nothing. Must not import anything but the standard library.
"""
from __future__ import annotations

import ctypes
import gc
import io
import os
import re
import socket
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from functools import partial

#: The interpreters whose reference count is a word whose low 32 bits at all ones mean immortal.
_SUPPORTED = ((3, 12), (3, 13))
#: That value: ``Py_INCREF`` wraps its low half to 0 and stops; ``Py_DECREF`` sees it negative and stops.
IMMORTAL_REFCNT = 0xFFFFFFFF
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: static types are immortal already
_KEEP_MORTAL = (io.IOBase, socket.socket)


def supported() -> bool:
    """Whether this interpreter has immortal objects laid out as :func:`immortalize_heap` expects."""
    return (sys.implementation.name == "cpython" and sys.version_info[:2] in _SUPPORTED
            and not sysconfig.get_config_var("Py_GIL_DISABLED"))


def immortalize_heap() -> int:
    """Make every object the collector knows of, and what those hold, immortal; how many were.

    Call it in the zygote after its warm-up (it leaves those objects frozen, as ``gc.freeze``
    does), never in a process whose objects must be freed. Does nothing where not :func:`supported`.
    """
    if not supported():
        return 0
    gc.unfreeze()  # the frozen objects back among the tracked ones: get_objects lists those only
    try:
        found: dict[int, object] = {id(obj): obj for obj in gc.get_objects()}
        pending = list(found.values())
        while pending:  # and what they hold: strings, numbers, and the tuples the collector untracked
            for held in gc.get_referents(pending.pop()):
                if id(held) not in found:
                    found[id(held)] = held
                    pending.append(held)
        count = 0
        for address, obj in found.items():
            kind = type(obj)
            if issubclass(kind, _KEEP_MORTAL) or (issubclass(kind, type) and not obj.__flags__ & _HEAP_TYPE):
                continue  # a static type is immortal already
            ctypes.c_ssize_t.from_address(address).value = IMMORTAL_REFCNT
            count += 1
        found.clear()
        return count
    finally:
        gc.freeze()


def fill_pool_holes() -> int:
    """Occupy, for good, the free blocks of the small-object allocator's partly used pools; how many.

    Objects freed in the zygote leave holes across its heap's pages, and the allocator fills
    holes first: a forked try's own new objects would land in dozens of those pages, each then
    copied for a few bytes. With the holes taken, a try allocates from fresh pools, a page after
    another (``bench/executor_fork.py`` on Python 3.12: 420 pages a try instead of 465). Call it
    in the zygote before it forks, again after importing a DAG file; the fillers are tiny objects
    nothing reads, a few hundred kilobytes a call and :data:`MAX_FILLERS` in all. Reads ``sys._debugmallocstats`` (CPython's
    own allocator statistics); elsewhere, or with another allocator, it does nothing.
    """
    count = 0
    for size, free in _free_blocks_by_size().items():
        make = _filler(size)
        if make is None or len(_FILLERS) + free > MAX_FILLERS:
            continue
        _FILLERS.extend(make() for _ in range(free))
        count += free
    return count


#: At most this many fillers in all (some 4 MB): each call keeps what the last import freed from
#: being reused by this process, so a zygote importing changed files for weeks must stop somewhere.
MAX_FILLERS = 50_000
_FILLERS: list[object] = []
_STATS_ROW = re.compile(rb"^\s*\d+\s+(\d+)\s+\d+\s+\d+\s+(\d+)\s*$", re.M)


def _filler(size: int) -> Callable[[], object] | None:
    """What makes a new object taking one block of ``size`` bytes."""
    if size == 16:
        return object
    if size == 32:
        return lambda: float("0.5")  # a float's 24 bytes round up to 32; parsed, so a new one each time
    if size >= 48:
        return partial(bytes, size - 33)  # a bytes object of length n takes 33 + n bytes
    return None


def _free_blocks_by_size() -> dict[int, int]:
    """Block size -> free blocks in partly used pools, from ``sys._debugmallocstats`` (it prints to
    the C stderr: fd 2 is pointed at a temporary file meanwhile)."""
    stats = getattr(sys, "_debugmallocstats", None)
    if stats is None or sys.implementation.name != "cpython":
        return {}
    with tempfile.TemporaryFile() as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            stats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        return {int(size): int(free) for size, free in _STATS_ROW.findall(out.read()) if int(free)}
