"""Benchmark: building the task graph (order and priority weights) of big DAGs, as the scheduler,
the task agent and the web server do once per DAG version.

    PYTHONPATH=. .venv/bin/python bench/task_graph.py [--runs 5] [--tasks 2000]

Two shapes of ``--tasks`` tasks, as serialized DAGs: a chain (the deepest shape: each task's
priority weight sums every task below it) and a fan-out (start >> N tasks >> end). Prints the
median, min and max milliseconds per build. No database: the planner is pure.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _harness import repeat, report  # noqa: E402

from flowctl.core.planner import task_graph  # noqa: E402


def chain(size: int) -> dict[str, Any]:
    return {"dag_id": "bench_chain", "tasks": [
        {"task_id": f"t{i}", "upstream_task_ids": [f"t{i - 1}"] if i else []} for i in range(size)]}


def fanout(size: int) -> dict[str, Any]:
    middle = [f"t{i}" for i in range(size - 2)]
    return {"dag_id": "bench_fanout", "tasks": [
        {"task_id": "start"}, *({"task_id": t, "upstream_task_ids": ["start"]} for t in middle),
        {"task_id": "end", "upstream_task_ids": middle}]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # no deployment: none of the harness's options
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--tasks", type=int, default=2000)
    args = p.parse_args()
    shapes = {"chain": chain(args.tasks), "fanout": fanout(args.tasks)}

    def one(_: int) -> dict[str, float]:
        figures = {}
        for name, serialized in shapes.items():
            started = time.perf_counter()
            graph = task_graph(serialized)
            figures[f"{name}_ms"] = (time.perf_counter() - started) * 1000
            assert len(graph.order) == args.tasks
        return figures

    figures = repeat(args.runs, one)
    for name in shapes:
        report(f"task graph of a {name} of {args.tasks} tasks", "ms", figures[f"{name}_ms"], fmt="{:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
