"""LocalExecutor: tries forked from a warm zygote, events on a pipe, terminate, zygote restart."""
from __future__ import annotations

import dataclasses
import os
import select
import signal
import time
from typing import Any

from flowctl.executors import load_executor
from flowctl.executors.base import Outcome, Workload
from flowctl.executors.local import LocalExecutor

from tests.executors.conftest import collect, wait_for
from tests.task_runner.conftest import World

MANY = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def noop():
    return None

def pause():
    import time
    time.sleep(0.4)

def sleepy():
    import time
    time.sleep(60)

with DAG("many", start_date=datetime(2024, 1, 1), schedule=None):
    for i in range(50):
        PythonOperator(task_id=f"t{i}", python_callable=noop)
    for i in range(4):
        PythonOperator(task_id=f"p{i}", python_callable=pause)
    PythonOperator(task_id="sleepy", python_callable=sleepy)
'''


def _executor(world: World, parallelism: int | None = None) -> LocalExecutor:
    settings = world.settings if parallelism is None else world.settings.replace(core__parallelism=parallelism)
    executor = load_executor("local", settings)
    assert isinstance(executor, LocalExecutor)
    executor.start()
    return executor


def _running(world: World, executor: LocalExecutor, run: Any, task_id: str, fileloc: str) -> Workload:
    """Queue and submit ``task_id``; return its workload once its try is running and the executor
    knows its process (the claim may commit before the zygote reports the pid)."""
    workload = world.queue(run, task_id, fileloc)
    executor.submit(workload)
    wait_for(lambda: world.store.get_task_instance(workload.key).state == "running")
    wait_for(lambda: (executor._read_pids(),
                      any(f.pid for f in executor._inflight.values() if f.workload.key == workload.key))[1])
    return workload


def _deployed(world: World, dag_id: str, source: str, parallelism: int | None = None
              ) -> tuple[str, Any, LocalExecutor]:
    """``source`` (the file of DAG ``dag_id``), a run of it, and a started local executor."""
    fileloc = world.write_dags(dag_id, source)
    return fileloc, world.make_run(dag_id), _executor(world, parallelism=parallelism)


def _many(world: World, parallelism: int) -> tuple[str, Any, LocalExecutor]:
    """The MANY DAG's file, a run of it, and a started local executor of ``parallelism``."""
    return _deployed(world, "many", MANY, parallelism)


def test_the_local_executor_runs_50_noop_tries_and_reports_each_one(world: World) -> None:
    fileloc, run, executor = _deployed(world, "many", MANY)
    try:
        workloads = [world.queue(run, f"t{i}", fileloc) for i in range(50)]
        started = time.monotonic()
        for workload in workloads:
            executor.submit(workload)
        events = collect(executor, 50)
        elapsed = time.monotonic() - started
    finally:
        executor.end()
    assert sorted(e.key.task_id for e in events) == sorted(w.key.task_id for w in workloads)
    assert {e.outcome for e in events} == {Outcome.FINISHED}
    states = {ti.task_id: ti.state for ti in world.store.list_task_instances(run.key)}
    assert all(states[f"t{i}"] == "success" for i in range(50))
    assert not executor.running
    print(f"50 no-op tries: {elapsed:.2f}s")
    assert elapsed < 30, f"50 no-op tries took {elapsed:.1f}s"


def test_the_event_pipe_becomes_readable_when_a_try_ends(world: World) -> None:
    fileloc, run, executor = _deployed(world, "many", MANY)
    try:
        executor.submit(world.queue(run, "t0", fileloc))
        fd = executor.wakeup_fileno()
        assert fd is not None
        readable, _, _ = select.select([fd], [], [], 30)
        assert readable == [fd]
        events = collect(executor, 1)
    finally:
        executor.end()
    assert events[0].outcome is Outcome.FINISHED


def test_terminate_stops_a_running_try_and_it_is_recorded_as_failed(world: World) -> None:
    fileloc, run, executor = _deployed(world, "many", MANY)
    try:
        workload = _running(world, executor, run, "sleepy", fileloc)
        wait_for(lambda: (executor.sync(0.05), executor.terminate(workload.key))[1])
        events = collect(executor, 1, deadline=20)
    finally:
        executor.end()
    assert events[0].key == workload.key
    assert world.store.get_task_instance(workload.key).state == "failed"


def test_a_dead_zygote_is_restarted_and_its_tries_are_reported_crashed(world: World) -> None:
    fileloc, run, executor = _deployed(world, "many", MANY)
    try:
        sleepy = _running(world, executor, run, "sleepy", fileloc)
        assert executor._proc is not None
        os.kill(executor._proc.pid, signal.SIGKILL)
        crashed = collect(executor, 1, deadline=20)
        assert crashed[0].key == sleepy.key and crashed[0].outcome is Outcome.CRASHED
        executor.submit(world.queue(run, "t1", fileloc))
        after = collect(executor, 1)
    finally:
        executor.end()
    assert after[0].outcome is Outcome.FINISHED



def test_a_dag_file_that_ends_its_process_at_import_does_not_end_the_zygote(world: World) -> None:
    """Before: the zygote imported each try's DAG file itself, so a file that called os._exit (or
    crashed the interpreter) at import ended it, and with it every running try of every DAG."""
    import dataclasses

    fileloc, run, executor = _deployed(world, "many", MANY)
    ends_hard = os.path.join(os.path.dirname(fileloc), "ends_hard.py")
    with open(ends_hard, "w") as out:
        out.write("import os\nos._exit(3)\n")
    try:
        sleepy = _running(world, executor, run, "sleepy", fileloc)
        assert executor._proc is not None
        zygote = executor._proc.pid
        executor.submit(dataclasses.replace(world.queue(run, "t1", fileloc), fileloc=ends_hard))
        [crashed] = collect(executor, 1)
        assert crashed.key.task_id == "t1" and crashed.outcome is Outcome.CRASHED  # its own try, alone
        assert executor._proc is not None and executor._proc.pid == zygote and executor._proc.poll() is None
        assert world.store.get_task_instance(sleepy.key).state == "running"
        executor.submit(world.queue(run, "t2", fileloc))
        [after] = collect(executor, 1)
        assert after.key.task_id == "t2" and after.outcome is Outcome.FINISHED
    finally:
        executor.end()



EXITS_QUIETLY = '''
import os
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

