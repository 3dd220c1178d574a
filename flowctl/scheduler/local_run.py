"""Run DAG runs to the end in this process: ``dags test``, ``dags backfill --local`` and ``DAG.test()``.

No daemon: a small loop asks the pure planner (``flowctl.core.planner.plan``)
what to do with one run, applies the actions through the Store's
compare-and-set verbs, and runs each scheduled try here with the task
runner's ``run_workload`` (one at a time, in topological order), and the
trigger of each try that defers, until it fires (no triggerer needed). The same
rows and the same claim as with the real scheduler, so a scheduler running
at the same time never runs a try twice; the tasks such a scheduler queued
first run there, and this loop waits for them (saying so) before going on.
Task states are told to ``echo`` as they change. The run this process ends gets
its DAG's on_success_callback / on_failure_callback here, as Airflow's ``dags
test`` does, through the scheduler's own ``run_dag_callbacks``.

It lives in the scheduler layer, not in ``flowctl/cli``, because two callers
share it: the click commands (``flowctl/cli/local_run.py``) and ``DAG.test()``
(``flowctl/scheduler/dag_test.py``), and nothing may import ``cli``. It runs
user code (the tries), so the scheduler daemon never calls it. Must not import
click, flask, SQLAlchemy, web or cli.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from flowctl.core.errors import DagNotFound, DagRunNotFound, FlowctlError
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.states import RUN_FINISHED, DagRunState, TaskInstanceState

TI, R = TaskInstanceState, DagRunState
Echo = Callable[[str], None] | None
MAX_IDLE_WAIT = 5.0
ELSEWHERE_POLL = 0.2  # seconds between looks at tasks a scheduler beside this process holds


def _now() -> datetime:
    return datetime.now(timezone.utc)


class LocalRun:
    """Drives one run: plan, apply, run scheduled tries in-process, until the run is finished.

    ``mark_success``: the tasks whose id it matches in full are marked success instead of run
    (Airflow's ``mark_success_pattern``). ``log_stream``: each try's log lines are also written
    there as they come (``DAG.test()`` passes the terminal), besides the try's log file.
    """

    def __init__(self, store: Any, settings: Any, key: RunKey, echo: Echo, *,
                 mark_success: re.Pattern[str] | None = None, log_stream: TextIO | None = None) -> None:
        from flowctl.core.planner import task_graph

        self.store, self.settings, self.key, self.echo = store, settings, key, echo
        self.mark_success, self.log_stream = mark_success, log_stream
        run = store.get_run(key.dag_id, key.run_id)
        serialized = store.get_serialized_dag(run.serialized_dag_id) if run.serialized_dag_id else \
            store.latest_serialized_dag(key.dag_id)
        self.fileloc = serialized.fileloc or store.get_dag(key.dag_id).fileloc or ""
        self.graph = task_graph(serialized.data)
        self.seen: dict[tuple[str, int], str] = {}
        self.told_elsewhere: set[tuple[str, int, str]] = set()

    def run_to_end(self) -> str:
        """Run until the run's state is final; returns it."""
        self._start()
        while True:
            run = self.store.get_run(self.key.dag_id, self.key.run_id)
            tis = self.store.list_task_instances(self.key)
            self._print_changes(tis)
            if run.state in {s.value for s in RUN_FINISHED}:
                return str(run.state)
            if self._step(run, tis, _now()):
                continue
            # Read again: a scheduler beside this process may have moved tasks since ``tis`` was read
            # (then plan again, from what they are now) or hold tasks this step could not take.
            fresh = self.store.list_task_instances(self.key)
            if _states(fresh) == _states(tis):
                self._wait_for_due(fresh)

    def _start(self) -> None:
        now = _now()
        self.store.set_run_state(self.key, R.QUEUED, R.RUNNING, start_date=now, updated_at=now)

    def _step(self, run: Any, tis: Sequence[Any], now: datetime) -> bool:
        """One round of decisions and tries; False when nothing could move."""
        moved = self._retry_due(tis, now)
        actions = self._plan(run, tis, now)
        for action in actions:
            moved = self._apply(action, now) or moved
        for ti in self.store.list_task_instances(self.key, state=TI.SCHEDULED):
            moved = self._run_try(ti) or moved
        for ti in self.store.list_task_instances(self.key, state=TI.DEFERRED):
            moved = self._run_trigger(ti) or moved
        return moved

    def _run_trigger(self, ti: Any) -> bool:
        """A deferred try's trigger, run here until it fires, fails or times out (no triggerer needed,
        as with Airflow's ``dags test``); then the task resumes in this loop. One a triggerer has
        taken already (a deployment beside this process) is left to it."""
        from flowctl.triggerer.job import load_trigger
        from flowctl.triggerer.loop import TriggerOutcome, run_until_event
        from flowctl.triggers.metadata import using_store

        deferral = self.store.deferral_of(ti.key)
        records = [] if deferral is None or deferral.triggerer_id is not None else \
            self.store.triggers([deferral.trigger_id])
        if not records:
            return False
        record, deadline = records[0], deferral.trigger_timeout
        self._say(f"{ti.task_id}{_index(ti.key)}: running its trigger {record.classpath} in this process")
        try:
            trigger = load_trigger(record.classpath, record.kwargs)
        except Exception as exc:  # noqa: BLE001 - a trigger that cannot be built fails its task
            outcome: TriggerOutcome | None = TriggerOutcome(record.id, error=f"{type(exc).__name__}: {exc}")
        else:
            timeout = None if deadline is None else max(0.0, (deadline - _now()).total_seconds())
            with using_store(self.store):  # a trigger that reads runs reads this command's database
                outcome = run_until_event(record.id, trigger, timeout)
        if outcome is None:  # the deferral's deadline passed: the task resumes to fail
            return bool(self.store.time_out_deferrals(max(_now(), deadline)))
        if outcome.error is None:
            return bool(self.store.fire_trigger(record.id, outcome.payload, _now()))
        return bool(self.store.fail_trigger(record.id, outcome.error, _now()))

    def _plan(self, run: Any, tis: Sequence[Any], now: datetime) -> list[Any]:
        from flowctl.core.planner import RunView, plan

        states = _states(tis)
        lengths, missing = self._map_lengths(states)
        view = RunView(key=self.key, graph=self.graph, states=states, run_state=run.state,
                       start_date=run.start_date, previous=self._previous_states(run),
                       map_lengths=lengths, missing_inputs=missing)
        return plan(view, now)

    def _map_lengths(self, states: dict[tuple[str, int], str]) -> tuple[dict[str, int], frozenset[str]]:
        """The RunView's ``map_lengths`` (how many instances each mapped task ready to expand gets, from
        its upstream XComs) and ``missing_inputs`` (those whose input never came)."""
        from flowctl.core.errors import MapInputMissing
        from flowctl.core.planner import input_final, map_length, xcom_refs

        lengths: dict[str, int] = {}
        missing: set[str] = set()
        for task_id, spec in self.graph.tasks.items():
            if not spec.is_mapped or states.get((task_id, -1)) != TI.PENDING.value:
                continue
            refs = xcom_refs(spec.mapping)
            if not all(input_final(self.graph, states, source) for source, _ in refs):
                continue
            values = {ref: self._pull(ref) for ref in refs}
            try:
                lengths[task_id] = map_length(spec.mapping, values)
            except MapInputMissing:
                missing.add(task_id)
            except ValueError as exc:
                self._say(f"{task_id}: cannot expand: {exc}")
                lengths[task_id] = 0
        return lengths, frozenset(missing)

    def _pull(self, ref: tuple[str, str]) -> Any:
        task_id, key = ref
        spec = self.graph.tasks.get(task_id)
        if spec is not None and spec.is_mapped:
            return self.store.xcom_pull_mapped(self.key, task_id, key)
        return self.store.xcom_pull(self.key, task_id, key)

    def _previous_states(self, run: Any) -> dict[tuple[str, int], str] | None:
        earlier = [r for r in self.store.list_runs(self.key.dag_id, limit=1000) if r.logical_date < run.logical_date]
        if not earlier:
            return None
        return {(t.task_id, t.map_index): t.state for t in self.store.list_task_instances(earlier[0].key)}

    def _apply(self, action: Any, now: datetime) -> bool:
        from flowctl.core.planner import ExpandMapped, FinishRun, ScheduleTask, SkipTask, TimeOutRun, UpstreamFailTask

        if isinstance(action, ScheduleTask):
            return bool(self.store.set_task_state(action.key, TI.PENDING, TI.SCHEDULED, updated_at=now))
        if isinstance(action, SkipTask):
            return bool(self.store.set_task_state(action.key, TI.PENDING, TI.SKIPPED, end_date=now, updated_at=now))
        if isinstance(action, UpstreamFailTask):
            return bool(self.store.set_task_state(action.key, TI.PENDING, TI.UPSTREAM_FAILED, end_date=now,
                                                  updated_at=now))
        if isinstance(action, FinishRun):
            if not self.store.finish_run(self.key, action.state, now):
                return False  # a scheduler beside this process finished it first, and calls the callback
            self._dag_callback(action.state, "success" if action.state is R.SUCCESS else "task_failure")
            return True
        if isinstance(action, TimeOutRun):
            if self.store.kill_runs(self.key.dag_id, [R.RUNNING], now, run_ids=[self.key.run_id]).runs:
                self._dag_callback(R.FAILED, "timed_out")
            return True
        if isinstance(action, ExpandMapped):
            return bool(self.store.expand_mapped_task(self.key, action.task_id, action.length, now))
        return False

    def _dag_callback(self, state: DagRunState, reason: str) -> None:
        """The DAG's on_success_callback / on_failure_callback for the run this process just ended, called
        here as the scheduler's callback child calls it; what it raises is reported and changes nothing."""
        from flowctl.scheduler.callback_main import run_dag_callbacks
        from flowctl.task_runner.dagfile import load_dag

        wanted = self.graph.has_success_callback if state is R.SUCCESS else self.graph.has_failure_callback
        if not wanted or not self.fileloc:
            return
        kind = "success" if state is R.SUCCESS else "failure"
        try:
            dag = load_dag(self.fileloc, self.key.dag_id)
        except Exception as error:  # noqa: BLE001 - the DAG file is user code; the run has ended anyway
            self._say(f"cannot call the DAG's on_{kind}_callback: {type(error).__name__}: {error}")
            return
        run = self.store.get_run(self.key.dag_id, self.key.run_id)
        for error in run_dag_callbacks(dag, run, kind, reason, self.store, self.settings):
            self._say(f"DAG {self.key.dag_id} on_{kind}_callback raised {type(error).__name__}: {error} "
                      f"(the run stays {state.value})")

    def _retry_due(self, tis: Sequence[Any], now: datetime) -> bool:
        moved = False
        for ti in tis:
            due = ti.next_retry_at if ti.state == TI.UP_FOR_RETRY.value else ti.reschedule_date
            if ti.state in (TI.UP_FOR_RETRY.value, TI.UP_FOR_RESCHEDULE.value) and (due is None or due <= now):
                moved = self.store.set_task_state(ti.key, ti.state, TI.SCHEDULED, updated_at=now) or moved
        return moved

    def _run_try(self, ti: Any) -> bool:
        from flowctl.executors.base import Workload
        from flowctl.task_runner.runner import run_workload

        if self.mark_success is not None and self.mark_success.fullmatch(ti.task_id):
            return self._mark_success(ti)
        if not self.store.set_task_state(ti.key, TI.SCHEDULED, TI.QUEUED, queued_at=_now(), updated_at=_now()):
            return False
        self._say(f"{ti.task_id}{_index(ti.key)}: queued")
        workload = Workload(ti.key, ti.try_number, self.fileloc, ti.queue, ti.priority_weight, ti.pool, ti.pool_slots)
        result = run_workload(workload, self.settings, self.store, log_echo=self.log_stream)
        if result.error:
            self._say(f"{ti.task_id}{_index(ti.key)}: {result.error}")
        if result.log_path and self.echo is not None:
            self._say(f"{ti.task_id}{_index(ti.key)}: log {result.log_path}")
        return True

    def _mark_success(self, ti: Any) -> bool:
        """Success without running, as a person marks it (the caller asked for it by pattern)."""
        now = _now()
        if not self.store.set_task_state_manually(ti.key, TI.SCHEDULED, TI.SUCCESS, end_date=now, updated_at=now):
            return False
        self._say(f"{ti.task_id}{_index(ti.key)}: marked success without running (mark_success_pattern)")
        return True

    def _wait_for_due(self, tis: Sequence[Any]) -> None:
        """Nothing can move here now: wait for the tasks another process holds (a scheduler queued
        them first) or until the next retry/reschedule is due; give up if there is neither."""
        elsewhere = [t for t in tis if t.state in _ELSEWHERE]
        if elsewhere:
            for ti in elsewhere:
                if (ti.task_id, ti.map_index, ti.state) not in self.told_elsewhere:
                    self.told_elsewhere.add((ti.task_id, ti.map_index, ti.state))
                    self._say(f"{ti.task_id}{_index(ti.key)}: {ti.state} outside this process (by a scheduler "
                              f"running beside it?); waiting for it to end")
            time.sleep(ELSEWHERE_POLL)
            return
        stuck = sorted(t.task_id for t in tis if t.state not in _DONE)
        if not stuck:  # every task is done: another process finished the run first (read it again)
            time.sleep(ELSEWHERE_POLL)
            return
        dues = [t.next_retry_at or t.reschedule_date for t in tis
                if t.state in (TI.UP_FOR_RETRY.value, TI.UP_FOR_RESCHEDULE.value)]
        if not dues:
            raise FlowctlError(f"run {self.key.run_id!r} cannot make progress; tasks {stuck} are waiting "
                               f"(see `flowctl tasks failed-deps {self.key.dag_id} TASK_ID {self.key.run_id}`)")
        soonest = min((d for d in dues if d is not None), default=_now())
        time.sleep(min(MAX_IDLE_WAIT, max(0.0, (soonest - _now()).total_seconds())))

    def _print_changes(self, tis: Sequence[Any]) -> None:
        for ti in tis:
            spot = (ti.task_id, ti.map_index)
            if self.seen.get(spot) != ti.state:
                self.seen[spot] = ti.state
                if ti.state != TI.PENDING.value:
                    self._say(f"{ti.task_id}{_index(ti.key)}: {ti.state}")

    def _say(self, text: str) -> None:
        if self.echo is not None:
            self.echo(f"[{_now().strftime('%H:%M:%S')}] {text}")


_DONE = {TI.SUCCESS.value, TI.FAILED.value, TI.SKIPPED.value, TI.UPSTREAM_FAILED.value, TI.REMOVED.value}
#: What another process moves on: this one runs only the tries it queues itself.
_ELSEWHERE = {TI.SCHEDULED.value, TI.QUEUED.value, TI.RUNNING.value, TI.DEFERRED.value}


def _states(tis: Sequence[Any]) -> dict[tuple[str, int], str]:
    return {(t.task_id, t.map_index): t.state for t in tis}


def _index(key: TaskInstanceKey) -> str:
    return f"[{key.map_index}]" if key.map_index >= 0 else ""


def run_locally(store: Any, settings: Any, keys: Sequence[RunKey], echo: Echo) -> list[str]:
    """Run each of ``keys`` (queued or running) to its end, oldest first; their final states."""
    states = []
    for key in keys:
        run = store.get_run(key.dag_id, key.run_id)
        if run.state in {s.value for s in RUN_FINISHED}:
            states.append(run.state)
            continue
        states.append(LocalRun(store, settings, key, echo).run_to_end())
    return states


def sync_from_folder(store: Any, settings: Any, dag_id: str) -> None:
    """Parse the DAG folder (in child processes) and store the DAG, so the test runs the file as it is now."""
    from flowctl.dag_processing.processor import parse_folder

    result = parse_folder(settings)
    found = [d for d in result.dags if d.dag_id == dag_id]
    if not found:
        errors = "; ".join(f"{path}: {err.strip().splitlines()[-1]}" for path, err in result.import_errors.items())
        raise DagNotFound(f"DAG {dag_id!r} not found in {settings.dags_folder}"
                          + (f" (import errors: {errors})" if errors else ""))
    store.sync_dag(found[0].data, found[0].fileloc, _now(),
                   paused_at_creation=bool(settings.get("core", "dags_are_paused_at_creation")))


def start_fresh_test_run(store: Any, dag_id: str, logical_date: datetime, conf: dict[str, Any] | None,
                         note: str) -> Any:
    """A new queued manual run of the stored DAG at ``logical_date`` (``manual__<date>``), for a test, as
    Airflow's ``dag.test()`` makes it: a run that exists at that date (or with that run id) is deleted
    first, so the new run has the DAG and the conf as they are now. The run's record."""
    run_id = f"manual__{logical_date.isoformat()}"
    in_the_way = {r.run_id: r for r in store.list_runs(dag_id, since=logical_date, until=logical_date, limit=100)}
    try:
        in_the_way.setdefault(run_id, store.get_run(dag_id, run_id))
    except DagRunNotFound:
        pass
    for run in in_the_way.values():
        if run.state == R.RUNNING.value:
            raise FlowctlError(f"run {run.run_id!r} of DAG {dag_id!r} is running; kill it first "
                               f"(`flowctl dags kill-runs {dag_id}`)")
        store.delete_run(run.key)
    return store.trigger_dag(dag_id, now=_now(), run_id=run_id, logical_date=logical_date, conf=conf, note=note)


def dags_test(store: Any, settings: Any, dag_id: str, logical_date: datetime, conf: dict[str, Any] | None,
             echo: Callable[[str], None]) -> str:
    """``dags test``: a fresh run of the DAG as its file in the DAG folder is now, run here, printing the
    tasks' log lines as well (Airflow 2.5+'s ``dags test`` is ``dag.test()``); its final state."""
    sync_from_folder(store, settings, dag_id)
    run = start_fresh_test_run(store, dag_id, logical_date, conf, "flowctl dags test")
    echo(f"Testing DAG {dag_id}, run {run.run_id}")
    return LocalRun(store, settings, run.key, echo, log_stream=sys.stdout).run_to_end()
