"""Several schedulers at once on PostgreSQL: pools and max_active_runs hold, nothing is queued twice."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.keys import RunKey
from flowctl.db.engine import make_engine
from flowctl.db.store import Store
from flowctl.operators.empty import EmptyOperator
from tests.scheduler.helpers import T0, day, sync

pytestmark = pytest.mark.postgres


def _in_threads(count: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_three_concurrent_queuers_never_overfill_a_pool_or_queue_a_task_twice(migrated_pg_url: str) -> None:
    stores = [Store(make_engine(migrated_pg_url)) for _ in range(3)]
    try:
        stores[0].set_pool("narrow", 7, "test")
        with DAG("wide", start_date=T0 - day(1), schedule=None, max_active_tasks=100) as dag:
            for i in range(40):
                EmptyOperator(task_id=f"w{i}", pool="narrow")
        sync(stores[0], dag)
        stores[0].create_run("wide", "r", run_type="manual", logical_date=T0, now=T0, state="running")
        keys = [t.key for t in stores[0].list_task_instances(RunKey("wide", "r"))]
        stores[0].apply_decisions(RunKey("wide", "r"), T0, schedule=keys)
        results = _in_threads(3, lambda i: stores[i].queue_scheduled_tasks(T0, 32, default_max_active_tasks=100))
        queued = [q.key for batch in results for q in batch]
        assert len(queued) == len(set(queued)) == 7
    finally:
        for store in stores:
            store.close()


def test_concurrent_run_starters_honour_max_active_runs(migrated_pg_url: str) -> None:
    stores = [Store(make_engine(migrated_pg_url)) for _ in range(3)]
    try:
        with DAG("one_at_a_time", start_date=T0 - day(1), schedule=None, max_active_runs=1) as dag:
            EmptyOperator(task_id="only")
        sync(stores[0], dag)
        for i in range(5):
            stores[0].create_run("one_at_a_time", f"r{i}", run_type="manual", logical_date=T0 + day(i), now=T0)
        results = _in_threads(3, lambda i: stores[i].start_queued_runs(T0, 16, frozenset({"manual"})))
        assert sum(len(r) for r in results) == 1
    finally:
        for store in stores:
            store.close()
