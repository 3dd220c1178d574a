"""Datasets in the Store: producers and consumers, events with a try's success, dataset-triggered runs
(SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flowctl.core.datasets import BaseDataset, Dataset
from flowctl.core.keys import RunKey, TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.core.timetables.datasets import DatasetTriggeredTimetable
from flowctl.db.records import TryEnd
from flowctl.db.store import Store
from tests.db.samples import FILE, T0

A, B = Dataset("s3://lake/a"), Dataset("s3://lake/b")
SUCCESS, FAILED, SKIPPED = TaskInstanceState.SUCCESS, TaskInstanceState.FAILED, TaskInstanceState.SKIPPED
LATER = T0 + timedelta(hours=1)


def producer(store: Store, dag_id: str = "producer", outlets: tuple[Dataset, ...] = (A,)) -> None:
    """A DAG whose task ``make`` has these outlets (and ``other``, none)."""
    tasks = [{"task_id": "make", "upstream_task_ids": [], "outlets": [o.as_json() for o in outlets]},
             {"task_id": "other", "upstream_task_ids": []}]
    store.sync_dag({"dag_id": dag_id, "tasks": tasks, "is_paused_upon_creation": False}, f"/dags/{dag_id}.py", T0)


def consumer(store: Store, condition: BaseDataset, dag_id: str = "consumer", paused: bool = False) -> None:
    store.sync_dag({"dag_id": dag_id, "tasks": [{"task_id": "use", "upstream_task_ids": []}],
                    "timetable": DatasetTriggeredTimetable(condition).serialize(), "timetable_summary": "Dataset",
                    "is_paused_upon_creation": paused}, FILE, T0)


def running(store: Store, dag_id: str = "producer", task_id: str = "make", day: int = 0) -> TaskInstanceKey:
    """A manual run of ``dag_id`` (created if new) whose ``task_id`` try 1 is running."""
    run_id = f"manual__{day}"
    if run_id not in {r.run_id for r in store.list_runs(dag_id)}:
        store.create_run(dag_id, run_id, run_type="manual", logical_date=T0 + timedelta(days=day), now=T0,
                         data_interval=(T0 + timedelta(days=day), T0 + timedelta(days=day + 1)))
        assert store.set_run_state(store.get_run(dag_id, run_id).key, "queued", "running", start_date=T0)
    key = TaskInstanceKey(dag_id, run_id, task_id)
    assert store.set_task_state(key, "pending", "scheduled")
    assert store.set_task_state(key, "scheduled", "queued", queued_at=T0)
    assert store.start_try(key, 0, "host", 7, T0) is not None
    return key


def succeed(store: Store, dag_id: str = "producer", day: int = 0, at: Any = LATER) -> TaskInstanceKey:
    key = running(store, dag_id, day=day)
    assert store.finish_try(key, SUCCESS, at, running_try=1, started=T0, wake="task finished")
    return key


def events(store: Store) -> list[Any]:
    return store.list_dataset_events()[0]


def test_storing_a_dag_records_the_datasets_it_consumes_and_the_tasks_that_produce_them(store: Store) -> None:
    producer(store, outlets=(A, Dataset("s3://lake/c", extra={"format": "parquet"})))
    consumer(store, A & B)
    datasets, total = store.list_datasets()
    assert total == 3 and [d["uri"] for d in datasets] == ["s3://lake/a", "s3://lake/b", "s3://lake/c"]
    by_uri = {d["uri"]: d for d in datasets}
    assert [c["dag_id"] for c in by_uri["s3://lake/a"]["consuming_dags"]] == ["consumer"]
    assert [(p["dag_id"], p["task_id"]) for p in by_uri["s3://lake/a"]["producing_tasks"]] == [("producer", "make")]
    assert by_uri["s3://lake/b"]["producing_tasks"] == [] and by_uri["s3://lake/c"]["consuming_dags"] == []
    assert by_uri["s3://lake/c"]["extra"] == {"format": "parquet"}


def test_a_new_version_replaces_the_references_of_the_old_one(store: Store) -> None:
    producer(store, outlets=(A,))
    producer(store, outlets=(B,))
    by_uri = {d["uri"]: d for d in store.list_datasets()[0]}
    assert by_uri["s3://lake/a"]["producing_tasks"] == []
    assert [p["task_id"] for p in by_uri["s3://lake/b"]["producing_tasks"]] == ["make"]


def test_a_successful_try_of_a_producer_records_an_event_per_outlet(store: Store) -> None:
    producer(store, outlets=(A, B))
    key = succeed(store)
    recorded = sorted(events(store), key=lambda e: e.uri)
    assert [e.uri for e in recorded] == ["s3://lake/a", "s3://lake/b"]
    first = recorded[0]
    assert (first.source_dag_id, first.source_task_id, first.source_run_id, first.source_map_index) == (
        "producer", "make", key.run_id, -1)
    assert first.timestamp == LATER and first.dataset.uri == "s3://lake/a"


@pytest.mark.parametrize("state", [FAILED, SKIPPED, TaskInstanceState.UP_FOR_RETRY])
def test_a_try_that_does_not_succeed_records_nothing(store: Store, state: TaskInstanceState) -> None:
    producer(store)
    key = running(store)
    fields = {"next_retry_at": LATER} if state is TaskInstanceState.UP_FOR_RETRY else {}
    assert store.finish_try(key, state, LATER, running_try=1, started=T0, wake="task finished", **fields)
    assert events(store) == []


def test_a_try_whose_end_loses_records_nothing(store: Store) -> None:
    producer(store)
    key = running(store)
    assert not store.finish_try(key, SUCCESS, LATER, running_try=2, started=T0, wake="task finished")
    assert events(store) == []


def test_a_task_without_outlets_records_nothing(store: Store) -> None:
    producer(store)
    key = running(store, task_id="other")
    assert store.finish_try(key, SUCCESS, LATER, running_try=1, started=T0, wake="task finished")
    assert events(store) == []


def test_ends_written_together_record_the_events_of_the_producers_that_won(store: Store) -> None:
    """The supervised path (the zygote through the task agent): several ends in one transaction."""
    producer(store, outlets=(A,))
    producer(store, dag_id="failing", outlets=(B,))
    made, other = running(store), running(store, task_id="other")
    failing = running(store, dag_id="failing")
    ends = [TryEnd(k, state, LATER, 1, T0, {}) for k, state in ((made, SUCCESS), (other, SUCCESS), (failing, FAILED))]
    assert store.finish_tries(ends, "task finished") == [True, True, True]
    assert [(e.uri, e.source_task_id) for e in events(store)] == [("s3://lake/a", "make")]


def test_a_successful_end_stores_the_extras_its_try_set_for_its_outlets_events(store: Store) -> None:
    producer(store, outlets=(A, B))
    key = running(store)
    extra = {"s3://lake/a": {"rows": 3, "tags": ["x"]}, "s3://lake/not-an-outlet": {"k": 1}}
    assert store.finish_try(key, SUCCESS, LATER, running_try=1, started=T0, wake="task finished", outlet_extra=extra)
    assert {e.uri: e.extra for e in events(store)} == {"s3://lake/a": {"rows": 3, "tags": ["x"]}, "s3://lake/b": {}}


def test_ends_written_together_keep_each_ends_own_extras(store: Store) -> None:
    producer(store, outlets=(A,))
    producer(store, dag_id="second", outlets=(A,))
    first, second = running(store), running(store, dag_id="second")
    ends = [TryEnd(first, SUCCESS, LATER, 1, T0, {}, outlet_extra={"s3://lake/a": {"by": "first"}}),
            TryEnd(second, SUCCESS, LATER, 1, T0, {})]
    assert store.finish_tries(ends, "task finished") == [True, True]
    assert sorted((e.source_dag_id, e.extra.get("by")) for e in events(store)) == [("producer", "first"),
                                                                                   ("second", None)]


def test_an_all_of_consumer_gets_one_run_once_every_dataset_was_updated(store: Store) -> None:
    producer(store, outlets=(A,))
    producer(store, dag_id="other_producer", outlets=(B,))
    consumer(store, A & B)
    succeed(store)
    assert store.dataset_queue() == {"consumer": {"s3://lake/a"}}
    assert store.create_dataset_triggered_run("consumer", A & B, LATER) is None  # b is still missing
    assert store.dataset_queue() == {"consumer": {"s3://lake/a"}}  # and the queue was left as it was
    succeed(store, dag_id="other_producer", at=LATER + timedelta(minutes=1))
    run = store.create_dataset_triggered_run("consumer", A & B, LATER + timedelta(minutes=2))
    assert run is not None and run.run_type == "dataset_triggered" and run.state == "queued"
    assert run.run_id == f"dataset_triggered__{(LATER + timedelta(minutes=2)).isoformat()}"
    assert [ti.task_id for ti in store.list_task_instances(run.key)] == ["use"]
    triggering = store.triggering_dataset_events(run.key)
    assert sorted(triggering) == ["s3://lake/a", "s3://lake/b"]
    assert [e.source_dag_id for e in triggering["s3://lake/b"]] == ["other_producer"]
    # the data interval spans the producing runs' intervals (Airflow)
    assert (run.data_interval_start, run.data_interval_end) == (T0, T0 + timedelta(days=1))


def test_the_updates_are_consumed_by_one_run(store: Store) -> None:
    producer(store)
    consumer(store, A)
    succeed(store)
    assert store.create_dataset_triggered_run("consumer", A, LATER) is not None
    assert store.dataset_queue() == {}
    assert store.create_dataset_triggered_run("consumer", A, LATER + timedelta(seconds=1)) is None
    succeed(store, day=1, at=LATER + timedelta(minutes=5))  # a new update: a new run, with only that event
    second = store.create_dataset_triggered_run("consumer", A, LATER + timedelta(minutes=6))
    assert second is not None
    assert [e.source_run_id for e in store.triggering_dataset_events(second.key)["s3://lake/a"]] == ["manual__1"]


def test_one_run_takes_every_update_made_before_it(store: Store) -> None:
    producer(store)
    consumer(store, A)
    succeed(store, at=LATER)
    succeed(store, day=1, at=LATER + timedelta(minutes=1))
    run = store.create_dataset_triggered_run("consumer", A, LATER + timedelta(minutes=2))
    assert run is not None
    assert [e.source_run_id for e in store.triggering_dataset_events(run.key)["s3://lake/a"]] == [
        "manual__0", "manual__1"]


def test_an_any_of_consumer_runs_when_one_of_its_datasets_is_updated(store: Store) -> None:
    producer(store, outlets=(B,))
    consumer(store, A | B)
    succeed(store)
    assert store.dataset_queue() == {"consumer": {"s3://lake/b"}}
    run = store.create_dataset_triggered_run("consumer", A | B, LATER)
    assert run is not None and list(store.triggering_dataset_events(run.key)) == ["s3://lake/b"]


def test_a_paused_consumer_gets_no_queued_update_but_the_event_is_recorded(store: Store) -> None:
    producer(store)
    consumer(store, A, paused=True)
    consumer(store, A, dag_id="awake")
    succeed(store)
    assert len(events(store)) == 1
    assert store.dataset_queue() == {"awake": {"s3://lake/a"}}
    assert store.create_dataset_triggered_run("consumer", A, LATER) is None


def test_two_producers_of_one_dataset_both_trigger_the_consumer(store: Store) -> None:
    producer(store, dag_id="p1")
    producer(store, dag_id="p2")
    consumer(store, A)
    succeed(store, dag_id="p1", at=LATER)
    succeed(store, dag_id="p2", at=LATER + timedelta(seconds=1))
    run = store.create_dataset_triggered_run("consumer", A, LATER + timedelta(seconds=2))
    assert run is not None
    assert [e.source_dag_id for e in store.triggering_dataset_events(run.key)["s3://lake/a"]] == ["p1", "p2"]


def test_a_consumer_that_stops_consuming_a_dataset_drops_its_queued_update(store: Store) -> None:
    producer(store)
    consumer(store, A)
    succeed(store)
    consumer(store, B)
    assert store.dataset_queue() == {}


def test_other_runs_have_no_triggering_dataset_events(store: Store) -> None:
    producer(store)
    key = succeed(store)
    assert store.triggering_dataset_events(RunKey(key.dag_id, key.run_id)) == {}


def test_dataset_events_list_newest_first_and_filter_by_uri(store: Store) -> None:
    producer(store, outlets=(A, B))
    succeed(store, at=LATER)
    succeed(store, day=1, at=LATER + timedelta(minutes=1))
    listed, total = store.list_dataset_events(uri="s3://lake/a")
    assert total == 2 and [e.source_run_id for e in listed] == ["manual__1", "manual__0"]
    assert store.list_dataset_events(limit=1)[1] == 4 and len(store.list_dataset_events(limit=1)[0]) == 1


def test_an_end_whose_try_says_its_task_has_no_outlets_skips_their_look_up(store: Store) -> None:
    """Before: every batch of ends holding a success looked up dataset_task_ref, a statement on the hot
    path of every chain and fan-out though almost no task produces a dataset. The try knows its task:
    ``produces=False`` spares the look-up; True or None (not known) still finds and records the events."""
    from sqlalchemy import event

    producer(store, outlets=(A,))
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)
    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        other = running(store, task_id="other")
        statements.clear()
        assert store.finish_tries([TryEnd(other, SUCCESS, LATER, 1, T0, {}, produces=False)], "task finished") == [True]
        assert not any("dataset_task_ref" in s for s in statements)
        assert store.finish_try(running(store, day=1), SUCCESS, LATER, running_try=1, started=T0, wake="task finished",
                                produces=True)
        assert store.finish_tries([TryEnd(running(store, day=2), SUCCESS, LATER, 1, T0, {})], "task finished") == [True]
        assert any("dataset_task_ref" in s for s in statements)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert [(e.uri, e.source_run_id) for e in events(store)] == [("s3://lake/a", "manual__2"), ("s3://lake/a", "manual__1")]


def _reasons_within(listener: Any, seconds: float = 3.0) -> list[str]:
    import select
    import time

    deadline, reasons = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        if select.select([listener.fileno()], [], [], 0.05)[0]:
            listener.drain()
            reasons += listener.reasons
        elif reasons:
            break
    return reasons


@pytest.mark.parametrize("batched", [False, True])
def test_a_success_that_queues_a_consumer_update_wakes_the_scheduler_for_a_full_tick(store: Store,
                                                                                     batched: bool) -> None:
    """Before: a producer's success woke the scheduler only as "task finished" (a reacting round, which
    makes no runs), so the consumer's run waited for the next upkeep tick, some 5 s. Now the end's
    transaction also says "dataset updated", which the scheduler answers with a full tick."""
    from flowctl.db.dataset_refs import DATASET_UPDATED
    from flowctl.scheduler.loop import TASK_FINISHED

    producer(store, outlets=(A,))
    consumer(store, A)
    listener = store.scheduler_listener()
    try:
        other = running(store, task_id="other")
        assert store.finish_try(other, SUCCESS, LATER, running_try=1, started=T0, wake=TASK_FINISHED)
        assert DATASET_UPDATED not in _reasons_within(listener, 1.0)  # no outlets: no dataset wake-up
        made = running(store, day=1)
        if batched:
            assert store.finish_tries([TryEnd(made, SUCCESS, LATER, 1, T0, {}, produces=True)], TASK_FINISHED)
        else:
            assert store.finish_try(made, SUCCESS, LATER, running_try=1, started=T0, wake=TASK_FINISHED)
        assert DATASET_UPDATED in _reasons_within(listener)
    finally:
        listener.close()


def test_the_dataset_page_lists_each_dataset_with_its_refs_event_count_and_last_update(store: Store) -> None:
    producer(store, outlets=(A, B))
    consumer(store, A)
    succeed(store, day=0, at=LATER)
    succeed(store, day=1, at=LATER + timedelta(hours=1))
    page = store.dataset_page()
    assert page.total == 2 and [d.uri for d in page.items] == ["s3://lake/a", "s3://lake/b"]
    a = page.items[0]
    assert (a.producing_tasks, a.consuming_dags, a.event_count) == ((("producer", "make"),), ("consumer",), 2)
    assert a.last_event_at == LATER + timedelta(hours=1)
    assert store.get_dataset(a.id) == a
    assert [d.uri for d in store.dataset_page(uri_pattern="/b").items] == ["s3://lake/b"]
    assert [d.uri for d in store.dataset_page(offset=1, limit=1).items] == ["s3://lake/b"]


def test_the_dataset_page_leaves_out_what_hidden_dags_did_or_wait_for(store: Store) -> None:
    producer(store, outlets=(A,))
    consumer(store, A)
    succeed(store)
    [a] = store.dataset_page(hidden={"producer", "consumer"}).items
    assert (a.producing_tasks, a.consuming_dags, a.event_count, a.last_event_at) == ((), (), 0, None)


def test_an_unknown_dataset_id_is_not_found(store: Store) -> None:
    with pytest.raises(LookupError, match="no dataset with id 404"):
        store.get_dataset(404)
