"""Copying, in one call, the zygote's pages that every try writes anyway.

A forked try shares its zygote's memory until it writes to it; each first write
to a page traps into the kernel, which copies that page (copy-on-write). A
no-op try copies some 800 pages, one trap each, and most of them are the same
pages every time: the interpreter's and flowctl's own objects that any try's
code path touches. ``MADV_POPULATE_WRITE`` makes the same copies for whole
ranges of pages without a trap per page (measured here: 1.8 µs a page instead
of 2.7), and ``process_madvise`` on the caller itself (Linux 6.13) takes up to
1,024 ranges in one system call (``madvise`` would need one call per range: a
try's pages lie in hundreds of them, and the calls would cost what the traps do).

So the zygote learns which of its pages a try writes, by looking at the page
map of a *learner* as its try ends (``/proc/PID/pagemap``: a page present in
the child and mapped by it alone is one it copied, or first touched): a child
forked without copying anything ahead, so that what it copied is what a try
writes, not what the zygote guessed. It keeps the pages the last two learners
both wrote, and every other child copies those first thing. A page copied
that the try would not have written costs its copy for nothing, which is why
only pages two tries wrote count, and why a learner comes again every
:data:`SAMPLE_EVERY` forks. After importing a DAG file (whose code may have
mapped memory where a learnt page was) the zygote forgets what it learnt and
learns afresh. The copies change no byte (each page is copied as a write fault
would copy it, without writing). Where the kernel or ``/proc`` lacks any of
this, there are no learners and tries fault their pages as before.
Must not import anything but the standard library.
"""
from __future__ import annotations

import ctypes
import os
import re
from collections import deque
from collections.abc import Callable

MADV_POPULATE_WRITE = 23
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: After this many forks, the next ending try is looked at again.
SAMPLE_EVERY = 64
#: A page is copied ahead once this many learners in a row wrote it.
LEARNERS = 2
#: Pagemap entry's last byte: bit 7 (63) present, bit 0 (56) mapped by this process alone.
_PRESENT_ALONE = bytes(1 if value & 0x81 == 0x81 else 0 for value in range(256))
_RUNS = re.compile(b"\x01+")
_SKIPPED = ("[vvar]", "[vdso]", "[vsyscall]", "[vvar_vclock]")


class PageLearner:
    """In the zygote: which of its pages its tries write, and the ranges a new child copies first."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []  # what the next child copies ahead, as (address, length)
        self._vectors: list[tuple[ctypes.Array[_IoVec], int]] = []  # the ranges, 1024 at most per call
        self._samples: deque[set[int]] = deque(maxlen=LEARNERS)
        self._learners_due = LEARNERS  # children to fork as learners at once (none learnt yet, or memory changed)
        self._forks_until_learner = SAMPLE_EVERY
        self._call = _process_madvise()

    def learners(self, count: int) -> list[bool]:
        """Which of the ``count`` children about to be forked are learners: they copy nothing ahead
        (what they copy is what a try writes, not what the zygote guessed) and are sampled as they end."""
        flags = [False] * count
        if self._call is None:
            return flags
        for index in range(count):
            self._forks_until_learner -= 1
            if self._learners_due > 0 or self._forks_until_learner <= 0:
                flags[index] = True
                self._learners_due = max(0, self._learners_due - 1)
                self._forks_until_learner = SAMPLE_EVERY
        return flags

    def learn_again(self) -> None:
        """Make the next child a learner (one ended without being looked at)."""
        self._learners_due = max(self._learners_due, 1)

    def forget(self) -> None:
        """Copy nothing ahead until two new learners have ended: the zygote imported a DAG file,
        whose code may have mapped memory where a learnt page was (a file mapped shared, say)."""
        self._samples.clear()
        self._set([])
        self._learners_due = LEARNERS

    def sample(self, pid: int) -> None:
        """Look at a learner's pages now (its try has ended; it waits for the zygote's answer)."""
        try:
            pages = _written_pages(pid)
        except OSError:  # gone already (killed), or not ours to read: the next learner tells
            self.learn_again()
            return
        self._samples.append(pages)
        if len(self._samples) == LEARNERS:
            self._set(sorted(set.intersection(*self._samples)))

    @property
    def pages(self) -> int:
        """How many pages the next child copies ahead."""
        return sum(length for _, length in self.ranges) // PAGE

    def populate(self) -> None:
        """In a new child, first thing: copy the learned ranges now."""
        call = self._call
        if call is None or not self._vectors:
            return
        try:
            pidfd = os.pidfd_open(os.getpid())
        except OSError:
            return
        try:
            for vector, count in self._vectors:
                if call(_SYS_PROCESS_MADVISE, pidfd, vector, count, MADV_POPULATE_WRITE, 0) < 0:
                    return  # a range gone or protected since: the rest fault as they are written
        finally:
            os.close(pidfd)

    def _set(self, pages: list[int]) -> None:
        self.ranges = _runs(pages)
        self._vectors = [((_IoVec * len(chunk))(*chunk), len(chunk))
                         for chunk in (self.ranges[at:at + _IOV_MAX] for at in range(0, len(self.ranges), _IOV_MAX))]


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("length", ctypes.c_size_t))


_SYS_PROCESS_MADVISE = 440  # the same number on every architecture (the unified syscall table)
_IOV_MAX = 1024


def _process_madvise() -> Callable[..., int] | None:
    """libc's ``syscall``, if this kernel does MADV_POPULATE_WRITE through process_madvise on the
    caller itself (Linux 6.13+); else None."""
    if not hasattr(os, "pidfd_open") or not os.path.exists("/proc/self/pagemap"):
        return None
    try:
        call = ctypes.CDLL(None, use_errno=True).syscall
        pidfd = os.pidfd_open(os.getpid())
    except (OSError, AttributeError):
        return None
    call.restype = ctypes.c_long
    try:
        probe = _IoVec(ctypes.addressof(_PROBE), 0)  # no pages: the kernel checks the advice only
        return call if call(_SYS_PROCESS_MADVISE, pidfd, ctypes.byref(probe), 1, MADV_POPULATE_WRITE, 0) == 0 else None
    finally:
        os.close(pidfd)


_PROBE = ctypes.c_char()


def _private_writable() -> list[tuple[int, int]]:
    """This process's private writable mappings, (first page number, page count)."""
    found = []
    with open("/proc/self/maps", "rb") as maps:
        for line in maps:
            fields = line.split()
            perms = fields[1]
            if perms[1:2] != b"w" or perms[3:4] != b"p":
                continue
            if len(fields) > 5 and fields[5].decode(errors="replace") in _SKIPPED:
                continue
            start, end = (int(x, 16) for x in fields[0].split(b"-"))
            found.append((start // PAGE, (end - start) // PAGE))
    return found


def _written_pages(pid: int) -> set[int]:
    """Page numbers, among this process's private writable mappings, that ``pid`` holds alone:
    those the child copied (or first touched) since its fork."""
    pages: set[int] = set()
    child = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        for first, count in _private_writable():
            theirs = os.pread(child, count * 8, first * 8)[7::8].translate(_PRESENT_ALONE)
            for match in _RUNS.finditer(theirs):
                pages.update(range(first + match.start(), first + match.end()))
    finally:
        os.close(child)
    return pages


def _runs(pages: list[int]) -> list[tuple[int, int]]:
    """Sorted page numbers as (address, length) ranges of consecutive pages."""
    ranges: list[tuple[int, int]] = []
    for page in pages:
        if ranges and ranges[-1][0] + ranges[-1][1] == page * PAGE:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + PAGE)
        else:
            ranges.append((page * PAGE, PAGE))
    return ranges
