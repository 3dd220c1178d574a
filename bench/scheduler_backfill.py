"""Benchmark: backfill 30 daily runs of a 5-task chain with a running scheduler.

    PYTHONPATH=. .venv/bin/python bench/scheduler_backfill.py [--runs 3] [--days 30]

Each repetition: fresh PostgreSQL database, local executor, a real scheduler;
``flowctl dags backfill -s 2024-01-01 -e 2024-01-30`` (which creates the queued
backfill runs and follows them until done) is timed two ways: wall seconds of
the command, and seconds from the first backfill run's creation to the last
one's end (run rows). The DAG uses the default max_active_runs (16).
Goal: under 3 s.
"""
from __future__ import annotations

import time
from datetime import date, timedelta

from _harness import PRELUDE, fresh_deployment, parser, repeat, report


SOURCE = PRELUDE + '''
with DAG("bench_backfill", schedule="@daily", start_date=START, catchup=False,
         is_paused_upon_creation=False) as dag:
    previous = None
    for i in range(5):
        task = PythonOperator(task_id=f"t{i}", python_callable=noop)
        if previous is not None:
            previous >> task
        previous = task
'''


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30)
    args = p.parse_args()
    first = date(2024, 1, 1)
    last = first + timedelta(days=args.days - 1)

    def one(_: int) -> dict[str, float]:
        with fresh_deployment(args.parallelism, **dict(args.set)) as d:
            d.write_dag("bench_backfill.py", SOURCE)
            d.start_scheduler()
            d.wait_for_dag("bench_backfill", timeout=30)
            started = time.perf_counter()
            d.flowctl("dags", "backfill", "bench_backfill", "-s", first.isoformat(), "-e", last.isoformat(),
                      timeout=600)
            wall = time.perf_counter() - started
            runs = [r for r in d.store.list_runs("bench_backfill", limit=1000) if r.run_type == "backfill"]
            assert len(runs) == args.days and {r.state for r in runs} == {"success"}, [r.state for r in runs]
            span = (max(r.end_date for r in runs) - min(r.queued_at for r in runs)).total_seconds()
            if args.show_logs:
                print(d.diagnostics())
            return {"runs_seconds": span, "command_seconds": wall}

    figures = repeat(args.runs, one)
    report(f"backfill of {args.days} runs x 5 tasks: first run created -> last run done", "s",
           figures["runs_seconds"], goal="< 3 s")
    report("backfill: wall time of `flowctl dags backfill` (CLI start included)", "s", figures["command_seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
