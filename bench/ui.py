"""Web UI at scale: server time (p50 / p95) of the main pages on a big installation.

Fills a fresh database (SQLite file by default, ``--db postgres`` for the
PostgreSQL server at 127.0.0.1:5432) with ``--dags`` DAGs (5,000; each with one
finished run of 3 task instances) and one DAG of ``--tasks`` tasks (100, in 10
task groups) with ``--runs`` runs (10,000, so a million task instances), bulk
inserted with SQL through ``Store.engine``. Then times each page through
Flask's test client (a logged-in admin), ``--repeat`` times after a warm-up,
and prints p50 / p95 in milliseconds. Goal: p95 < 300 ms for every page.

    .venv/bin/python bench/ui.py [--db sqlite|postgres] [--dags 5000] [--runs 10000] [--repeat 30]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from flowctl.core.dag import DAG  # noqa: E402
from flowctl.dag_processing.serialization import dag_hash, serialize_dag  # noqa: E402
from flowctl.db import migrate  # noqa: E402
from flowctl.db.engine import make_engine  # noqa: E402
from flowctl.db.store import Store  # noqa: E402
from flowctl.db.tables import DagRow, DagRunRow, SerializedDagRow, TaskInstanceRow  # noqa: E402
from flowctl.db.users import NewUser  # noqa: E402
from flowctl.operators.empty import EmptyOperator  # noqa: E402
from flowctl.settings import Settings  # noqa: E402
from flowctl.utils.task_group import TaskGroup  # noqa: E402
from flowctl.web.app import create_app  # noqa: E402

T0 = datetime(2020, 1, 1, tzinfo=timezone.utc)
BIG = "big_dag"
BATCH = 20_000
PASSWORD = "bench-password-1"
GOAL_MS = 300.0


def small_dag(dag_id: str) -> dict[str, Any]:
    with DAG(dag_id, schedule="@daily", start_date=T0, tags=[f"team{hash(dag_id) % 20}", "bench"]) as dag:
        a, b, c = (EmptyOperator(task_id=t) for t in ("extract", "transform", "load"))
        a >> b >> c
    return serialize_dag(dag)


def big_dag(tasks: int) -> dict[str, Any]:
    groups, per = 10, max(tasks // 10, 1)
    with DAG(BIG, schedule="@hourly", start_date=T0, tags=["bench", "big"]) as dag:
        previous = None
        for g in range(groups):
            with TaskGroup(group_id=f"group{g}") as group:
                chain = [EmptyOperator(task_id=f"step{i}") for i in range(per)]
                for up, down in zip(chain, chain[1:]):
                    up >> down
            if previous is not None:
                previous >> group
            previous = group
    return serialize_dag(dag)


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(store: Store, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    with store.engine.begin() as conn:
        for batch in _batches(rows):
            conn.execute(insert(table), batch)
            count += len(batch)
    return count


def _dag_row(dag_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"dag_id": dag_id, "is_paused": hash(dag_id) % 7 == 0, "is_active": True, "fileloc": f"/dags/{dag_id}.py",
            "owners": "airflow", "tags": data["tags"], "timetable_summary": data["timetable_summary"],
            "has_import_errors": False, "last_parsed_time": T0, "next_dagrun": T0 + timedelta(days=1)}


def _run_row(dag_id: str, logical: datetime, state: str) -> dict[str, Any]:
    return {"dag_id": dag_id, "run_id": f"scheduled__{logical.isoformat()}", "run_type": "scheduled",
            "logical_date": logical, "data_interval_start": logical, "data_interval_end": logical + timedelta(hours=1),
            "state": state, "conf": {}, "queued_at": logical, "start_date": logical,
            "end_date": logical + timedelta(minutes=30), "external_trigger": False, "clear_number": 0,
            "serialized_dag_id": None, "updated_at": logical}


def _ti_row(dag_id: str, run_id: str, task_id: str, start: datetime, state: str) -> dict[str, Any]:
    return {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": -1, "try_number": 1,
            "max_tries": 0, "state": state, "start_date": start, "end_date": start + timedelta(seconds=20),
            "duration": 20.0, "hostname": "worker-1", "queue": "default", "pool": "default_pool", "pool_slots": 1,
            "priority_weight": 1, "operator": "EmptyOperator", "queued_at": start - timedelta(seconds=2),
            "updated_at": start}


def fill(store: Store, dags: int, runs: int, tasks: int) -> tuple[str, str]:
    """Bulk-insert the data set; returns (latest run_id of the big DAG, one of its task ids)."""
    template = small_dag("template")
    ids = [f"dag_{i:05d}" for i in range(dags)]
    big = big_dag(tasks)
    _insert(store, DagRow, (_dag_row(d, template) for d in ids + [BIG]))
    serialized = [(d, {**template, "dag_id": d}) for d in ids] + [(BIG, big)]
    _insert(store, SerializedDagRow, ({"dag_id": d, "dag_hash": dag_hash(data), "data": data, "created_at": T0,
                                       "version_number": 1, "fileloc": f"/dags/{d}.py"} for d, data in serialized))
    small_run = T0 + timedelta(days=30)
    _insert(store, DagRunRow, (_run_row(d, small_run, "failed" if i % 13 == 0 else "success")
                               for i, d in enumerate(ids)))
    _insert(store, TaskInstanceRow, (_ti_row(d, f"scheduled__{small_run.isoformat()}", t, small_run,
                                             "failed" if i % 13 == 0 and t == "load" else "success")
                                     for i, d in enumerate(ids) for t in ("extract", "transform", "load")))
    logicals = [T0 + timedelta(hours=h) for h in range(runs)]
    _insert(store, DagRunRow, (_run_row(BIG, ld, "failed" if h % 50 == 0 else "success")
                               for h, ld in enumerate(logicals)))
    task_ids = [t["task_id"] for t in big["tasks"]]
    _insert(store, TaskInstanceRow, (_ti_row(BIG, f"scheduled__{ld.isoformat()}", t, ld + timedelta(seconds=20 * i),
                                             "failed" if h % 50 == 0 and i == len(task_ids) - 1 else "success")
                                     for h, ld in enumerate(logicals) for i, t in enumerate(task_ids)))
    return f"scheduled__{logicals[-1].isoformat()}", task_ids[len(task_ids) // 2]


@contextmanager
def database(kind: str, keep: str | None) -> Iterator[str]:
    if keep:
        yield f"sqlite:///{Path(keep).absolute()}"
        return
    if kind == "postgres":
        from tests.db_fixtures import create_pg_database, drop_pg_database

        url = create_pg_database()
        try:
            yield url
        finally:
            drop_pg_database(url)
        return
    with tempfile.TemporaryDirectory(prefix="flowctl-bench-ui-") as tmp:
        yield f"sqlite:///{tmp}/flowctl.db"


def time_page(get: Callable[[str], Any], url: str, repeat: int) -> tuple[float, float] | int:
    """(p50, p95) in ms of GET url, or the HTTP status when the page does not answer 200."""
    for _ in range(2):
        status = get(url).status_code
        if status != 200:
            return int(status)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--dags", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", metavar="SQLITE_FILE", default=None,
                        help="fill this SQLite file (once) and keep it, to re-run the timings quickly")
    args = parser.parse_args()
    reuse = bool(args.keep) and Path(args.keep).exists()
    with database(args.db, args.keep) as url:
        engine = make_engine(url)
        store = Store(engine)
        if reuse:
            last = T0 + timedelta(hours=args.runs - 1)
            run_id, task_id = f"scheduled__{last.isoformat()}", big_dag(args.tasks)["tasks"][args.tasks // 2]["task_id"]
        else:
            migrate.upgrade(engine)
            started = time.perf_counter()
            run_id, task_id = fill(store, args.dags, args.runs, args.tasks)
            print(f"filled {args.db}: {args.dags} DAGs + {BIG} ({args.tasks} tasks x {args.runs} runs) "
                  f"in {time.perf_counter() - started:.1f} s")
            store.create_user(NewUser(username="admin", role="Admin"), PASSWORD, T0)
        settings = Settings.load(environ={"FLOWCTL_HOME": "/nonexistent", "FLOWCTL__WEBSERVER__SECRET_KEY": "bench",
                                          "FLOWCTL__DATABASE__SQL_ALCHEMY_CONN": url})  # no config file: defaults
        client = create_app(settings, store).test_client()
        client.get("/login")
        with client.session_transaction() as session:
            token = session["_csrf"]
        assert client.post("/login", data={"username": "admin", "password": PASSWORD,
                                           "csrf_token": token}).status_code == 302
        quoted = run_id.replace(":", "%3A").replace("+", "%2B")
        pages = [
            ("home", "/"),
            ("home, page 100", "/?page=100"),
            ("home, search + tag", "/?search=dag_01&tag=bench"),
            ("home, last run failed", "/?last_run_state=failed"),
            ("graph", f"/dags/{BIG}/graph?run_id={quoted}"),
            ("grid", f"/dags/{BIG}/grid"),
            ("gantt", f"/dags/{BIG}/gantt?run_id={quoted}"),
            ("task instance", f"/dags/{BIG}/runs/{quoted}/tasks/{task_id}"),
            ("run details", f"/dags/{BIG}/runs/{quoted}"),
            ("browse runs", "/browse/runs"),
            ("browse task instances", "/browse/task-instances"),
            ("browse TIs, failed", "/browse/task-instances?state=failed"),
            ("timeline (API)", "/api/v1/timeline?start=2021-02-20T00:00&end=2021-02-21T00:00"),
        ]
        print(f"{'page':<26}{'p50 ms':>9}{'p95 ms':>9}")
        worst = 0.0
        for name, url_path in pages:
            timing = time_page(client.get, url_path, args.repeat)
            if isinstance(timing, int):
                print(f"{name:<26}   failed: HTTP {timing}")
                worst = float("inf")
                continue
            p50, p95 = timing
            worst = max(worst, p95)
            print(f"{name:<26}{p50:>9.1f}{p95:>9.1f}{'' if p95 < GOAL_MS else '   over goal'}")
        print(f"worst p95: {worst:.1f} ms (goal < {GOAL_MS:.0f} ms)")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