with DAG("quiet_exit", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="gone", python_callable=lambda: os._exit(0))
'''


def test_a_try_that_exits_0_without_writing_its_end_is_reported_crashed(world: World) -> None:
    """Before: exit code 0 meant the row held the try's end, so a task calling os._exit(0) was
    reported FINISHED and its row stayed running until the zombie threshold."""
    fileloc, run, executor = _deployed(world, "quiet_exit", EXITS_QUIETLY)
    try:
        executor.submit(world.queue(run, "gone", fileloc))
        [event] = collect(executor, 1)
    finally:
        executor.end()
    assert event.outcome is Outcome.CRASHED and "without writing its end" in event.detail



PAUSES = '''
from datetime import datetime, timedelta
from flowctl import DAG
from flowctl.models.baseoperator import BaseOperator
from flowctl.sensors.python import PythonSensor
from flowctl.triggers.file import FileTrigger

class Defers(BaseOperator):
    def execute(self, context):
        self.defer(trigger=FileTrigger(filepath="/nonexistent/flowctl-never"), method_name="done",
                   timeout=timedelta(hours=1))

    def done(self, context, event=None):
        return event

with DAG("pauses", start_date=datetime(2024, 1, 1), schedule=None):
    Defers(task_id="defers")
    PythonSensor(task_id="pokes", python_callable=lambda: False, mode="reschedule", poke_interval=60)
