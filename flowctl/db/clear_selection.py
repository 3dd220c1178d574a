"""Which task instances a clear picks: :class:`ClearSpec` (``tasks clear``'s options) and pure selection.

Task ids come from a run's serialized task graph (regex, then upstream /
downstream relatives, then, as Airflow does, the setup tasks the chosen ones
depend on and those setups' teardowns); the states a clear keeps (``only_failed``,
``only_running``, or both: either) filter the rows. Used by
:meth:`OperationVerbs.task_instances_to_clear`; no database access here.
Must not import above ``db``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowctl.core.states import TaskInstanceState
from flowctl.db.dags import dag_body

TI = TaskInstanceState
FAILED_STATES = frozenset({TI.FAILED.value, TI.UPSTREAM_FAILED.value})
Graph = Mapping[str, Mapping[str, Any]]  # task_id -> serialized task


@dataclass(frozen=True, slots=True)
class ClearSpec:
    """Which task instances ``tasks clear`` picks (Airflow's options)."""

    task_regex: str | None = None
    upstream: bool = False
    downstream: bool = False
    only_failed: bool = False
    start_date: datetime | None = None
    end_date: datetime | None = None
    run_id: str | None = None
    only_running: bool = False

    def wanted_states(self) -> list[str] | None:
        """The states a picked task instance may be in (``only_failed`` and ``only_running``
        add theirs, as Airflow's do); None for any state."""
        states = (FAILED_STATES if self.only_failed else frozenset()) | (
            {TI.RUNNING.value} if self.only_running else frozenset())
        return sorted(states) if states else None


def task_graph(serialized: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """task_id -> serialized task, in definition order."""
    return {str(t["task_id"]): t for t in dag_body(serialized).get("tasks") or ()}


def relatives(graph: Graph, start: Iterable[str], direction: str) -> set[str]:
    """Every task transitively ``upstream`` or ``downstream`` of ``start`` (excluding start)."""
    field = f"{direction}_task_ids"
    seen: set[str] = set()
    todo = [t for s in start for t in graph.get(s, {}).get(field) or ()]
    while todo:
        task_id = todo.pop()
        if task_id not in seen and task_id in graph:
            seen.add(task_id)
            todo.extend(graph[task_id].get(field) or ())
    return seen


def select_task_ids(graph: Graph, spec: ClearSpec) -> set[str]:
    """Task ids matching the spec's regex (``re.search``), plus upstream/downstream relatives,
    plus the setups they need and those setups' teardowns (:func:`setups_and_teardowns`)."""
    pattern = re.compile(spec.task_regex) if spec.task_regex else None
    chosen = {t for t in graph if pattern is None or pattern.search(t)}
    extra: set[str] = set()
    if spec.upstream:
        extra |= relatives(graph, chosen, "upstream")
    if spec.downstream:
        extra |= relatives(graph, chosen, "downstream")
    return chosen | extra | setups_and_teardowns(graph, chosen, with_upstream=spec.upstream,
                                                 with_downstream=spec.downstream)


def _is(graph: Graph, task_id: str, role: str) -> bool:
    return bool(graph.get(task_id, {}).get(role))


def _teardowns_of(graph: Graph, setup: str) -> set[str]:
    return {t for t in graph[setup].get("downstream_task_ids") or () if _is(graph, t, "is_teardown")}


def setups_and_teardowns(graph: Graph, chosen: set[str], *, with_upstream: bool, with_downstream: bool) -> set[str]:
    """What clearing ``chosen`` clears besides, as Airflow 2.7: every upstream setup's teardowns
    (with upstream), else the *relevant* upstream setups -- those with no teardown, or with a
    teardown downstream of the chosen task -- and their teardowns; and a chosen setup's own
    teardowns when downstream tasks are not cleared anyway."""
    found: set[str] = set()
    if chosen >= graph.keys() or not any(task.get("is_setup") for task in graph.values()):
        return found  # the common cases cost one pass, not a walk per chosen task
    for task_id in chosen:
        ups = relatives(graph, [task_id], "upstream")
        below = {t for t in relatives(graph, [task_id], "downstream") if _is(graph, t, "is_teardown")}
        for setup in (u for u in ups if _is(graph, u, "is_setup")):
            teardowns = _teardowns_of(graph, setup)
            if with_upstream or not teardowns or teardowns & below:
                found |= {setup} | teardowns
        if _is(graph, task_id, "is_setup") and not with_downstream:
            found |= _teardowns_of(graph, task_id)
    return found - chosen


def skipped_by_decision(graph: Graph, task_id: str, decisions: Mapping[str, Any]) -> bool:
    """True when a direct upstream task's recorded decision (``decisions``: upstream id -> its
    ``skipmixin_key`` XCom) skipped ``task_id``: a cleared task a branch did not follow stays
    skipped, as Airflow's NotPreviouslySkippedDep keeps it."""
    for upstream in graph.get(task_id, {}).get("upstream_task_ids") or ():
        decision = decisions.get(upstream)
        if not isinstance(decision, Mapping):
            continue
        followed = decision.get("followed")
        if isinstance(followed, list) and task_id not in followed:
            return True
        if task_id in (decision.get("skipped") or ()):
            return True
    return False
