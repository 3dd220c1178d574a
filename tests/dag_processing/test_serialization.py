"""serialize_dag / deserialize_dag / dag_hash: JSON-safe, stable, readable like a DAG."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError, TaskNotFound
from flowctl.core.params import Param
from flowctl.core.taskgroup import TaskGroup
from flowctl.dag_processing.dagbag import DagBag
from flowctl.dag_processing.serialization import dag_hash, deserialize_dag, serialize_dag

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_example"


class Shell(BaseOperator):
    template_fields = ("command", "env")
    template_ext = (".sh",)
    ui_color = "#abcdef"

    def __init__(self, command: str = "echo hi", env: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.command = command
        self.env = env or {}

    def execute(self, context: Any) -> Any:
        return self.command


def _on_failure(context: Any) -> None:
    pass


def build_dag() -> DAG:
    with DAG(
        "sample", schedule="@daily", start_date=datetime(2024, 1, 1), end_date=datetime(2024, 12, 31),
        catchup=False, max_active_runs=2, max_active_tasks=4, dagrun_timeout=timedelta(hours=1),
        tags=["b", "a"], doc_md="# Sample", description="A sample",
        default_args={"owner": "ana", "retries": 2, "retry_delay": timedelta(minutes=2),
                      "on_failure_callback": _on_failure},
        params={"n": Param(3, type="integer", minimum=1, description="how many"), "plain": "x"},
        on_failure_callback=_on_failure,
    ) as dag:
        start = Shell(task_id="start", pool="db", pool_slots=2, priority_weight=5, queue="q1",
                      execution_timeout=timedelta(seconds=30), env={"WHEN": "{{ ds }}"})
        with TaskGroup("load", tooltip="loading") as load:
            a = Shell(task_id="a", trigger_rule="all_done")
            with TaskGroup("inner"):
                b = Shell(task_id="b", depends_on_past=True)
            a >> b
        mapped = Shell.partial(task_id="fan", retries=1).expand(command=start.output)
        start >> load >> mapped
    return dag


def test_a_serialized_dag_is_plain_json_with_a_version() -> None:
    data = serialize_dag(build_dag())
    assert json.loads(json.dumps(data)) == data
    assert data["__version"] == 1
    assert data["dag_id"] == "sample" and data["tags"] == ["a", "b"]
    assert data["timetable_summary"] == "@daily"
    assert data["callbacks"]["on_failure_callback"] is True
    assert "on_failure_callback" not in data["default_args"]


def test_tasks_keep_their_scheduling_attributes_and_templates() -> None:
    tasks = {t["task_id"]: t for t in serialize_dag(build_dag())["tasks"]}
    start = tasks["start"]
    assert (start["task_type"], start["pool"], start["pool_slots"], start["priority_weight"]) == ("Shell", "db", 2, 5)
    assert start["retries"] == 2 and start["retry_delay"] == 120.0 and start["execution_timeout"] == 30.0
    assert start["owner"] == "ana" and start["queue"] == "q1"
    assert start["template_fields"] == ["command", "env"] and start["template_ext"] == [".sh"]
    assert start["templates"]["env"] == {"WHEN": "{{ ds }}"}
    assert start["callbacks"]["on_failure_callback"] is True
    assert tasks["load.a"]["trigger_rule"] == "all_done"
    assert tasks["load.inner.b"]["task_group_id"] == "load.inner"


def test_a_mapped_task_keeps_its_expand_spec_with_xcom_references() -> None:
    fan = next(t for t in serialize_dag(build_dag())["tasks"] if t["task_id"] == "fan")
    assert fan["is_mapped"] is True
    ref = fan["mapping"]["expand"]["command"]
    assert ref == {"__type": "xcomarg", "__var": {"task_id": "start", "key": "return_value"}}
    assert fan["upstream_task_ids"] == ["load.inner.b", "start"]


CALLS: list[Any] = []


def _double(value: Any) -> Any:
    CALLS.append(value)
    return 2 * value


def build_transforms_dag() -> DAG:
    with DAG("transforms", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        a, b = Shell(task_id="a"), Shell(task_id="b")
        Shell.partial(task_id="mapped").expand(command=a.output.map(_double).map(str))
        Shell.partial(task_id="zipped").expand(command=a.output.zip(b.output, fillvalue=None))
        Shell.partial(task_id="joined").expand_kwargs(a.output.concat(b.output.map(lambda v: {"command": v})))
    return dag


def test_map_zip_and_concat_keep_their_structure_and_only_the_map_callables_names() -> None:
    CALLS.clear()
    data = serialize_dag(build_transforms_dag())
    assert json.loads(json.dumps(data)) == data
    tasks = {t["task_id"]: t for t in data["tasks"]}
    a = {"__type": "xcomarg", "__var": {"task_id": "a", "key": "return_value"}}
    b = {"__type": "xcomarg", "__var": {"task_id": "b", "key": "return_value"}}
    assert tasks["mapped"]["mapping"]["expand"] == {"command": {"__type": "xcomarg_map", "__var": {
        "arg": a, "callables": [f"{__name__}._double", "builtins.str"]}}}
    assert tasks["zipped"]["mapping"]["expand"] == {"command": {"__type": "xcomarg_zip", "__var": {
        "args": [a, b], "fillvalue": None}}}
    assert tasks["joined"]["mapping"]["expand"] == {"__type": "xcomarg_concat", "__var": {"args": [a, {
        "__type": "xcomarg_map", "__var": {"arg": b, "callables": [
            f"{__name__}.build_transforms_dag.<locals>.<lambda>"]}}]}}
    assert tasks["zipped"]["upstream_task_ids"] == tasks["joined"]["upstream_task_ids"] == ["a", "b"]
    assert CALLS == []  # serializing never calls a map callable
    assert dag_hash(data) == dag_hash(serialize_dag(build_transforms_dag()))
    assert deserialize_dag(data).get_task("mapped").mapping == tasks["mapped"]["mapping"]


def test_a_zip_without_a_fillvalue_has_none_in_its_json() -> None:
    with DAG("z", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        a, b = Shell(task_id="a"), Shell(task_id="b")
        Shell.partial(task_id="zipped").expand(command=a.output.zip(b.output))
    zipped = next(t for t in serialize_dag(dag)["tasks"] if t["task_id"] == "zipped")
    assert set(zipped["mapping"]["expand"]["command"]["__var"]) == {"args"}


def test_the_hash_is_stable_and_changes_with_the_structure() -> None:
    first, second = serialize_dag(build_dag()), serialize_dag(build_dag())
    assert dag_hash(first) == dag_hash(second)
    second["tasks"][0]["retries"] = 9
    assert dag_hash(first) != dag_hash(second)


def test_a_deserialized_dag_reads_like_the_original() -> None:
    original = build_dag()
    copy = deserialize_dag(serialize_dag(original))
    assert copy.dag_id == "sample" and copy.tags == ["a", "b"] and copy.catchup is False
    assert copy.start_date == original.start_date and copy.dagrun_timeout == timedelta(hours=1)
    assert copy.timetable == original.timetable
    assert [t.task_id for t in copy.topological_sort()] == [t.task_id for t in original.topological_sort()]
    assert {t.task_id for t in copy.roots} == {"start"} and {t.task_id for t in copy.leaves} == {"fan"}
    task = copy.get_task("load.inner.b")
    assert task.depends_on_past is True and task.retry_delay == timedelta(minutes=2)
    assert [t.task_id for t in task.upstream_list] == ["load.a"]
    assert task.task_group.group_id == "load.inner" and task.task_group.parent_group.group_id == "load"
    assert copy.params.get_param("n").schema == {"type": "integer", "minimum": 1}
    assert copy.params["n"] == 3 and copy.params["plain"] == "x"
    assert copy.has_on_failure_callback and not copy.has_on_success_callback
    with pytest.raises(TaskNotFound):
        copy.get_task("nope")
    with pytest.raises(NotImplementedError):
        task.execute({})


def test_a_round_trip_serializes_to_the_same_json() -> None:
    data = serialize_dag(build_dag())
    again = deserialize_dag(data)
    assert again.data == data


def test_an_unknown_version_is_refused_with_a_clear_message() -> None:
    data = serialize_dag(build_dag())
    data["__version"] = 99
    with pytest.raises(DagDefinitionError, match="version 99"):
        deserialize_dag(data)


def test_every_example_dag_round_trips_with_a_stable_hash() -> None:
    bag = DagBag(dag_folder=EXAMPLES, include_examples=False)
    assert not bag.import_errors
    assert bag.size() >= 6
    for dag in bag.dags.values():
        data = serialize_dag(dag)
        assert json.loads(json.dumps(data)) == data
        assert dag_hash(data) == dag_hash(serialize_dag(dag))
        copy = deserialize_dag(data)
        assert sorted(copy.task_ids) == sorted(dag.task_ids)
        for task in dag.tasks:
            assert copy.get_task(task.task_id).upstream_task_ids == task.upstream_task_ids


def test_edge_labels_are_serialized_only_when_a_dag_has_one() -> None:
    from flowctl.utils.edgemodifier import Label

    with DAG("labelled", start_date=datetime(2024, 1, 1)) as dag:
        BaseOperator(task_id="check") >> Label("when new rows") >> BaseOperator(task_id="load")
    data = json.loads(json.dumps(serialize_dag(dag)))
    assert data["edge_info"] == {"check": {"load": {"label": "when new rows"}}}
    with DAG("plain", start_date=datetime(2024, 1, 1)) as plain:
        BaseOperator(task_id="check") >> BaseOperator(task_id="load")
    assert "edge_info" not in serialize_dag(plain)  # the hash of a DAG without labels stays what it was


def test_display_names_and_orientation_are_serialized_only_when_a_dag_sets_them() -> None:
    with DAG("shown", start_date=datetime(2024, 1, 1), dag_display_name="Shown DAG", orientation="TB") as dag:
        BaseOperator(task_id="plain")
        BaseOperator(task_id="named", task_display_name="Named task")
        Shell.partial(task_id="fan", task_display_name="Fan out").expand(command=["a", "b"])
    data = json.loads(json.dumps(serialize_dag(dag)))
    assert (data["dag_display_name"], data["orientation"]) == ("Shown DAG", "TB")
    tasks = {t["task_id"]: t for t in data["tasks"]}
    assert tasks["named"]["task_display_name"] == "Named task" and tasks["fan"]["task_display_name"] == "Fan out"
    assert "task_display_name" not in tasks["plain"]
    plain = serialize_dag(build_dag())  # the hash of a DAG that sets none of them stays what it was
    assert not {"dag_display_name", "orientation"} & plain.keys()
    assert not any("task_display_name" in t for t in plain["tasks"])


def test_setup_and_teardown_marks_survive_serialization_and_only_marked_tasks_carry_them() -> None:
    with DAG("cluster", start_date=datetime(2024, 1, 1)) as dag:
        create, work, delete = (BaseOperator(task_id=t) for t in ("create", "work", "delete"))
        create >> work >> delete.as_teardown(setups=create, on_failure_fail_dagrun=True)
    data = json.loads(json.dumps(serialize_dag(dag)))
    tasks = {t["task_id"]: t for t in data["tasks"]}
    assert tasks["create"]["is_setup"] is True and "is_teardown" not in tasks["create"]
    assert tasks["delete"]["is_teardown"] is True and tasks["delete"]["on_failure_fail_dagrun"] is True
    assert tasks["delete"]["trigger_rule"] == "all_done_setup_success"
    assert not {"is_setup", "is_teardown", "on_failure_fail_dagrun"} & tasks["work"].keys()
    read = deserialize_dag(data)
    assert read.get_task("create").is_setup and not read.get_task("create").is_teardown
    assert read.get_task("delete").is_teardown and read.get_task("delete").on_failure_fail_dagrun
    assert not read.get_task("work").is_setup and not read.get_task("work").on_failure_fail_dagrun
