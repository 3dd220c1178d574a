"""Starting a finished task's downstream in the transaction that records its end.

Airflow's ``[scheduler] schedule_after_task_execution``: when a try succeeds,
the task instances right below it that it made ready are decided, queued and
claimed at once, for the caller that offers free slots (the local executor's
zygote, which then forks them), instead of after a round trip through the
scheduler: a wake-up, an examination and a queueing transaction. In a chain of
tasks that round trip is most of the time between two tasks.

Only what is certain without the scheduler is taken; everything else is left
pending or scheduled, and the scheduler (woken by the same end, as always)
decides it:

- the end won and is a success; its run is running, within its dagrun_timeout,
  and its DAG is not paused (unless the run's type runs while paused);
- the downstream task: trigger rule ``all_success``, not mapped, neither
  ``depends_on_past`` nor ``wait_for_downstream``, and none of its upstream
  tasks mapped (each upstream task then has exactly one task instance);
- every upstream task instance succeeded: checked in the ``pending ->
  scheduled`` compare-and-set itself, after this transaction's own end;
- no other task instance is scheduled anywhere (one is: the scheduler queues in
  priority order, these with it), and pools, max_active_tasks,
  max_active_tis_per_dag and the offered slots have room, as
  :func:`flowctl.core.planner.choose_to_queue` decides for the scheduler. On
  PostgreSQL the pool rows are locked as the scheduler's queueing locks them.

Each step is a compare-and-set (``pending -> scheduled -> queued -> running``),
so a scheduler deciding the same task instance at the same moment wins or
loses cleanly, and the graph is the run's own serialized version, the one the
scheduler plans with. Must not import flowctl packages above ``flowctl.db``.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.planner import TaskGraph, task_graph
from flowctl.core.planner.queueing import Candidate, Room, choose_to_queue
from flowctl.core.trigger_rules import TriggerRule
from flowctl.db.records import ClaimedTry, FollowOptions, TryEnd
from flowctl.db.tables import DagRow, DagRunRow, SerializedDagRow, TaskInstanceRow
from flowctl.db.task_queue import _QUEUE, _task_free, room_and_scheduled

_TI = TaskInstanceRow.__table__
_UP = _TI.alias("up")
_MAX_GRAPHS = 64

_RUN = (select(DagRunRow.state, DagRunRow.run_type, DagRunRow.start_date, DagRunRow.serialized_dag_id,
               DagRow.is_paused, DagRow.fileloc)
        .select_from(DagRunRow.__table__.join(DagRow.__table__, DagRow.dag_id == DagRunRow.dag_id))
        .where(DagRunRow.dag_id == bindparam("f_dag_id"), DagRunRow.run_id == bindparam("f_run_id")))
_GRAPH_DATA = select(SerializedDagRow.data).where(SerializedDagRow.id == bindparam("f_serialized_id"))
#: pending -> scheduled for the named (unmapped) task instances whose ``f_needed`` upstream tasks all succeeded.
_SCHEDULE_READY = (
    update(_TI)
    .where(_TI.c.dag_id == bindparam("f_dag_id"), _TI.c.run_id == bindparam("f_run_id"), _TI.c.map_index == -1,
           _TI.c.task_id.in_(bindparam("f_task_ids", expanding=True)), _TI.c.state == "pending",
           select(func.count()).select_from(_UP)
           .where(_UP.c.dag_id == bindparam("f_dag_id"), _UP.c.run_id == bindparam("f_run_id"),
                  _UP.c.task_id.in_(bindparam("f_upstream", expanding=True)), _UP.c.state == "success")
           .scalar_subquery() == bindparam("f_needed"))
    .values(state="scheduled", updated_at=bindparam("f_now"))
    .returning(_TI.c.id, _TI.c.task_id, _TI.c.try_number, _TI.c.pool, _TI.c.pool_slots, _TI.c.priority_weight))


@dataclass(frozen=True, slots=True)
class _Ready:
    """A downstream task instance just scheduled here."""

    id: int
    key: TaskInstanceKey
    try_number: int
    pool: str
    pool_slots: int
    priority_weight: int


class GraphsByVersion:
    """serialized_dag_id -> TaskGraph, least recently used evicted (a version never changes), with
    each task's :func:`followers` once asked for: a fan-out's end task has hundreds of upstream
    tasks, which every batch of their ends would otherwise check and sort again."""

    def __init__(self) -> None:
        self._graphs: OrderedDict[int, tuple[TaskGraph, dict[str, dict[tuple[str, ...], list[str]]]]] = OrderedDict()

    def graph(self, conn: Connection, serialized_dag_id: int) -> TaskGraph | None:
        cached = self._graphs.get(serialized_dag_id)
        if cached is None:
            data = conn.scalar(_GRAPH_DATA, {"f_serialized_id": serialized_dag_id})
            if data is None:
                return None
            cached = self._graphs[serialized_dag_id] = (task_graph(data), {})
            while len(self._graphs) > _MAX_GRAPHS:
                self._graphs.popitem(last=False)
        self._graphs.move_to_end(serialized_dag_id)
        return cached[0]

    def followers(self, serialized_dag_id: int, graph: TaskGraph, task_id: str) -> dict[tuple[str, ...], list[str]]:
        """:func:`followers` of ``task_id`` in ``graph``, the version :meth:`graph` just gave (not to be changed)."""
        cached = self._graphs.get(serialized_dag_id)
        if cached is None or cached[0] is not graph:
            return followers(graph, task_id)
        found = cached[1].get(task_id)
        if found is None:
            found = cached[1][task_id] = followers(graph, task_id)
        return found


def followers(graph: TaskGraph, task_id: str) -> dict[tuple[str, ...], list[str]]:
    """The downstream tasks of ``task_id`` this module may start, grouped by their upstream tasks."""
    tasks = graph.tasks
    spec = tasks.get(task_id)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for down_id in sorted(spec.downstream if spec is not None else ()):
        down = tasks.get(down_id)
        if (down is None or down.trigger_rule is not TriggerRule.ALL_SUCCESS or down.is_mapped
                or down.depends_on_past or down.wait_for_downstream
                or any(up not in tasks or tasks[up].is_mapped for up in down.upstream)):
            continue
        grouped.setdefault(tuple(sorted(down.upstream)), []).append(down_id)
    return grouped


def follow_ends(conn: Connection, graphs: GraphsByVersion, ends: Sequence[TryEnd], won: Sequence[bool],
                options: FollowOptions, now: datetime, postgres: bool) -> list[tuple[_Ready, str]]:
    """Schedule and queue the downstream task instances these ends made ready (see the module
    docstring); each queued one with its DAG file. The caller claims them in the same transaction.
    Ends of one run (a batch of a fan-out's) cost one read of the run and one compare-and-set per
    group of downstream tasks with the same upstream tasks, however many there are."""
    ended: dict[tuple[str, str], set[str]] = {}  # (dag_id, run_id) -> the tasks that succeeded
    for end, end_won in zip(ends, won):
        if end_won and end.state.value == "success" and end.key.map_index == -1:
            ended.setdefault((end.key.dag_id, end.key.run_id), set()).add(end.key.task_id)
    ready: list[_Ready] = []
    filelocs: dict[str, str] = {}
    limits: dict[tuple[str, str], int] = {}
    for (dag_id, run_id), task_ids in sorted(ended.items()):
        run = conn.execute(_RUN, {"f_dag_id": dag_id, "f_run_id": run_id}).first()
        if (run is None or run.state != "running" or run.serialized_dag_id is None
                or (run.is_paused and run.run_type not in options.paused_run_types)):
            continue
        graph = graphs.graph(conn, run.serialized_dag_id)
        if graph is None or _timed_out(graph, run.start_date, now):
            continue
        groups: dict[tuple[str, ...], set[str]] = {}
        for task_id in sorted(task_ids):
            for upstream, downstream in graphs.followers(run.serialized_dag_id, graph, task_id).items():
                groups.setdefault(upstream, set()).update(downstream)
        for upstream, downstream in sorted(groups.items()):
            rows = conn.execute(_SCHEDULE_READY, {
                "f_dag_id": dag_id, "f_run_id": run_id, "f_task_ids": sorted(downstream),
                "f_upstream": list(upstream), "f_needed": len(upstream), "f_now": now}).all()
            ready.extend(_Ready(r.id, TaskInstanceKey(dag_id, run_id, r.task_id, -1), int(r.try_number), r.pool,
                                int(r.pool_slots), int(r.priority_weight)) for r in rows)
        filelocs[dag_id] = run.fileloc or ""
        limits.update(graph.task_limits())
    if not ready or options.slots <= 0:
        return []
    pool_free, dag_free, scheduled = room_and_scheduled(conn, postgres, options.default_max_active_tasks)
    if scheduled != len(ready):
        return []  # scheduled, for the scheduler (another task instance waits: it decides the order)
    room = Room(pool_free=pool_free, dag_free=dag_free, task_free=_task_free(conn, limits), slots=options.slots)
    by_key = {r.key: r for r in ready}
    ready.sort(key=lambda r: (-r.priority_weight, r.id))  # the scheduler's order (choose_to_queue expects it)
    chosen = choose_to_queue([Candidate(r.key, r.pool, r.pool_slots, r.priority_weight) for r in ready], room)
    if not chosen:
        return []
    ids = [by_key[c.key].id for c in chosen]
    queued = set(conn.scalars(_QUEUE, {"ids": ids, "now": now, "job_id": None}).all())
    return [(r, filelocs[r.key.dag_id]) for c in chosen if (r := by_key[c.key]).id in queued]


def warm_follow_statements(conn: Connection, now: datetime, postgres: bool) -> None:
    """Compile (and run, matching no row) :func:`follow_ends`'s statements, for the task agent's
    first follow-up to find them in SQLAlchemy's compiled cache."""
    none = {"f_dag_id": "__flowctl_warmup__", "f_run_id": "__none__"}
    conn.execute(_RUN, none).first()
    conn.scalar(_GRAPH_DATA, {"f_serialized_id": -1})
    conn.execute(_SCHEDULE_READY, {**none, "f_task_ids": ["__none__"], "f_upstream": ["__none__"], "f_needed": 1,
                                   "f_now": now}).all()
    room_and_scheduled(conn, postgres, 16)
    conn.scalars(_QUEUE, {"ids": [-1], "now": now, "job_id": None}).all()


def _timed_out(graph: TaskGraph, started: datetime | None, now: datetime) -> bool:
    if graph.dagrun_timeout is None or started is None:
        return False
    if started.tzinfo is None and now.tzinfo is not None:  # SQLite gives naive UTC back
        now = now.replace(tzinfo=None)
    return now - started >= graph.dagrun_timeout


def claimed_followers(claims: Sequence[ClaimedTry | None], queued: Sequence[tuple[_Ready, str]]) -> list[Any]:
    """(claim, DAG file) for each follower whose claim won."""
    return [(claim, fileloc) for claim, (_, fileloc) in zip(claims, queued) if claim is not None]
