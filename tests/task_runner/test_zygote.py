"""The zygote's supervision in-process: what it answers a try whose end the database refused."""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

from flowctl.task_runner.supervised import Supervised
from flowctl.task_runner.zygote import Zygote

from tests.task_runner.conftest import World


class _RefusingStore:
    """The test's real store, except that writing ends fails as if the database had gone away."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def finish_tries(self, ends: Any, wake: str) -> list[bool]:
        raise ConnectionError("server closed the connection unexpectedly")

    def finish_and_follow(self, *args: Any) -> Any:  # the call a lone success makes first
        raise ConnectionError("server closed the connection unexpectedly")


def _queued_try(world: World) -> Any:
    """The workload of a queued EmptyOperator try of a one-task DAG."""
    fileloc = world.write_dags("one", '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
with DAG("one", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="t")
''')
    return world.queue(world.make_run("one"), "t", fileloc)


def test_an_end_the_database_refused_is_answered_none_so_the_try_writes_it_itself(world: World) -> None:
    workload = _queued_try(world)
    now = datetime.now(timezone.utc)
    claim = world.store.start_tries([(workload.key, workload.try_number)], "host", os.getpid(), now)[0]
    events_r, events_w = os.pipe()
    answers_r, answers_w = os.pipe()
    zygote = Zygote(world.settings, events_w, _RefusingStore(world.store))
    child = Supervised(1, workload, claim, None, answers_w, next_beat=0.0)
    zygote._record([(child, {"state": "success", "now": now.isoformat(), "fields": {}, "dates": [], "xcoms": {}})])
    assert json.loads(os.read(answers_r, 100)) == {"won": None}
    assert not child.ended  # still heartbeated until the try has written its end
    assert world.store.get_task_instance(workload.key).state == "running"
    for fd in (events_r, events_w, answers_r, answers_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)


class _DroppedStore(_RefusingStore):
    """Heartbeats fail as the agent reports a connection PostgreSQL terminated."""

    def heartbeat_tries(self, beats: Any, now: Any) -> list[bool]:
        raise RuntimeError("OperationalError: (psycopg2.OperationalError) server closed the connection "
                           "unexpectedly\n\tThis probably means...\n[SQL: UPDATE task_instance SET pid=...]")


def test_a_heartbeat_the_database_dropped_is_one_line_on_stderr_and_beats_again_soon(
        world: World, capfd: Any) -> None:
    workload = _queued_try(world)
    now = datetime.now(timezone.utc)
    claim = world.store.start_tries([(workload.key, workload.try_number)], "host", os.getpid(), now)[0]
    events_r, events_w = os.pipe()
    zygote = Zygote(world.settings, events_w, _DroppedStore(world.store))
    child = Supervised(1, workload, claim, None, -1, next_beat=0.0)
    zygote.children[1] = child
    zygote._heartbeat()
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "server closed the connection unexpectedly" in lines[0], lines
    assert 0 < child.next_beat
    for fd in (events_r, events_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_new_try_closes_the_pipes_the_zygote_holds_to_the_other_tries(world: World) -> None:
    events_r, events_w = os.pipe()
    zygote = Zygote(world.settings, events_w, None)
    theirs_r, ours_w = os.pipe()  # as if a sibling's results pipe: the zygote reads it
    ours_r, theirs_w = os.pipe()  # as if a sibling's answers pipe: the zygote writes it
    zygote.pipe_fds.update((theirs_r, theirs_w))
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            zygote._become_worker()
            os.write(report_w, json.dumps([fd for fd in (theirs_r, theirs_w, ours_r, ours_w)
                                           if _is_open(fd)]).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert json.loads(os.read(report_r, 100)) == [ours_r, ours_w]
    for fd in (events_r, events_w, theirs_r, ours_w, ours_r, theirs_w, report_r, report_w,
               zygote.wake_r, zygote.wake_w):
        os.close(fd)


def test_the_zygote_forgets_the_pipes_of_a_try_it_has_reaped(world: World) -> None:
    workload = _queued_try(world)
    events_r, events_w = os.pipe()
    zygote = Zygote(world.settings, events_w, None)
    [pid] = zygote._fork_all([(1, workload, None)])  # waits for its claim
    assert len(zygote.pipe_fds) == 2
    zygote._hand_over(pid, None, None)  # stale: it ends without running anything
    while zygote.children:
        zygote._read_results(zygote._result_fds())
        zygote._reap()
    assert zygote.pipe_fds == set()
    zygote._flush()
    assert json.loads(os.read(events_r, 1000).splitlines()[-1]) == {"ev": "exited", "id": 1, "pid": pid, "code": 0, "ended": 1}
    for fd in (events_r, events_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)


def test_a_batch_whose_fork_fails_keeps_the_children_forked_before_and_no_pipe_of_the_rest(
        world: World, monkeypatch: Any) -> None:
    workload = _queued_try(world)
    events_r, events_w = os.pipe()
    zygote = Zygote(world.settings, events_w, None)
    real_fork, forks = os.fork, []

    def fork_twice() -> int:
        if len(forks) == 1:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        forks.append(real_fork())
        return forks[-1]

    monkeypatch.setattr(os, "fork", fork_twice)
    try:
        zygote._fork_all([(1, workload, None), (2, workload, None), (3, workload, None)])
    except BlockingIOError:
        pass
    else:  # pragma: no cover - the child never gets here
        raise AssertionError("the failed fork was not reported")
    monkeypatch.setattr(os, "fork", real_fork)
    assert list(zygote.children) == forks
    assert len(zygote.pipe_fds) == 2  # the one child's; the others' pipes are closed
    zygote._hand_over(forks[0], None, None)
    while zygote.children:
        zygote._read_results(zygote._result_fds())
        zygote._reap()
    assert zygote.pipe_fds == set()
    for fd in (events_r, events_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)


class _CallsSeen:
    """The test's real store, noting which verbs the zygote calls; ``fail``: these raise as if the
    connection to the agent broke."""

    def __init__(self, store: Any, fail: frozenset[str] = frozenset()) -> None:
        self._store, self._fail, self.calls = store, fail, []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        if name in self._fail:
            def broken(*args: Any) -> Any:
                raise ConnectionError("the task agent closed the connection before answering")
            return broken
        return getattr(self._store, name)


def _end_while_one_waits(world: World, store: Any, learner: bool = False,
                         ) -> tuple[Any, Any, dict[str, Any], list[Any], int]:
    """parallelism 1: a running try ends, its end written through ``store``, while another waits
    for its slot. Returns both workloads, the answer the ending try got, and the waiting tries and
    number of children right after the end was recorded; once every child forked here has exited.
    ``learner``: the ending try is a learner whose end comes on its pipe (its pages are sampled)."""
    fileloc = world.write_dags("two", '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
with DAG("two", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="first")
    EmptyOperator(task_id="second")
''')
    run = world.make_run("two")
    first, second = world.queue(run, "first", fileloc), world.queue(run, "second", fileloc)
    now = datetime.now(timezone.utc)
    claim = world.store.start_tries([(first.key, first.try_number)], "host", os.getpid(), now)[0]
    events_r, events_w = os.pipe()
    answers_r, answers_w = os.pipe()
    zygote = Zygote(world.settings, events_w, store, parallelism=1)
    results_r, results_w = os.pipe()
    os.set_blocking(results_r, False)
    zygote.children[-1] = Supervised(1, first, claim, results_r if learner else None, answers_w, next_beat=0.0,
                                     pid=-1, learner=learner)  # ran elsewhere
    zygote._wait([{"id": 2, "dag_id": "two", "run_id": run.run_id, "task_id": "second", "map_index": -1,
                   "try_number": second.try_number, "fileloc": fileloc}])
    zygote._dispatch()
    assert zygote.waiting and len(zygote.children) == 1  # no free slot
    end = {"state": "success", "now": now.isoformat(), "fields": {}, "dates": [], "xcoms": {}}
    if learner:
        zygote.pages.sample = lambda pid: store.calls.append(f"sample {pid}")  # type: ignore[method-assign]
        os.write(results_w, json.dumps({"end": end}).encode() + b"\n")
        zygote._read_results([results_r])
    else:
        zygote._record([(zygote.children[-1], end)])
    answer = json.loads(os.read(answers_r, 100))
    waiting, children = [w.key for _, w in zygote.waiting], len(zygote.children)
    while len(zygote.children) > 1:
        zygote._read_results(zygote._result_fds())
        zygote._reap()
    for fd in (events_r, events_w, answers_r, answers_w, results_r, results_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)
    return first, second, answer, waiting, children


def test_the_try_waiting_for_a_slot_is_claimed_in_the_call_that_writes_the_end_freeing_it(world: World) -> None:
    from flowctl.core import context

    context._REMEMBERED.clear()
    store = _CallsSeen(world.store)
    first, second, answer, waiting, children = _end_while_one_waits(world, store)
    assert answer == {"won": True} and not waiting and children == 2
    # The zygote computed the run's shared context keys before forking the second try.
    [(timetable, keys)] = context._REMEMBERED.values()
    assert keys["ds"] == "2024-01-01" and timetable is not None
    context._REMEMBERED.clear()
    assert world.store.get_task_instance(first.key).state == "success"
    assert world.store.get_task_instance(second.key).state == "success"
    assert "finish_and_start_tries" in store.calls
    # The second try's own end, written alone (nothing waits: offered to what it made ready, here nothing).
    assert "start_tries" not in store.calls and "finish_and_follow" in store.calls[store.calls.index(
        "finish_and_start_tries") + 1:]


class _Begun(_CallsSeen):
    """As the task agent's client: ``begin`` sends a call, the function it returns waits for the answer."""

    def begin(self, verb: str, *args: Any) -> Any:
        self.calls.append(f"sent {verb}")
        value = getattr(self._store, verb)(*args)

        def answer() -> tuple[Any, Any]:
            self.calls.append(f"answered {verb}")
            return value, None
        return answer


