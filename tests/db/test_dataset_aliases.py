"""Dataset aliases in the Store (Airflow 2.10): a try's success records the datasets it added to its alias
outlets, the alias resolves to them, and DAGs scheduled on those datasets or on the alias are queued
(SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flowctl.core.datasets import BaseDataset, Dataset, DatasetAlias
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.states import TaskInstanceState
from flowctl.core.timetables.datasets import DatasetTriggeredTimetable
from flowctl.db.base import IN_LIST_SIZE, chunks
from flowctl.db.records import TryEnd
from flowctl.db.store import Store
from tests.db.samples import T0
from tests.db.test_datasets import LATER, events, running

X, Y = Dataset("s3://lake/x"), Dataset("s3://lake/y")
ORDERS = DatasetAlias("orders")
SUCCESS = TaskInstanceState.SUCCESS


def alias_producer(store: Store, dag_id: str = "producer", outlets: tuple[dict[str, Any], ...] = ({"alias": "orders"},),
                   ) -> None:
    """A DAG whose task ``make`` has these outlets (an alias by default), and ``other`` none."""
    tasks = [{"task_id": "make", "upstream_task_ids": [], "outlets": list(outlets)},
             {"task_id": "other", "upstream_task_ids": []}]
    store.sync_dag({"dag_id": dag_id, "tasks": tasks, "is_paused_upon_creation": False}, f"/dags/{dag_id}.py", T0)


def consumer(store: Store, condition: BaseDataset, dag_id: str) -> None:
    store.sync_dag({"dag_id": dag_id, "tasks": [{"task_id": "use", "upstream_task_ids": []}],
                    "timetable": DatasetTriggeredTimetable(condition).serialize(), "timetable_summary": "Dataset",
                    "is_paused_upon_creation": False}, f"/dags/{dag_id}.py", T0)


def added(uri: str, extra: dict[str, Any] | None = None, *aliases: str) -> dict[str, Any]:
    return {"uri": uri, "extra": extra or {}, "aliases": list(aliases or ("orders",))}


def succeed_adding(store: Store, *alias_events: dict[str, Any], day: int = 0, at: Any = LATER) -> TaskInstanceKey:
    key = running(store, day=day)
    assert store.finish_try(key, SUCCESS, at, running_try=1, started=T0, wake="task finished", produces=False,
                            alias_events=list(alias_events))
    return key


def test_storing_dags_makes_the_aliases_they_name_unresolved_until_a_task_adds_a_dataset(store: Store) -> None:
    alias_producer(store)
    consumer(store, ORDERS, "on_alias")
    [row] = store.dataset_alias_page().items
    assert (row.name, row.datasets, row.consuming_dags) == ("orders", (), ("on_alias",))
    assert store.dataset_alias_uris(["orders"]) == {} and store.list_datasets()[1] == 0


def test_a_success_records_an_event_per_added_dataset_making_it_and_resolving_the_alias(store: Store) -> None:
    alias_producer(store)
    key = succeed_adding(store, added("s3://lake/x", {"rows": 3}), added("s3://lake/y"))
    recorded = {e.uri: e for e in events(store)}
    assert sorted(recorded) == ["s3://lake/x", "s3://lake/y"]
    x = recorded["s3://lake/x"]
    assert (x.extra, x.source_dag_id, x.source_task_id, x.source_run_id, x.timestamp) == (
        {"rows": 3}, "producer", "make", key.run_id, LATER)
    assert store.dataset_alias_uris(["orders", "unknown"]) == {"orders": ["s3://lake/x", "s3://lake/y"]}
    [row] = store.dataset_alias_page().items
    assert [uri for _, uri in row.datasets] == ["s3://lake/x", "s3://lake/y"]
    assert sorted(e.uri for e in store.list_dataset_events(alias="orders")[0]) == ["s3://lake/x", "s3://lake/y"]


def test_one_event_is_linked_to_every_alias_that_added_its_dataset(store: Store) -> None:
    alias_producer(store, outlets=({"alias": "orders"}, {"alias": "mirror"}))
    succeed_adding(store, added("s3://lake/x", {}, "orders", "mirror"))
    assert len(events(store)) == 1
    assert [e.uri for e in store.list_dataset_events(alias="mirror")[0]] == ["s3://lake/x"]
    assert store.list_dataset_events(alias="orders")[1] == 1 and store.list_dataset_events(alias="none")[1] == 0


def test_an_event_names_the_aliases_it_came_through_as_airflow_s_source_aliases(store: Store) -> None:
    alias_producer(store, outlets=({"alias": "orders"}, {"alias": "mirror"}, {"uri": "s3://lake/y"}))
    succeed_adding(store, added("s3://lake/x", {}, "orders", "mirror"))
    key = running(store, day=1)
    assert store.finish_try(key, SUCCESS, LATER, running_try=1, started=T0, wake="task finished", produces=True)
    by_uri = {e.uri: e for e in store.list_dataset_events()[0]}
    assert by_uri["s3://lake/x"].source_aliases == [DatasetAlias("mirror"), DatasetAlias("orders")]
    assert by_uri["s3://lake/y"].source_aliases == []  # an outlet of its own: through no alias
    [through] = store.list_dataset_events(alias="orders")[0]
    assert [a.name for a in through.source_aliases] == ["mirror", "orders"]


@pytest.mark.parametrize("state", [TaskInstanceState.FAILED, TaskInstanceState.SKIPPED])
def test_a_try_that_does_not_succeed_adds_nothing(store: Store, state: TaskInstanceState) -> None:
    alias_producer(store)
    key = running(store)
    assert store.finish_try(key, state, LATER, running_try=1, started=T0, wake="task finished",
                            alias_events=[added("s3://lake/x")])
    assert events(store) == [] and store.dataset_alias_uris(["orders"]) == {}


def test_an_end_that_loses_adds_nothing(store: Store) -> None:
    alias_producer(store)
    key = running(store)
    assert not store.finish_try(key, SUCCESS, LATER, running_try=2, started=T0, wake="task finished",
                                alias_events=[added("s3://lake/x")])
    assert events(store) == []


def test_consumers_of_the_dataset_and_of_the_alias_are_both_queued_and_run(store: Store) -> None:
    alias_producer(store)
    consumer(store, X, "on_dataset")
    consumer(store, ORDERS, "on_alias")
    consumer(store, DatasetAlias("other"), "on_other_alias")
    assert store.create_dataset_triggered_run("on_alias", ORDERS, LATER) is None  # unresolved: nothing to run
    succeed_adding(store, added("s3://lake/x", {"rows": 1}))
    assert store.dataset_queue() == {"on_dataset": {"s3://lake/x"}, "on_alias": {"s3://lake/x"}}
    on_alias = store.create_dataset_triggered_run("on_alias", ORDERS, LATER + timedelta(seconds=1))
    on_dataset = store.create_dataset_triggered_run("on_dataset", X, LATER + timedelta(seconds=1))
    assert on_alias is not None and on_dataset is not None
    for run in (on_alias, on_dataset):
        [event] = store.triggering_dataset_events(run.key)["s3://lake/x"]
        assert event.extra == {"rows": 1} and event.source_task_id == "make"
    assert store.dataset_queue() == {}


def test_once_resolved_the_alias_stands_for_its_dataset_whoever_updates_it(store: Store) -> None:
    """As Airflow 2.10 after the consumer's re-parse: a DAG scheduled on an alias runs on every update
    of the datasets the alias resolved to, from a plain outlet too."""
    alias_producer(store)
    alias_producer(store, dag_id="plain", outlets=(X.as_json(),))
    consumer(store, ORDERS, "on_alias")
    succeed_adding(store, added("s3://lake/x"))
    assert store.create_dataset_triggered_run("on_alias", ORDERS, LATER) is not None
    plain = running(store, dag_id="plain")
    assert store.finish_try(plain, SUCCESS, LATER + timedelta(minutes=1), running_try=1, started=T0,
                            wake="task finished")
    assert store.dataset_queue() == {"on_alias": {"s3://lake/x"}}
    second = store.create_dataset_triggered_run("on_alias", ORDERS, LATER + timedelta(minutes=2))
    assert second is not None
    assert [e.source_dag_id for e in store.triggering_dataset_events(second.key)["s3://lake/x"]] == ["plain"]


def test_an_alias_in_an_all_of_schedule_waits_for_the_other_datasets_too(store: Store) -> None:
    alias_producer(store)
    alias_producer(store, dag_id="plain", outlets=(Y.as_json(),))
    consumer(store, ORDERS & Y, "both")
    succeed_adding(store, added("s3://lake/x"))
    assert store.create_dataset_triggered_run("both", ORDERS & Y, LATER) is None
    plain = running(store, dag_id="plain")
    assert store.finish_try(plain, SUCCESS, LATER, running_try=1, started=T0, wake="task finished")
    run = store.create_dataset_triggered_run("both", ORDERS & Y, LATER + timedelta(seconds=1))
    assert run is not None and sorted(store.triggering_dataset_events(run.key)) == ["s3://lake/x", "s3://lake/y"]


def test_a_new_version_of_an_alias_consumer_keeps_its_queued_update(store: Store) -> None:
    alias_producer(store)
    consumer(store, ORDERS, "on_alias")
    succeed_adding(store, added("s3://lake/x"))
    consumer(store, ORDERS | Y, "on_alias")  # a new version, still on the alias
    assert store.dataset_queue() == {"on_alias": {"s3://lake/x"}}
    consumer(store, Y, "on_alias")  # no longer on the alias: its update goes
    assert store.dataset_queue() == {}
    assert [row.consuming_dags for row in store.dataset_alias_page().items] == [()]


def test_ends_written_together_record_their_alias_events_beside_the_others(store: Store) -> None:
    """The supervised path (the zygote through the task agent): several ends in one transaction."""
    alias_producer(store)
    alias_producer(store, dag_id="plain", outlets=(Y.as_json(),))
    consumer(store, ORDERS, "on_alias")
    made, other, plain = running(store), running(store, task_id="other"), running(store, dag_id="plain")
    ends = [TryEnd(made, SUCCESS, LATER, 1, T0, {}, produces=False, alias_events=[added("s3://lake/x", {"k": 1})]),
            TryEnd(other, SUCCESS, LATER, 1, T0, {}, produces=False),
            TryEnd(plain, SUCCESS, LATER, 1, T0, {}, produces=True)]
    assert store.finish_tries(ends, "task finished") == [True, True, True]
    assert sorted((e.uri, e.source_dag_id, e.extra.get("k")) for e in events(store)) == [
        ("s3://lake/x", "producer", 1), ("s3://lake/y", "plain", None)]
    assert store.dataset_queue() == {"on_alias": {"s3://lake/x"}}


def test_an_end_without_alias_events_sends_no_alias_statement(store: Store) -> None:
    """The cost of aliases for the ends of tasks without outlets (a fan-out's): none."""
    from sqlalchemy import event

    alias_producer(store)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)
    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        ends = [TryEnd(running(store, task_id="other"), SUCCESS, LATER, 1, T0, {}, produces=False)]
        statements.clear()
        assert store.finish_tries(ends, "task finished") == [True]
        assert not any("dataset" in s for s in statements)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)


