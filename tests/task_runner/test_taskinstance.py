"""The runtime task instance a task sees: what it works out only when asked."""
from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pendulum
import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import FlowctlError, XComTooLargeError
from flowctl.core.keys import TaskInstanceKey
from flowctl.core.xcom_values import TYPE_KEY, check_xcom_value
from flowctl.decorators import task
from flowctl.task_runner.adhoc import adhoc_run_info, run_for_test
from flowctl.task_runner.taskinstance import DeferredXComs, MemoryBackend, RuntimeTaskInstance

KEY = TaskInstanceKey("etl", "manual__1", "load")


def test_log_url_is_worked_out_on_first_read_and_only_once() -> None:
    asked: list[int] = []
    ti = RuntimeTaskInstance(KEY, None, 1, 0, MemoryBackend(),
                             log_url_of=lambda: asked.append(1) or "http://ui/dags/etl/grid")
    assert asked == []
    assert ti.log_url == "http://ui/dags/etl/grid"
    assert ti.log_url == "http://ui/dags/etl/grid"
    assert asked == [1]


def test_a_task_instance_without_a_log_url_source_has_no_log_url() -> None:
    ti = RuntimeTaskInstance(KEY, None, 1, 0, MemoryBackend())
    assert not hasattr(ti, "log_url")
    with pytest.raises(AttributeError, match="log_url"):
        ti.log_url


# --- XCom values that JSON cannot hold as they are ---------------------------------------------

UTC = timezone.utc
T0 = datetime(2024, 3, 10, 6, tzinfo=UTC)
RUN = KEY.run_key
WHEN = {"start": datetime(2024, 3, 10, 6, tzinfo=UTC), "days": [date(2024, 3, 9), date(2024, 3, 10)],
        "at": time(7, 30), "every": timedelta(minutes=15), "naive": datetime(2024, 3, 10, 6)}


def _puller(backend: Any, task_id: str = "report") -> RuntimeTaskInstance:
    return RuntimeTaskInstance(TaskInstanceKey("etl", "manual__1", task_id), None, 1, 0, backend)


def test_a_pushed_datetime_is_kept_as_json_and_pulled_back_as_an_equal_datetime() -> None:
    memory = MemoryBackend()
    ti = RuntimeTaskInstance(KEY, None, 1, 0, memory)
    ti.xcom_push("return_value", WHEN)
    ti.xcom_push("when", pendulum.datetime(2024, 3, 10, 7, tz="Europe/Paris"))
    json.dumps(list(memory.xcoms.values()))  # what the backend holds is plain JSON data
    puller = _puller(memory)
    assert puller.xcom_pull(task_ids="load") == WHEN
    assert puller.xcom_pull(task_ids="load")["start"].tzinfo is not None
    assert puller.xcom_pull(task_ids="load", key="when") == datetime(2024, 3, 10, 6, tzinfo=UTC)
    assert puller.xcom_pull(task_ids=["load"], key="when") == [datetime(2024, 3, 10, 6, tzinfo=UTC)]
    assert puller.xcom_pull(key="when") == datetime(2024, 3, 10, 6, tzinfo=UTC)  # any task of the run


def test_the_pushes_of_every_map_index_are_pulled_back_decoded() -> None:
    memory = MemoryBackend()
    for index in (0, 1):
        RuntimeTaskInstance(TaskInstanceKey("etl", "manual__1", "each", index), None, 1, 0, memory).xcom_push(
            "return_value", date(2024, 3, 1 + index))
    assert _puller(memory).xcom_pull(task_ids="each", map_indexes=[0, 1]) == [date(2024, 3, 1), date(2024, 3, 2)]
    assert _puller(memory).xcom_pull(task_ids="each", map_indexes=1) == date(2024, 3, 2)
    assert memory.xcom_pull_mapped(RUN, "each", "return_value") == [
        {TYPE_KEY: "date", "value": "2024-03-01"}, {TYPE_KEY: "date", "value": "2024-03-02"}]


