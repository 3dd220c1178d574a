"""The zygote learns which of its pages a try writes, and each new child copies them in one call."""
from __future__ import annotations

import json
import mmap
import os
import resource
import signal
from collections.abc import Callable
from typing import Any

import pytest

from flowctl.task_runner import prefault
from flowctl.task_runner.prefault import PAGE, SAMPLE_EVERY, PageLearner
from flowctl.task_runner.zygote import Zygote

from tests.task_runner.conftest import World

needs_populate = pytest.mark.skipif(
    PageLearner()._call is None,
    reason="this kernel lacks process_madvise(MADV_POPULATE_WRITE) on the caller (Linux 6.13+) or /proc pagemap")


def test_the_first_two_children_learn_then_one_in_sample_every_and_the_next_after_a_change() -> None:
    learner = PageLearner()
    learner._call = object()  # as if supported: only the schedule is looked at here
    assert learner.learners(3) == [True, True, False]
    flags = learner.learners(2 * SAMPLE_EVERY)
    assert sum(flags) == 2 and flags.index(True) == SAMPLE_EVERY - 2  # counted from the last learner
    learner.learn_again()  # a DAG file imported: what the tries touch moved
    assert learner.learners(2) == [True, False]
    learner._call = None  # unsupported: no learners, nothing copied ahead
    assert learner.learners(4) == [False] * 4


def _page_addresses(area: mmap.mmap, indexes: range | list[int]) -> set[int]:
    import ctypes

    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    return {base + index * PAGE for index in indexes}


