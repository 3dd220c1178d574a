"""Store verbs for SLA misses (SQLite and PostgreSQL): candidates, recording once, notification, the page."""
from __future__ import annotations

from datetime import timedelta

from flowctl.db.store import Store
from flowctl.scheduler.sla import SlaMiss
from tests.db.samples import FILE, T0, make_run, queued_ti, serialized

NOW = T0 + timedelta(days=5)


def test_the_dags_checked_are_the_active_unpaused_ones_at_their_latest_version(store: Store) -> None:
    store.sync_dag(serialized("etl"), FILE, T0)
    latest = store.sync_dag(serialized("etl", tasks=("extract",)), FILE, T0)
    store.sync_dag(serialized("paused"), FILE, T0)
    store.set_paused("paused", True)
    assert store.sla_dag_versions() == {"etl": latest.id}


def test_candidates_are_task_instances_of_scheduled_runs_without_a_recorded_miss(store: Store) -> None:
    scheduled = make_run(store, day=0)
    make_run(store, day=1, run_type="manual")
    found = store.sla_candidates(["etl"], ["extract"], interval_end_after=T0, interval_end_before=NOW)
    assert [(c.run_id, c.task_id, c.state, c.data_interval_end) for c in found] == [
        (scheduled.run_id, "extract", "pending", T0 + timedelta(days=1))]
    store.record_sla_misses([SlaMiss("etl", "extract", scheduled.run_id, scheduled.logical_date)], NOW)
    assert store.sla_candidates(["etl"], ["extract"], interval_end_after=T0, interval_end_before=NOW) == []


def test_finished_runs_are_candidates_only_when_their_interval_ended_in_the_window(store: Store) -> None:
    run = make_run(store, day=0)
    if run.state == "queued":
        assert store.set_run_state(run.key, "queued", "running", start_date=T0)
    assert store.set_run_state(run.key, "running", "failed", end_date=T0)
    end = run.data_interval_end
    assert end is not None
    inside = store.sla_candidates(["etl"], ["extract"], interval_end_after=end - timedelta(seconds=1),
                                  interval_end_before=NOW)
    outside = store.sla_candidates(["etl"], ["extract"], interval_end_after=end, interval_end_before=NOW)
    not_yet = store.sla_candidates(["etl"], ["extract"], interval_end_after=T0 - timedelta(days=9),
                                   interval_end_before=end - timedelta(seconds=1))
    assert ([c.run_id for c in inside], outside, not_yet) == ([run.run_id], [], [])


def test_a_miss_is_recorded_once_whoever_records_it_again(store: Store) -> None:
    run = make_run(store)
    miss = SlaMiss("etl", "extract", run.run_id, run.logical_date)
    first = store.record_sla_misses([miss], NOW)
    again = store.record_sla_misses([miss, SlaMiss("etl", "load", run.run_id, run.logical_date)], NOW)
    assert [(m.task_id, m.timestamp, m.notification_sent) for m in first] == [("extract", NOW, False)]
    assert [m.task_id for m in again] == ["load"]
    assert store.sla_miss_page().total == 2


def test_notified_misses_leave_the_unnotified_batch(store: Store) -> None:
    run = make_run(store)
    recorded = store.record_sla_misses([SlaMiss("etl", t, run.run_id, run.logical_date) for t in ("extract", "load")],
                                       NOW)
    batch = store.unnotified_sla_misses("etl")
    assert [m.task_id for m in batch] == ["extract", "load"]
    assert batch[0].execution_date == run.logical_date
    assert store.mark_sla_misses_notified([recorded[0].id]) == 1
    assert store.mark_sla_misses_notified([recorded[0].id]) == 0
    assert [m.task_id for m in store.unnotified_sla_misses("etl")] == ["load"]


def test_blocking_task_instances_are_those_of_the_runs_that_did_not_succeed(store: Store) -> None:
    run = make_run(store)
    key = queued_ti(store, run, "extract")
    assert store.claim_queued_task(key, "host", 1, T0)
    assert store.set_task_state(key, "running", "success", end_date=T0)
    assert [ti.task_id for ti in store.sla_blocking_task_instances("etl", [run.run_id])] == ["load"]


def test_the_page_lists_newest_first_and_leaves_hidden_dags_out(store: Store) -> None:
    old, new = make_run(store, "etl"), make_run(store, "other")
    store.record_sla_misses([SlaMiss("etl", "extract", old.run_id, old.logical_date)], NOW)
    store.record_sla_misses([SlaMiss("other", "extract", new.run_id, new.logical_date)], NOW + timedelta(hours=1))
    assert [m.dag_id for m in store.sla_miss_page().items] == ["other", "etl"]
    assert [m.dag_id for m in store.sla_miss_page(hidden={"other"}).items] == ["etl"]
    assert [m.dag_id for m in store.sla_miss_page(dag_id="other").items] == ["other"]
    page = store.sla_miss_page(offset=1, limit=1)
    assert (page.total, [m.dag_id for m in page.items]) == (2, ["etl"])