def test_a_supervised_trys_deferred_push_is_json_and_its_own_pull_sees_the_datetime() -> None:
    deferred = DeferredXComs(MemoryBackend(), KEY, lambda ti, key, value: check_xcom_value(ti, key, value, 1000))
    ti = RuntimeTaskInstance(KEY, None, 1, 0, deferred)
    ti.xcom_push("return_value", WHEN)
    assert json.loads(json.dumps(deferred.pushed)) == deferred.pushed  # sent with the end through the pipe
    assert ti.xcom_pull(task_ids="load") == WHEN


def test_the_size_limit_counts_the_stored_form_of_a_datetime() -> None:
    deferred = DeferredXComs(MemoryBackend(), KEY, lambda ti, key, value: check_xcom_value(ti, key, value, 40))
    with pytest.raises(XComTooLargeError):
        RuntimeTaskInstance(KEY, None, 1, 0, deferred).xcom_push("when", datetime(2024, 1, 1, tzinfo=UTC))


def test_pushing_bytes_is_refused_naming_the_type_and_what_an_xcom_may_hold() -> None:
    ti = RuntimeTaskInstance(KEY, None, 1, 0, MemoryBackend())
    with pytest.raises(FlowctlError, match=r"bytes.*datetime, date, time, timedelta, Decimal, set or frozenset"):
        ti.xcom_push("ids", {"ids": [b"1"]})