def test_a_learners_pages_are_read_while_the_agent_writes_its_end(world: World) -> None:
    store = _Begun(world.store)
    first, second, answer, waiting, children = _end_while_one_waits(world, store, learner=True)
    assert answer == {"won": True} and not waiting and children == 2
    seen = [call for call in store.calls if call.startswith(("sent", "sample", "answered"))]
    assert seen[:3] == ["sent finish_and_start_tries", "sample -1", "answered finish_and_start_tries"]
    assert world.store.get_task_instance(first.key).state == "success"


def test_if_that_call_fails_the_end_is_written_alone_and_the_waiting_try_claimed_on_its_own(world: World) -> None:
    store = _CallsSeen(world.store, fail=frozenset({"finish_and_start_tries"}))
    first, second, answer, waiting, children = _end_while_one_waits(world, store)
    assert answer == {"won": True} and not waiting and children == 2
    assert world.store.get_task_instance(first.key).state == "success"
    assert world.store.get_task_instance(second.key).state == "success"
    assert store.calls.index("finish_and_start_tries") < store.calls.index("start_tries")


def test_a_waiting_try_is_not_started_in_a_slot_whose_end_the_database_refused(world: World) -> None:
    store = _CallsSeen(world.store, fail=frozenset({"finish_and_start_tries", "finish_tries"}))
    first, second, answer, waiting, children = _end_while_one_waits(world, store)
    assert answer == {"won": None}  # the first try still runs, and writes its end itself
    assert children == 1 and waiting == [second.key]  # parallelism 1 kept: the second still waits
    assert world.store.get_task_instance(second.key).state == "queued"


