"""Mapping expansion, wake-ups and the real-clock loop, on a real Store."""
from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flowctl.core.dag import DAG
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.python import PythonOperator
from flowctl.scheduler import Scheduler
from tests.scheduler.helpers import T0, InlineExecutor, day, settings, sync, tick_until_idle


def _make() -> list[int]:
    return [1, 2, 3]


def _show(x: Any) -> Any:
    return x


def mapped_dag() -> DAG:
    with DAG("mapped", start_date=T0 - day(1), schedule=None) as dag:
        make = PythonOperator(task_id="make", python_callable=_make)
        shown = PythonOperator.partial(task_id="show", python_callable=_show).expand(op_args=make.output)
        shown >> EmptyOperator(task_id="after")
    return dag


def test_a_mapped_task_expands_to_one_instance_per_upstream_xcom_item(store: Any, tmp_path: Path) -> None:
    sync(store, mapped_dag())
    executor = InlineExecutor(store)
    executor.xcoms["make"] = [[1], [2], [3]]
    scheduler = Scheduler(settings(tmp_path), store, executor)
    scheduler.start(T0)
    store.create_run("mapped", "m1", run_type="manual", logical_date=T0, now=T0, state="queued")
    tick_until_idle(scheduler, T0)
    assert executor.ran == ["make", "show[0]", "show[1]", "show[2]", "after"]
    assert store.get_run("mapped", "m1").state == "success"


def test_a_mapped_task_over_an_empty_list_is_skipped(store: Any, tmp_path: Path) -> None:
    sync(store, mapped_dag())
    executor = InlineExecutor(store)
    executor.xcoms["make"] = []
    scheduler = Scheduler(settings(tmp_path), store, executor)
    scheduler.start(T0)
    store.create_run("mapped", "m1", run_type="manual", logical_date=T0, now=T0, state="queued")
    tick_until_idle(scheduler, T0)
    tis = {t.task_id: t.state for t in store.list_task_instances(RunKey("mapped", "m1"))}
    assert tis == {"make": "success", "show": "skipped", "after": "skipped"}


def test_notify_scheduler_wakes_a_listener_and_never_raises(store: Any) -> None:
    listener = store.scheduler_listener()
    try:
        store.notify_scheduler("trigger")
        deadline = time.monotonic() + 5
        woke = 0
        while time.monotonic() < deadline and not woke:
            import select

            select.select([listener.fileno()], [], [], 0.1)
            woke = listener.drain()
        assert woke >= 1
        assert listener.drain() == 0
    finally:
        listener.close()
    store.notify_scheduler("nobody listening")  # no error


def test_clearing_marking_and_killing_wake_the_scheduler_whoever_calls_them(store: Any) -> None:
    sync(store, mapped_dag())
    store.create_run("mapped", "r1", run_type="manual", logical_date=T0, now=T0, state="running")
    key = TaskInstanceKey("mapped", "r1", "make")
    listener = store.scheduler_listener()
    try:
        for change in (lambda: store.mark_task_instances([key], "success", T0),
                       lambda: store.clear_task_instances([key], T0),
                       lambda: store.kill_runs("mapped", ["running"], T0)):
            assert listener.drain() == 0
            change()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not listener.drain():
                import select

                select.select([listener.fileno()], [], [], 0.1)
            assert listener.reasons == ["tasks changed"]
        assert store.get_task_instance(key).state == "skipped"  # the kill skipped it
        store.mark_task_instances([key], "skipped", T0)  # nothing changed, nobody woken
        time.sleep(0.2)
        assert listener.drain() == 0
    finally:
        listener.close()


