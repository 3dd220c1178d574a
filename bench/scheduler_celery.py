"""Benchmark: the Celery executor on Redis: a chain's time per task and a fan-out's tasks per second.

    PYTHONPATH=. .venv/bin/python bench/scheduler_celery.py [--runs 3] [--tasks 10] [--width 40] [--workers 2]

Each repetition: fresh PostgreSQL database, ``[core] executor = celery`` on the
local Redis (a key prefix of its own), a real ``flowctl scheduler`` and
``--workers`` real ``flowctl celery worker`` processes (``-c 8`` each). Reported,
from the run rows: a chain of ``--tasks`` no-op tasks, trigger -> success per
task; and start >> ``--width`` no-op tasks >> end, tasks per second. For
scale, the local executor's figures (``scheduler_chain.py``,
``scheduler_fanout.py``) are the floor: these add the broker, the result
backend and the worker's start of each try.
"""
from __future__ import annotations

import uuid

import redis
from _harness import fresh_deployment, parser, repeat, report, trigger_now, wait_run_done
from scheduler_chain import chain_source
from scheduler_fanout import fanout_source

REDIS = "redis://127.0.0.1:6379"


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--width", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()

    def one(_: int) -> dict[str, float]:
        prefix = f"flowctl-bench-{uuid.uuid4().hex}-"
        settings = {"core__executor": "celery", "celery__broker_url": f"{REDIS}/0",
                    "celery__result_backend": f"{REDIS}/1", "celery__key_prefix": prefix, **dict(args.set)}
        try:
            with fresh_deployment(args.parallelism, **settings) as d:
                d.write_dag("bench_chain.py", chain_source(args.tasks))
                d.write_dag("bench_fanout.py", fanout_source(args.width))
                for i in range(args.workers):
                    d.spawn(f"worker{i}", "celery", "worker", "-q", "default", "-c", "8", "--hostname", f"w{i}@%h",
                            "--loglevel", "warning")
                d.start_scheduler()
                d.wait_for_dag("bench_chain", timeout=30)
                d.wait_for_dag("bench_fanout", timeout=30)
                wait_run_done(d, "bench_chain", trigger_now(d, "bench_chain"), timeout=300)  # workers warm
                chain = wait_run_done(d, "bench_chain", trigger_now(d, "bench_chain"), timeout=300)
                fanout = wait_run_done(d, "bench_fanout", trigger_now(d, "bench_fanout"), timeout=300)
                if args.show_logs:
                    print(d.diagnostics())
                return {"chain_ms_per_task": chain * 1000 / args.tasks, "fanout_tasks_per_s": (args.width + 2) / fanout}
        finally:
            client = redis.Redis.from_url(f"{REDIS}/0")
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)

    figures = repeat(args.runs, one)
    report(f"celery: chain of {args.tasks}, per task", "ms", figures["chain_ms_per_task"], fmt="{:.0f}")
    report(f"celery: fan-out of {args.width}, {args.workers} workers x 8", "tasks/s", figures["fanout_tasks_per_s"],
           fmt="{:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
