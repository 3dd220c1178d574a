"""Shared pieces of the scheduler benchmarks: fresh deployments, triggering, timing, CPU and PSS.

Each measured repetition gets a fresh deployment (FLOWCTL_HOME in a temporary
folder, a fresh PostgreSQL database migrated by ``flowctl db init``, the local
executor) and a real ``flowctl scheduler`` process; everything is killed and
the database dropped afterwards. The process and polling helpers are the
end-to-end tests' (``tests/e2e/harness.py``), so the benchmarks drive flowctl
exactly as the tests do. Figures are printed as median, min and max.

Importing this module compiles flowctl's bytecode cache first, as an install from a
wheel (or any run without ``PYTHONDONTWRITEBYTECODE``) has it: with that variable set
(this machine's shell sets it) and an editable install, every process would compile
flowctl's ~90 modules from source at start, some 0.2 s each, and the start-up figure
would measure that instead of flowctl.

The deployments' folders (DAG files, the tries' logs) are made in a tmpfs,
``/dev/shm`` where there is one (``FLOWCTL_BENCH_HOME_DIR=/some/dir`` chooses
another): a fan-out's tries create 400 log folders and files, and on an ext4
file system without a journal (this machine's root) the inode allocator passes
over every inode deleted in the last minute or more, one buffer lookup each. A
repetition's teardown deletes some 1,300, and the test suite tens of thousands,
so in ``/tmp`` the next repetition's tries paid for their predecessors' cleanup:
a folder and a file took 0.7-1.1 ms of CPU there, against 0.046 ms in a fresh
folder of the same disk and 0.017 ms in tmpfs (``perf record`` of a fan-out on
Python 3.12: a quarter of its CPU in ``mkdir`` and ``open``). The figures are
flowctl's, not those of the harness's own deletions.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def compile_flowctl() -> None:
    """Write flowctl's ``__pycache__`` (py_compile writes it whatever PYTHONDONTWRITEBYTECODE says)."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "flowctl"), quiet=1)


compile_flowctl()

from tests.db_fixtures import create_pg_database, drop_pg_database  # noqa: E402
from tests.e2e.harness import BASE_CONFIG, Deployment, tagged_pids, wait_for  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

PRELUDE = '''
from datetime import datetime, timezone

from flowctl import DAG
from flowctl.operators.python import PythonOperator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def noop():
    return None
'''