def test_the_alias_page_filters_by_name_pages_and_hides_dags(store: Store) -> None:
    alias_producer(store, outlets=({"alias": "orders"}, {"alias": "users"}))
    consumer(store, ORDERS, "on_alias")
    assert [a.name for a in store.dataset_alias_page(name_pattern="use").items] == ["users"]
    page = store.dataset_alias_page(offset=1, limit=1)
    assert page.total == 2 and [a.name for a in page.items] == ["users"]
    assert store.dataset_alias_page(hidden={"on_alias"}).items[0].consuming_dags == ()


def test_the_aliases_of_more_events_than_one_in_list_holds_are_read_in_slices(store: Store) -> None:
    alias_producer(store)
    many = IN_LIST_SIZE + 7
    succeed_adding(store, *(added(f"s3://lake/part-{i:04d}") for i in range(many)))
    listed, total = store.list_dataset_events(limit=many)
    assert total == many == len(listed)
    assert all(event.source_alias_names == ("orders",) for event in listed)
    assert [len(part) for part in chunks(list(range(many)))] == [IN_LIST_SIZE, 7]


def test_a_dag_scheduled_on_aliases_alone_shows_unresolved_until_one_resolves_as_airflow(store: Store) -> None:
    alias_producer(store)
    consumer(store, ORDERS, "on_alias")
    consumer(store, X | ORDERS, "on_x_or_alias")  # a dataset of its own: "Dataset" from the start
    consumer(store, X, "on_x")
    summaries = {dag_id: store.get_dag(dag_id).timetable_summary for dag_id in ("on_alias", "on_x_or_alias", "on_x")}
    assert summaries == {"on_alias": "Unresolved DatasetAlias", "on_x_or_alias": "Dataset", "on_x": "Dataset"}
    assert store.schedule_summary(store.latest_serialized_dag("on_alias").data) == "Unresolved DatasetAlias"
    succeed_adding(store, added("s3://lake/y"))  # the producer adds a dataset through the alias: resolved
    assert store.get_dag("on_alias").timetable_summary == "Dataset"
    consumer(store, ORDERS, "on_alias")  # parsed again: stays resolved
    assert store.get_dag("on_alias").timetable_summary == "Dataset"
    assert store.schedule_summary(store.latest_serialized_dag("on_alias").data) == "Dataset"
