"""Store.remap_mapped_task: re-expanding a cleared mapped task to a new length (SQLite and PostgreSQL)."""
from __future__ import annotations

import threading
from datetime import timedelta

from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.db.store import Store
from tests.db.samples import T0, make_run

LATER = T0 + timedelta(hours=1)


def expanded(store: Store, length: int) -> RunKey:
    """A run whose task ``extract`` (retries=2) is expanded to map indexes 0..length-1, all pending."""
    run = make_run(store).key
    assert store.expand_mapped_task(run, "extract", length, T0)
    return run


def mapped(store: Store, run: RunKey) -> dict[int, str]:
    return {ti.map_index: ti.state for ti in store.list_task_instances(run) if ti.task_id == "extract"}


def key(run: RunKey, map_index: int) -> TaskInstanceKey:
    return TaskInstanceKey(run.dag_id, run.run_id, "extract", map_index)


def test_remapping_to_a_longer_input_creates_the_missing_indexes_from_an_existing_one(store: Store) -> None:
    run = expanded(store, 1)
    first = store.get_task_instance(key(run, 0))
    assert store.remap_mapped_task(run, "extract", 3, LATER)
    assert mapped(store, run) == {0: "pending", 1: "pending", 2: "pending"}
    for index in (1, 2):
        ti = store.get_task_instance(key(run, index))
        assert (ti.try_number, ti.max_tries, ti.queue, ti.pool, ti.pool_slots, ti.priority_weight, ti.operator) == (
            0, 2, first.queue, first.pool, first.pool_slots, first.priority_weight, first.operator)
        assert ti.updated_at == LATER


def test_new_indexes_of_a_cleared_task_get_a_fresh_try_budget(store: Store) -> None:
    run = expanded(store, 1)
    assert store.set_task_state(key(run, 0), "pending", "scheduled")
    assert store.set_task_state(key(run, 0), "scheduled", "queued", queued_at=T0)
    assert store.claim_queued_task(key(run, 0), "host", 1, T0)
    assert store.set_task_state(key(run, 0), "running", "success", end_date=T0)
    store.clear_task_instances([key(run, 0)], LATER)
    assert store.remap_mapped_task(run, "extract", 2, LATER)
    cleared, new = store.get_task_instance(key(run, 0)), store.get_task_instance(key(run, 1))
    assert (cleared.try_number, cleared.max_tries) == (1, 3)
    assert (new.try_number, new.max_tries) == (0, 2)


def test_remapping_to_a_shorter_input_removes_the_extra_indexes_and_their_xcoms(store: Store) -> None:
    run = expanded(store, 3)
    for index in range(3):
        store.xcom_push(key(run, index), "return_value", index, T0)
    assert store.remap_mapped_task(run, "extract", 1, LATER)
    assert mapped(store, run) == {0: "pending", 1: "removed", 2: "removed"}
    assert store.get_task_instance(key(run, 2)).end_date == LATER
    assert store.xcom_pull_mapped(run, "extract") == [0]


def test_remapping_to_an_empty_input_skips_every_index(store: Store) -> None:
    run = expanded(store, 2)
    assert store.remap_mapped_task(run, "extract", 0, LATER)
    assert mapped(store, run) == {0: "skipped", 1: "skipped"}
    assert store.get_task_instance(key(run, 1)).end_date == LATER


def test_remapping_brings_back_a_removed_index_below_the_new_length(store: Store) -> None:
    run = expanded(store, 3)
    assert store.remap_mapped_task(run, "extract", 1, LATER)
    assert store.remap_mapped_task(run, "extract", 2, LATER)
    assert mapped(store, run) == {0: "pending", 1: "pending", 2: "removed"}
    assert store.get_task_instance(key(run, 1)).end_date is None


def test_remapping_is_refused_once_an_index_has_moved_on(store: Store) -> None:
    run = expanded(store, 2)
    assert store.set_task_state(key(run, 1), "pending", "scheduled")
    assert not store.remap_mapped_task(run, "extract", 3, LATER)
    assert not store.remap_mapped_task(run, "extract", 1, LATER)
    assert mapped(store, run) == {0: "pending", 1: "scheduled"}


def test_remapping_to_the_current_length_or_before_expansion_changes_nothing(store: Store) -> None:
    run = expanded(store, 2)
    assert not store.remap_mapped_task(run, "extract", 2, LATER)
    assert mapped(store, run) == {0: "pending", 1: "pending"}
    other = make_run(store, day=1).key  # its placeholder (-1) is still pending: expansion's job, not remap's
    assert not store.remap_mapped_task(other, "extract", 2, LATER)
    assert mapped(store, other) == {-1: "pending"}


def test_two_schedulers_remapping_at_once_remap_once_on_postgresql(pg_store: Store) -> None:
    run = expanded(pg_store, 2)
    barrier = threading.Barrier(4)
    results: list[bool] = []

    def remap() -> None:
        barrier.wait()
        results.append(pg_store.remap_mapped_task(run, "extract", 5, LATER))

    threads = [threading.Thread(target=remap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, False, False, True]
    assert mapped(pg_store, run) == {i: "pending" for i in range(5)}
