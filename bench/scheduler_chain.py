"""Benchmark: 20 chained no-op PythonOperator tasks, trigger -> run success.

    PYTHONPATH=. .venv/bin/python bench/scheduler_chain.py [--runs 3] [--tasks 20]

Each repetition: fresh PostgreSQL database, local executor, a real
``flowctl scheduler``; once the DAG is parsed a manual run is created (as
``dags trigger`` does) and the seconds from the run's creation to its success
(``queued_at`` -> ``end_date`` of the run row) are reported, in total and per
task, for the first run after the scheduler started ("cold": the workers'
first try of the DAG file) and for a second run on the same deployment
("warm"). Goal: under 25 ms per task.
"""
from __future__ import annotations

from _harness import PRELUDE, fresh_deployment, parser, repeat, report, trigger_now, wait_run_done


def chain_source(tasks: int) -> str:
    return PRELUDE + f'''
with DAG("bench_chain", schedule=None, start_date=START) as dag:
    previous = None
    for i in range({tasks}):
        task = PythonOperator(task_id=f"t{{i:02d}}", python_callable=noop)
        if previous is not None:
            previous >> task
        previous = task
'''


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=20)
    args = p.parse_args()

    def one(_: int) -> dict[str, float]:
        with fresh_deployment(args.parallelism, **dict(args.set)) as d:
            d.write_dag("bench_chain.py", chain_source(args.tasks))
            d.start_scheduler()
            d.wait_for_dag("bench_chain", timeout=30)
            cold = wait_run_done(d, "bench_chain", trigger_now(d, "bench_chain"), timeout=120)
            warm = wait_run_done(d, "bench_chain", trigger_now(d, "bench_chain"), timeout=120)
            if args.show_logs:
                print(d.diagnostics())
            return {"cold_seconds": cold, "cold_ms_per_task": cold * 1000 / args.tasks,
                    "warm_seconds": warm, "warm_ms_per_task": warm * 1000 / args.tasks}

    figures = repeat(args.runs, one)
    for kind in ("cold", "warm"):
        report(f"chain of {args.tasks} ({kind}): trigger -> success", "s", figures[f"{kind}_seconds"])
        report(f"chain ({kind}): per task", "ms", figures[f"{kind}_ms_per_task"], goal="< 25 ms/task",
               fmt="{:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
