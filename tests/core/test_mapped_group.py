"""Mapped task groups, declaration side: ``@task_group`` functions with ``.partial()``, ``.expand()`` and
``.expand_kwargs()``; what each task of the group becomes, what its arguments resolve to at one map
index, and the forms refused with one clear error (as Airflow refuses them, or as flowctl does not take)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError, FlowctlError, NotSupportedError, UnmappableXComTypePushed
from flowctl.core.mapped_group import MappedArgument, MappedTaskGroup
from flowctl.core.mapping import check_mappable_return
from flowctl.core.taskgroup import TaskGroup
from flowctl.decorators import task, task_group
from flowctl.operators.bash import BashOperator

START = datetime(2024, 1, 1)


class _TI:
    """The part of a task instance that resolving reads: its map index and xcom_pull."""

    def __init__(self, map_index: int, values: dict[str, Any]) -> None:
        self.map_index = map_index
        self.values = values
        self.pulls: list[tuple[str, Any]] = []

    def xcom_pull(self, task_ids: str, key: str = "return_value", map_indexes: Any = None) -> Any:
        self.pulls.append((task_ids, map_indexes))
        value = self.values[task_ids]
        return value if map_indexes is None else value[map_indexes]


@task
def make() -> list[int]:
    return [1, 2, 3]


@task
def scale(x: int, factor: int) -> int:
    return x * factor


@task
def shift(y: int) -> int:
    return y + 1


@task
def total(values: list[int]) -> int:
    return sum(values)


@task_group
def pipeline(x: int, factor: int) -> Any:
    return shift(scale(x, factor))


def _pipeline_dag() -> DAG:
    with DAG("grouped", start_date=START, schedule=None) as dag:
        total(pipeline.partial(factor=10).expand(x=make()))
    return dag


def test_every_task_of_a_mapped_group_is_mapped_over_the_groups_input() -> None:
    dag = _pipeline_dag()
    group = dag.task_group_dict["pipeline"]
    assert isinstance(group, MappedTaskGroup) and group.expand_kind == "expand"
    for task_id in ("pipeline.scale", "pipeline.shift"):
        inner = dag.get_task(task_id)
        assert inner.is_mapped and inner.mapped_group_id == "pipeline" and inner.expand_input is group.expand_input
    assert not dag.get_task("make").is_mapped and not dag.get_task("total").is_mapped


def test_the_groups_input_is_upstream_of_its_roots_and_its_output_upstream_of_the_reduce() -> None:
    dag = _pipeline_dag()
    assert dag.get_task("pipeline.scale").upstream_task_ids == {"make"}
    assert dag.get_task("pipeline.shift").upstream_task_ids == {"pipeline.scale"}
    assert dag.get_task("total").upstream_task_ids == {"pipeline.shift"}


def test_a_group_argument_resolves_to_its_map_index_element_and_partial_values_stay_as_they_are() -> None:
    dag = _pipeline_dag()
    x, factor = dag.get_task("pipeline.scale").op_args
    assert isinstance(x, MappedArgument) and factor == 10
    for index, expected in enumerate([1, 2, 3]):
        assert x.resolve({"ti": _TI(index, {"make": [1, 2, 3]})}) == expected
    with pytest.raises(FlowctlError, match=r"map_index 3 of task group 'pipeline' is out of range"):
        x.resolve({"ti": _TI(3, {"make": [1, 2, 3]})})


def test_an_output_inside_the_group_resolves_to_the_same_index_and_outside_it_to_every_index() -> None:
    dag = _pipeline_dag()
    scaled = dag.get_task("pipeline.shift").op_args[0]
    ti = _TI(2, {"pipeline.scale": [10, 20, 30]})
    assert scaled.resolve({"ti": ti, "task": dag.get_task("pipeline.shift")}) == 30
    shifted = dag.get_task("total").op_args[0]
    outside = _TI(-1, {"pipeline.shift": [11, 21, 31]})
    assert shifted.resolve({"ti": outside, "task": dag.get_task("total")}) == [11, 21, 31]
    assert (ti.pulls, outside.pulls) == ([("pipeline.scale", 2)], [("pipeline.shift", None)])


def test_expand_over_two_arguments_maps_the_cartesian_product() -> None:
    with DAG("product", start_date=START, schedule=None) as dag:
        pipeline.expand(x=[1, 2], factor=[10, 20, 30])
    x, factor = dag.get_task("pipeline.scale").op_args
    entries = [(x.resolve({"ti": _TI(i, {})}), factor.resolve({"ti": _TI(i, {})})) for i in range(6)]
    assert entries == [(1, 10), (1, 20), (1, 30), (2, 10), (2, 20), (2, 30)]


def test_expand_kwargs_gives_every_argument_and_falls_back_to_the_functions_default() -> None:
    @task_group
    def echo(word: str, n: int = 7) -> None:
        BashOperator(task_id="say", bash_command=word)
        scale(n, 1)

    with DAG("kwargs", start_date=START, schedule=None) as dag:
        group = echo.expand_kwargs([{"word": "a"}, {"word": "b", "n": 8}])
    assert group is dag.task_group_dict["echo"]
    n = dag.get_task("echo.scale").op_args[0]
    word = dag.get_task("echo.say").bash_command
    assert [n.resolve({"ti": _TI(i, {})}) for i in (0, 1)] == [7, 8]
    assert [word.resolve({"ti": _TI(i, {})}) for i in (0, 1)] == ["a", "b"]


def test_expand_kwargs_over_an_xcomarg_reads_that_tasks_value() -> None:
    with DAG("kwargs_xcom", start_date=START, schedule=None) as dag:
        source = make()
        pipeline.expand_kwargs(source)
    x = dag.get_task("pipeline.scale").op_args[0]
    assert x.resolve({"ti": _TI(1, {"make": [{"x": 5, "factor": 2}, {"x": 6, "factor": 3}]})}) == 6
    assert dag.get_task("pipeline.scale").upstream_task_ids == {"make"}


def test_expand_kwargs_over_a_literal_list_resolves_the_xcomargs_its_dicts_hold() -> None:
    with DAG("kwargs_literal", start_date=START, schedule=None) as dag:
        pipeline.expand_kwargs([{"x": make(), "factor": 2}, {"x": 4, "factor": 3}])
    x = dag.get_task("pipeline.scale").op_args[0]
    assert x.resolve({"ti": _TI(0, {"make": [1, 2, 3]})}) == [1, 2, 3]
    assert x.resolve({"ti": _TI(1, {"make": [1, 2, 3]})}) == 4
    assert dag.get_task("pipeline.scale").upstream_task_ids == {"make"}


def test_a_producer_of_the_groups_input_must_return_a_list_or_a_dict() -> None:
    dag = _pipeline_dag()
    with pytest.raises(UnmappableXComTypePushed, match="maps over the return value of 'make'"):
        check_mappable_return(dag.get_task("make"), 42)
    check_mappable_return(dag.get_task("make"), [1])


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: pipeline.expand(), DagDefinitionError, "expand\\(\\) needs at least one argument"),
    (lambda: pipeline.expand(x=[1], size=[2]), DagDefinitionError,
     "expand\\(\\) got unexpected keyword arguments: size"),
    (lambda: pipeline.partial(factor=2).expand(factor=[1]), DagDefinitionError,
     "passed to both partial\\(\\) and expand\\(\\): factor"),
    (lambda: pipeline.partial(factor=2).partial(factor=3), DagDefinitionError, "partial\\(\\) got factor twice"),
    (lambda: pipeline.expand(x="abc", factor=[1]), DagDefinitionError, "not str \\(argument 'x'\\)"),
    (lambda: pipeline.expand_kwargs({"x": 1}), DagDefinitionError, "needs a list of dicts or an XComArg, not dict"),
    (lambda: pipeline.expand_kwargs([{"x": 1, "y": 2}]), DagDefinitionError,
     "expand_kwargs\\(\\) got unexpected keyword arguments: y"),
    (lambda: task_group(lambda *args: None).expand_kwargs([{}]), DagDefinitionError, "\\*args or \\*\\*kwargs"),
    (lambda: TaskGroup("classic").expand(x=[1]), NotSupportedError, "a TaskGroup object cannot be mapped"),
])
def test_forms_airflow_refuses_are_refused_with_one_line(build: Any, error: type, message: str) -> None:
    with DAG("refused", start_date=START, schedule=None), pytest.raises(error, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)


def test_a_mapped_group_inside_a_mapped_group_is_refused_naming_both() -> None:
    @task_group
    def outer(x: int) -> None:
        pipeline.expand(x=[1, 2], factor=[3])

    with DAG("nested", start_date=START, schedule=None), pytest.raises(
            NotSupportedError, match="mapped task group 'outer.pipeline' is inside mapped task group 'outer'"):
        outer.expand(x=[1])


def test_a_mapped_task_inside_a_mapped_group_is_refused() -> None:
    @task_group
    def outer(x: int) -> None:
        shift.expand(y=[1, 2])

    with DAG("nested_task", start_date=START, schedule=None), pytest.raises(
            NotSupportedError, match="task 'outer.shift' is mapped inside mapped task group 'outer'"):
        outer.expand(x=[1])


def test_a_group_argument_has_no_value_at_definition_time() -> None:
    @task_group
    def loops(x: int) -> None:
        for _ in x:  # type: ignore[attr-defined]
            shift(1)

    with DAG("loops", start_date=START, schedule=None), pytest.raises(TypeError, match="no value at DAG definition"):
        loops.expand(x=[1])


def test_calling_a_group_function_plainly_still_builds_an_unmapped_group() -> None:
    with DAG("plain", start_date=START, schedule=None) as dag:
        pipeline(1, 2)
    assert type(dag.task_group_dict["pipeline"]) is TaskGroup
    assert not dag.get_task("pipeline.scale").is_mapped