def test_a_try_handed_its_claim_after_the_fork_leaves_its_runs_context_keys_for_the_next_one(world: World) -> None:
    """A lone try (a chain's) is forked before its claim comes, so it computes the run's context
    keys itself; the zygote computes them once it has handed the claim, for the run's next tries."""
    from flowctl.core import context
    from flowctl.task_runner import wire

    context._REMEMBERED.clear()
    workload = _queued_try(world)
    claim = world.store.start_tries([(workload.key, workload.try_number)], "host", os.getpid(),
                                    datetime.now(timezone.utc))[0]
    events_r, events_w = os.pipe()
    zygote = Zygote(world.settings, events_w, world.store)
    [pid] = zygote._fork_all([(1, workload, None)])
    assert not context._REMEMBERED
    zygote._hand_over(pid, claim, wire.encode(claim))
    [(timetable, keys)] = context._REMEMBERED.values()
    assert keys["ds"] == claim.run.logical_date.date().isoformat()
    context._REMEMBERED.clear()
    while zygote.children:
        zygote._read_results(zygote._result_fds())
        zygote._reap()
    for fd in (events_r, events_w, zygote.wake_r, zygote.wake_w):
        os.close(fd)


# --- a DAG file's import in the zygote is user code: guarded ---------------------------------------

HANGS = "import time\ntime.sleep(3600)\n"
EXITS = "import sys\nsys.exit(0)\n"