def test_run_forever_runs_a_triggered_dag_promptly_and_stops_on_request(store: Any, tmp_path: Path) -> None:
    with DAG("live", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    sync(store, dag)
    executor = InlineExecutor(store)
    scheduler = Scheduler(settings(tmp_path), store, executor)
    thread = threading.Thread(target=scheduler.run_forever, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while scheduler.job_id is None and time.monotonic() < deadline:
            time.sleep(0.01)
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc)
        store.create_run("live", "r1", run_type="manual", logical_date=now, now=now, state="queued")
        store.notify_scheduler("trigger")
        while store.get_run("live", "r1").state != "success" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.get_run("live", "r1").state == "success"
    finally:
        scheduler.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert store.get_job(scheduler.job_id).state == "success"


class _FullExecutor(InlineExecutor):
    """An InlineExecutor with a wake-up pipe, like the local executor's."""

    def __init__(self, store: Any, parallelism: int) -> None:
        super().__init__(store, parallelism)
        self.wake_r, self.wake_w = os.pipe()

    def wakeup_fileno(self) -> int | None:
        return self.wake_r


class _Listener:
    """A listener whose wake-ups are written by the test."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.reasons: list[str] = []

    def fileno(self) -> int:
        return self.r

    def drain(self) -> int:
        self.reasons = os.read(self.r, 512).decode().split(";")
        return len(self.reasons)

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)


def _sleeper(store: Any, tmp_path: Path, running: int) -> tuple[Scheduler, _FullExecutor, _Listener]:
    executor = _FullExecutor(store, parallelism=2)
    executor.running.update(TaskInstanceKey("d", "r", f"t{i}") for i in range(running))
    scheduler = Scheduler(settings(tmp_path), store, executor)
    scheduler._listener = _Listener()
    return scheduler, executor, scheduler._listener


def test_a_task_finished_wake_up_while_the_executor_is_full_waits_for_the_executors_report(
        store: Any, tmp_path: Path) -> None:
    scheduler, executor, listener = _sleeper(store, tmp_path, running=2)
    os.write(listener.w, b"task finished")
    os.write(executor.wake_w, b"x")
    start = datetime.now(timezone.utc)
    assert scheduler._sleep_until(start + timedelta(seconds=5), lambda: datetime.now(timezone.utc)) is True
    assert listener.reasons == ["task finished"]  # drained, and the executor's report is what woke us


def test_a_task_finished_wake_up_with_open_executor_slots_reacts_at_once(store: Any, tmp_path: Path) -> None:
    scheduler, _, listener = _sleeper(store, tmp_path, running=1)
    os.write(listener.w, b"task finished")
    start = datetime.now(timezone.utc)
    assert scheduler._sleep_until(start + timedelta(seconds=5), lambda: datetime.now(timezone.utc)) is True
    assert datetime.now(timezone.utc) - start < timedelta(seconds=4)


def test_a_task_finished_wake_up_while_the_executor_is_full_does_not_end_the_sleep(
        store: Any, tmp_path: Path) -> None:
    scheduler, _, listener = _sleeper(store, tmp_path, running=2)
    os.write(listener.w, b"task finished")
    start = datetime.now(timezone.utc)
    assert scheduler._sleep_until(start + timedelta(seconds=0.3), lambda: datetime.now(timezone.utc)) is False
    assert listener.reasons == ["task finished"]


def test_the_examination_counts_the_task_instances_it_saw_or_made_scheduled(store: Any, tmp_path: Path) -> None:
    with DAG("wide", start_date=T0 - day(1), schedule=None) as dag:
        for i in range(3):
            EmptyOperator(task_id=f"root{i}") >> EmptyOperator(task_id=f"after{i}")
    sync(store, dag)
    scheduler = Scheduler(settings(tmp_path), store, InlineExecutor(store))
    store.create_run("wide", "r1", run_type="manual", logical_date=T0, now=T0, state="running")
    assert scheduler.examiner.examine(T0).scheduled == 3  # made
    assert scheduler.examiner.examine(T0).scheduled == 3  # saw
    store.create_run("wide", "r2", run_type="manual", logical_date=T0 + day(1), now=T0, state="queued")
    assert scheduler.examiner.examine(T0).scheduled == 3  # a queued run is not examined


class _NotifyingExecutor(InlineExecutor):
    """An InlineExecutor that promises its ends wake the scheduler (but, being a test double, does not)."""

    ends_notify_scheduler = True


class _ReliableListener(_Listener):
    reliable = True


def _reactor(store: Any, tmp_path: Path, dag: DAG, listener: _Listener,
             parallelism: int = 32) -> tuple[Scheduler, InlineExecutor]:
    sync(store, dag)
    executor = _NotifyingExecutor(store, parallelism)
    scheduler = Scheduler(settings(tmp_path), store, executor)
    scheduler._listener = listener
    store.create_run(dag.dag_id, "r1", run_type="manual", logical_date=T0, now=T0, state="queued")
    scheduler.tick(T0)  # starts the run
    scheduler.tick(T0)  # queues its first task(s); the executor runs them at its next sync
    return scheduler, executor


def _states(store: Any, dag_id: str) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in store.list_task_instances(RunKey(dag_id, "r1"))}


def _chain(dag_id: str) -> DAG:
    with DAG(dag_id, start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    return dag


def test_a_clean_exit_alone_is_not_examined_again_the_wake_up_of_its_end_is(store: Any, tmp_path: Path) -> None:
    listener = _ReliableListener()
    scheduler, _ = _reactor(store, tmp_path, _chain("quiet"), listener)
    report = scheduler.react(T0)  # a ends (without the wake-up the executor promised): only its exit is seen
    assert report.events == 1
    assert _states(store, "quiet") == {"a": "success", "b": "pending"}  # nothing examined
    os.write(listener.w, b"task finished")
    assert scheduler._sleep_until(T0 + timedelta(seconds=5), lambda: T0) is True
    scheduler.react(T0)
    assert _states(store, "quiet")["b"] == "queued"


def test_a_crashed_exit_is_examined_at_once(store: Any, tmp_path: Path) -> None:
    scheduler, executor = _reactor(store, tmp_path, _chain("crashy"), _ReliableListener())
    executor.behaviour["a"] = "crash"
    scheduler.react(T0)
    assert _states(store, "crashy") == {"a": "failed", "b": "upstream_failed"}


def test_without_a_reliable_listener_every_exit_is_examined(store: Any, tmp_path: Path) -> None:
    scheduler, _ = _reactor(store, tmp_path, _chain("datagrams"), _Listener())  # like SQLite's socket
    scheduler.react(T0)
    assert _states(store, "datagrams") == {"a": "success", "b": "queued"}


def test_an_exit_that_frees_a_slot_a_scheduled_task_waits_for_is_examined(store: Any, tmp_path: Path) -> None:
    with DAG("narrow", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="a")
        EmptyOperator(task_id="b")
    scheduler, _ = _reactor(store, tmp_path, dag, _ReliableListener(), parallelism=1)
    assert sorted(_states(store, "narrow").values()) == ["queued", "scheduled"]
    scheduler.react(T0)
    assert sorted(_states(store, "narrow").values()) == ["queued", "success"]


class _NotifyingWakingExecutor(_FullExecutor):
    ends_notify_scheduler = True


def test_a_clean_exit_alone_neither_waits_for_more_events_nor_delays_the_next_round(
        store: Any, tmp_path: Path, monkeypatch: Any) -> None:
    sync(store, _chain("prompt"))
    store.create_run("prompt", "r1", run_type="manual", logical_date=T0, now=T0, state="queued")
    executor = _NotifyingWakingExecutor(store, parallelism=4)
    listener = _ReliableListener()
    monkeypatch.setattr(store, "scheduler_listener", lambda: listener)
    scheduler = Scheduler(settings(tmp_path), store, executor)
    gathered: list[datetime] = []
    monkeypatch.setattr(scheduler, "_gather_events", lambda last, clock: gathered.append(last))
    os.write(executor.wake_w, b"x")  # the executor reports (a's exit) as soon as the loop sleeps
    rounds = scheduler.run_forever(num_runs=3, clock=lambda: T0)  # start the run, queue a, a's exit
    assert rounds == 3
    assert _states(store, "prompt") == {"a": "success", "b": "pending"}  # the exit alone was not examined
    assert gathered == []  # and nothing was waited for


def test_after_a_round_that_failed_the_next_one_examines_even_for_a_clean_exit(store: Any, tmp_path: Path) -> None:
    scheduler, _ = _reactor(store, tmp_path, _chain("retried"), _ReliableListener())
    assert not scheduler._examination_needed([])  # the tick examined: a clean exit alone would not be

    class Dropped(Exception):
        connection_invalidated = True

    def dropped(now: datetime) -> Any:
        raise Dropped("server closed the connection unexpectedly")

    scheduler._guarded(dropped, T0)  # a round that failed before its examination was done
    scheduler.react(T0)  # a ends cleanly: examined all the same, so b is queued
    assert _states(store, "retried") == {"a": "success", "b": "queued"}
