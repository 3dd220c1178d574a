"""Marking a whole run success or failed leaves its teardowns to run, on SQLite and PostgreSQL; the
scheduler's verbs then still examine, queue and retry those teardowns of the finished run."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flowctl.core.errors import DagRunNotFound
from flowctl.db.operations import KILL_EVENT
from flowctl.db.records import DagRunRecord, RunKey, TaskInstanceKey
from flowctl.db.store import Store
from tests.db.samples import FILE, T0

NOW = T0 + timedelta(hours=1)
ROLES = {"create": {"is_setup": True}, "delete": {"is_teardown": True, "trigger_rule": "all_done_setup_success"}}
UPSTREAM = {"create": [], "work": ["create"], "more": ["work"], "delete": ["create", "more"]}


def cluster_dag() -> dict[str, Any]:
    """create (setup) >> work >> more >> delete (teardown of create)."""
    return {"dag_id": "cluster", "tasks": [{"task_id": t, "upstream_task_ids": ups, **ROLES.get(t, {})}
                                           for t, ups in UPSTREAM.items()]}


def a_run(store: Store, **moved: tuple[str, ...]) -> DagRunRecord:
    """A running run of the cluster DAG, each task in ``moved`` taken along its path of states."""
    store.sync_dag(cluster_dag(), FILE, T0)
    run = store.create_run("cluster", "manual_1", run_type="manual", logical_date=T0, now=T0,
                           data_interval=(T0, T0), state="running")
    for task_id, path in moved.items():
        key = TaskInstanceKey("cluster", run.run_id, task_id)
        for old, new in zip(("pending", *path), path):
            assert store.set_task_state(key, old, new), (task_id, old, new)
    return run


def states(store: Store, run: RunKey) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in store.list_task_instances(run)}


RUNNING_WORK = {"create": ("scheduled", "queued", "running", "success"), "work": ("scheduled", "queued", "running")}


def test_marking_a_run_failed_fails_it_at_once_stops_the_work_and_leaves_the_teardown(store: Store) -> None:
    run = a_run(store, **RUNNING_WORK)
    report = store.mark_run(run.key, "failed", NOW)
    assert store.get_run("cluster", run.run_id).state == "failed"
    assert store.get_run("cluster", run.run_id).end_date == NOW
    assert states(store, run.key) == {"create": "success", "work": "failed", "more": "skipped", "delete": "pending"}
    work = TaskInstanceKey("cluster", run.run_id, "work")
    assert report.killed == (work,) and report.runs == (run.key,)
    assert report.teardowns_left == (TaskInstanceKey("cluster", run.run_id, "delete"),)
    assert [r.key for r in store.kill_requests(NOW)] == [work]
    assert [a.event for a in store.list_audit()] == [KILL_EVENT]


def test_marking_a_run_success_marks_the_work_and_leaves_the_teardown(store: Store) -> None:
    run = a_run(store, **RUNNING_WORK)
    store.mark_run(run.key, "success", NOW)
    assert store.get_run("cluster", run.run_id).state == "success"
    assert states(store, run.key) == {"create": "success", "work": "success", "more": "success", "delete": "pending"}


def test_marking_a_run_whose_setup_never_ran_skips_its_teardown(store: Store) -> None:
    run = a_run(store)
    report = store.mark_run(run.key, "success", NOW)
    assert states(store, run.key) == {"create": "success", "work": "success", "more": "success", "delete": "skipped"}
    assert report.teardowns_left == ()


def test_marking_an_unknown_run_names_it(store: Store) -> None:
    store.sync_dag(cluster_dag(), FILE, T0)
    with pytest.raises(DagRunNotFound, match="nope"):
        store.mark_run(RunKey("cluster", "nope"), "failed", NOW)


def test_the_scheduler_examines_a_marked_run_until_its_teardown_is_done(store: Store) -> None:
    run = a_run(store, **RUNNING_WORK)
    store.mark_run(run.key, "failed", NOW)
    [snap] = store.runs_to_examine(())
    assert (snap.run.run_id, snap.run.state) == (run.run_id, "failed")
    assert snap.states[("delete", -1)] == "pending"
    key = TaskInstanceKey("cluster", run.run_id, "delete")
    [queued] = store.queue_scheduled_tasks(NOW, 4, schedule={run.key: [key]})
    assert queued.key == key
    for old, new in (("queued", "running"), ("running", "success")):
        assert store.set_task_state(key, old, new)
    assert store.runs_to_examine(()) == []
    assert store.get_run("cluster", run.run_id).state == "failed"


def test_a_teardown_of_a_marked_run_is_retried_when_due(store: Store) -> None:
    run = a_run(store, **RUNNING_WORK)
    store.mark_run(run.key, "failed", NOW)
    key = TaskInstanceKey("cluster", run.run_id, "delete")
    for old, new in (("pending", "scheduled"), ("scheduled", "queued"), ("queued", "running")):
        assert store.set_task_state(key, old, new)
    assert store.set_task_state(key, "running", "up_for_retry", next_retry_at=NOW)
    assert store.requeue_due_waits(NOW + timedelta(seconds=1)) == 1
    assert store.get_task_instance(key).state == "scheduled"
