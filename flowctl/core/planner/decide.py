"""The planner: given one run's task states and ``now``, decide what changes. Returns actions.

``plan(run, now)`` walks the tasks in topological order and, for each pending
task instance, evaluates its trigger rule against the states of its upstream
task instances (every map index of a mapped upstream), then depends_on_past
and wait_for_downstream against the previous run. Decisions made earlier in
the walk are seen by later tasks, so a failure propagates ``upstream_failed``
down a whole chain in one call. A mapped task the scheduler asks to re-expand
(``remap_lengths``: cleared, and its input changed length) is re-expanded
first and decided on the next call. When every task instance is finished
(removed counts as finished) the run finishes: failed if any leaf failed or
is upstream_failed, else success; teardown tasks are not leaves unless they
say ``on_failure_fail_dagrun`` (see ``TaskGraph.leaves``). A task inside a
setup's scope also waits for that setup (``scope.py``, Airflow's setup
constraint). In a run a person marked success or failed only the teardowns
the mark left are still decided, and the run is never finished again: it
keeps the state the person chose (``marking.py``).
``explain(run, task_id, now)`` gives the reasons a task instance is not running.

Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from itertools import chain

from flowctl.core.planner.actions import (
    Action, ExpandMapped, FinishRun, RemapMapped, ScheduleTask, SkipTask, TimeOutRun, UpstreamFailTask,
)
from flowctl.core.planner.graph import TaskSpec
from flowctl.core.planner.scope import scope_reasons, scope_verdict, teardown_reasons
from flowctl.core.planner.view import Capacity, RunView, StateMap
from flowctl.core.states import RUN_FINISHED, TI_FINISHED, DagRunState, TaskInstanceState
from flowctl.core.trigger_rules import UpstreamCounts, Verdict, evaluate

S = TaskInstanceState
_FINISHED = frozenset(s.value for s in TI_FINISHED)
_PAST_OK = frozenset({S.SUCCESS.value, S.SKIPPED.value})
_FAILED = frozenset({S.FAILED.value, S.UPSTREAM_FAILED.value})
_KNOWN = frozenset(s.value for s in S)
_PENDING = S.PENDING.value
_RUN_FINISHED = frozenset(s.value for s in RUN_FINISHED)


def upstream_counts(spec: TaskSpec, states: StateMap, map_index: int = -1,
                    tasks: Mapping[str, TaskSpec] | None = None) -> UpstreamCounts:
    """The states of every task instance of ``spec``'s direct upstream tasks, counted; for a task of
    a mapped task group (``tasks`` given), an upstream task of the same group counts at ``map_index`` only."""
    return _counts(spec, _by_task(states), map_index, tasks or {})


def past_blockers(run: RunView, spec: TaskSpec, map_index: int) -> list[str]:
    """Why depends_on_past / wait_for_downstream hold this task instance back (empty: they don't)."""
    if run.previous is None or not (spec.depends_on_past or spec.wait_for_downstream):
        return []
    reasons: list[str] = []
    prev = run.previous.get((spec.task_id, map_index))
    if prev is not None and prev not in _PAST_OK:
        reasons.append(f"depends_on_past: the previous run's {spec.task_id} is {prev}, not success or skipped")
    if spec.wait_for_downstream:
        for (task_id, _), state in sorted(run.previous.items()):
            if task_id in spec.downstream and state not in _PAST_OK:
                reasons.append(f"wait_for_downstream: the previous run's {task_id} is {state}")
    return reasons


def _by_task(states: StateMap) -> dict[str, dict[int, str]]:
    """task_id -> {map_index: state}: one pass, so each lookup below costs its own size, not the run's."""
    grouped: dict[str, dict[int, str]] = {}
    for (task_id, map_index), state in states.items():
        grouped.setdefault(task_id, {})[map_index] = state
    return grouped


def _upstream_states(spec: TaskSpec, upstream: Iterable[str], by_task: dict[str, dict[int, str]], map_index: int,
                     tasks: Mapping[str, TaskSpec]) -> Iterable[str]:
    """The states that decide task instance ``map_index`` of ``spec``: every map index of an upstream
    task, except that within one mapped task group index i waits for index i alone (the placeholder
    -1 for the placeholder, until that upstream is expanded), as in Airflow."""
    if spec.mapped_group is None:
        return chain.from_iterable(by_task[up].values() for up in upstream if up in by_task)
    found: list[str] = []
    for up in upstream:
        states = by_task.get(up)
        if states is None:
            continue
        up_spec = tasks.get(up)
        if up_spec is not None and up_spec.mapped_group == spec.mapped_group:
            if map_index in states:
                found.append(states[map_index])
        else:
            found.extend(states.values())
    return found


def _counts(spec: TaskSpec, by_task: dict[str, dict[int, str]], map_index: int,
            tasks: Mapping[str, TaskSpec]) -> UpstreamCounts:
    """:func:`upstream_counts` over states grouped by task (the planner groups once per plan);
    plain strings are counted directly, anything else the checked way."""
    tally = Counter(_upstream_states(spec, spec.upstream, by_task, map_index, tasks))
    # the upstream setups, counted as the upstreams are (one map index of a setup in the same mapped group)
    setups = Counter(_upstream_states(spec, spec.setups, by_task, map_index, tasks) if spec.setups else ())
    if not tally.keys() <= _KNOWN:  # an enum member or an unknown state: the checked way
        return UpstreamCounts.from_states(tally.elements(), setups.elements())
    return UpstreamCounts(total=sum(tally.values()), success=tally[S.SUCCESS.value], failed=tally[S.FAILED.value],
                          upstream_failed=tally[S.UPSTREAM_FAILED.value], skipped=tally[S.SKIPPED.value],
                          removed=tally[S.REMOVED.value], setup=sum(setups.values()),
                          setup_success=setups[S.SUCCESS.value], setup_skipped=setups[S.SKIPPED.value])


def _verdict(run: RunView, spec: TaskSpec, map_index: int, by_task: dict[str, dict[int, str]]) -> Verdict:
    """The setups of the task's scope first (Airflow's setup constraint), then its trigger rule."""
    tasks = run.graph.tasks
    if spec.scope_setups:
        held = scope_verdict(spec, _upstream_states(spec, spec.scope_setups, by_task, map_index, tasks))
        if held is not None:
            return held
    return evaluate(spec.trigger_rule, _counts(spec, by_task, map_index, tasks))


def _decide(run: RunView, spec: TaskSpec, map_index: int, by_task: dict[str, dict[int, str]]) -> Action | None:
    verdict = _verdict(run, spec, map_index, by_task)
    key = run.ti_key(spec.task_id, map_index)
    group = by_task[spec.task_id]
    if verdict is Verdict.SKIP:
        group[map_index] = S.SKIPPED.value
        return SkipTask(key)
    if verdict is Verdict.UPSTREAM_FAILED:
        group[map_index] = S.UPSTREAM_FAILED.value
        return UpstreamFailTask(key)
    if verdict is Verdict.WAIT or past_blockers(run, spec, map_index):
        return None
    if spec.is_mapped and map_index == -1:
        if spec.task_id in run.missing_inputs:  # cannot expand: Airflow's NotFullyPopulated
            group[map_index] = S.UPSTREAM_FAILED.value
            return UpstreamFailTask(key)
        length = run.map_lengths.get(spec.task_id)
        if length is None:
            return None
        if spec.mapped_group is not None:  # the group's next tasks expand in this same pass
            _expanded(group, length)
        return ExpandMapped(spec.task_id, length)
    group[map_index] = S.SCHEDULED.value
    return ScheduleTask(key)


def _expanded(group: dict[int, str], length: int) -> None:
    """What expanding does to one task's states: the placeholder becomes map indexes 0..length-1,
    or is skipped when the input is empty."""
    if length == 0:
        group[-1] = S.SKIPPED.value
        return
    del group[-1]
    group.update(dict.fromkeys(range(length), _PENDING))


def final_state(run: RunView, states: StateMap) -> DagRunState:
    """failed if a leaf task instance failed or is upstream_failed, else success."""
    leaves = run.graph.leaves
    failed = any(state in _FAILED for (task_id, _), state in states.items() if task_id in leaves)
    return DagRunState.FAILED if failed else DagRunState.SUCCESS


def plan(run: RunView, now: datetime) -> list[Action]:
    """The actions that move ``run`` forward at ``now`` (empty: nothing to do yet)."""
    if run.run_state in _RUN_FINISHED:  # marked by a person: its teardowns still clean up
        tasks = run.graph.tasks
        return _walk(run, _by_task(run.states), {task_id for (task_id, _), state in run.states.items()
                                                 if state == _PENDING and task_id in tasks
                                                 and tasks[task_id].is_teardown})
    if run.run_state != DagRunState.RUNNING.value:
        return []
    if run.timed_out(now):
        return [TimeOutRun()]
    by_task = _by_task(run.states)
    actions = _walk(run, by_task, {task_id for (task_id, _), state in run.states.items() if state == _PENDING})
    expanding = any(isinstance(a, (ExpandMapped, RemapMapped)) for a in actions)
    if not expanding and all(state in _FINISHED for group in by_task.values() for state in group.values()):
        final = {(t, m): state for t, group in by_task.items() for m, state in group.items()}
        actions.append(FinishRun(final_state(run, final)))
    return actions


def _walk(run: RunView, by_task: dict[str, dict[int, str]], waiting: set[str]) -> list[Action]:
    """Decide the pending task instances of the ``waiting`` tasks, in topological order (each decision
    is written into ``by_task``, so the tasks after it see it)."""
    actions: list[Action] = []
    for task_id in run.graph.order:
        if task_id not in waiting:
            continue
        if task_id in run.remap_lengths:  # its indexes are scheduled from the new rows, next pass
            actions.append(RemapMapped(task_id, run.remap_lengths[task_id]))
            continue
        spec = run.graph.tasks[task_id]
        group = by_task[task_id]
        for map_index in sorted(group):
            if group[map_index] != _PENDING:
                continue
            action = _decide(run, spec, map_index, by_task)
            if action is not None:
                actions.append(action)
    return actions


def explain(run: RunView, task_id: str, now: datetime) -> list[str]:
    """Reasons the task instance(s) of ``task_id`` are not running (empty: nothing holds them)."""
    spec = run.graph.tasks.get(task_id)
    if spec is None:
        return [f"task {task_id!r} is not in this DAG version"]
    reasons: list[str] = []
    if run.dag_paused:
        reasons.append(f"DAG {run.key.dag_id!r} is paused")
    marked = run.run_state in _RUN_FINISHED and spec.is_teardown  # its teardowns still run
    if run.run_state != DagRunState.RUNNING.value and not marked:
        reasons.append(f"the run is {run.run_state}, not running")
        if run.starts_at is not None and run.starts_at > now:
            reasons.append(f"its logical date {run.starts_at.isoformat()} is in the future: a manual run starts then")
    if run.timed_out(now):
        reasons.append("the run is past its dagrun_timeout")
    for map_index in run.indexes(task_id) or [-1]:
        reasons.extend(_explain_ti(run, spec, map_index))
    return reasons


def _explain_ti(run: RunView, spec: TaskSpec, map_index: int) -> list[str]:
    label = spec.task_id if map_index < 0 else f"{spec.task_id}[{map_index}]"
    state = run.states.get((spec.task_id, map_index))
    if state is None:
        return [f"{label} has no task instance in this run"]
    if state == S.SCHEDULED.value:
        return [f"{label} is scheduled, waiting for a free slot", *_capacity_reasons(run, spec)]
    if state != S.PENDING.value:
        return [f"{label} is {state}"]
    reasons = upstream_blockers(run, spec, map_index)
    reasons.extend(f"{label}: {r}" for r in past_blockers(run, spec, map_index))
    verdict = evaluate(spec.trigger_rule, upstream_counts(spec, run.states, map_index, run.graph.tasks))
    if verdict is Verdict.RUN and spec.is_mapped and map_index == -1 and spec.task_id not in run.map_lengths:
        reasons.append(f"{label}: waiting to expand (the mapped input is not available yet)")
    return reasons


def upstream_blockers(run: RunView, spec: TaskSpec, map_index: int) -> list[str]:
    """Why its upstream tasks (trigger rule, setups) hold a pending task instance back (empty: they don't)."""
    label = spec.task_id if map_index < 0 else f"{spec.task_id}[{map_index}]"
    counts = upstream_counts(spec, run.states, map_index, run.graph.tasks)
    verdict = evaluate(spec.trigger_rule, counts)
    reasons = _setup_reasons(run, spec, label, map_index) if verdict is not Verdict.RUN or spec.scope_setups else []
    if verdict is not Verdict.RUN:
        reasons.append(f"{label}: trigger rule {spec.trigger_rule.value} says {verdict.value} "
                       f"(upstream: {counts.success} success, {counts.failed} failed, "
                       f"{counts.upstream_failed} upstream_failed, {counts.skipped} skipped, "
                       f"{counts.relevant - counts.done} unfinished)")
    return reasons


def _setup_reasons(run: RunView, spec: TaskSpec, label: str, map_index: int) -> list[str]:
    """The lines naming the setups a task of their scope waits for, or a teardown's setups."""
    setups = spec.setups if spec.is_teardown else spec.scope_setups
    if not setups:
        return []
    by_task = _by_task(run.states)
    states = {setup: list(_upstream_states(spec, [setup], by_task, map_index, run.graph.tasks)) for setup in setups}
    return teardown_reasons(label, states) if spec.is_teardown else scope_reasons(label, spec, states)


def _pool_size_reasons(cap: Capacity, task_id: str) -> list[str]:
    """Why no pool can ever hold the task, if none can (the scheduler also warns about it)."""
    if cap.pool_sizes is None or cap.needs is None:
        return []
    pool, slots = cap.needs
    size = cap.pool_sizes.get(pool)
    if size is None:
        return [f"pool {pool!r} does not exist: create it with `flowctl pools set {pool} SLOTS DESCRIPTION`, "
                f"or change the task's pool"]
    if 0 <= size < slots:
        return [f"{task_id} needs {slots} slots of pool {pool!r}, which has {size} in all: it can never run "
                f"(grow the pool, or lower the task's pool_slots)"]
    return []


def _capacity_reasons(run: RunView, spec: TaskSpec) -> list[str]:
    cap = run.capacity
    if cap is None:
        return []
    reasons = _pool_size_reasons(cap, spec.task_id)
    for pool, free in sorted(cap.pool_free.items()):
        if free <= 0:
            reasons.append(f"pool {pool!r} has no open slots")
    if cap.dag_free is not None and cap.dag_free <= 0:
        reasons.append(f"DAG {run.key.dag_id!r} reached max_active_tasks")
    if cap.task_free.get(spec.task_id, 1) <= 0:
        reasons.append(f"task {spec.task_id!r} reached max_active_tis_per_dag")
    return reasons
