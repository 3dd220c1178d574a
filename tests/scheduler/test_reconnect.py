"""The scheduler outlives dropped database connections (no pre-ping: a failed tick is redone)."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flowctl.core.dag import DAG
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.operators.empty import EmptyOperator
from flowctl.scheduler import Scheduler
from tests.scheduler.helpers import T0, InlineExecutor, day, settings, sync, tick_until_idle

pytestmark = pytest.mark.postgres


def _terminate_backends(url: str, keep: set[int]) -> int:
    admin = make_engine(url)
    try:
        with admin.connect() as conn:
            pids = [p for p in conn.execute(sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalars() if p not in keep]
            for pid in pids:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return len(pids)
    finally:
        admin.dispose()


def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_scheduler_whose_connections_were_killed_still_finishes_the_next_run(
        pg_store: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with DAG("reconnect", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    sync(pg_store, dag)
    scheduler = Scheduler(settings(tmp_path), pg_store, InlineExecutor(pg_store))
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            scheduler.run_forever()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    _wait_for(lambda: scheduler.job_id is not None and scheduler._listener is not None, 10)
    url = pg_store.engine.url.render_as_string(hide_password=False)
    assert _terminate_backends(url, set()) >= 1
    other = Store(make_engine(url))  # the test's own connections are alive
    try:
        now = datetime.now(timezone.utc)
        other.create_run("reconnect", "r1", run_type="manual", logical_date=now, now=now, state="queued")
        other.notify_scheduler("trigger")
        _wait_for(lambda: failures or other.get_run("reconnect", "r1").state == "success", 20)
    finally:
        scheduler.stop()
        thread.join(10)
        other.close()
    assert not failures
    lost = [r.getMessage() for r in caplog.records if "connection lost" in r.getMessage()]
    assert lost and all("\n" not in m and "SELECT" not in m and "UPDATE" not in m for m in lost), lost


def test_a_round_that_loses_a_deadlock_is_redone_not_the_end_of_the_scheduler(pg_store: Any, tmp_path: Path) -> None:
    sync(pg_store, _two_task_dag())
    scheduler = Scheduler(settings(tmp_path), pg_store, InlineExecutor(pg_store))
    run = pg_store.create_run("locks", "r1", run_type="manual", logical_date=T0, now=T0, state="queued")
    other_holds_a, round_holds_b = threading.Event(), threading.Event()
    ti = "UPDATE task_instance SET updated_at = now() WHERE run_id = 'r1' AND task_id = :t"

    def other() -> None:  # locks a, then wants b: waits for the round, which then wants a
        with pg_store.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL deadlock_timeout = '5s'"))  # never the side PostgreSQL aborts
            conn.execute(sa.text(ti), {"t": "a"})
            other_holds_a.set()
            round_holds_b.wait(10)
            conn.execute(sa.text(ti), {"t": "b"})

    def deadlocking_round(now: datetime) -> Any:
        with pg_store.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL deadlock_timeout = '200ms'"))  # this side is the one PostgreSQL aborts
            conn.execute(sa.text(ti), {"t": "b"})
            other_holds_a.wait(10)
            round_holds_b.set()
            conn.execute(sa.text(ti), {"t": "a"})
        raise AssertionError("no deadlock")

    thread = threading.Thread(target=other)
    thread.start()
    report = scheduler._guarded(deadlocking_round, T0)
    thread.join(10)
    assert report.next_wakeup is not None and report.next_wakeup > T0  # a pause, then the round again
    tick_until_idle(scheduler, T0)  # and the scheduler carries on
    assert pg_store.get_run("locks", run.run_id).state == "success"


def _two_task_dag() -> DAG:
    with DAG("locks", start_date=T0 - day(1), schedule=None) as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
    return dag
