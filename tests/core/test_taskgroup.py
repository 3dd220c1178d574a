"""TaskGroup: prefixes, nesting, group-level dependencies, the decorator."""
from __future__ import annotations

import pytest

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError, DuplicateTaskIdError
from flowctl.core.taskgroup import TaskGroup, task_group


def _op(task_id: str, **kwargs: object) -> BaseOperator:
    return BaseOperator(task_id=task_id, **kwargs)


def test_tasks_in_nested_groups_get_prefixed_ids() -> None:
    with DAG("d") as dag:
        with TaskGroup("outer") as outer:
            a = _op("a")
            with TaskGroup("inner") as inner:
                b = _op("b")
    assert a.task_id == "outer.a" and b.task_id == "outer.inner.b"
    assert inner.group_id == "outer.inner" and inner.label == "inner"
    assert b.task_group is inner and a.label == "a"
    assert list(outer.children) == ["outer.a", "outer.inner"]
    assert set(dag.task_group_dict) == {"outer", "outer.inner"}
    assert dag.task_group.is_root and dag.task_group.children["outer"] is outer


def test_prefix_group_id_false_keeps_plain_ids() -> None:
    with DAG("d"):
        with TaskGroup("g", prefix_group_id=False):
            task = _op("t")
    assert task.task_id == "t"


def test_group_dependencies_use_the_group_roots_and_leaves() -> None:
    with DAG("d"):
        start = _op("start")
        with TaskGroup("g") as group:
            a, b, c = _op("a"), _op("b"), _op("c")
            a >> c
            b >> c
        end = _op("end")
        start >> group >> end
    assert group.get_roots() == [a, b] and group.get_leaves() == [c]
    assert start.downstream_task_ids == {"g.a", "g.b"}
    assert end.upstream_task_ids == {"g.c"}


def test_group_default_args_override_the_dags_and_explicit_arguments_win() -> None:
    with DAG("d", default_args={"retries": 1, "queue": "q1"}):
        with TaskGroup("g", default_args={"retries": 5}):
            inherited = _op("a")
            explicit = _op("b", retries=0)
    assert inherited.retries == 5 and inherited.queue == "q1"
    assert explicit.retries == 0


def test_a_group_id_may_not_repeat_or_clash_with_a_task() -> None:
    with DAG("d"):
        _op("x")
        TaskGroup("g")
        with pytest.raises(DuplicateTaskIdError):
            TaskGroup("g")
        with pytest.raises(DuplicateTaskIdError):
            TaskGroup("x")


def test_a_group_outside_a_dag_is_an_error() -> None:
    with pytest.raises(DagDefinitionError, match="inside a DAG"):
        TaskGroup("lonely")


def test_the_task_group_decorator_builds_a_group_per_call() -> None:
    @task_group
    def section() -> None:
        """Does things."""
        _op("work")

    with DAG("d") as dag:
        first = section()
        second = section()
        first >> second
    assert first.group_id == "section" and second.group_id == "section__1"
    assert first.tooltip == "Does things."
    assert dag.get_task("section__1.work").upstream_task_ids == {"section.work"}


def test_the_decorator_accepts_a_group_id() -> None:
    @task_group(group_id="named")
    def section() -> None:
        _op("w")

    with DAG("d") as dag:
        section()
    assert dag.has_task("named.w")
