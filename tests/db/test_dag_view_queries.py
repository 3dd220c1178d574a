"""The DAG-page read verbs (run window, task cells and states, tries, daily run states) on both databases."""
from __future__ import annotations

from datetime import timedelta

from flowctl.db.store import Store
from tests.db.samples import FILE, T0, make_run, serialized, ti_key


def test_run_window_pages_from_the_newest_run(store: Store) -> None:
    runs = [make_run(store, day=d) for d in range(5)]
    assert [r.run_id for r in store.run_window("etl", 0, 2)] == [runs[4].run_id, runs[3].run_id]
    assert [r.run_id for r in store.run_window("etl", 4, 2)] == [runs[0].run_id]
    assert store.count_runs("etl") == 5 and store.count_runs("other") == 0


def test_task_cells_and_states_cover_only_the_asked_runs(store: Store) -> None:
    first, second = make_run(store, day=0), make_run(store, day=1)
    cells = store.task_cells("etl", [first.run_id])
    assert {(c.run_id, c.task_id, c.state) for c in cells} == {(first.run_id, "extract", "pending"),
                                                             (first.run_id, "load", "pending")}
    states = store.task_states("etl", [first.run_id, second.run_id])
    assert len(states) == 4 and {c.state for c in states} == {"pending"}
    assert store.task_cells("etl", []) == []


def test_run_tries_list_history_then_the_current_try(store: Store) -> None:
    run = make_run(store)
    key = ti_key(run)
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=T0)
    assert store.claim_queued_task(key, "host", 1, T0 + timedelta(seconds=1))
    assert store.set_task_state(key, "running", "failed", end_date=T0 + timedelta(seconds=5))
    store.record_try_history(key)
    store.clear_task_instances([key], T0 + timedelta(minutes=1))
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=T0 + timedelta(minutes=2))
    assert store.claim_queued_task(key, "host", 2, T0 + timedelta(minutes=3))
    tries = [(c.try_number, c.state) for c in store.run_tries("etl", run.run_id) if c.task_id == "extract"]
    assert tries == [(1, "failed"), (2, "running")]


def test_daily_run_states_count_runs_per_day_and_state(store: Store) -> None:
    runs = [make_run(store, day=d) for d in range(3)]
    assert store.set_run_state(runs[1].key, "queued", "running")
    days = store.daily_run_states("etl", T0, T0 + timedelta(days=2))
    assert days == [(runs[0].logical_date.date().isoformat(), "queued", 1),
                    (runs[1].logical_date.date().isoformat(), "running", 1)]


def test_schedules_carry_each_dags_display_name_from_its_latest_version(store: Store) -> None:
    store.sync_dag(serialized("etl", dag_display_name="ETL"), FILE, T0)
    store.sync_dag(serialized("plain"), "/dags/plain.py", T0)
    found = store.schedules(["etl", "plain"])
    assert (found["etl"]["dag_display_name"], found["plain"]["dag_display_name"]) == ("ETL", None)
