"""The task graph the scheduler plans with, read from a serialized DAG (a JSON mapping).

Owns :class:`TaskSpec` (what the planner needs to know about one task) and
:class:`TaskGraph` (all tasks, in topological order, with resolved priority
weights). Built once per serialized DAG version and cached by the scheduler.
Pure: must not import anything outside flowctl.core and the standard library.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flowctl.core.errors import CycleError
from flowctl.core.trigger_rules import TriggerRule
from flowctl.core.weight_rule import WeightRule, parse_weight_rule

DEFAULT_RETRY_DELAY = timedelta(seconds=300)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task as the planner sees it (no user code)."""

    task_id: str
    upstream: frozenset[str] = frozenset()
    downstream: frozenset[str] = frozenset()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    depends_on_past: bool = False
    wait_for_downstream: bool = False
    is_mapped: bool = False
    mapping: Mapping[str, Any] | None = None
    #: The mapped task group this task is in (its map index i depends on index i of the group's tasks).
    mapped_group: str | None = None
    max_active_tis_per_dag: int | None = None
    max_active_tis_per_dagrun: int | None = None
    retries: int = 0
    retry_delay: timedelta = DEFAULT_RETRY_DELAY
    retry_exponential_backoff: bool = False
    max_retry_delay: timedelta | None = None
    priority_weight: int = 1
    weight_rule: WeightRule = WeightRule.DOWNSTREAM
    has_failure_callback: bool = False
    has_retry_callback: bool = False
    #: The task has ``email`` and ``email_on_failure`` / ``email_on_retry``: a dead try's alert.
    emails_on_failure: bool = False
    emails_on_retry: bool = False
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    #: The direct upstream tasks that are setup tasks (filled in by :func:`task_graph`).
    setups: frozenset[str] = frozenset()
    #: The setup tasks whose scope this task is in without being their direct downstream (Airflow's
    #: "indirect setups"): it runs only once they succeeded. Empty for teardowns (see :func:`task_graph`).
    scope_setups: frozenset[str] = frozenset()


def _seconds(value: Any) -> timedelta | None:
    return None if value is None else timedelta(seconds=float(value))


def _limit(value: Any) -> int | None:
    return None if value is None else int(value)


def task_spec(task: Mapping[str, Any]) -> TaskSpec:
    """A TaskSpec from one serialized task mapping (missing keys take Airflow's defaults)."""
    limit = task.get("max_active_tis_per_dag")
    callbacks = task.get("callbacks") or {}
    return TaskSpec(
        task_id=str(task["task_id"]),
        upstream=frozenset(task.get("upstream_task_ids") or ()),
        downstream=frozenset(task.get("downstream_task_ids") or ()),
        trigger_rule=TriggerRule(task.get("trigger_rule") or TriggerRule.ALL_SUCCESS),
        depends_on_past=bool(task.get("depends_on_past")),
        wait_for_downstream=bool(task.get("wait_for_downstream")),
        is_mapped=bool(task.get("is_mapped")),
        mapping=task.get("mapping"),
        mapped_group=(task.get("mapping") or {}).get("mapped_group_id"),
        max_active_tis_per_dag=None if limit is None else int(limit),
        max_active_tis_per_dagrun=_limit(task.get("max_active_tis_per_dagrun")),
        retries=int(task.get("retries") or 0),
        retry_delay=DEFAULT_RETRY_DELAY if task.get("retry_delay") is None else _seconds(task["retry_delay"]),
        retry_exponential_backoff=bool(task.get("retry_exponential_backoff")),
        max_retry_delay=_seconds(task.get("max_retry_delay")),
        priority_weight=1 if task.get("priority_weight") is None else int(task["priority_weight"]),
        weight_rule=parse_weight_rule(task.get("weight_rule") or WeightRule.DOWNSTREAM),
        has_failure_callback=bool(callbacks.get("on_failure_callback")),
        has_retry_callback=bool(callbacks.get("on_retry_callback")),
        emails_on_failure=bool(task.get("email")) and task.get("email_on_failure") is not False,
        emails_on_retry=bool(task.get("email")) and task.get("email_on_retry") is not False,
        is_setup=bool(task.get("is_setup")),
        is_teardown=bool(task.get("is_teardown")),
        on_failure_fail_dagrun=bool(task.get("on_failure_fail_dagrun")),
    )


