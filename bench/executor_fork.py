"""Benchmark: the local executor's own ceiling, no database: tries per second of the real zygote.

    PYTHONPATH=. .venv/bin/python bench/executor_fork.py [--runs 5] [--tries 300] [--batch 30]

Each repetition is a fresh interpreter (``--one``) that warms up exactly as the
zygote does, then runs the real ``Zygote.serve()`` loop on ``--tries`` no-op
PythonOperator tries of a 202-task DAG, handed over ``--batch`` at a time (the
next batch when the last try of the previous one has exited, as when the
scheduler fills freed slots). The store is an in-memory stand-in that claims
and records everything at once, so the figures leave out the scheduler, the
task agent and PostgreSQL: what is left is fork, the try itself, exit and the
zygote's supervision. It prints tries per second, CPU per try (children and
zygote, user + system) and the pages each try copied (minor faults), which
is the steadiest figure on a shared machine: a try's CPU is mostly those
copies; and how many of them each try copies ahead, in one call, at its start
(``flowctl.task_runner.prefault``). The zygote copies pages too: each fork makes its own memory
copy-on-write again, so its next writes fault (per try: some 40 with batches
of 30, 450 with batches of 1). The fan-out benchmark's tasks/s cannot exceed
this one's tries/s. Its folders (the tries' logs) are made where the scheduler
benchmarks make theirs (``bench/_harness.py``: a tmpfs).
"""
from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The harness is imported by the parent only: it brings SQLAlchemy and the test fixtures, and the
# zygote's size is part of what is measured (a try pays at fork and exit for what the zygote maps).
DAG_SOURCE = '''
from datetime import datetime, timezone

from flowctl import DAG
from flowctl.operators.python import PythonOperator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def noop():
    return None


with DAG("bench_fork", schedule=None, start_date=START, max_active_tasks=202) as dag:
    start = PythonOperator(task_id="start", python_callable=noop)
    end = PythonOperator(task_id="end", python_callable=noop)
    for i in range(200):
        start >> PythonOperator(task_id=f"t{i:03d}", python_callable=noop) >> end
'''


