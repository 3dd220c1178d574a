"""fail_dead_try never overwrites a try other than the one the caller saw die."""
from __future__ import annotations

from datetime import timedelta

from flowctl.db.store import Store

from tests.db.samples import T0, make_run, queued_ti


def test_a_crash_report_for_a_queued_try_loses_to_the_worker_that_claimed_it(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    seen = store.get_task_instance(key)  # the scheduler sees it queued, try 0 ...
    assert store.start_try(key, 0, "host", 1, T0) is not None  # ... then the worker claims it
    assert not store.fail_dead_try(key, seen.state, "failed", T0, seen_try=seen.try_number)
    assert store.get_task_instance(key).state == "running"


def test_a_zombie_verdict_does_not_touch_a_newer_try_started_after_a_clear(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    assert store.start_try(key, 0, "host", 1, T0) is not None
    zombie = store.get_task_instance(key)  # try 1 looks dead
    assert store.set_task_state_manually(key, "running", "pending")
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=T0)
    assert store.start_try(key, 1, "host", 2, T0) is not None  # try 2 is alive
    assert not store.fail_dead_try(key, "running", "failed", T0 + timedelta(minutes=5), seen_try=zombie.try_number)
    assert store.get_task_instance(key).state == "running"


def test_a_dead_running_try_is_failed_and_recorded(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    assert store.start_try(key, 0, "host", 1, T0) is not None
    assert store.fail_dead_try(key, "running", "up_for_retry", T0 + timedelta(minutes=5), seen_try=1,
                               next_retry_at=T0 + timedelta(minutes=10), note="zombie")
    ti = store.get_task_instance(key)
    assert (ti.state, ti.try_number, ti.note) == ("up_for_retry", 1, "zombie")
    assert [(t.try_number, t.state) for t in store.list_tries(key)] == [(1, "up_for_retry")]