def dag_body_of(serialized: Mapping[str, Any]) -> Mapping[str, Any]:
    """The DAG mapping inside a serialized DAG (Airflow nests it under ``"dag"``)."""
    inner = serialized.get("dag")
    return inner if isinstance(inner, Mapping) else serialized


@dataclass(frozen=True, slots=True)
class TaskGraph:
    """Every task of one DAG version, topologically ordered, with effective priority weights."""

    dag_id: str
    tasks: Mapping[str, TaskSpec]
    order: tuple[str, ...]
    weights: Mapping[str, int]
    max_active_tasks: int | None = None
    max_active_runs: int | None = None
    dagrun_timeout: timedelta | None = None
    has_success_callback: bool = False
    has_failure_callback: bool = False

    def task_limits(self) -> dict[tuple[str, str], int]:
        """(dag_id, task_id) -> max_active_tis_per_dag, for the tasks that set one."""
        return {(self.dag_id, task_id): spec.max_active_tis_per_dag for task_id, spec in self.tasks.items()
                if spec.max_active_tis_per_dag is not None}

    def run_task_limits(self) -> dict[tuple[str, str], int]:
        """(dag_id, task_id) -> max_active_tis_per_dagrun, for the tasks that set one."""
        return {(self.dag_id, task_id): spec.max_active_tis_per_dagrun for task_id, spec in self.tasks.items()
                if spec.max_active_tis_per_dagrun is not None}

    @property
    def leaves(self) -> frozenset[str]:
        """The tasks that decide the run's final state: as Airflow's, teardown tasks (unless
        ``on_failure_fail_dagrun``) are left out, and a task only they depend on counts as a leaf;
        plain leaves when that leaves nothing (a DAG of teardowns only)."""
        ignored = {t for t, spec in self.tasks.items() if spec.is_teardown and not spec.on_failure_fail_dagrun}
        effective = frozenset(t for t, spec in self.tasks.items()
                              if t not in ignored and spec.downstream & self.tasks.keys() <= ignored)
        return effective or frozenset(t for t, spec in self.tasks.items()
                                      if not (spec.downstream & self.tasks.keys()))


def _fill_edges(specs: dict[str, TaskSpec]) -> dict[str, TaskSpec]:
    """Make upstream/downstream symmetric (serialized DAGs may list only one side)."""
    down: dict[str, set[str]] = {t: set(s.downstream) for t, s in specs.items()}
    up: dict[str, set[str]] = {t: set(s.upstream) for t, s in specs.items()}
    for task_id, spec in specs.items():
        for u in spec.upstream & specs.keys():
            down[u].add(task_id)
        for d in spec.downstream & specs.keys():
            up[d].add(task_id)
    return {t: _replace_edges(s, frozenset(up[t] & specs.keys()), frozenset(down[t] & specs.keys()))
            for t, s in specs.items()}


def _with_setups(specs: dict[str, TaskSpec]) -> dict[str, TaskSpec]:
    """Each task with its direct upstream setup tasks named (for ``all_done_setup_success``)."""
    from dataclasses import replace

    setup_ids = {t for t, spec in specs.items() if spec.is_setup}
    if not setup_ids:
        return specs
    return {t: replace(s, setups=s.upstream & setup_ids) if s.upstream & setup_ids else s for t, s in specs.items()}


def _with_scope_setups(specs: dict[str, TaskSpec]) -> dict[str, TaskSpec]:
    """Each task with the setups whose scope it is in, not directly: a setup's scope is every task
    below it that one of its teardowns follows (every task below it when it has no teardown), as
    Airflow's relevant setups; teardowns have none (their trigger rule looks at their setups)."""
    from dataclasses import replace

    found: dict[str, set[str]] = {}
    for setup_id in (t for t, spec in specs.items() if spec.is_setup):
        below = _relatives(specs, setup_id, True)
        teardowns = [t for t in specs[setup_id].downstream if specs[t].is_teardown]
        if teardowns:  # else its scope is everything below it
            below &= set[str]().union(*(_relatives(specs, t, False) for t in teardowns))
        for task_id in below - specs[setup_id].downstream:
            if not specs[task_id].is_teardown:
                found.setdefault(task_id, set()).add(setup_id)
    return {t: replace(s, scope_setups=frozenset(found[t])) if t in found else s for t, s in specs.items()}


def _replace_edges(spec: TaskSpec, upstream: frozenset[str], downstream: frozenset[str]) -> TaskSpec:
    from dataclasses import replace

    return replace(spec, upstream=upstream, downstream=downstream)


