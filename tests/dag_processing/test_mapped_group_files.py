"""Mapped task groups in DAG files: the serialized tasks carry the group's input and id (all the
scheduler needs to count the group's length without user code), and each refused form is an import
error whose last line says what is wrong."""
from __future__ import annotations

import pytest

from flowctl.core.planner import map_length, task_graph, xcom_refs
from flowctl.dag_processing.dagbag import DagBag
from flowctl.dag_processing.serialization import deserialize_dag, serialize_dag
from flowctl.settings import Settings

HEAD = (
    "from datetime import datetime\n"
    "from flowctl import DAG\n"
    "from flowctl.decorators import task, task_group\n"
    "from flowctl.utils.task_group import TaskGroup\n"
    "@task\n"
    "def numbers():\n"
    "    return [1, 2, 3]\n"
    "@task\n"
    "def show(value, other=0):\n"
    "    return value\n"
    "@task_group\n"
    "def pair(value, other):\n"
    "    show(show(value, other))\n"
)


def _write(settings: Settings, body: str) -> DagBag:
    (settings.dags_folder / "grouped.py").write_text(
        HEAD + "with DAG('grouped', schedule=None, start_date=datetime(2024, 1, 1)):\n" + body)
    return DagBag(settings=settings)


def test_the_tasks_of_a_mapped_group_serialize_as_mapped_by_the_groups_input(settings: Settings) -> None:
    bag = _write(settings, "    n = numbers()\n    pair.partial(other=1).expand(value=n.map(str).concat(n))\n")
    assert bag.import_errors == {}
    data = serialize_dag(bag.get_dag("grouped"))
    tasks = {t["task_id"]: t for t in data["tasks"]}
    for task_id in ("pair.show", "pair.show__1"):
        assert tasks[task_id]["is_mapped"] is True
        assert tasks[task_id]["mapping"]["mapped_group_id"] == "pair"
        assert tasks[task_id]["mapping"]["expand"]["value"]["__type"] == "xcomarg_concat"
    assert "mapped_group_id" not in (tasks["numbers"]["mapping"] or {})
    graph = task_graph(data)
    spec = graph.tasks["pair.show__1"]
    assert spec.mapped_group == "pair" and spec.upstream == {"pair.show"}
    assert xcom_refs(spec.mapping) == [("numbers", "return_value")]
    assert map_length(spec.mapping, {("numbers", "return_value"): [1, 2, 3]}) == 6
    assert deserialize_dag(data).get_task("pair.show").mapping == tasks["pair.show"]["mapping"]


@pytest.mark.parametrize(("body", "last_line"), [
    ("    with TaskGroup('classic') as g:\n        show(1)\n    g.expand(value=[1])\n",
     "flowctl.core.errors.NotSupportedError: TaskGroup 'classic'.expand(): a TaskGroup object cannot be mapped "
     "(nor in Airflow); write the group as a @task_group function and call .expand(...) on it"),
    ("    pair.expand(value=[1], size=[2])\n",
     "flowctl.core.errors.DagDefinitionError: task group 'pair': expand() got unexpected keyword arguments: size"),
    ("    pair.partial(other=1).expand(other=[1])\n",
     "flowctl.core.errors.DagDefinitionError: task group 'pair': arguments were passed to both partial() and "
     "expand(): other"),
    ("    pair.expand_kwargs(5)\n",
     "flowctl.core.errors.DagDefinitionError: task group 'pair': expand_kwargs() needs a list of dicts or an "
     "XComArg, not int"),
    ("    @task_group\n    def outer(value):\n        pair.expand(value=[1], other=[2])\n"
     "    outer.expand(value=[1])\n",
     "flowctl.core.errors.NotSupportedError: mapped task group 'outer.pair' is inside mapped task group 'outer': "
     "nested mapped task groups are not supported by flowctl; map the outer group only and loop (or map a task) "
     "inside it in its own, unmapped group, or combine the inputs with XComArg.zip() and map one group"),
    ("    @task_group\n    def outer(value):\n        show.expand(value=[1, 2])\n"
     "    outer.expand(value=[1])\n",
     "flowctl.core.errors.NotSupportedError: task 'outer.show' is mapped inside mapped task group 'outer': a "
     "mapped task inside a mapped task group is not supported by flowctl; map the outer group only and loop "
     "(or map a task) inside it in its own, unmapped group, or combine the inputs with XComArg.zip() and map "
     "one group"),
])
def test_a_refused_form_is_an_import_error_with_one_clear_line(settings: Settings, body: str,
                                                               last_line: str) -> None:
    bag = _write(settings, body)
    error = bag.import_errors[str(settings.dags_folder / "grouped.py")]
    assert bag.dag_ids == [] and error.strip().splitlines()[-1] == last_line, error
