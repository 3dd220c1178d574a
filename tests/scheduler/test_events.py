"""Mapping expansion, wake-ups and the real-clock loop, on a real Store."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flowctl.core.dag import DAG
from flowctl.core.keys import RunKey
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