def _learn_from(learner: PageLearner, area: mmap.mmap, writes: list[int]) -> None:
    """Fork a child that writes one byte into each of these pages of ``area``, and sample it then."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            for index in writes:
                area[index * PAGE] = 200
            os.write(ready_w, b"x")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"x"
        learner.sample(pid)
    finally:
        os.write(go_w, b"x")
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        for fd in (ready_r, ready_w, go_r, go_w):
            os.close(fd)


def _faults_writing(learner: PageLearner, area: mmap.mmap, writes: list[int], populate: bool) -> dict[str, Any]:
    """In a new child (copying the learnt pages first, or not): the faults taken writing these pages,
    and what the area held before the writes."""
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            if populate:
                learner.populate()
            seen = bytes(area[index * PAGE] for index in range(len(area) // PAGE))
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for index in writes:
                area[index * PAGE] = 201
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            os.write(report_w, json.dumps({"faults": faults, "seen": list(seen)}).encode())
        finally:
            os._exit(0)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    report = json.loads(os.read(report_r, 65536))
    os.close(report_r)
    os.close(report_w)
    return report


@needs_populate
def test_pages_two_learners_both_wrote_are_copied_ahead_by_the_next_children_unchanged() -> None:
    area = mmap.mmap(-1, 64 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for index in range(64):
        area[index * PAGE] = index  # present here, so shared with each child until it writes
    learner = PageLearner()
    assert learner.learners(2) == [True, True]
    _learn_from(learner, area, [*range(3, 10), 20])
    assert learner.pages == 0  # one sample is not enough: a page must be written by two tries
    _learn_from(learner, area, [*range(3, 10), 30])
    learnt = {address + offset for address, length in learner.ranges for offset in range(0, length, PAGE)}
    assert _page_addresses(area, range(3, 10)) <= learnt
    assert not _page_addresses(area, [20, 30, 40]) & learnt  # written by one learner only, or none

    plain = _faults_writing(learner, area, list(range(3, 10)), populate=False)
    ahead = _faults_writing(learner, area, list(range(3, 10)), populate=True)
    assert plain["faults"] >= 7  # one copy per page written
    assert ahead["faults"] <= plain["faults"] - 7  # copied before: writing them traps no more
    assert ahead["seen"] == plain["seen"] == list(range(64))  # copying ahead changes no byte


@needs_populate
def test_a_child_that_is_gone_teaches_nothing_and_learning_goes_on() -> None:
    learner = PageLearner()
    assert learner.learners(3) == [True, True, False]  # the first two learners, spent
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        os._exit(0)
    os.waitpid(pid, 0)
    learner.sample(pid)  # reaped: no pagemap to read
    assert learner.pages == 0 and learner._call is not None  # no error, and copying ahead stays on
    assert learner.learners(2) == [True, False]  # the next child learns in its place


def test_where_the_kernel_cannot_copy_ahead_children_are_forked_as_before(monkeypatch: Any) -> None:
    monkeypatch.setattr(prefault, "_SYS_PROCESS_MADVISE", 10**6)  # no such system call: ENOSYS
    learner = PageLearner()
    assert learner._call is None and learner.learners(3) == [False] * 3
    learner.populate()  # nothing to do, no error


@needs_populate
def test_the_zygote_learns_from_its_first_two_tries_and_the_next_ones_still_succeed(world: World) -> None:
    fileloc = world.write_dags("four", '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator
with DAG("four", start_date=datetime(2024, 1, 1), schedule=None):
    for i in range(4):
        PythonOperator(task_id=f"t{i}", python_callable=lambda: None)
''')
    run = world.make_run("four")
    workloads = [world.queue(run, f"t{i}", fileloc) for i in range(4)]
    events_r, events_w = os.pipe()
    zygote = Zygote(world.settings, events_w, world.store, parallelism=1)
    zygote._wait([{"id": i + 1, "dag_id": "four", "run_id": run.run_id, "task_id": w.key.task_id, "map_index": -1,
                   "try_number": w.try_number, "fileloc": fileloc} for i, w in enumerate(workloads)])
    learners: dict[str, bool] = {}
    zygote._dispatch()
    while zygote.children or zygote.waiting:
        for child in zygote.children.values():
            learners.setdefault(child.workload.key.task_id, child.learner)
        zygote._read_results(zygote._result_fds())
        zygote._reap()
        zygote._dispatch()
    assert learners == {"t0": True, "t1": True, "t2": False, "t3": False}
    assert zygote.pages.pages > 50  # the interpreter's and flowctl's pages every try writes
    assert {world.store.get_task_instance(w.key).state for w in workloads} == {"success"}
    for fd in (events_r, events_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)


def _learner_gone_unread(world: World, fork: Callable[[Zygote], int | None],
                         end: Callable[[Zygote, int], None]) -> list[bool]:
    """A zygote whose next child is a learner: fork it, make it go without an end, reap it; which
    of the next two children are learners."""
    events_r, events_w = os.pipe()
    zygote = Zygote(world.settings, events_w, None)
    zygote.pages.learners(2)  # the first two learners, spent
    zygote.pages._forks_until_learner = 1  # the next fork is one
    pid = fork(zygote)
    assert pid is not None and zygote.children[pid].learner
    end(zygote, pid)
    while zygote.children:
        zygote._read_results(zygote._result_fds())
        zygote._reap()
    for fd in (events_r, events_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)
    return zygote.pages.learners(2)


@needs_populate
def test_a_learner_dismissed_as_a_spare_makes_the_next_child_a_learner(world: World) -> None:
    # no follower came: the spare exits without a try
    assert _learner_gone_unread(world, lambda zygote: zygote._fork_spare(),
                                lambda zygote, pid: zygote._hand_spare(pid, None, None, None)) == [True, False]


@needs_populate
def test_after_a_dag_file_import_nothing_is_copied_ahead_until_two_new_learners_ended() -> None:
    area = mmap.mmap(-1, 16 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    area.write(b"x" * len(area))
    learner = PageLearner()
    learner.learners(2)
    _learn_from(learner, area, [1, 2, 3])
    _learn_from(learner, area, [1, 2, 3])
    assert learner.pages >= 3
    learner.forget()
    assert learner.pages == 0 and learner.ranges == []
    assert learner.learners(3) == [True, True, False]
    _learn_from(learner, area, [4, 5])
    assert learner.pages == 0  # one new sample: the old ones are gone
    _learn_from(learner, area, [4, 5, 6])
    learnt = {address + offset for address, length in learner.ranges for offset in range(0, length, PAGE)}
    assert _page_addresses(area, [4, 5]) <= learnt and not _page_addresses(area, [1, 2, 3, 6]) & learnt


@needs_populate
def test_a_learner_that_crashes_before_its_end_makes_the_next_child_a_learner(world: World) -> None:
    workload = _queued_workload(world)
    # it waits for its claim: killed meanwhile
    assert _learner_gone_unread(world, lambda zygote: zygote._fork_all([(1, workload, None)])[0],
                                lambda zygote, pid: os.kill(pid, signal.SIGKILL)) == [True, False]


def _queued_workload(world: World) -> Any:
    fileloc = world.write_dags("one", '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
with DAG("one", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="t")
''')
    return world.queue(world.make_run("one"), "t", fileloc)
