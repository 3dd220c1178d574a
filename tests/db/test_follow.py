"""Store.finish_and_follow: a try's end starts the downstream task instances it made ready (SQLite, PostgreSQL)."""
from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from typing import Any

import pytest

from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.db.follow import GraphsByVersion, followers
from flowctl.db.records import DagRunRecord, FollowOptions, TryEnd
from flowctl.db.store import Store

from tests.db.samples import FILE, T0

SUCCESS, FAILED = TaskInstanceState.SUCCESS, TaskInstanceState.FAILED
ALL = FollowOptions(slots=8, paused_run_types=("manual", "backfill"))
_DAYS = itertools.count()


def sync(store: Store, edges: dict[str, list[str]], dag_id: str = "flow", **body: Any) -> None:
    """A DAG whose tasks have these upstream task ids (``task`` entries may carry more fields)."""
    extra = body.pop("task_fields", {})
    tasks = [{"task_id": t, "upstream_task_ids": ups, **extra.get(t, {})} for t, ups in edges.items()]
    store.sync_dag({"dag_id": dag_id, "tasks": tasks, **body}, FILE, T0)


def running_run(store: Store, dag_id: str = "flow", run_id: str = "r1", run_type: str = "manual") -> DagRunRecord:
    run = store.create_run(dag_id, run_id, run_type=run_type, logical_date=T0 + timedelta(days=next(_DAYS)), now=T0)
    assert store.set_run_state(run.key, "queued", "running", start_date=T0)
    return store.get_run(dag_id, run_id)


def claimed(store: Store, run: DagRunRecord, task_id: str) -> TaskInstanceKey:
    """pending -> scheduled -> queued -> running (try 1, pid 7)."""
    key = TaskInstanceKey(run.dag_id, run.run_id, task_id)
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=T0)
    assert store.start_tries([(key, 0)], "host", 7, T0)[0] is not None
    return key


def end(store: Store, key: TaskInstanceKey, state: TaskInstanceState = SUCCESS,
        options: FollowOptions = ALL) -> list[Any]:
    later = T0 + timedelta(seconds=2)
    won, claims, followers = store.finish_and_follow([TryEnd(key, state, later, 1, T0, {})], "task finished", [],
                                                     "host", 8, later, options)
    assert won == [True] and claims == []
    return followers


def states(store: Store, run: DagRunRecord) -> dict[str, tuple[str, int | None]]:
    return {ti.task_id: (ti.state, ti.pid) for ti in store.list_task_instances(run.key)}


def test_a_success_claims_the_next_task_of_a_chain_for_the_caller(store: Store) -> None:
    sync(store, {"a": [], "b": ["a"], "c": ["b"]})
    run = running_run(store)
    followers = end(store, claimed(store, run, "a"))
    assert [(claim.ti.task_id, claim.ti.try_number, claim.run.run_id, fileloc) for claim, fileloc in followers] == [
        ("b", 1, "r1", FILE)]
    assert states(store, run) == {"a": ("success", 7), "b": ("running", 8), "c": ("pending", None)}
    b = store.get_task_instance(TaskInstanceKey("flow", "r1", "b"))
    assert b.queued_at is not None and b.hostname == "host"
    assert store.queue_scheduled_tasks(T0, 8, known_scheduled=True) == []  # nothing left for a scheduler


def test_a_join_waits_for_every_upstream_task(store: Store) -> None:
    sync(store, {"a": [], "b": [], "c": ["a", "b"]})
    run = running_run(store)
    a, b = claimed(store, run, "a"), claimed(store, run, "b")
    assert end(store, a) == []
    assert states(store, run)["c"] == ("pending", None)
    assert [claim.ti.task_id for claim, _ in end(store, b)] == ["c"]
    assert states(store, run)["c"] == ("running", 8)


def test_a_versions_followers_are_worked_out_once_per_task(store: Store) -> None:
    sync(store, {"a": [], "b": [], "c": ["a", "b"], "d": ["c"]})
    run = running_run(store)
    graphs = GraphsByVersion()
    with store.engine.connect() as conn:
        graph = graphs.graph(conn, run.serialized_dag_id)
        assert graph is not None
        assert graphs.graph(conn, run.serialized_dag_id) is graph
    first = graphs.followers(run.serialized_dag_id, graph, "a")
    assert first == followers(graph, "a") == {("a", "b"): ["c"]}
    assert graphs.followers(run.serialized_dag_id, graph, "a") is first
    assert graphs.followers(run.serialized_dag_id, graph, "c") == {("c",): ["d"]}
    assert graphs.followers(run.serialized_dag_id + 1, graph, "a") == first  # a version it does not hold: worked out