def parser(description: str, runs: int = 3) -> argparse.ArgumentParser:
    """The common command line: --runs N and --keep-logs."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--runs", type=int, default=runs, help="measured repetitions (fresh database each)")
    p.add_argument("--parallelism", type=int, default=32, help="[core] parallelism")
    p.add_argument("--show-logs", action="store_true", help="print the scheduler's log after each repetition")
    p.add_argument("--set", action="append", default=[], metavar="SECTION__KEY=VALUE", type=_setting,
                   help="an option for the deployment, e.g. scheduler__schedule_after_task_execution=false")
    return p


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or "__" not in name:
        raise argparse.ArgumentTypeError(f"{text!r} is not SECTION__KEY=VALUE")
    return name, value


def home_parent() -> str | None:
    """Where deployments' folders go: ``$FLOWCTL_BENCH_HOME_DIR``, else a writable ``/dev/shm``, else
    the temporary folder (see the module's docstring)."""
    chosen = os.environ.get("FLOWCTL_BENCH_HOME_DIR")
    if chosen:
        return chosen
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def fresh_deployment(parallelism: int = 32, **config: str) -> Iterator[Deployment]:
    """A new FLOWCTL_HOME on a new PostgreSQL database with the local executor; torn down after."""
    url = create_pg_database()
    try:
        with tempfile.TemporaryDirectory(prefix="flowctl-bench-", dir=home_parent()) as home:
            settings = {**BASE_CONFIG, ("core", "parallelism"): str(parallelism),
                        ("core", "executor"): "local", ("logging", "logging_level"): "warning",
                        ("scheduler", "heartbeat_sec"): "5", ("scheduler", "task_heartbeat_sec"): "5",
                        ("scheduler", "zombie_threshold_sec"): "60"}
            for name, value in config.items():
                section, key = name.split("__", 1)
                settings[(section, key)] = value
            deployment = Deployment(home=Path(home), db_url=url, config=settings)
            try:
                yield deployment.setup()
            finally:
                deployment.close()
    finally:
        drop_pg_database(url)


def trigger_now(d: Deployment, dag_id: str) -> str:
    """Create a manual run the way ``flowctl dags trigger`` does (Store verb + wake-up), in-process.

    In-process so the figure measures the scheduler, not a CLI interpreter start; with the
    objects made so far frozen, as the CLI freezes its start-up's (flowctl/cli/app.py).
    """
    gc.freeze()
    run = d.store.trigger_dag(dag_id, now=datetime.now(timezone.utc))
    notify = getattr(d.store, "notify_scheduler", None)
    if notify is not None:
        notify(f"trigger {dag_id}")
    return str(run.run_id)


def wait_run_done(d: Deployment, dag_id: str, run_id: str, timeout: float) -> float:
    """Seconds from the run's creation (queued_at) to its end, read from the run row; asserts success.

    The figure comes from the row, so how soon the end is seen does not change it: polling every
    0.2 s instead of the tests' 0.05 takes the benchmark's own queries (some 4% of the two cores
    during a fan-out) off the machine the run shares with it.
    """
    state = d.wait_for(lambda: (s := d.run_state(dag_id, run_id)) in {"success", "failed"} and s, timeout,
                       f"run {dag_id}/{run_id} to finish", interval=0.2)
    if state != "success":
        raise AssertionError(f"run {run_id} {state}: {d.task_states(dag_id, run_id)}\n{d.diagnostics()}")
    run = d.store.get_run(dag_id, run_id)
    return (run.end_date - run.queued_at).total_seconds()


def process_cpu_seconds(pids: Sequence[int]) -> float:
    """utime+stime (+ reaped children's) of these processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS


def deployment_cpu_seconds(d: Deployment) -> float:
    """CPU seconds used so far by a deployment: its processes (with the tries they reaped) and the
    PostgreSQL backends serving its database. Beside a wall time it tells the work done from the
    time the run left the cores idle."""
    from sqlalchemy import text

    with d.store.engine.connect() as conn:
        backends = [int(pid) for pid in conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        ).scalars()]
    return process_cpu_seconds(tagged_pids(d.tag) + backends)


def pss_kib(pids: Sequence[int]) -> int:
    """Sum of the processes' proportional set sizes (kB) from /proc/<pid>/smaps_rollup."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total


class PeakPss:
    """Samples the PSS of every process of a deployment in a thread; ``.peak_mib`` after ``stop()``."""

    def __init__(self, d: Deployment, interval: float = 0.05) -> None:
        self._tag, self._interval = d.tag, interval
        self._stop = threading.Event()
        self.peak_kib, self.peak_processes = 0, 0
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            pids = tagged_pids(self._tag)
            kib = pss_kib(pids)
            if kib > self.peak_kib:
                self.peak_kib, self.peak_processes = kib, len(pids)
            self._stop.wait(self._interval)

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024


def report(name: str, unit: str, values: Sequence[float], goal: str = "", fmt: str = "{:.3f}") -> None:
    """One line: median, min and max of the repetitions."""
    med, low, high = statistics.median(values), min(values), max(values)
    text = f"{name}: median {fmt.format(med)} {unit}, min {fmt.format(low)}, max {fmt.format(high)} " \
           f"over {len(values)} run(s)"
    print(text + (f"  (goal: {goal})" if goal else ""), flush=True)


def repeat(runs: int, one: Callable[[int], dict[str, float]]) -> dict[str, list[float]]:
    """Call ``one(i)`` ``runs`` times; collect each returned figure into lists."""
    figures: dict[str, list[float]] = {}
    for i in range(runs):
        started = time.perf_counter()
        result = one(i)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in result.items())
        print(f"run {i + 1}/{runs}: {shown}  ({time.perf_counter() - started:.1f}s with setup)", flush=True)
        for key, value in result.items():
            figures.setdefault(key, []).append(value)
    return figures


__all__ = ["PRELUDE", "Deployment", "PeakPss", "deployment_cpu_seconds", "fresh_deployment", "parser",
           "process_cpu_seconds", "pss_kib", "repeat", "report", "tagged_pids", "trigger_now", "wait_for",
           "wait_run_done"]