'''


def test_a_try_that_defers_or_is_rescheduled_ends_normally_for_its_executor(world: World) -> None:
    """Before: a deferral, or a reschedule poke, is written by the try itself, not through the
    zygote, which then reported the try CRASHED ('exited (code 0) without writing its end'): a
    Celery worker failed its task, and that stale report, read after the task resumed in the same
    try number, could fail the resumed try."""
    fileloc, run, executor = _deployed(world, "pauses", PAUSES)
    try:
        workloads = [world.queue(run, task_id, fileloc) for task_id in ("defers", "pokes")]
        for workload in workloads:
            executor.submit(workload)
        events = collect(executor, 2)
    finally:
        executor.end()
    assert sorted((e.key.task_id, e.outcome, e.detail) for e in events) == [
        ("defers", Outcome.FINISHED, ""), ("pokes", Outcome.FINISHED, "")]
    states = {w.key.task_id: world.store.get_task_instance(w.key).state for w in workloads}
    assert states == {"defers": "deferred", "pokes": "up_for_reschedule"}


def test_the_executor_works_in_a_process_holding_over_1024_files(world: World) -> None:
    """Before: select() refused the event pipe once its fd number passed 1024 (a long-lived
    scheduler or a test worker with many files open): ValueError in every sync()."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        fileloc, run, executor = _deployed(world, "many", MANY)
        try:
            assert executor.wakeup_fileno() is not None and executor.wakeup_fileno() > 1024
            executor.submit(world.queue(run, "t1", fileloc))
            assert [e.outcome for e in collect(executor, 1)] == [Outcome.FINISHED]
        finally:
            executor.end()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_celery_executor_is_chosen_by_name_and_an_unknown_one_is_refused_naming_the_others(world: World) -> None:
    import pytest

    from flowctl.core.errors import NotSupportedError

    pytest.importorskip("celery", reason="the celery extra is not installed (pip install -e '.[dev]')")
    assert load_executor("Celery", world.settings).name == "celery"
    with pytest.raises(NotSupportedError, match="unknown executor 'kubernetes'; use local, sequential or celery"):
        load_executor("kubernetes", world.settings)


COUNTED = '''
import os
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

with open(os.path.join(os.path.dirname(__file__), "imports.log"), "a") as log:
    log.write(f"{os.getpid()}\\n")

def count(ti, **_):
    with open(os.path.join(os.path.dirname(__file__), "runs.log"), "a") as out:
        out.write(f"{ti.task_id} {ti.try_number} {os.getpid()}\\n")

with DAG("counted", start_date=datetime(2024, 1, 1), schedule=None):
    for i in range(4):
        PythonOperator(task_id=f"t{i}", python_callable=count)
'''


def test_a_dag_file_is_imported_once_by_the_zygote_and_never_by_the_tries(world: World) -> None:
    fileloc, run, executor = _deployed(world, "counted", COUNTED)
    try:
        assert executor._proc is not None
        zygote = executor._proc.pid
        for i in range(3):  # one after the other: each may go to an idle pre-forked spare
            executor.submit(world.queue(run, f"t{i}", fileloc))
            assert [e.outcome for e in collect(executor, 1)] == [Outcome.FINISHED]
    finally:
        executor.end()
    imports = [int(pid) for pid in (world.folder / "imports.log").read_text().split() if int(pid) != os.getpid()]
    tries = {int(line.split()[2]) for line in (world.folder / "runs.log").read_text().splitlines()}
    # the zygote's probe imports the file first (a file that ends its process ends only the probe)
    assert len(imports) == 2 and zygote in imports, f"imported by {imports}, zygote {zygote}"
    assert not tries & set(imports) and len(tries) == 3


SUPERVISED = '''
import time
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def pushes(ti):
    ti.xcom_push(key="explicit", value={"n": 1})
    assert ti.xcom_pull(task_ids=ti.task_id, key="explicit") == {"n": 1}  # its own push, before the end
    return [1, 2, 3]

def slow():
    time.sleep(2)
    return "late"

def forever():
    time.sleep(120)

with DAG("supervised", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="pushes", python_callable=pushes)
    PythonOperator(task_id="slow", python_callable=slow)
    PythonOperator(task_id="forever", python_callable=forever)
