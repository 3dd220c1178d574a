"""Benchmark: a person's trigger of a one-task DAG, run creation -> its task's start -> run success.

    PYTHONPATH=. .venv/bin/python bench/scheduler_trigger.py [--runs 3] [--triggers 10]

Each repetition: fresh PostgreSQL database, local executor, a real
``flowctl scheduler``; once the DAG is parsed, one run is triggered and awaited
(the first try of the DAG file), then ``--triggers`` more, one after the other
(as ``dags trigger`` does, a pause between them). Per repetition, the median
over those triggers of the milliseconds from the run's creation (``queued_at``)
to its task's start (the try's ``start_date``: the scheduler's round, the
worker parent's claim) and to the run's success (the task, its end, the
round that ends the run). What a person waits for after ``dags trigger``; the
chain and fan-out benchmarks add the tasks after the first.
"""
from __future__ import annotations

import statistics
import time

from _harness import PRELUDE, fresh_deployment, parser, repeat, report, trigger_now, wait_run_done

SOURCE = PRELUDE + '''
with DAG("bench_trigger", schedule=None, start_date=START) as dag:
    PythonOperator(task_id="only", python_callable=noop)
'''


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--triggers", type=int, default=10)
    args = p.parse_args()

    def one(_: int) -> dict[str, float]:
        from flowctl.core.keys import TaskInstanceKey

        starts, ends = [], []
        with fresh_deployment(args.parallelism, **dict(args.set)) as d:
            d.write_dag("bench_trigger.py", SOURCE)
            d.start_scheduler()
            d.wait_for_dag("bench_trigger", timeout=30)
            wait_run_done(d, "bench_trigger", trigger_now(d, "bench_trigger"), timeout=60)
            for _ in range(args.triggers):
                time.sleep(0.3)  # the last run's after-effects (its exit, the scheduler's rounds) settled
                run_id = trigger_now(d, "bench_trigger")
                ends.append(wait_run_done(d, "bench_trigger", run_id, timeout=60) * 1000)
                run = d.store.get_run("bench_trigger", run_id)
                ti = d.store.get_task_instance(TaskInstanceKey("bench_trigger", run_id, "only"))
                starts.append((ti.start_date - run.queued_at).total_seconds() * 1000)
            if args.show_logs:
                print(d.diagnostics())
        return {"to_task_start_ms": statistics.median(starts), "to_run_success_ms": statistics.median(ends)}

    figures = repeat(args.runs, one)
    report("trigger -> its task's start", "ms", figures["to_task_start_ms"], fmt="{:.1f}")
    report("trigger -> run success (one no-op task)", "ms", figures["to_run_success_ms"], fmt="{:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