def test_a_task_returning_decimals_and_sets_hands_them_on_as_such() -> None:
    """Before: refused ("XCom value of type Decimal cannot be stored"): NUMERIC rows from a database."""
    @task
    def query() -> Any:
        return {"rows": [("a", Decimal("10.25")), ("b", Decimal("0.75"))], "seen": {"a", "b"}}

    @task
    def total(result: dict[str, Any]) -> str:
        assert type(result["seen"]) is set
        return str(sum(amount for _, amount in result["rows"]))

    with DAG("numbers", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
        total(query())
    assert _run(dag, MemoryBackend(), {})["total"] == "11.00"


def _run(dag: DAG, memory: MemoryBackend, map_counts: dict[str, int]) -> dict[str, Any]:
    """Every task in topological order the way ``tasks test`` runs one: in this process, XComs in memory."""
    results: dict[str, Any] = {}
    for op in dag.topological_sort():
        for index in range(map_counts[op.task_id]) if op.task_id in map_counts else [-1]:
            result = run_for_test(dag, op.task_id, adhoc_run_info(T0, dag=dag), memory=memory,
                                  map_index=index, log_stream=io.StringIO())
            assert result.state == "success", result.error
            results[op.task_id if index < 0 else f"{op.task_id}[{index}]"] = result.return_value
    return results


def test_taskflow_arguments_templates_mapping_and_multiple_outputs_receive_dates_as_dates() -> None:
    @task
    def start(**context: Any) -> Any:
        return context["data_interval_start"]

    @task(multiple_outputs=True)
    def window(first: datetime) -> dict[str, Any]:
        return {"first": first, "days": [first.date(), (first + timedelta(days=1)).date()], "span": timedelta(days=2)}

    @task
    def describe(first: datetime, days: list[date], span: timedelta, **context: Any) -> str:
        assert isinstance(first, datetime) and first.tzinfo is not None
        assert all(type(d) is date for d in days) and isinstance(span, timedelta)
        return f"{first.isoformat()} {days[1].isoformat()} {span.days} {context['templates_dict']['year']}"

    @task
    def each(day: date) -> str:
        assert type(day) is date
        return day.strftime("%a %d")

    with DAG("dates", schedule="@daily", start_date=datetime(2024, 1, 1, tzinfo=UTC)) as dag:
        first = start()
        parts = window(first)
        describe.override(templates_dict={"year": "{{ ti.xcom_pull(task_ids='start').year + 1 }}"})(
            first, parts["days"], parts["span"])
        each.expand(day=parts["days"])
    results = _run(dag, MemoryBackend(), {"each": 2})
    assert results["start"] == datetime(2024, 3, 9, tzinfo=UTC)
    assert results["describe"] == "2024-03-09T00:00:00+00:00 2024-03-10 2 2025"
    assert (results["each[0]"], results["each[1]"]) == ("Sat 09", "Sun 10")


# --- pulling from several tasks (or map indexes) at once: only what exists, in the order asked ---

def _pushed(backend: Any, task_id: str, value: Any, map_index: int = -1) -> None:
    RuntimeTaskInstance(TaskInstanceKey("etl", "manual__1", task_id, map_index), None, 1, 0, backend).xcom_push(
        "return_value", value)


def test_pulling_a_list_of_task_ids_leaves_out_the_tasks_that_pushed_nothing_in_task_ids_order() -> None:
    """Airflow 2: a non-str iterable of task_ids gives the matching XComs only, ordered like task_ids
    (before: [None, 'a', None] -- a None for each task that pushed nothing)."""
    memory = MemoryBackend()
    _pushed(memory, "a", "from a")
    _pushed(memory, "c", {"day": date(2024, 3, 1)})
    puller = _puller(memory)
    assert puller.xcom_pull(task_ids=["b", "a", "missing"]) == ["from a"]
    assert puller.xcom_pull(task_ids=["c", "b", "a"]) == [{"day": date(2024, 3, 1)}, "from a"]
    assert puller.xcom_pull(task_ids=["b"], default="unused") == []
    assert puller.xcom_pull(task_ids="b") is None and puller.xcom_pull(task_ids="b", default="none") == "none"


def test_a_mapped_task_in_a_list_of_task_ids_gives_each_map_index_value_in_index_order() -> None:
    memory = MemoryBackend()
    for index, value in ((1, "one"), (0, "zero")):
        _pushed(memory, "each", value, index)
    _pushed(memory, "plain", "p")
    puller = _puller(memory)
    assert puller.xcom_pull(task_ids=["plain", "each"]) == ["p", "zero", "one"]
    assert puller.xcom_pull(task_ids=["each", "plain"], map_indexes=1) == ["one"]


def test_pulling_a_list_of_map_indexes_leaves_out_the_indexes_that_pushed_nothing_in_the_order_asked() -> None:
    memory = MemoryBackend()
    for index in (0, 2):
        _pushed(memory, "each", index * 10, index)
    assert _puller(memory).xcom_pull(task_ids="each", map_indexes=[2, 1, 0]) == [20, 0]


def test_a_deferred_push_of_the_try_itself_counts_as_existing_in_a_list_pull() -> None:
    memory = MemoryBackend()
    _pushed(memory, "extract", 1)
    deferred = DeferredXComs(memory, KEY, lambda ti, key, value: None)
    ti = RuntimeTaskInstance(KEY, None, 1, 0, deferred)
    ti.xcom_push("return_value", "mine")
    assert ti.xcom_pull(task_ids=["load", "nothing", "extract"]) == ["mine", 1]


def test_a_list_pull_through_the_store_leaves_out_what_was_not_pushed(store: Any) -> None:
    from flowctl.task_runner.taskinstance import StoreBackend
    from tests.db.samples import make_run

    run = make_run(store)
    backend = StoreBackend(store, lambda: T0)
    _stored = RuntimeTaskInstance(TaskInstanceKey("etl", run.run_id, "extract"), None, 1, 0, backend)
    _stored.xcom_push("return_value", {"at": T0})
    puller = RuntimeTaskInstance(TaskInstanceKey("etl", run.run_id, "load"), None, 1, 0, backend)
    assert puller.xcom_pull(task_ids=["load", "extract"]) == [{"at": T0}]
    assert puller.xcom_pull(task_ids=["load"]) == []
    assert puller.xcom_pull(task_ids="load", default=0) == 0