'''


def test_the_xcoms_a_supervised_try_pushes_are_written_with_its_end(world: World) -> None:
    fileloc, run, executor = _deployed(world, "supervised", SUPERVISED)
    try:
        workload = world.queue(run, "pushes", fileloc)
        executor.submit(workload)
        assert [e.outcome for e in collect(executor, 1)] == [Outcome.FINISHED]
    finally:
        executor.end()
    assert world.store.get_task_instance(workload.key).state == "success"
    assert world.store.xcom_pull(run.key, "pushes") == [1, 2, 3]
    assert world.store.xcom_pull(run.key, "pushes", key="explicit") == {"n": 1}


def test_a_try_s_row_holds_the_pid_of_its_own_process_once_it_heartbeats_and_at_its_end(world: World) -> None:
    """The claim is made before the fork (it holds the zygote's pid): the first heartbeat and the end
    write the try's own pid, the process a person would signal (Airflow's task instance pid)."""
    fileloc, run, executor = _deployed(world, "supervised", SUPERVISED)
    try:
        slow = _running(world, executor, run, "slow", fileloc)
        [child] = [f.pid for f in executor._inflight.values() if f.workload.key == slow.key]
        zygote = executor._proc.pid  # type: ignore[union-attr]
        assert child is not None and child != zygote
        wait_for(lambda: world.store.get_task_instance(slow.key).pid == child)  # heartbeats every 0.2 s here
        quick = world.queue(run, "pushes", fileloc)
        executor.submit(quick)
        wait_for(lambda: world.store.get_task_instance(quick.key).state == "success")
        wait_for(lambda: world.store.get_task_instance(slow.key).state == "success", deadline=30)
    finally:
        executor.end()
    assert world.store.get_task_instance(quick.key).pid not in (None, child, zygote, os.getpid())
    assert world.store.get_task_instance(slow.key).pid == child
    assert [t.pid for t in world.store.list_tries(slow.key)] == [child]  # the try's history row too


def test_after_end_the_zygote_still_records_the_tries_running_then_and_exits(world: World) -> None:
    fileloc, run, executor = _deployed(world, "supervised", SUPERVISED)
    workload = _running(world, executor, run, "slow", fileloc)
    zygote = executor._proc
    assert zygote is not None
    executor.end()  # the scheduler stops while the try runs
    wait_for(lambda: world.store.get_task_instance(workload.key).state == "success", deadline=30)
    assert world.store.xcom_pull(run.key, "slow") == "late"
    wait_for(lambda: zygote.poll() is not None, deadline=10)


def test_a_try_whose_row_no_longer_runs_is_stopped_at_the_next_heartbeat(world: World) -> None:
    fileloc, run, executor = _deployed(world, "supervised", SUPERVISED)
    try:
        workload = _running(world, executor, run, "forever", fileloc)
        assert world.store.set_task_state_manually(workload.key, "running", "failed")  # marked by a person
        events = collect(executor, 1, deadline=30)  # heartbeats every 0.5 s here
    finally:
        executor.end()
    assert events[0].key == workload.key
    assert world.store.get_task_instance(workload.key).state == "failed"
    assert "terminated" in world.log_text(workload.key, 1)


def test_a_try_that_starts_does_not_wake_the_scheduler_only_one_that_ends_does(world: World) -> None:
    fileloc, run, executor = _deployed(world, "supervised", SUPERVISED)
    try:
        workload = _running(world, executor, run, "slow", fileloc)
        fd = executor.wakeup_fileno()
        assert fd is not None
        assert select.select([fd], [], [], 0.3)[0] == [], "a try that started woke the scheduler"
        assert select.select([fd], [], [], 30)[0] == [fd]  # its end does
        assert [(e.key, e.outcome) for e in collect(executor, 1)] == [(workload.key, Outcome.FINISHED)]
    finally:
        executor.end()


def test_starting_the_executor_again_keeps_its_one_worker_parent(world: World) -> None:
    executor = _executor(world)
    try:
        first = executor._proc
        executor.start()  # the scheduler CLI starts it early; Scheduler.start starts it again
        assert executor._proc is first and first is not None and first.poll() is None
    finally:
        executor.end()


def test_a_workload_sent_twice_runs_once_alone_or_with_others(world: World) -> None:
    fileloc, run, executor = _deployed(world, "counted", COUNTED)
    try:
        alone = world.queue(run, "t0", fileloc)
        executor.submit(alone)  # a try alone is forked before its claim is back ...
        assert [e.outcome for e in collect(executor, 1)] == [Outcome.FINISHED]
        executor.submit(alone)  # ... and a stale one is told so and runs nothing
        assert [e.outcome for e in collect(executor, 1)] == [Outcome.FINISHED]
        together = [world.queue(run, f"t{i}", fileloc) for i in (1, 2, 3)]
        for workload in together + together:  # tries that come together are forked with their claims
            executor.submit(workload)
        assert {e.outcome for e in collect(executor, 6)} == {Outcome.FINISHED}
    finally:
        executor.end()
    ran = sorted(line.rsplit(" ", 1)[0] for line in (world.folder / "runs.log").read_text().splitlines())
    assert ran == ["t0 1", "t1 1", "t2 1", "t3 1"]
    assert {ti.state for ti in world.store.list_task_instances(run.key)} == {"success"}


def _state(world: World, workload: Workload) -> str:
    return world.store.get_task_instance(workload.key).state


def test_parallelism_tries_run_at_once_and_as_many_again_wait_in_the_zygote(world: World) -> None:
    fileloc, run, executor = _many(world, parallelism=2)
    try:
        assert executor.open_slots == 4
        workloads = [world.queue(run, f"p{i}", fileloc) for i in range(4)]
        for workload in workloads:
            executor.submit(workload)
        assert executor.open_slots == 0
        most, events = 0, []
        deadline = time.monotonic() + 60
        while len(events) < 4:
            assert time.monotonic() < deadline, events
            # One query: a snapshot (tries that end and start in one transaction are never both seen running).
            most = max(most, sum(ti.state == "running" for ti in world.store.list_task_instances(run.key)))
            events += executor.sync(timeout=0.02)
    finally:
        executor.end()
    assert most == 2  # never more than parallelism, and the waiting ones started as slots freed
    assert {e.outcome for e in events} == {Outcome.FINISHED}
    assert {_state(world, w) for w in workloads} == {"success"}


def test_a_waiting_try_of_higher_priority_weight_starts_first(world: World) -> None:
    fileloc, run, executor = _many(world, parallelism=1)
    try:
        blocker = _running(world, executor, run, "p0", fileloc)
        low = dataclasses.replace(world.queue(run, "p1", fileloc), priority_weight=1)
        high = dataclasses.replace(world.queue(run, "p2", fileloc), priority_weight=5)
        executor.submit(low)
        executor.submit(high)
        collect(executor, 3)
    finally:
        executor.end()
    tis = {w.key.task_id: world.store.get_task_instance(w.key) for w in (blocker, low, high)}
    assert {ti.state for ti in tis.values()} == {"success"}
    assert tis["p0"].end_date <= tis["p2"].start_date <= tis["p1"].start_date


def test_tries_still_waiting_when_the_executor_ends_stay_queued_for_the_next_scheduler(world: World) -> None:
    fileloc, run, executor = _many(world, parallelism=1)
    running = _running(world, executor, run, "p0", fileloc)
    waiting = world.queue(run, "p1", fileloc)
    executor.submit(waiting)
    executor.end()  # the zygote finishes p0, starts nothing more, and exits
    wait_for(lambda: _state(world, running) == "success")
    time.sleep(0.5)
    ti = world.store.get_task_instance(waiting.key)
    assert (ti.state, ti.try_number) == ("queued", waiting.try_number)


def test_a_dead_zygote_hands_the_tries_it_had_not_started_to_the_next_one(world: World) -> None:
    fileloc, run, executor = _many(world, parallelism=1)
    try:
        _running(world, executor, run, "sleepy", fileloc)
        waiting = world.queue(run, "p1", fileloc)
        executor.submit(waiting)
        time.sleep(0.3)  # it reached the zygote, which keeps it until a slot frees
        assert executor._proc is not None
        os.kill(executor._proc.pid, signal.SIGKILL)
        events = {e.key.task_id: e for e in collect(executor, 2, deadline=30)}
    finally:
        executor.end()
    assert events["sleepy"].outcome is Outcome.CRASHED
    assert events["p1"].outcome is Outcome.FINISHED
    assert _state(world, waiting) == "success"


PROCESS = '''
import random, signal, subprocess
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator

