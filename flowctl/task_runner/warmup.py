"""Warming the local executor's worker parent (the zygote) before it forks any try.

What every try would otherwise do for itself is done once in the zygote and
inherited by each fork: the imports a try needs and a few no-op tries of a
flowctl-owned DAG run in-process without a database, so lazy set-up and the
interpreter's specialisation of the try's code happen once. The database
stack is not imported here: the task agent has it (``flowctl.task_runner.agent``),
and compiles the claims', ends' and heartbeats' statements with :func:`warm_store`. Must not import SQLAlchemy, web,
cli or scheduler.
"""
from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from types import CodeType, FunctionType
from typing import Any

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.executors.base import Workload
from flowctl.settings import Settings
from flowctl.task_runner import dagfile

#: A task instance that never exists, used to compile statements and for the warm-up tries.
WARMUP_KEY = TaskInstanceKey("__flowctl_warmup__", "__none__", "__none__")


def warm_imports() -> None:
    """Import what every try needs, once, here: children inherit the modules."""
    import importlib

    for name in ("flowctl.task_runner.runner", "flowctl.task_runner.agent_client", "flowctl.core.templating", "jinja2.ext",
                 "jinja2.nativetypes", "pendulum", "flowctl.models.variable", "flowctl.models.connection",
                 "flowctl.hooks.base", "flowctl.operators.python", "flowctl.operators.branch",
                 "flowctl.operators.bash", "flowctl.operators.empty", "flowctl.sensors.base",
                 "flowctl.decorators", "pprint"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


WARMUP_DAG = '''
from datetime import datetime, timezone

from flowctl import DAG
from flowctl.operators.python import PythonOperator


def warm():
    return {"warm": True}


with DAG("__flowctl_warmup__", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), schedule=None):
    PythonOperator(task_id="__none__", python_callable=warm)
'''


class _AnsweredPipes:
    """The supervisor of the warm-up tries: a forked try's own (:class:`pipes.PipeSupervisor`), over
    pipes of this process whose answer ``{"won": true}`` is written ahead. The code every try runs
    to send its rendered fields and its end is then specialised and packed here too, not cold in
    each child; what it sends is read and dropped, and :meth:`close` closes the four ends."""

    def __init__(self) -> None:
        from flowctl.task_runner.pipes import PipeSupervisor, write_all

        self._results_r, results_w = os.pipe()
        answers_r, self._answers_w = os.pipe()
        os.set_blocking(self._results_r, False)
        self.pipes = PipeSupervisor(results_w, answers_r)
        write_all(self._answers_w, b'{"won": true}\n')

    def rendered(self, fields: Mapping[str, Any]) -> None:
        self.pipes.rendered(fields)

    def recorded(self) -> None:
        self.pipes.recorded()

    def finish(self, state: TaskInstanceState, now: datetime, fields: Mapping[str, Any],
               xcoms: Mapping[str, Any], produces: bool | None = None,
               outlet_extra: Mapping[str, Mapping[str, Any]] | None = None,
               alias_events: Sequence[Mapping[str, Any]] | None = None) -> bool | None:
        return self.pipes.finish(state, now, fields, xcoms, produces, outlet_extra, alias_events)

    def close(self) -> None:
        from flowctl.task_runner.pipes import drain

        drain(self._results_r)
        for fd in (self._results_r, self.pipes.results_fd, self.pipes.answers_fd, self._answers_w):
            os.close(fd)


def warm_tries(settings: Settings, store: Any, rounds: int = 12, pack: bool = False) -> list[str | None]:
    """Run a no-op try of a flowctl-owned DAG here, ``rounds`` times, touching no database; their states.

    What a try does the first time (lazy imports, caches, logging and Jinja set-up, the
    interpreter's specialisation of the code it runs) is then done once here: every
    forked try inherits it instead of paying for it, and copies fewer pages doing it.
    ``pack``: then also :func:`pack_code` the functions a try runs, and warm them again.
    A warm-up try that does not succeed warmed the failure path instead of a task's: that is
    said once on stderr (the scheduler's log), with the error.
    """
    import tempfile
    from pathlib import Path

    from flowctl.task_runner.execution import defer_sigterm
    from flowctl.task_runner.runner import run_claimed

    key = WARMUP_KEY
    claim = placeholder_claim(key, datetime.now(timezone.utc))
    saved_path = list(sys.path)
    with tempfile.TemporaryDirectory(prefix="flowctl-warmup-") as folder:
        fileloc = Path(folder) / "flowctl_warmup_dag.py"
        fileloc.write_text(WARMUP_DAG)
        warm_settings = settings.replace(logging__base_log_folder=str(Path(folder) / "logs"))
        workload = Workload(key, 0, str(fileloc))
        ended: list[Any] = []

        def one_try() -> None:
            supervisor = _AnsweredPipes()
            try:
                with defer_sigterm():
                    ended.append(run_claimed(workload, warm_settings, store, claim, supervisor))
            finally:
                supervisor.close()
        try:
            for _ in range(rounds):
                one_try()
            if pack:
                pack_code(one_try)
                for _ in range(rounds):  # the new code objects are specialised afresh
                    one_try()
        except Exception:  # noqa: BLE001 - warming is an optimisation only
            traceback.print_exc()
        finally:
            dagfile.forget(str(fileloc))
            sys.path[:] = saved_path
    failed = [result for result in ended if result.state != TaskInstanceState.SUCCESS.value]
    if failed:
        error = (failed[0].error or "").strip().splitlines()
        print(f"flowctl: the worker parent's warm-up tries ended {failed[0].state} ({len(failed)} of {len(ended)}): "
              f"{error[-1] if error else 'no error'}; tries start colder", file=sys.stderr, flush=True)
    return [result.state for result in ended]


def placeholder_claim(key: TaskInstanceKey, now: datetime) -> Any:
    """What claiming the first try of ``key`` (a no-op PythonOperator of a manual run) returns,
    made without a database: for tries run where nothing is stored (the warm-up, a benchmark)."""
    from flowctl.db.records import ClaimedTry, DagRunRecord, TaskInstanceRecord

    run = DagRunRecord(id=0, dag_id=key.dag_id, run_id=key.run_id, run_type="manual", logical_date=now,
                       data_interval_start=now, data_interval_end=now, state="running", conf={}, queued_at=now,
                       start_date=now, end_date=None, last_scheduling_decision=None, serialized_dag_id=None,
                       creating_job_id=None, external_trigger=True, clear_number=0, note=None, updated_at=now)
    ti = TaskInstanceRecord(
        dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index, try_number=1,
        max_tries=0, state="running", start_date=now, end_date=None, duration=None, hostname=None, pid=None,
        executor=None, queue="default", pool="default_pool", pool_slots=1, priority_weight=1,
        operator="PythonOperator", queued_at=now, queued_by_job_id=None, next_retry_at=None, reschedule_date=None,
        rendered_fields=None, last_heartbeat_at=now, external_executor_id=None, trigger_id=None, next_method=None,
        next_kwargs=None, note=None, updated_at=now)
    return ClaimedTry(ti, run)


def warm_store(store: Any) -> None:
    """Compile (and run, matching no row) the statements of the claims, ends, heartbeats and XCom
    pulls, so the first real ones find them in SQLAlchemy's compiled cache (the task agent)."""
    now = datetime.now(timezone.utc)
    store.warm_runtime_statements(now)
    store.heartbeat_tries([(WARMUP_KEY, 0)], now)
    store.xcom_pull(WARMUP_KEY.run_key, WARMUP_KEY.task_id)


def pack_code(run: Callable[[], Any]) -> int:
    """Give each function that ``run()`` calls a fresh copy of its code object, made here in
    the order of the calls, so those code objects lie side by side; returns how many functions.

    A forked try writes to every code object it runs (its reference count, the interpreter's
    inline caches), and so copies every memory page one lies on. As imported, the code a try
    runs is spread over some 140 pages, among everything else each module defined; packed,
    it takes half as many, which every try then copies no more. Only functions the collector
    tracks (all but those frozen with ``gc.freeze``) are given the copies; the copies behave as
    the originals (same bytecode, names, constants and line numbers).
    """
    import gc

    called: dict[CodeType, None] = {}

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            called.setdefault(frame.f_code, None)
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    fresh: dict[CodeType, CodeType] = {}

    def copy(code: CodeType) -> CodeType:
        """The copy of ``code``, whose own nested code that ran (a lambda, a comprehension) is copied too."""
        if code not in fresh:
            fresh[code] = code.replace(co_consts=tuple(
                copy(c) if isinstance(c, CodeType) and c in called else c for c in code.co_consts))
        return fresh[code]
    for code in called:
        copy(code)
    moved = 0
    for obj in gc.get_objects():
        if isinstance(obj, FunctionType) and obj.__code__ in fresh:
            obj.__code__ = fresh[obj.__code__]
            moved += 1
    return moved
