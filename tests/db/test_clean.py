"""``db clean``: old finished runs and their rows go, in batches; running runs and recent rows stay."""
from __future__ import annotations

from datetime import timedelta

from flowctl.db.records import DagRunRecord
from flowctl.db.store import Store
from tests.db.samples import T0, make_run, queued_ti, ti_key

CUTOFF = T0 + timedelta(days=10)


def _finish(store: Store, run: DagRunRecord) -> None:
    key = queued_ti(store, run)
    store.claim_queued_task(key, "h", 1, T0)
    store.set_task_state(key, "running", "success", end_date=T0)
    store.record_try_history(key)
    store.xcom_push(key, "return_value", 1, T0)
    store.set_run_state(run.key, "queued", "running")
    store.set_run_state(run.key, "running", "success", end_date=T0)


def test_clean_deletes_old_finished_runs_with_their_rows_and_counts_them(store: Store) -> None:
    for day in range(3):
        _finish(store, make_run(store, day=day))
    store.audit("trigger", now=T0, source="cli")
    report = store.clean(CUTOFF, batch_size=2)
    assert report.counts == {"dag_run": 3, "task_instance": 6, "task_instance_history": 3, "xcom": 3,
                             "task_reschedule": 0, "log": 1, "job": 0}
    assert store.list_runs("etl") == []


def test_a_dry_run_counts_the_same_rows_and_deletes_nothing(store: Store) -> None:
    for day in range(3):
        _finish(store, make_run(store, day=day))
    preview = store.preview_clean(CUTOFF)
    assert len(store.list_runs("etl")) == 3
    assert preview.counts == store.clean(CUTOFF).counts


def test_running_and_queued_runs_are_never_deleted(store: Store) -> None:
    running = make_run(store, day=0)
    store.set_run_state(running.key, "queued", "running")
    queued = make_run(store, day=1)
    assert store.clean(CUTOFF).total == 0
    assert {r.run_id for r in store.list_runs("etl")} == {running.run_id, queued.run_id}


def test_runs_newer_than_the_cutoff_stay(store: Store) -> None:
    old, new = make_run(store, day=1), make_run(store, day=20)
    _finish(store, old)
    _finish(store, new)
    assert store.clean(CUTOFF).counts["dag_run"] == 1
    assert [r.run_id for r in store.list_runs("etl")] == [new.run_id]
    assert store.xcom_pull(new.key, "extract") == 1 and store.get_task_instance(ti_key(new)).state == "success"


def test_ended_jobs_and_old_audit_rows_go_but_running_jobs_stay(store: Store) -> None:
    alive = store.create_job("scheduler", "h", 1, T0)
    ended = store.create_job("worker", "h", 2, T0)
    store.end_job(ended.id, "success", T0)
    store.audit("old", now=T0, source="ui")
    store.audit("new", now=CUTOFF + timedelta(days=1), source="ui")
    report = store.clean(CUTOFF)
    assert (report.counts["job"], report.counts["log"]) == (1, 1)
    assert [j.id for j in store.list_jobs()] == [alive.id]
    assert [a.event for a in store.list_audit()] == ["new"]
