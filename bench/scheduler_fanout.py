"""Benchmark: start >> 200 parallel no-op tasks >> end with parallelism 32; tasks per second.

    PYTHONPATH=. .venv/bin/python bench/scheduler_fanout.py [--runs 3] [--width 200] [--parallelism 32]

Each repetition: fresh PostgreSQL database, local executor, a real scheduler;
tasks/s = (width + 2) / seconds from the run's creation to its success (run
row timestamps), for the DAG's first run ("cold": the worker parent imports the
new DAG file as its first task starts, the connections' first statements) and
for the next one ("warm", as runs of a scheduler running for a while are). Then
a third run of the same DAG measures the peak PSS of
the scheduler and its workers (every process of the deployment): sampling
/proc/<pid>/smaps_rollup of some 35 processes every 50 ms walks their page
tables and takes CPU from the run it measures, so it never runs during the
timed run. Also printed: the CPU the deployment and its PostgreSQL backends used
per task during the timed run, and the share of the machine's cores that CPU
kept busy over the run: on a shared machine whose speed swings from hour to
hour, CPU per task follows the machine and the busy share follows the
scheduling (the work the run leaves waiting on one process, with cores idle).
Goals: over 300 tasks/s, under 300 MB.
"""
from __future__ import annotations

import os
import time

from _harness import (PRELUDE, PeakPss, deployment_cpu_seconds, fresh_deployment, parser, repeat, report,
                      trigger_now, wait_run_done)


CORES = len(os.sched_getaffinity(0))


def fanout_source(width: int, dag_id: str = "bench_fanout") -> str:
    return PRELUDE + f'''
with DAG("{dag_id}", schedule=None, start_date=START, max_active_tasks={width + 2}) as dag:
    start = PythonOperator(task_id="start", python_callable=noop)
    end = PythonOperator(task_id="end", python_callable=noop)
    for i in range({width}):
        start >> PythonOperator(task_id=f"t{{i:03d}}", python_callable=noop) >> end
'''


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=200)
    args = p.parse_args()

    def one(_: int) -> dict[str, float]:
        with fresh_deployment(args.parallelism, **dict(args.set)) as d:
            d.write_dag("bench_fanout.py", fanout_source(args.width))
            d.start_scheduler()
            d.wait_for_dag("bench_fanout", timeout=30)
            cpu = deployment_cpu_seconds(d)
            seconds = wait_run_done(d, "bench_fanout", trigger_now(d, "bench_fanout"), timeout=300)
            time.sleep(0.2)  # the last tries reaped, so that their CPU is counted
            cpu = deployment_cpu_seconds(d) - cpu
            warm = wait_run_done(d, "bench_fanout", trigger_now(d, "bench_fanout"), timeout=300)
            time.sleep(0.2)
            with PeakPss(d) as pss:
                wait_run_done(d, "bench_fanout", trigger_now(d, "bench_fanout"), timeout=300)
            if args.show_logs:
                print(d.diagnostics())
            return {"seconds": seconds, "tasks_per_s": (args.width + 2) / seconds, "peak_pss_mib": pss.peak_mib,
                    "cpu_ms_per_task": cpu * 1000 / (args.width + 2), "warm_tasks_per_s": (args.width + 2) / warm,
                    "busy_pct": 100 * cpu / (CORES * seconds)}

    figures = repeat(args.runs, one)
    report(f"fan-out of {args.width}: trigger -> success", "s", figures["seconds"])
    report("fan-out: throughput, cold (the DAG's first run)", "tasks/s", figures["tasks_per_s"], goal="> 300 tasks/s",
           fmt="{:.0f}")
    report("fan-out: throughput, warm (its next run)", "tasks/s", figures["warm_tasks_per_s"], goal="> 300 tasks/s",
           fmt="{:.0f}")
    report("fan-out: CPU per task, cold run (deployment + its PostgreSQL backends)", "ms", figures["cpu_ms_per_task"],
           fmt="{:.2f}")
    report(f"fan-out: cores busy during the cold run (its CPU / {CORES} cores x its seconds)", "%",
           figures["busy_pct"], fmt="{:.0f}")
    report("fan-out: peak PSS of scheduler + workers", "MiB", figures["peak_pss_mib"], goal="< 300 MB",
           fmt="{:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
