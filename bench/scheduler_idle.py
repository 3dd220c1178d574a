"""Benchmark: an idle scheduler's CPU, and the peak PSS of scheduler + workers during a fan-out.

    PYTHONPATH=. .venv/bin/python bench/scheduler_idle.py [--runs 3] [--seconds 30] [--width 200]

Each repetition: fresh PostgreSQL database, local executor, a real scheduler
with ten parsed DAGs whose next run is not due (paused-free, catchup off,
@daily); after a short settle time the CPU seconds of every process of the
deployment (scheduler, parser and worker processes) are measured over
``--seconds`` (goal: under 1% of one core). Then a fan-out run (start >> 200
no-op >> end) is triggered and the summed PSS (/proc/<pid>/smaps_rollup) of
all those processes is sampled every 50 ms; the peak is reported (goal: under 300 MB).
"""
from __future__ import annotations

import time

from _harness import (PRELUDE, PeakPss, fresh_deployment, parser, process_cpu_seconds, repeat, report,
                      tagged_pids, trigger_now, wait_run_done)
from scheduler_fanout import fanout_source

IDLE_DAGS = PRELUDE + '''
for n in range(10):
    with DAG(f"idle_{n}", schedule="@daily", start_date=START, catchup=False) as dag:
        PythonOperator(task_id="a", python_callable=noop) >> PythonOperator(task_id="b", python_callable=noop)
    globals()[f"idle_{n}"] = dag
'''


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--settle", type=float, default=5.0, help="seconds after parsing before measuring")
    p.add_argument("--width", type=int, default=200)
    args = p.parse_args()

    def one(_: int) -> dict[str, float]:
        with fresh_deployment(args.parallelism, **dict(args.set)) as d:
            d.write_dag("idle.py", IDLE_DAGS)
            d.start_scheduler()
            d.wait_for_dag("idle_9", timeout=30)
            # The latest daily interval is due once (catchup off): let those runs finish first.
            d.wait_for(lambda: all(r.state == "success" for r in d.store.list_runs()) and
                       len(d.store.list_runs()) >= 10, 60, "the ten catch-up-off runs to finish")
            time.sleep(args.settle)  # benchmark, not a test: let start-up work drain
            pids = tagged_pids(d.tag)
            cpu0, t0 = process_cpu_seconds(pids), time.monotonic()
            time.sleep(args.seconds)
            cpu1, t1 = process_cpu_seconds(pids), time.monotonic()
            late = set(tagged_pids(d.tag)) - set(pids)
            idle_pct = 100 * (cpu1 - cpu0 + process_cpu_seconds(sorted(late))) / (t1 - t0)
            d.write_dag("fanout.py", fanout_source(args.width))
            d.wait_for_dag("bench_fanout", timeout=30)
            with PeakPss(d) as pss:
                wait_run_done(d, "bench_fanout", trigger_now(d, "bench_fanout"), timeout=300)
            if args.show_logs:
                print(d.diagnostics())
            return {"idle_cpu_pct": idle_pct, "processes": float(len(pids)), "peak_pss_mib": pss.peak_mib}

    figures = repeat(args.runs, one)
    report(f"idle scheduler CPU over {args.seconds:.0f}s", "% of a core", figures["idle_cpu_pct"], goal="< 1%",
           fmt="{:.2f}")
    report(f"peak PSS of scheduler + workers during a fan-out of {args.width}", "MiB", figures["peak_pss_mib"],
           goal="< 300 MB", fmt="{:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
