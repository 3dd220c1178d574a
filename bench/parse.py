"""Benchmark: parse a generated folder of DAG files with the subprocess processor.

    PYTHONPATH=. .venv/bin/python bench/parse.py [--files 1000] [--tasks 10] [--runs 3] [--processes 2]

Writes ``--files`` DAG files of ``--tasks`` BashOperator tasks each (a chain
with one fan-out) into a temporary folder, parses the whole folder ``--runs``
times with a fresh :class:`DagFileProcessor` (``--processes`` warm slots,
the ``[scheduler] parsing_processes`` default is 2; ``--files-per-child``
files per forked parser child), and prints the median,
min and max wall seconds and DAGs per second. Goal: under 10 s for 1,000
files on a 2-core machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowctl.dag_processing.discovery import keep_likely_dag_files, list_py_files  # noqa: E402
from flowctl.dag_processing.processor import DEFAULT_FILES_PER_CHILD, DagFileProcessor  # noqa: E402

TEMPLATE = '''"""Generated benchmark DAG {index}."""
from datetime import datetime, timedelta

from flowctl import DAG
from flowctl.operators.bash import BashOperator

with DAG(
    dag_id="bench_{index:05d}",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={{"owner": "bench", "retries": 1, "retry_delay": timedelta(minutes=1)}},
    tags=["bench"],
) as dag:
    tasks = [BashOperator(task_id=f"step_{{i}}", bash_command=f"echo {{i}} {{{{ ds }}}}") for i in range({tasks})]
    for upstream, downstream in zip(tasks, tasks[1:]):
        upstream >> downstream
    tasks[0] >> tasks[-1]
'''


def generate(folder: Path, files: int, tasks: int) -> None:
    """Write ``files`` DAG files of ``tasks`` tasks each into ``folder``."""
    for index in range(files):
        (folder / f"bench_{index:05d}.py").write_text(TEMPLATE.format(index=index, tasks=tasks))


def time_one_parse(folder: Path, args: argparse.Namespace) -> tuple[float, int, int]:
    """Seconds for one full parse (pool start included), DAGs found, import errors."""
    started = time.perf_counter()
    files = keep_likely_dag_files(list_py_files(folder))
    with DagFileProcessor(processes=args.processes, timeout=args.timeout, dags_folder=folder,
                          files_per_child=args.files_per_child) as processor:
        result = processor.parse_files(files)
    return time.perf_counter() - started, len(result.dags), len(result.import_errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--files-per-child", type=int, default=DEFAULT_FILES_PER_CHILD,
                        help="files one forked parser child imports before it is replaced (1 = fresh per file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flowctl-bench-") as tmp:
        folder = Path(tmp)
        generate(folder, args.files, args.tasks)
        seconds: list[float] = []
        for run in range(args.runs):
            elapsed, dags, errors = time_one_parse(folder, args)
            seconds.append(elapsed)
            print(f"run {run + 1}: {elapsed:.2f}s, {dags} DAGs, {errors} import errors")
            if errors:
                print("import errors found: the benchmark folder should parse cleanly", file=sys.stderr)
                return 1
    median = statistics.median(seconds)
    print(f"files={args.files} tasks/file={args.tasks} processes={args.processes} "
          f"files/child={args.files_per_child} runs={args.runs}")
    print(f"median {median:.2f}s  min {min(seconds):.2f}s  max {max(seconds):.2f}s  "
          f"{args.files / median:.0f} DAGs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