class _InstantStore:
    """What the zygote and its tries ask of the task agent, answered in memory at once."""

    def __init__(self) -> None:
        self._now = datetime.now(timezone.utc)
        self.states: dict[str, int] = {}  # the ends' states, counted: every try must succeed

    def triggering_dataset_events(self, *args: Any) -> dict[str, Any]:
        return {}

    def start_tries(self, claims: Any, hostname: str, pid: int, now: datetime) -> list[Any]:
        from flowctl.task_runner.warmup import placeholder_claim

        return [placeholder_claim(key, self._now) for key, _ in claims]

    def finish_tries(self, ends: Any, wake: str) -> list[bool]:
        for end in ends:
            self.states[end.state.value] = self.states.get(end.state.value, 0) + 1
        return [True] * len(ends)

    def finish_and_start_tries(self, ends: Any, wake: str, claims: Any, hostname: str, pid: int,
                               now: datetime) -> tuple[list[bool], list[Any]]:
        return self.finish_tries(ends, wake), self.start_tries(claims, hostname, pid, now)

    def finish_and_follow(self, ends: Any, wake: str, claims: Any, hostname: str, pid: int, now: datetime,
                          options: Any) -> tuple[list[bool], list[Any], list[Any]]:
        won, claimed = self.finish_and_start_tries(ends, wake, claims, hostname, pid, now)
        return won, claimed, []  # no downstream: the benchmark's tries are handed over in batches

    def heartbeat_tries(self, keys: Any, now: datetime) -> list[bool]:
        return [True] * len(keys)

    def save_rendered_fields(self, key: Any, fields: Any) -> None:
        pass

    def check_xcom(self, *args: Any, **kwargs: Any) -> None:
        pass

    def external_states(self, *args: Any, **kwargs: Any) -> dict[str, str]:
        return {}

    def external_dag_tree(self, *args: Any, **kwargs: Any) -> None:
        return None

    def list_dataset_events(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


def one(tries: int, batch: int) -> dict[str, float]:
    """In a fresh interpreter: warm up as the zygote does, serve ``tries`` tries; the figures."""
    from flowctl.core.keys import TaskInstanceKey
    from flowctl.executors.base import Workload
    from flowctl.executors.local import workload_to_json
    from flowctl.settings import Settings
    from flowctl.task_runner import forking, immortal, logs
    from flowctl.task_runner.warmup import warm_imports, warm_tries
    from flowctl.task_runner.zygote import Zygote

    forking.watch_at_fork_handlers()  # as the zygote does first
    folder = Path(tempfile.mkdtemp(prefix="flowctl-bench-fork-"))
    settings = Settings.load().replace(logging__base_log_folder=str(folder / "logs"),
                                       scheduler__task_heartbeat_sec="60")
    logs.prepare_for_tries(str(settings.get("logging", "logging_level")))
    store = _InstantStore()
    warm_imports()
    warm_tries(settings, store, pack=True)
    gc.freeze()  # as the zygote does after warming up
    immortal.immortalize_heap()
    immortal.fill_pool_holes()
    fileloc = folder / "bench_fork.py"
    fileloc.write_text(DAG_SOURCE)
    lines = [workload_to_json(i + 1, Workload(TaskInstanceKey("bench_fork", "r1", f"t{i % 200:03d}"), 0,
                                              str(fileloc))) for i in range(tries)]
    events_r, events_w = os.pipe()
    pids_r, pids_w = os.pipe()
    requests_r, requests_w = os.pipe()
    os.dup2(requests_r, 0)  # the zygote reads its requests on stdin
    os.close(requests_r)
    for fd in (events_r, pids_r):
        os.set_blocking(fd, False)
    zygote = Zygote(settings, events_w, store, pid_fd=pids_w)
    state = {"sent": 0, "exited": 0}
    flush = zygote._flush

    def flush_and_feed() -> None:  # after each round of the loop: count exits, hand over the next batch
        flush()
        for fd in (events_r, pids_r):
            try:
                while chunk := os.read(fd, 65536):
                    if fd == events_r:
                        state["exited"] += chunk.count(b'"exited"')
            except BlockingIOError:
                pass
        if state["exited"] >= state["sent"] < tries:
            chunk = lines[state["sent"]:state["sent"] + batch]
            state["sent"] += len(chunk)
            os.write(requests_w, "".join(chunk).encode())
        elif state["exited"] >= tries and zygote.accepting:
            os.close(requests_w)  # EOF: the zygote returns once its tries have exited

    zygote._flush = flush_and_feed  # type: ignore[method-assign]
    children, zygote_before = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    flush_and_feed()
    zygote.serve()
    seconds = time.perf_counter() - started
    kids, mine = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    if store.states != {"success": tries}:  # a stand-in missing what a try now asks for fails them all
        raise SystemExit(f"the tries did not all succeed: {store.states}; see their logs under {folder}")

    def cpu_ms(after: Any, before: Any) -> float:
        return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / tries * 1000

    return {"tries_per_s": tries / seconds, "child_cpu_ms": cpu_ms(kids, children),
            "zygote_cpu_ms": cpu_ms(mine, zygote_before),
            "copied_pages": (kids.ru_minflt - children.ru_minflt) / tries,
            "zygote_copied_pages": (mine.ru_minflt - zygote_before.ru_minflt) / tries,
            "ahead_pages": zygote.pages.pages}


def main() -> int:
    if sys.argv[1:2] == ["--one"]:  # a measured repetition: nothing imported but what a zygote has
        tries, batch = int(sys.argv[2]), int(sys.argv[3])
        print(json.dumps(one(tries, batch)))
        return 0
    from _harness import home_parent, parser, repeat, report

    p = parser(__doc__.splitlines()[0], runs=5)
    p.add_argument("--tries", type=int, default=300)
    p.add_argument("--batch", type=int, default=30, help="tries handed over together (parallelism)")
    args = p.parse_args()

    def fresh(_: int) -> dict[str, float]:
        # the repetition's folders (its logs among them) in the harness's place for them, removed after
        with tempfile.TemporaryDirectory(prefix="flowctl-bench-fork-", dir=home_parent()) as tmp:
            out = subprocess.run([sys.executable, __file__, "--one", str(args.tries), str(args.batch)], check=True,
                                 capture_output=True, text=True,
                                 env={**os.environ, "TMPDIR": tmp, "FLOWCTL_HOME": tmp})
        return json.loads(out.stdout.strip().splitlines()[-1])

    figures = repeat(args.runs, fresh)
    report(f"executor alone, batches of {args.batch}: throughput", "tries/s", figures["tries_per_s"], fmt="{:.0f}")
    report("executor alone: CPU of a try's process", "ms", figures["child_cpu_ms"], fmt="{:.2f}")
    report("executor alone: CPU of the zygote per try", "ms", figures["zygote_cpu_ms"], fmt="{:.2f}")
    report("executor alone: pages a try copied", "pages", figures["copied_pages"], fmt="{:.0f}")
    report("executor alone: pages the zygote copied per try", "pages", figures["zygote_copied_pages"], fmt="{:.0f}")
    report("executor alone: of a try's pages, copied ahead in one call (learnt; 0 without Linux 6.13)", "pages",
           figures["ahead_pages"], fmt="{:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