def topological_order(tasks: Mapping[str, TaskSpec]) -> tuple[str, ...]:
    """Task ids, each after its upstream tasks (ties in definition order); CycleError on a cycle.

    In layers: first the tasks with no upstream task, then those whose upstream tasks all lie in
    earlier layers, and so on, each layer in definition order. Linear in tasks and edges (Kahn's
    algorithm): a chain of thousands of tasks is ordered as fast as a fan-out of as many.
    """
    index = {task_id: i for i, task_id in enumerate(tasks)}
    unplaced_upstream = {task_id: len(spec.upstream) for task_id, spec in tasks.items()}
    below: dict[str, list[str]] = {}
    for task_id, spec in tasks.items():
        for up in spec.upstream:
            below.setdefault(up, []).append(task_id)
    layer = [task_id for task_id, count in unplaced_upstream.items() if count == 0]
    order: list[str] = []
    while layer:
        order.extend(layer)
        following = []
        for task_id in layer:
            for down in below.get(task_id, ()):
                unplaced_upstream[down] -= 1
                if unplaced_upstream[down] == 0:
                    following.append(down)
        layer = sorted(following, key=index.__getitem__)
    if len(order) < len(tasks):  # an upstream task never placed: a cycle (or a task that is not there)
        placed = set(order)
        raise CycleError(f"cycle among tasks {sorted(t for t in tasks if t not in placed)}")
    return tuple(order)


def _relatives(tasks: Mapping[str, TaskSpec], start: str, downstream: bool) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        spec = tasks[todo.pop()]
        for nxt in (spec.downstream if downstream else spec.upstream):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def priority_weights(tasks: Mapping[str, TaskSpec]) -> dict[str, int]:
    """Each task's effective priority under its weight_rule (downstream, upstream, absolute): its
    own weight plus those of every task below it (above it), each counted once. The tasks' edges
    must list both sides, as :func:`task_graph` makes them.

    The tasks below each task are a bit set (an int, bit i for the i-th task) made from its
    downstream tasks' sets in reverse topological order, and a sum of weights is a few bit counts
    (one per distinct weight): a chain of thousands of tasks takes milliseconds, not the seconds
    a walk from every task took. CycleError on a cycle.
    """
    bit = {task_id: 1 << i for i, task_id in enumerate(tasks)}
    by_weight: dict[int, int] = {}
    for task_id, spec in tasks.items():
        by_weight[spec.priority_weight] = by_weight.get(spec.priority_weight, 0) | bit[task_id]
    rules = {spec.weight_rule for spec in tasks.values()}
    order = topological_order(tasks) if rules - {WeightRule.ABSOLUTE} else ()
    relatives: dict[WeightRule, dict[str, int]] = {}
    for rule, walk, edges in ((WeightRule.DOWNSTREAM, reversed(order), "downstream"),
                              (WeightRule.UPSTREAM, order, "upstream")):
        if rule in rules:
            found = relatives[rule] = {}
            for task_id in walk:
                mask = 0
                for other in getattr(tasks[task_id], edges):
                    if other in found:
                        mask |= bit[other] | found[other]
                found[task_id] = mask
    out: dict[str, int] = {}
    for task_id, spec in tasks.items():
        mask = 0 if spec.weight_rule is WeightRule.ABSOLUTE else relatives[spec.weight_rule][task_id]
        out[task_id] = spec.priority_weight + sum(weight * (mask & members).bit_count()
                                                  for weight, members in by_weight.items() if mask & members)
    return out


def task_graph(serialized: Mapping[str, Any]) -> TaskGraph:
    """The TaskGraph of a serialized DAG."""
    body = dag_body_of(serialized)
    specs = _with_scope_setups(_with_setups(_fill_edges({str(t["task_id"]): task_spec(t)
                                                         for t in body.get("tasks") or ()})))
    callbacks = body.get("callbacks") or {}
    timeout = body.get("dagrun_timeout")
    return TaskGraph(
        dag_id=str(body.get("dag_id")), tasks=specs, order=topological_order(specs),
        weights=priority_weights(specs),
        max_active_tasks=body.get("max_active_tasks"), max_active_runs=body.get("max_active_runs"),
        dagrun_timeout=None if timeout is None else timedelta(seconds=float(timeout)),
        has_success_callback=bool(callbacks.get("on_success_callback")),
        has_failure_callback=bool(callbacks.get("on_failure_callback")),
    )
