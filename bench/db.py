"""Benchmark: task-instance state transitions per second through the Store's compare-and-set.

    PYTHONPATH=. .venv/bin/python bench/db.py [--tasks 300] [--repeats 3] [--processes 1,4]
                                              [--databases sqlite,postgres] [--pg-server URL]

Each process owns one run of ``--tasks`` task instances and moves every one
pending -> scheduled -> queued -> running (claim_queued_task) -> success: four
compare-and-set transactions per task instance. All processes start together
(a barrier); the rate is all transitions divided by the wall time from the
first start to the last finish. Each database is a fresh one: a temporary
SQLite file (WAL), or ``flowctl_bench_<random>`` on the PostgreSQL server,
dropped at the end. Prints median, min and max over ``--repeats``.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402

from flowctl.db import migrate  # noqa: E402
from flowctl.db.engine import make_engine  # noqa: E402
from flowctl.db.records import TaskInstanceKey  # noqa: E402
from flowctl.db.store import Store  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
TRANSITIONS_PER_TI = 4


def worker(url: str, run_id: str, tasks: int, barrier: Any, results: Any) -> None:
    """Drive every task instance of one run to success; report (start, end) wall times."""
    store = Store(make_engine(url, pool_size=1))
    keys = [TaskInstanceKey("bench", run_id, f"t{i}") for i in range(tasks)]
    barrier.wait(timeout=120)
    start = time.perf_counter()
    for key in keys:
        now = datetime.now(timezone.utc)
        ok = (store.set_task_state(key, "pending", "scheduled")
              and store.set_task_state(key, "scheduled", "queued", queued_at=now)
              and store.claim_queued_task(key, "bench", 1, now)
              and store.set_task_state(key, "running", "success", end_date=now))
        if not ok:
            raise RuntimeError(f"lost a transition on {key}: nobody else touches it")
    results.put((start, time.perf_counter()))
    store.close()


def one_round(url: str, processes: int, tasks: int, round_no: int) -> float:
    """Transitions per second for one round of ``processes`` workers."""
    store = Store(make_engine(url))
    run_ids = []
    for p in range(processes):
        logical = T0 + timedelta(days=(round_no + 10) * 1000 + processes * 100 + p)
        run = store.create_run("bench", f"r{round_no}_{processes}_{p}", run_type="manual",
                               logical_date=logical, now=logical)
        run_ids.append(run.run_id)
    store.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, r, tasks, barrier, results)) for r in run_ids]
    for proc in procs:
        proc.start()
    spans = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return processes * tasks * TRANSITIONS_PER_TI / elapsed


@contextmanager
def fresh_database(kind: str, pg_server: str, tasks: int) -> Iterator[str]:
    """A migrated empty database of ``kind`` with the bench DAG synced; dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            _prepare(url, tasks)
            yield url
        return
    name = f"flowctl_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = f"{pg_server}/{name}"
        _prepare(url, tasks)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _prepare(url: str, task_count: int) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    store = Store(engine)
    tasks = [{"task_id": f"t{i}"} for i in range(task_count)]
    store.sync_dag({"dag_id": "bench", "tasks": tasks}, "/bench.py", T0)
    store.close()


def main() -> None:
    for kind in ARGS.databases.split(","):
        with fresh_database(kind, ARGS.pg_server, ARGS.tasks) as url:
            for processes in (int(p) for p in ARGS.processes.split(",")):
                one_round(url, processes, min(ARGS.tasks, 20), -processes)  # warm-up
                rates = [one_round(url, processes, ARGS.tasks, r) for r in range(ARGS.repeats)]
                print(f"{kind:8} {processes} process(es): median {statistics.median(rates):8.0f}  "
                      f"min {min(rates):8.0f}  max {max(rates):8.0f}  transitions/s "
                      f"({ARGS.tasks} TIs x {TRANSITIONS_PER_TI} per process, {ARGS.repeats} repeats)", flush=True)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300, help="task instances per process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", default="1,4", help="comma-separated process counts")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--pg-server", default="postgresql+psycopg2://postgres@127.0.0.1:5432")
    return parser.parse_args()


if __name__ == "__main__":
    ARGS = _args()
    main()
