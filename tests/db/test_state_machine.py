"""Task-instance and run state changes: compare-and-set, checked against core/states.py."""
from __future__ import annotations

from datetime import timedelta

import pytest

from flowctl.core.errors import IllegalTransitionError, TaskInstanceNotFound
from flowctl.db.records import TaskInstanceKey
from flowctl.db.store import Store
from tests.db.samples import T0, make_run, queued_ti, ti_key


def test_a_legal_transition_wins_once_and_the_second_attempt_loses(store: Store) -> None:
    key = ti_key(make_run(store))
    assert store.set_task_state(key, "pending", "scheduled") is True
    assert store.set_task_state(key, "pending", "scheduled") is False
    assert store.get_task_instance(key).state == "scheduled"


def test_an_illegal_transition_raises_naming_both_states(store: Store) -> None:
    key = ti_key(make_run(store))
    with pytest.raises(IllegalTransitionError, match="from pending to success"):
        store.set_task_state(key, "pending", "success")
    assert store.get_task_instance(key).state == "pending"


def test_a_transition_from_the_wrong_expected_state_changes_nothing(store: Store) -> None:
    key = ti_key(make_run(store))
    assert store.set_task_state(key, "scheduled", "queued") is False
    assert store.get_task_instance(key).state == "pending"


def test_fields_are_written_together_with_the_state(store: Store) -> None:
    key = ti_key(make_run(store))
    store.set_task_state(key, "pending", "scheduled")
    store.set_task_state(key, "scheduled", "queued", queued_at=T0, queued_by_job_id=7)
    ti = store.get_task_instance(key)
    assert (ti.state, ti.queued_at, ti.queued_by_job_id) == ("queued", T0, 7)


def test_writing_an_unknown_column_is_refused(store: Store) -> None:
    key = ti_key(make_run(store))
    with pytest.raises(TypeError, match="colour"):
        store.set_task_state(key, "pending", "scheduled", colour="red")


def test_claiming_a_queued_task_starts_a_new_try(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    assert store.claim_queued_task(key, "host-1", 4242, T0) is True
    ti = store.get_task_instance(key)
    assert (ti.state, ti.try_number, ti.hostname, ti.pid, ti.start_date) == ("running", 1, "host-1", 4242, T0)
    assert store.claim_queued_task(key, "host-2", 1, T0) is False


def test_a_task_that_is_not_queued_cannot_be_claimed(store: Store) -> None:
    key = ti_key(make_run(store))
    assert store.claim_queued_task(key, "host", 1, T0) is False
    assert store.get_task_instance(key).try_number == 0


def test_a_retry_goes_back_to_scheduled_and_its_next_claim_is_try_two(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    store.claim_queued_task(key, "h", 1, T0)
    assert store.set_task_state(key, "running", "up_for_retry", end_date=T0, next_retry_at=T0 + timedelta(minutes=5))
    store.record_try_history(key)
    assert store.set_task_state(key, "up_for_retry", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued")
    assert store.claim_queued_task(key, "h", 2, T0 + timedelta(minutes=6))
    assert store.get_task_instance(key).try_number == 2
    assert [(t.try_number, t.state) for t in store.list_tries(key)] == [(1, "up_for_retry")]


def test_recording_the_same_try_twice_keeps_one_history_row(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    store.claim_queued_task(key, "h", 1, T0)
    store.set_task_state(key, "running", "success", end_date=T0, duration=1.5)
    store.record_try_history(key)
    store.record_try_history(key)
    assert [(t.try_number, t.state, t.duration) for t in store.list_tries(key)] == [(1, "success", 1.5)]


def test_a_finished_task_can_only_be_changed_by_the_manual_table(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    store.claim_queued_task(key, "h", 1, T0)
    store.set_task_state(key, "running", "success")
    with pytest.raises(IllegalTransitionError, match="from success to pending"):
        store.set_task_state(key, "success", "pending")
    assert store.set_task_state_manually(key, "success", "pending")
    assert store.get_task_instance(key).state == "pending"


def test_a_missing_task_instance_is_reported_by_key(store: Store) -> None:
    with pytest.raises(TaskInstanceNotFound, match="etl.nope"):
        store.get_task_instance(TaskInstanceKey("etl", "r", "nope"))


def test_heartbeats_only_land_on_running_tries(store: Store) -> None:
    key = queued_ti(store, make_run(store))
    assert not store.heartbeat_task(key, T0, try_number=0)
    store.claim_queued_task(key, "h", 1, T0)
    assert store.heartbeat_task(key, T0 + timedelta(seconds=5), try_number=1)
    assert store.get_task_instance(key).last_heartbeat_at == T0 + timedelta(seconds=5)


def test_an_illegal_run_transition_raises_naming_both_states(store: Store) -> None:
    run = make_run(store)
    store.set_run_state(run.key, "queued", "running")
    store.set_run_state(run.key, "running", "success", end_date=T0)
    with pytest.raises(IllegalTransitionError, match="from success to running"):
        store.set_run_state(run.key, "success", "running")
    assert store.set_run_state_manually(run.key, "success", "queued")


def test_task_instances_are_filtered_by_state(store: Store) -> None:
    run = make_run(store)
    store.set_task_state(ti_key(run, "load"), "pending", "scheduled")
    assert [t.task_id for t in store.list_task_instances(run.key, state="scheduled")] == ["load"]