def test_a_fan_out_claims_only_the_offered_slots_and_leaves_the_rest_scheduled(store: Store) -> None:
    sync(store, {"start": [], **{f"t{i}": ["start"] for i in range(5)}})
    run = running_run(store)
    followers = end(store, claimed(store, run, "start"), options=FollowOptions(slots=2))
    assert len(followers) == 2
    assert sorted(state for task, (state, _) in states(store, run).items() if task != "start") == [
        "running", "running", "scheduled", "scheduled", "scheduled"]


@pytest.mark.parametrize("field", [{"trigger_rule": "all_done"}, {"trigger_rule": "one_success"},
                                   {"depends_on_past": True}, {"wait_for_downstream": True}])
def test_what_only_the_scheduler_decides_stays_pending(store: Store, field: dict[str, Any]) -> None:
    sync(store, {"a": [], "b": ["a"]}, task_fields={"b": field})
    run = running_run(store)
    assert end(store, claimed(store, run, "a")) == []
    assert states(store, run)["b"] == ("pending", None)


def test_a_task_below_a_mapped_task_is_left_to_the_scheduler(store: Store) -> None:
    sync(store, {"a": [], "m": ["a"], "b": ["a", "m"]}, task_fields={"m": {"is_mapped": True}})
    run = running_run(store)
    assert end(store, claimed(store, run, "a")) == []
    assert states(store, run)["b"] == ("pending", None)


def test_a_failed_or_lost_end_starts_nothing(store: Store) -> None:
    sync(store, {"a": [], "b": ["a"]})
    run = running_run(store)
    a = claimed(store, run, "a")
    assert end(store, a, FAILED) == []
    assert states(store, run)["b"] == ("pending", None)
    later = T0 + timedelta(seconds=3)  # the same end again: it loses the compare-and-set
    won, _, followers = store.finish_and_follow([TryEnd(a, SUCCESS, later, 1, T0, {})], "task finished", [],
                                                "host", 8, later, ALL)
    assert won == [False] and followers == []


def test_another_scheduled_task_instance_leaves_the_order_to_the_scheduler(store: Store) -> None:
    sync(store, {"a": [], "b": ["a"]})
    run, other = running_run(store), running_run(store, run_id="r22")
    assert store.set_task_state(TaskInstanceKey("flow", other.run_id, "a"), "pending", "scheduled")
    assert end(store, claimed(store, run, "a")) == []
    assert states(store, run)["b"] == ("scheduled", None)  # decided; queued by the scheduler in priority order


def test_a_full_pool_or_dag_leaves_the_task_scheduled(store: Store) -> None:
    store.set_pool("tiny", 1)
    sync(store, {"a": [], "b": ["a"], "c": []}, task_fields={"b": {"pool": "tiny"}, "c": {"pool": "tiny"}})
    run = running_run(store)
    claimed(store, run, "c")  # holds the pool's one slot
    assert end(store, claimed(store, run, "a")) == []
    assert states(store, run)["b"] == ("scheduled", None)

    sync(store, {"a": [], "b": ["a"], "c": []}, dag_id="busy", max_active_tasks=1)
    busy = running_run(store, "busy")
    claimed(store, busy, "c")
    assert end(store, claimed(store, busy, "a")) == []  # c still runs: the DAG is at max_active_tasks
    assert states(store, busy)["b"] == ("scheduled", None)



def test_a_fan_out_into_a_small_pool_starts_the_highest_priority_weight_first(store: Store) -> None:
    """Before: the ready task instances went to the queueing decision unsorted, so a one-slot pool
    ran ``low`` first (the scheduler, deciding alone, ran ``top``)."""
    store.set_pool("one", 1)
    weights = {"low": 1, "mid": 5, "high": 10, "top": 20}
    sync(store, {"start": [], **{t: ["start"] for t in weights}},
         task_fields={t: {"pool": "one", "priority_weight": w, "weight_rule": "absolute"} for t, w in weights.items()})
    run = running_run(store)
    assert [claim.ti.task_id for claim, _ in end(store, claimed(store, run, "start"))] == ["top"]

