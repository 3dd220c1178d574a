"""The zygote's heap made immortal (CPython 3.12+): forked tries stop copying the pages they only read."""
from __future__ import annotations

import gc
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowctl.task_runner import immortal

MODULE = Path(immortal.__file__)

#: Run by a CPython 3.12 or 3.13 with nothing but the standard library: immortal.py is loaded from its path.
CHECK = r'''
import gc, importlib.util, io, os, resource, sys, weakref

spec = importlib.util.spec_from_file_location("immortal", sys.argv[1])
immortal = importlib.util.module_from_spec(spec)
spec.loader.exec_module(immortal)

class Record:
    def __init__(self, i):
        self.key, self.values = str(i), [i, float(i), (i, "x" * (i % 7))]

records = [Record(i) for i in range(20000)]
table = {r.key: r for r in records}
log = open(os.devnull, "w")
log_ref = weakref.ref(log)
gc.freeze()

def pages_a_reading_child_copies():
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    pid = os.fork()
    if pid == 0:
        total = 0
        for r in records:
            total += len(r.key) + len(r.values) + len(table[r.key].values[2][1])
        os._exit(0 if total else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before

mortal = pages_a_reading_child_copies()
count = immortal.immortalize_heap()
after = pages_a_reading_child_copies()
assert count > 40000, count
assert after * 3 < mortal, (mortal, after)
assert sys.getrefcount(records[0]) >= 2**31 and sys.getrefcount(Record) >= 2**31
records.append(Record(-1)); table["new"] = records[-1]; records[0].values.append("more")  # still plain objects
assert len(records) == 20001 and table["new"].key == "-1" and records[0].values[-1] == "more"
assert gc.get_freeze_count() > 0  # left frozen, out of the collector's way
del log
assert log_ref() is None, "a file must stay mortal: dropping it closes it"
later = Record(0)
later_ref = weakref.ref(later)
del later
assert later_ref() is None, "what is made afterwards is freed as usual"
print("ok", mortal, after)
'''


def _interpreters() -> list[str]:
    """CPython 3.12 / 3.13 interpreters on this machine (PATH, then pyenv's)."""
    found = [p for p in (shutil.which("python3.12"), shutil.which("python3.13")) if p]
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found += sorted(glob.glob(os.path.join(root, "versions", "3.1[23].*", "bin", "python3")))
    usable = []
    for path in found:
        probe = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] in ((3, 12), (3, 13)))"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            usable.append(path)
    return usable


def test_where_immortal_objects_are_not_known_nothing_changes() -> None:
    if immortal.supported():
        pytest.skip("this interpreter has immortal objects: see the test below")
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        sample = ["a", "list"]
        count = sys.getrefcount(sample)
        assert immortal.immortalize_heap() == 0
        assert sys.getrefcount(sample) == count and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_on_python_3_12_and_3_13_a_forked_reader_copies_far_fewer_pages_and_objects_still_behave() -> None:
    interpreters = _interpreters()
    if not interpreters:
        pytest.skip("no CPython 3.12 or 3.13 on this machine (immortal objects need one)")
    for python in interpreters:
        done = subprocess.run([python, "-c", CHECK, str(MODULE)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.startswith("ok"), f"{python}: {done.stdout}{done.stderr}"


#: Run by this interpreter in a fresh process: a heap made of the test's objects only, as a zygote's
#: after its imports (a test worker that ran hundreds of tests first holds more holes than the fillers' cap).
HOLES = r'''
import os, resource, sys

from flowctl.task_runner import immortal

def pages_a_child_allocating_copies(count):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    pid = os.fork()
    if pid == 0:
        made = [bytes(30) for _ in range(count)]  # 63 bytes each: the 64-byte size class
        os._exit(0 if len(made) == count else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before

def copied(count):  # the least of three children: a fork's own faults vary by some tens of pages
    return min(pages_a_child_allocating_copies(count) for _ in range(3))

kept = [bytes(30) for _ in range(60_000)]
del kept[::4]  # 15,000 holes, one block in four, over some 940 pages
scattered = copied(5_000) - copied(0)
filled = immortal.fill_pool_holes()
compact = copied(5_000) - copied(0)
print(scattered, compact, filled, immortal._free_blocks_by_size().get(64, 0))
'''


def test_once_the_holes_of_the_heap_are_filled_a_forked_try_allocates_on_fresh_pages() -> None:
    done = subprocess.run([sys.executable, "-c", HOLES], capture_output=True, text=True, timeout=120,
                          cwd=MODULE.parents[2])
    assert done.returncode == 0, done.stderr
    scattered, compact, filled, left = (int(n) for n in done.stdout.split())
    assert filled >= 15_000
    assert compact * 2 < scattered, (scattered, compact)
    assert left < 1_000  # what is left is in fresh pools


def test_the_fillers_stop_at_their_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(immortal, "_FILLERS", [])
    monkeypatch.setattr(immortal, "MAX_FILLERS", 1_000)
    kept = [bytes(30) for _ in range(20_000)]
    del kept[::4]  # 5,000 holes of 64 bytes: more than the cap
    immortal.fill_pool_holes()
    assert len(immortal._FILLERS) <= 1_000
