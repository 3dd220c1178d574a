"""Examining running runs: build each run's RunView, ask the planner, apply its actions.

The planner decides (pure); this module reads what it needs through the
Store (task states, the previous run for depends_on_past, XCom lengths for
mapped tasks) and applies the actions with the Store's compare-and-set verbs.
Finished and timed-out runs hand their DAG callbacks to :mod:`callbacks`.
Must not import flask, click or SQLAlchemy.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowctl.core.errors import MapInputMissing
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.planner import (
    Action, ExpandMapped, FinishRun, RemapMapped, RunView, ScheduleTask, SkipTask, TaskGraph, TimeOutRun,
    UpstreamFailTask, input_final, map_length, plan, xcom_refs,
)
from flowctl.core.states import DagRunState
from flowctl.scheduler.graphs import GraphCache

log = logging.getLogger(__name__)
RUNS_PER_PASS = 1000


@dataclass(slots=True)
class ExamineReport:
    """What one examination pass changed."""

    runs: int = 0
    changed: int = 0
    expanded: int = 0
    finished: list[tuple[Any, DagRunState]] = field(default_factory=list)
    to_terminate: list[TaskInstanceKey] = field(default_factory=list)
    #: Scheduled task instances the pass saw or made; None when it did not see every running run.
    scheduled: int | None = 0
    #: With ``examine(defer_scheduling=True)``: the TIs decided to run, still pending, by run.
    to_schedule: dict[Any, list[TaskInstanceKey]] = field(default_factory=dict)

    def merged(self, later: ExamineReport) -> ExamineReport:
        """This pass and a ``later`` one of the same round, as one report (the later one's view of
        what is scheduled, which the round's queueing already used)."""
        return ExamineReport(runs=self.runs + later.runs, changed=self.changed + later.changed,
                             expanded=self.expanded + later.expanded, finished=self.finished + later.finished,
                             to_terminate=self.to_terminate + later.to_terminate, scheduled=later.scheduled,
                             to_schedule=later.to_schedule)


@dataclass(frozen=True, slots=True)
class _GraphFacts:
    """What examining a run of one DAG version needs besides the states (computed once per version)."""

    needs_past: bool
    mapped: tuple[str, ...]


def _facts(graph: TaskGraph) -> _GraphFacts:
    return _GraphFacts(needs_past=any(s.depends_on_past or s.wait_for_downstream for s in graph.tasks.values()),
                       mapped=tuple(t for t, s in graph.tasks.items() if s.is_mapped))


class RunExaminer:
    """Plans every running run and applies the result."""

    def __init__(self, store: Any, graphs: GraphCache, paused_run_types: frozenset[str],
                 on_finished: Callable[[Any, DagRunState, str], None]) -> None:
        self.store = store
        self.graphs = graphs
        self.paused_run_types = paused_run_types
        self.on_finished = on_finished
        self._facts: dict[int, _GraphFacts] = {}  # by serialized_dag_id (a version never changes)

    def examine(self, now: datetime, defer_scheduling: bool = False, *,
                with_marked_runs: bool = True) -> ExamineReport:
        """One pass over the running runs.

        ``defer_scheduling``: the TIs to run are left pending and listed in
        ``report.to_schedule``, for the caller to schedule in its queueing
        transaction (``queue_scheduled_tasks(schedule=...)``): one commit, not two.
        ``with_marked_runs``: also the finished runs whose teardowns a person's mark left to run.
        """
        report = ExamineReport()
        snaps = self.store.runs_to_examine(self.paused_run_types, limit=RUNS_PER_PASS, with_marked=with_marked_runs)
        report.scheduled = None if len(snaps) >= RUNS_PER_PASS else sum(_scheduled(s.states) for s in snaps)
        for snap in snaps:
            if snap.run.serialized_dag_id is None:
                continue
            graph = self.graphs.graph(snap.run.serialized_dag_id)
            report.runs += 1
            facts = self._graph_facts(snap.run.serialized_dag_id, graph)
            lengths, missing = self._map_lengths(snap, graph, facts.mapped)
            view = RunView(key=snap.run.key, graph=graph, states=snap.states, run_state=snap.run.state,
                           start_date=snap.run.start_date,
                           previous=self.store.previous_run_states(snap.run) if facts.needs_past else None,
                           map_lengths=lengths, missing_inputs=missing,
                           remap_lengths=self._remap_lengths(snap, graph, facts.mapped), dag_paused=snap.dag_paused)
            self._apply(snap.run, plan(view, now), now, report, defer_scheduling)
        return report

    def _graph_facts(self, serialized_dag_id: int, graph: TaskGraph) -> _GraphFacts:
        facts = self._facts.get(serialized_dag_id)
        if facts is None:
            if len(self._facts) > 512:
                self._facts.clear()
            facts = self._facts[serialized_dag_id] = _facts(graph)
        return facts

    def _map_lengths(self, snap: Any, graph: TaskGraph,
                     mapped: tuple[str, ...]) -> tuple[dict[str, int], frozenset[str]]:
        """The RunView's ``map_lengths`` (the mapped tasks whose placeholder waits to expand, once their
        input is there) and ``missing_inputs`` (those whose input never came)."""
        lengths: dict[str, int] = {}
        missing: set[str] = set()
        for task_id in mapped:
            if snap.states.get((task_id, -1)) != "pending":
                continue
            try:
                length = self._input_length(snap, graph, task_id)
            except MapInputMissing:
                missing.add(task_id)
                continue
            if length is not None:
                lengths[task_id] = length
        return lengths, frozenset(missing)

    def _remap_lengths(self, snap: Any, graph: TaskGraph, mapped: tuple[str, ...]) -> dict[str, int]:
        """Lengths of the expanded mapped tasks, all pending again, whose input changed length (a clear)."""
        if not mapped:
            return {}
        live = _live_indexes(snap.states, frozenset(mapped))
        lengths: dict[str, int] = {}
        for task_id, indexes in live.items():
            try:
                length = self._input_length(snap, graph, task_id)
            except MapInputMissing:  # its indexes stay; its trigger rule decides them
                continue
            if length is not None and indexes != list(range(length)):
                lengths[task_id] = length
        return lengths

    def _input_length(self, snap: Any, graph: TaskGraph, task_id: str) -> int | None:
        """How many items the mapped task's input has now; None while an upstream it reads is unfinished
        (``MapInputMissing`` if one finished without pushing)."""
        spec = graph.tasks[task_id]
        refs = xcom_refs(spec.mapping)
        if not all(input_final(graph, snap.states, src) for src, _ in refs):
            return None
        values = {ref: self._pull(snap.run.key, graph, ref) for ref in refs}
        try:
            return map_length(spec.mapping, values)
        except ValueError as exc:
            log.warning("%s: cannot expand mapped task %s: %s", snap.run.key, task_id, exc)
            return 0

    def _pull(self, run: Any, graph: TaskGraph, ref: tuple[str, str]) -> Any:
        task_id, key = ref
        spec = graph.tasks.get(task_id)
        if spec is not None and spec.is_mapped:
            return self.store.xcom_pull_mapped(run, task_id, key)
        return self.store.xcom_pull(run, task_id, key)

    def _apply(self, run: Any, actions: list[Action], now: datetime, report: ExamineReport,
               defer_scheduling: bool) -> None:
        schedule = [a.key for a in actions if isinstance(a, ScheduleTask)]
        skip = [a.key for a in actions if isinstance(a, SkipTask)]
        failed = [a.key for a in actions if isinstance(a, UpstreamFailTask)]
        if report.scheduled is not None:
            report.scheduled += len(schedule)
        if schedule and defer_scheduling:
            report.to_schedule[run.key] = schedule
            report.changed += len(schedule)  # decided; the queueing transaction's compare-and-set writes them
            schedule = []
        if schedule or skip or failed:
            report.changed += self.store.apply_decisions(run.key, now, schedule=schedule, skip=skip,
                                                         upstream_failed=failed)
        for action in actions:
            if isinstance(action, (ExpandMapped, RemapMapped)):
                verb = (self.store.expand_mapped_task if isinstance(action, ExpandMapped)
                        else self.store.remap_mapped_task)
                won = int(verb(run.key, action.task_id, action.length, now))
                report.changed += won
                report.expanded += won
            elif isinstance(action, FinishRun) and self.store.finish_run(run.key, action.state, now):
                report.changed += 1
                report.finished.append((run, action.state))
                self.on_finished(run, action.state, "success" if action.state is DagRunState.SUCCESS else "task_failure")
            elif isinstance(action, TimeOutRun):
                killed = self.store.time_out_run(run.key, now)
                report.changed += 1
                report.to_terminate.extend(killed)
                report.finished.append((run, DagRunState.FAILED))
                self.on_finished(run, DagRunState.FAILED, "timed_out")


def _scheduled(states: Any) -> int:
    return sum(1 for state in states.values() if state == "scheduled")


def _live_indexes(states: Any, mapped: frozenset[str]) -> dict[str, list[int]]:
    """Per expanded mapped task whose non-removed map indexes are all pending: those indexes, sorted."""
    live: dict[str, list[int]] = {}
    moved: set[str] = set()
    for (task_id, map_index), state in states.items():
        if task_id not in mapped or state == "removed":
            continue
        if map_index < 0 or state != "pending":
            moved.add(task_id)
        else:
            live.setdefault(task_id, []).append(map_index)
    return {task_id: sorted(indexes) for task_id, indexes in live.items() if task_id not in moved}