def test_max_active_tis_per_dag_is_honoured(store: Store) -> None:
    sync(store, {"a": [], "b": ["a"]}, task_fields={"b": {"max_active_tis_per_dag": 1}})
    first, second = running_run(store), running_run(store, run_id="r22")
    claimed(store, first, "b")  # out of order, for the test: b of the first run is running
    assert end(store, claimed(store, second, "a")) == []
    assert states(store, second)["b"] == ("scheduled", None)


def test_a_paused_dag_follows_only_runs_that_run_while_paused(store: Store) -> None:
    sync(store, {"a": [], "b": ["a"]})
    store.set_paused("flow", True)
    scheduled, manual = running_run(store, run_type="scheduled"), running_run(store, run_id="r22")
    assert end(store, claimed(store, scheduled, "a")) == []
    assert states(store, scheduled)["b"] == ("pending", None)
    assert end(store, claimed(store, manual, "a"), options=FollowOptions(slots=1)) == []  # manual not allowed
    assert [c.ti.task_id for c, _ in end(store, claimed(store, running_run(store, run_id="r333"), "a"))] == ["b"]


def test_a_run_that_is_not_running_or_timed_out_starts_nothing(store: Store) -> None:
    sync(store, {"a": [], "b": ["a"]}, dagrun_timeout=1.0)  # the run started at T0; the end comes at T0 + 2s
    run = running_run(store)
    assert end(store, claimed(store, run, "a")) == []
    assert states(store, run)["b"] == ("pending", None)

    sync(store, {"a": [], "b": ["a"]}, dag_id="killed")
    killed = running_run(store, "killed")
    a = claimed(store, killed, "a")
    assert store.set_run_state_manually(killed.key, "running", "failed")
    assert end(store, a) == []
    assert states(store, killed)["b"] == ("pending", None)


@pytest.mark.postgres
def test_racing_a_scheduler_queues_the_task_instance_once(pg_store: Store) -> None:
    """The scheduler's queueing and an end's follow-up, at once, many times: each b runs once."""
    store = pg_store
    sync(store, {"a": [], "b": ["a"]})
    for n in range(12):
        run = running_run(store, run_id=f"r{n:02d}")
        a = claimed(store, run, "a")
        b = TaskInstanceKey("flow", run.run_id, "b")
        got: dict[str, Any] = {}
        barrier = threading.Barrier(2)

        def follow() -> None:
            barrier.wait()
            got["follow"] = end(store, a)

        def schedule() -> None:
            barrier.wait()
            queued = store.queue_scheduled_tasks(T0, 8, schedule={run.key: [b]})
            got["queued"] = [q.key for q in queued]

        threads = [threading.Thread(target=follow), threading.Thread(target=schedule)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        claims = [c for c, _ in got["follow"]]
        assert len(claims) + len(got["queued"]) <= 1, got
        state = store.get_task_instance(b).state
        assert state == ("running" if claims else "queued" if got["queued"] else "scheduled"), (state, got)


def test_after_warming_a_follow_up_compiles_no_statement(store: Store) -> None:
    sync(store, {"a": [], "b": ["a"]})
    run = running_run(store)
    a = claimed(store, run, "a")
    store.warm_runtime_statements(T0)
    cache = store.engine._compiled_cache  # type: ignore[attr-defined]
    cached = len(cache)
    later = T0 + timedelta(seconds=2)  # an end as a try sends it: with its rendered fields
    _, _, followers = store.finish_and_follow([TryEnd(a, SUCCESS, later, 1, T0, {"rendered_fields": {}})],
                                              "task finished", [], "host", 8, later, ALL)
    assert [claim.ti.task_id for claim, _ in followers] == ["b"]
    assert len(cache) == cached


def test_ends_of_one_run_written_together_read_the_run_and_try_the_join_once(store: Store) -> None:
    from sqlalchemy import event

    sync(store, {"a": [], "b": [], "c": ["a", "b"]})
    run = running_run(store)
    a, b = claimed(store, run, "a"), claimed(store, run, "b")
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        later = T0 + timedelta(seconds=2)
        _, _, followers = store.finish_and_follow([TryEnd(a, SUCCESS, later, 1, T0, {}),
                                                   TryEnd(b, SUCCESS, later, 1, T0, {})],
                                                  "task finished", [], "host", 8, later, ALL)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert [claim.ti.task_id for claim, _ in followers] == ["c"]
    assert sum("dag.is_paused" in s and s.startswith("SELECT") for s in seen) == 1, seen
    assert sum(s.startswith("UPDATE task_instance SET state") and "count(*)" in s for s in seen) == 1, seen