def look():
    blocked = sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))
    echo = subprocess.run(["sh", "-c", "sleep 0.05 & wait; echo done"], capture_output=True, text=True).stdout
    return {"random": random.getrandbits(64), "blocked": blocked, "echo": echo.strip()}

with DAG("process", start_date=datetime(2024, 1, 1), schedule=None):
    for i in range(4):
        PythonOperator(task_id=f"t{i}", python_callable=look)
'''


def test_tries_forked_together_each_get_a_process_as_os_fork_leaves_it(world: World) -> None:
    fileloc, run, executor = _deployed(world, "process", PROCESS)
    try:
        for i in range(4):  # together: forked in one batch, with their claims
            executor.submit(world.queue(run, f"t{i}", fileloc))
        assert {e.outcome for e in collect(executor, 4)} == {Outcome.FINISHED}
    finally:
        executor.end()
    seen = [world.store.xcom_pull(run.key, f"t{i}") for i in range(4)]
    assert [(s["blocked"], s["echo"]) for s in seen] == [([], "done")] * 4
    assert len({s["random"] for s in seen}) == 4  # random is reseeded in each child


AMSTERDAM = '''
from datetime import datetime
from flowctl import DAG
from flowctl.operators.python import PythonOperator
from flowctl.utils import timezone

def report(dag, data_interval_start, data_interval_end, ts):
    return {"timezone": dag.timezone, "start_date": dag.start_date.isoformat(),
            "start": data_interval_start.in_timezone(dag.timezone).isoformat(),
            "end": data_interval_end.in_timezone(dag.timezone).isoformat(), "ts": ts,
            "helper": timezone.datetime(2024, 7, 1, 6).isoformat()}

