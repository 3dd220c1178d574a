"""What people do to runs (trigger, clear, mark, kill, backfill, delete), on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from flowctl.core.errors import BackfillTooLargeError, DagNotFound, IllegalTransitionError, ParamValidationError
from flowctl.core.timetables import timetable_from_schedule
from flowctl.db.operations import (
    KILL_EVENT,
    MAX_BACKFILL_RUNS,
    BackfillItem,
    ClearSpec,
    ExistingRunPolicy,
    backfill_action,
    backfill_dates,
    select_task_ids,
    task_graph,
)
from flowctl.db.records import DagRunRecord, TaskInstanceKey
from flowctl.db.store import Store
from tests.db.samples import FILE, T0

EDGES = {"extract": ["transform"], "transform": ["load"], "load": [], "audit": []}


def chain_dag(dag_id: str = "etl", **extra: Any) -> dict[str, Any]:
    """extract >> transform >> load, plus a lone audit task; daily from T0."""
    ups = {t: [u for u, downs in EDGES.items() if t in downs] for t in EDGES}
    tasks = [{"task_id": t, "retries": 1, "downstream_task_ids": EDGES[t], "upstream_task_ids": ups[t]}
             for t in EDGES]
    return {"dag_id": dag_id, "tasks": tasks, "start_date": T0.isoformat(), "catchup": True,
            "timetable": timetable_from_schedule("@daily").serialize(), "params": {}, **extra}


def a_run(store: Store, day: int = 0, **extra: Any) -> DagRunRecord:
    store.sync_dag(chain_dag(**extra), FILE, T0)
    logical = T0 + timedelta(days=day)
    return store.create_run("etl", f"scheduled__{day}", run_type="scheduled", logical_date=logical, now=T0,
                            data_interval=(logical, logical + timedelta(days=1)), state="running")


def force(store: Store, run: DagRunRecord, task_id: str, *path: str) -> TaskInstanceKey:
    key = TaskInstanceKey(run.dag_id, run.run_id, task_id)
    for old, new in zip(("pending", *path), path):
        assert store.set_task_state(key, old, new), (old, new)
    return key


def states(store: Store, run: DagRunRecord) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in store.list_task_instances(run.key)}


# --- pure selection and planning ---------------------------------------------------------------

def test_a_regex_selects_tasks_by_search_and_adds_relatives_transitively() -> None:
    graph = task_graph(chain_dag())
    assert select_task_ids(graph, ClearSpec(task_regex="^trans")) == {"transform"}
    assert select_task_ids(graph, ClearSpec(task_regex="load", upstream=True)) == {"extract", "transform", "load"}
    assert select_task_ids(graph, ClearSpec(task_regex="extract", downstream=True)) == {
        "extract", "transform", "load"}
    assert select_task_ids(graph, ClearSpec()) == set(EDGES)


def setup_teardown_graph() -> dict[str, Any]:
    """create (setup) >> work >> delete (its teardown); lonely (a setup without teardown) >> work;
    s2 (setup) >> work and s2 >> t2 (its teardown, not below work); work >> report."""
    downs = {"create": ["work", "delete"], "lonely": ["work"], "s2": ["work", "t2"], "work": ["delete", "report"],
             "delete": [], "t2": [], "report": []}
    roles = {"create": "is_setup", "lonely": "is_setup", "s2": "is_setup", "delete": "is_teardown",
             "t2": "is_teardown"}
    tasks = [{"task_id": t, "downstream_task_ids": d, "upstream_task_ids": [u for u in downs if t in downs[u]],
              **({roles[t]: True} if t in roles else {})} for t, d in downs.items()]
    return task_graph({"dag_id": "cluster", "tasks": tasks})


def test_clearing_a_task_clears_the_setups_it_needs_and_their_teardowns() -> None:
    graph = setup_teardown_graph()
    assert select_task_ids(graph, ClearSpec(task_regex="^work$")) == {"work", "create", "delete", "lonely"}
    assert select_task_ids(graph, ClearSpec(task_regex="^work$", upstream=True)) == {
        "work", "create", "delete", "lonely", "s2", "t2"}
    # a setup whose teardown is not below the cleared task is left alone; one without a teardown is not
    assert select_task_ids(graph, ClearSpec(task_regex="^report$")) == {"report", "lonely"}


def test_clearing_a_setup_clears_its_teardown() -> None:
    graph = setup_teardown_graph()
    assert select_task_ids(graph, ClearSpec(task_regex="^create$")) == {"create", "delete"}
    assert select_task_ids(graph, ClearSpec(task_regex="^create$", downstream=True)) == {
        "create", "work", "delete", "report"}


def test_backfill_dates_cover_the_range_inclusive_and_not_before_the_dag_start() -> None:
    daily = timetable_from_schedule("@daily")
    got = backfill_dates(daily, T0 - timedelta(days=3), T0 + timedelta(days=2), dag_start=T0)
    assert [i.start for i in got] == [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)]
    assert got[0].end == T0 + timedelta(days=1)


def test_a_range_of_more_backfill_runs_than_the_cap_is_refused_naming_the_cap_and_the_date_it_reaches() -> None:
    """Before: the dates silently stopped at the cap, and a backfill covered less than it said."""
    daily = timetable_from_schedule("@daily")
    last_allowed = T0 + timedelta(days=MAX_BACKFILL_RUNS - 1)
    assert len(backfill_dates(daily, T0, last_allowed)) == MAX_BACKFILL_RUNS
    with pytest.raises(BackfillTooLargeError, match=rf"more than {MAX_BACKFILL_RUNS} runs.*"
                                                    rf"{last_allowed.date().isoformat()}"):
        backfill_dates(daily, T0, last_allowed + timedelta(days=1))


def test_planning_a_backfill_with_conf_that_breaks_a_param_names_the_param(store: Store) -> None:
    """So that a dry run refuses the conf the real backfill would refuse."""
    params = {"n": {"value": 1, "has_value": True, "description": None, "schema": {"type": "integer"}}}
    store.sync_dag(chain_dag(params=params), FILE, T0)
    with pytest.raises(ParamValidationError, match="'n'"):
        store.plan_backfill("etl", T0, T0 + timedelta(days=1), conf={"n": "many"})
    assert len(store.plan_backfill("etl", T0, T0 + timedelta(days=1), conf={"n": 9})) == 2


def test_backfill_dates_stop_where_the_schedule_leaves_the_calendar() -> None:
    """Before: an OverflowError (the interval of 9999-12-31 ends in the year 10000)."""
    daily = timetable_from_schedule("@daily")
    last = datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc)
    got = backfill_dates(daily, last - timedelta(days=3), last)
    assert [i.start.day for i in got] == [29, 30]

def test_a_dag_without_schedule_has_no_backfill_dates() -> None:
    assert backfill_dates(timetable_from_schedule(None), T0, T0 + timedelta(days=5)) == []


def test_backfill_only_touches_existing_failed_runs_when_asked() -> None:
    assert backfill_action(None, ExistingRunPolicy.KEEP) == "create"
    assert backfill_action("failed", ExistingRunPolicy.KEEP) == "keep"
    assert backfill_action("success", ExistingRunPolicy.RESET_FAILED) == "keep"
    assert backfill_action("failed", ExistingRunPolicy.RESET_FAILED) == "reset"
    assert backfill_action("failed", ExistingRunPolicy.RERUN_FAILED_TASKS) == "rerun_failed_tasks"


# --- trigger -----------------------------------------------------------------------------------

def test_triggering_creates_a_queued_manual_run_with_the_inferred_interval(store: Store) -> None:
    store.sync_dag(chain_dag(), FILE, T0)
    now = T0 + timedelta(days=3, hours=5)
    run = store.trigger_dag("etl", now=now, conf={"x": 1})
    assert (run.run_type, run.state, run.run_id, dict(run.conf)) == ("manual", "queued", f"manual__{now.isoformat()}",
                                                                    {"x": 1})
    assert (run.data_interval_start, run.data_interval_end) == (T0 + timedelta(days=2), T0 + timedelta(days=3))


def test_triggering_with_conf_that_breaks_a_param_names_the_param(store: Store) -> None:
    params = {"n": {"value": 1, "has_value": True, "description": None, "schema": {"type": "integer"}}}
    store.sync_dag(chain_dag(params=params), FILE, T0)
    with pytest.raises(ParamValidationError, match="'n'"):
        store.trigger_dag("etl", now=T0, conf={"n": "many"})
    assert store.list_runs("etl") == []


def test_triggering_an_unknown_dag_names_it(store: Store) -> None:
    with pytest.raises(DagNotFound, match="'nope'"):
        store.trigger_dag("nope", now=T0)


def test_a_dag_whose_file_is_gone_can_be_neither_triggered_nor_backfilled(store: Store) -> None:
    """Its last parsed version would only make runs whose tries fail (the file is gone), as Airflow
    refuses them: the error says why instead."""
    store.sync_dag(chain_dag(), FILE, T0)
    assert store.mark_dags_inactive(keep_filelocs=[]) == 1
    with pytest.raises(DagNotFound, match=f"DAG 'etl' is not active: {FILE} no longer defines it"):
        store.trigger_dag("etl", now=T0)
    with pytest.raises(DagNotFound, match="not active"):
        store.plan_backfill("etl", T0, T0 + timedelta(days=1))
    assert store.list_runs("etl") == []
    store.sync_dag(chain_dag(), FILE, T0)  # the file is back
    assert store.trigger_dag("etl", now=T0).state == "queued"


# --- clear -------------------------------------------------------------------------------------

def test_clearing_keeps_the_try_count_renews_retries_and_requeues_the_finished_run(store: Store) -> None:
    run = a_run(store)
    key = force(store, run, "extract", "scheduled", "queued")
    assert store.claim_queued_task(key, "host", 1, T0)
    assert store.set_task_state(key, "running", "failed", end_date=T0)
    assert store.set_run_state(run.key, "running", "failed", end_date=T0)
    chosen = store.task_instances_to_clear("etl", ClearSpec(task_regex="extract", downstream=True))
    assert sorted(t.task_id for t in chosen) == ["extract", "load", "transform"]
    report = store.clear_task_instances([t.key for t in chosen], T0 + timedelta(hours=1))
    ti = store.get_task_instance(key)
    assert (ti.state, ti.try_number, ti.max_tries, ti.end_date) == ("pending", 1, 2, None)
    again = store.get_run("etl", run.run_id)
    assert (again.state, again.clear_number, again.end_date) == ("queued", 1, None)
    assert report.runs == (run.key,) and report.killed == ()


def test_clearing_a_task_its_branch_skipped_leaves_it_skipped_as_airflows_does(store: Store) -> None:
    run = a_run(store)
    branch = force(store, run, "extract", "scheduled", "queued", "running", "success")
    store.xcom_push(branch, "skipmixin_key", {"followed": ["audit"]}, T0)
    skipped = force(store, run, "transform", "skipped")
    load = force(store, run, "load", "skipped")
    assert store.set_run_state(run.key, "running", "success", end_date=T0)
    report = store.clear_task_instances([skipped, load], T0 + timedelta(hours=1))
    assert states(store, run)["transform"] == "skipped"  # the branch did not follow it: it stays skipped
    assert states(store, run)["load"] == "pending"  # the planner skips it again through its trigger rule
    assert report.task_instances == (load,) and report.runs == (run.key,)


def test_clearing_a_task_with_the_branch_that_skipped_it_lets_the_branch_choose_again(store: Store) -> None:
    run = a_run(store)
    branch = force(store, run, "extract", "scheduled", "queued", "running", "success")
    store.xcom_push(branch, "skipmixin_key", {"skipped": ["transform"]}, T0)
    skipped = force(store, run, "transform", "skipped")
    store.clear_task_instances([branch, skipped], T0 + timedelta(hours=1))
    assert states(store, run)["extract"] == states(store, run)["transform"] == "pending"


def test_clearing_a_task_a_short_circuit_skipped_leaves_it_skipped(store: Store) -> None:
    run = a_run(store)
    branch = force(store, run, "extract", "scheduled", "queued", "running", "success")
    store.xcom_push(branch, "skipmixin_key", {"skipped": ["transform", "load"]}, T0)
    skipped = force(store, run, "transform", "skipped")
    report = store.clear_task_instances([skipped], T0 + timedelta(hours=1))
    assert states(store, run)["transform"] == "skipped" and report.task_instances == () and report.runs == ()


def test_clearing_only_failed_picks_failed_and_upstream_failed_within_the_dates(store: Store) -> None:
    first, second = a_run(store, 0), a_run(store, 1)
    for run in (first, second):
        force(store, run, "extract", "scheduled", "queued", "failed")
        force(store, run, "transform", "upstream_failed")
    spec = ClearSpec(only_failed=True, start_date=T0 + timedelta(hours=1))
    chosen = store.task_instances_to_clear("etl", spec)
    assert sorted((t.run_id, t.task_id) for t in chosen) == [(second.run_id, "extract"), (second.run_id, "transform")]


def test_clearing_a_running_try_records_a_kill_request(store: Store) -> None:
    run = a_run(store)
    key = force(store, run, "extract", "scheduled", "queued")
    assert store.claim_queued_task(key, "host", 1, T0)
    report = store.clear_task_instances([key], T0 + timedelta(minutes=1))
    assert report.killed == (key,)
    assert [r.key for r in store.kill_requests(since=T0)] == [key]
    assert store.kill_requests(since=T0 + timedelta(minutes=2)) == []
    assert not store.heartbeat_task(key, T0 + timedelta(minutes=1), try_number=1)  # the runner learns it must stop


# --- mark and kill -----------------------------------------------------------------------------

def test_marking_sets_the_state_and_refuses_states_people_may_not_set(store: Store) -> None:
    run = a_run(store)
    key = TaskInstanceKey("etl", run.run_id, "audit")
    report = store.mark_task_instances([key], "success", T0, note="done by hand")
    assert report.task_instances == (key,)
    ti = store.get_task_instance(key)
    assert (ti.state, ti.note, ti.end_date) == ("success", "done by hand", T0)
    with pytest.raises(IllegalTransitionError):
        store.mark_task_instances([key], "queued", T0)


def test_killing_runs_fails_running_tries_skips_waiting_ones_and_fails_the_run(store: Store) -> None:
    run = a_run(store)
    running = force(store, run, "extract", "scheduled", "queued")
    assert store.claim_queued_task(running, "host", 1, T0)
    force(store, run, "audit", "scheduled", "queued", "running", "success")
    report = store.kill_runs("etl", ["running"], T0 + timedelta(minutes=5))
    assert states(store, run) == {"extract": "failed", "transform": "skipped", "load": "skipped", "audit": "success"}
    assert store.get_run("etl", run.run_id).state == "failed"
    assert report.killed == (running,) and report.runs == (run.key,)
    assert [a.event for a in store.list_audit("etl")] == [KILL_EVENT]
    assert store.kill_runs("etl", ["running"], T0).runs == ()


# --- backfill ----------------------------------------------------------------------------------

def test_a_backfill_creates_queued_backfill_runs_and_keeps_existing_ones(store: Store) -> None:
    existing = a_run(store, 1)
    plan = store.plan_backfill("etl", T0, T0 + timedelta(days=2))
    assert [(i.run_id, i.action) for i in plan] == [
        (f"backfill__{T0.isoformat()}", "create"), (existing.run_id, "keep"),
        (f"backfill__{(T0 + timedelta(days=2)).isoformat()}", "create")]
    keys = store.apply_backfill("etl", plan, T0)
    runs = store.runs_by_key(keys)
    assert [(r.run_type, r.state) for r in runs] == [("backfill", "queued"), ("scheduled", "running"),
                                                     ("backfill", "queued")]


def test_a_backfill_with_rerun_failed_tasks_clears_only_the_failed_tasks_of_failed_runs(store: Store) -> None:
    run = a_run(store)
    force(store, run, "extract", "scheduled", "queued", "running", "success")
    force(store, run, "transform", "scheduled", "queued", "running", "failed")
    force(store, run, "load", "upstream_failed")
    assert store.set_run_state(run.key, "running", "failed")
    plan = store.plan_backfill("etl", T0, T0, ExistingRunPolicy.RERUN_FAILED_TASKS)
    assert plan == [BackfillItem(T0, plan[0].data_interval, run.run_id, "rerun_failed_tasks", "failed")]
    store.apply_backfill("etl", plan, T0)
    assert states(store, run) == {"extract": "success", "transform": "pending", "load": "pending",
                                  "audit": "pending"}
    assert store.get_run("etl", run.run_id).state == "queued"


def test_a_backfill_with_reset_failed_clears_every_task_of_a_failed_run(store: Store) -> None:
    run = a_run(store)
    force(store, run, "extract", "scheduled", "queued", "running", "success")
    assert store.set_run_state(run.key, "running", "failed")
    store.apply_backfill("etl", store.plan_backfill("etl", T0, T0, ExistingRunPolicy.RESET_FAILED), T0)
    assert set(states(store, run).values()) == {"pending"}


# --- delete ------------------------------------------------------------------------------------

def test_deleting_a_dag_removes_its_rows_but_keeps_the_audit_log(store: Store) -> None:
    run = a_run(store)
    store.xcom_push(TaskInstanceKey("etl", run.run_id, "extract"), "return_value", 1, T0)
    store.audit("trigger", now=T0, source="cli", dag_id="etl")
    counts = store.delete_dag("etl")
    assert (counts["dag"], counts["dag_run"], counts["task_instance"], counts["xcom"]) == (1, 1, 4, 1)
    with pytest.raises(DagNotFound):
        store.get_dag("etl")
    assert [a.event for a in store.list_audit("etl")] == ["trigger"]
    with pytest.raises(DagNotFound, match="'etl'"):
        store.delete_dag("etl")
