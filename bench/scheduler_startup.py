"""Benchmark: from starting ``flowctl scheduler`` to a new DAG file's first triggered run done.

    PYTHONPATH=. .venv/bin/python bench/scheduler_startup.py [--runs 5]

Each repetition: fresh PostgreSQL database; a new DAG file (one no-op
PythonOperator task) is written, then the clock starts and ``flowctl
scheduler`` is launched; the benchmark creates a manual run as soon as the
DAG appears in the database (the Store verb ``dags trigger`` uses, plus the
wake-up) and stops the clock when the run succeeds. Also prints when the DAG
was first parsed. Goal: under 2 s.
"""
from __future__ import annotations

import time

from _harness import PRELUDE, fresh_deployment, parser, repeat, report, trigger_now

SOURCE = PRELUDE + '''
with DAG("bench_startup", schedule=None, start_date=START) as dag:
    PythonOperator(task_id="hello", python_callable=noop)
'''


def main() -> int:
    p = parser(__doc__.splitlines()[0], runs=5)
    args = p.parse_args()

    def one(_: int) -> dict[str, float]:
        with fresh_deployment(args.parallelism, **dict(args.set)) as d:
            d.write_dag("bench_startup.py", SOURCE)
            started = time.perf_counter()
            d.start_scheduler()
            d.wait_for_dag("bench_startup", timeout=30)
            parsed = time.perf_counter() - started
            run_id = trigger_now(d, "bench_startup")
            d.wait_for(lambda: d.run_state("bench_startup", run_id) == "success", 30, "the run to succeed")
            total = time.perf_counter() - started
            if args.show_logs:
                print(d.diagnostics())
            return {"seconds": total, "parsed_after": parsed}

    figures = repeat(args.runs, one)
    report("start-up: scheduler start -> first triggered run done", "s", figures["seconds"], goal="< 2 s")
    report("start-up: scheduler start -> DAG parsed", "s", figures["parsed_after"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