with DAG("amsterdam", start_date=datetime(2024, 1, 1), schedule="0 6 * * *"):
    PythonOperator(task_id="report", python_callable=report)
'''


def test_a_try_imports_naive_dates_in_the_default_timezone_the_zygote_took_from_its_settings(
        world: World) -> None:
    """The zygote sets ``[core] default_timezone`` once, at its start (its settings come through the
    environment; nothing is done per try): the try's DAG and context agree with the scheduler's run."""
    from datetime import datetime, timezone

    from flowctl.core.timezones import use_default_timezone

    use_default_timezone("Europe/Amsterdam")  # the DAG processor's view, which the stored DAG comes from
    fileloc = world.write_dags("amsterdam", AMSTERDAM)
    use_default_timezone("utc")  # the zygote must not inherit it from here: it is a fresh interpreter
    start, end = datetime(2024, 3, 30, 5, tzinfo=timezone.utc), datetime(2024, 3, 31, 4, tzinfo=timezone.utc)
    run = world.store.create_run("amsterdam", "scheduled__2024-03-30T05:00:00+00:00", run_type="scheduled",
                                 logical_date=start, now=end, state="running", data_interval=(start, end))
    executor = _executor(dataclasses.replace(world, settings=world.settings.replace(
        core__default_timezone="Europe/Amsterdam")))
    try:
        workload = world.queue(run, "report", fileloc)
        executor.submit(workload)
        assert [e.outcome for e in collect(executor, 1)] == [Outcome.FINISHED]
    finally:
        executor.end()
    assert world.store.get_task_instance(workload.key).state == "success"
    assert world.store.xcom_pull(run.key, "report") == {
        "timezone": "Europe/Amsterdam", "start_date": "2024-01-01T00:00:00+01:00",
        "start": "2024-03-30T06:00:00+01:00", "end": "2024-03-31T06:00:00+02:00",
        "ts": "2024-03-30T05:00:00+00:00", "helper": "2024-07-01T06:00:00+02:00"}