def test_a_dag_file_that_hangs_or_exits_at_import_cannot_stop_the_zygote(tmp_path: Any, monkeypatch: Any) -> None:
    """Before: the zygote imported the file with no timeout and caught Exception only: a file
    edited to sleep (or sys.exit) at import froze (or ended) every try of every DAG."""
    import time

    from flowctl.task_runner import children, dagfile

    monkeypatch.setattr(dagfile, "IMPORT_TIMEOUT", 0.5)
    hangs, exits = tmp_path / "hangs.py", tmp_path / "exits.py"
    hangs.write_text(HANGS)
    exits.write_text(EXITS)
    preloaded: dict[str, Any] = {}
    started = time.monotonic()
    children.preload(preloaded, {str(hangs), str(exits)})  # returns: neither SystemExit nor a hang
    assert time.monotonic() - started < 5
    assert set(preloaded) == {str(hangs), str(exits)}  # not tried again until the file changes
    assert not dagfile.imported(str(hangs)) and not dagfile.imported(str(exits))
    from flowctl.core.keys import TaskInstanceKey
    from flowctl.executors.base import Workload

    workload = Workload(TaskInstanceKey("d", "r", "t"), 0, str(hangs))
    started = time.monotonic()
    children.remember_runs([workload], [object()])  # nor tried again for the run's context keys
    assert time.monotonic() - started < 0.4


def test_a_try_whose_dag_file_hangs_at_import_fails_after_the_import_timeout(tmp_path: Any, monkeypatch: Any) -> None:
    import pytest

    from flowctl.task_runner import dagfile

    monkeypatch.setattr(dagfile, "IMPORT_TIMEOUT", 0.5)
    hangs = tmp_path / "hangs_too.py"
    hangs.write_text(HANGS)
    with pytest.raises(BaseException, match=r"timed out after 0.5s \(dagbag_import_timeout\)"):
        dagfile.load_dag(str(hangs), "any")


HELPER_DAG = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
import {helper}

with DAG("uses_helper", schedule=None, start_date=datetime(2024, 1, 1), tags=[{helper}.TAG]) as dag:
    EmptyOperator(task_id="t")
'''


def test_the_zygote_imports_a_dag_file_again_when_a_helper_module_it_imports_changes(tmp_path: Any) -> None:
    """Before: the zygote kept the helper module it had imported first, and every try ran its old
    code until the scheduler restarted (Airflow runs each try in a fresh process)."""
    import os

    from flowctl.task_runner import children, dagfile

    helper = tmp_path / "zygote_helper_mod.py"
    helper.write_text("TAG = 'before'\n")
    dag_file = tmp_path / "uses_helper.py"
    dag_file.write_text(HELPER_DAG.format(helper="zygote_helper_mod"))
    preloaded: dict[str, Any] = {}
    children.preload(preloaded, {str(dag_file)})
    assert dagfile.load_dag(str(dag_file), "uses_helper").tags == ["before"]
    helper.write_text("TAG = 'after'\n")
    os.utime(helper, (helper.stat().st_atime, helper.stat().st_mtime + 5))
    assert not dagfile.imported(str(dag_file))
    assert children.preload(preloaded, {str(dag_file)})
    assert dagfile.load_dag(str(dag_file), "uses_helper").tags == ["after"]
    dagfile.forget(str(dag_file))


ENV_DAG = '''
import os
from datetime import datetime
from flowctl import DAG
from flowctl.operators.empty import EmptyOperator
{setting}
with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    EmptyOperator(task_id="t")
'''


def test_an_environment_variable_a_dag_file_sets_at_import_reaches_its_own_tries_only(tmp_path: Any) -> None:
    """Before: the zygote kept what a DAG file's import put in os.environ, and every later try of
    every DAG inherited it (in Airflow a try imports its own DAG file only)."""
    import os

    from flowctl.task_runner import children, dagfile

    sets, other = tmp_path / "env_sets.py", tmp_path / "env_other.py"
    sets.write_text(ENV_DAG.format(setting="os.environ['FLOWCTL_TEST_IMPORT_ENV'] = 'mine'", dag_id="env_sets"))
    other.write_text(ENV_DAG.format(setting="", dag_id="env_other"))
    try:
        children.preload({}, {str(sets), str(other)})
        assert "FLOWCTL_TEST_IMPORT_ENV" not in os.environ  # the zygote, and so every fork, keeps none
        dagfile.use_environment_of(str(other))
        assert "FLOWCTL_TEST_IMPORT_ENV" not in os.environ
        dagfile.use_environment_of(str(sets))
        assert os.environ["FLOWCTL_TEST_IMPORT_ENV"] == "mine"
    finally:
        os.environ.pop("FLOWCTL_TEST_IMPORT_ENV", None)
        dagfile.forget(str(sets))
        dagfile.forget(str(other))
