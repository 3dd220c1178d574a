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
from tests.scheduler.helpers import T0, InlineExecutor, day, settings, sync

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
        pg_store: Any, tmp_path: Path) -> None:
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
