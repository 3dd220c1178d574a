"""Setup and teardown tasks at DAG definition: marks, edges, ``with`` scopes, decorators, task groups."""
from __future__ import annotations

import pytest

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError
from flowctl.core.taskgroup import TaskGroup
from flowctl.core.trigger_rules import TriggerRule
from flowctl.decorators import setup, task, task_group, teardown

TEARDOWN_RULE = TriggerRule.ALL_DONE_SETUP_SUCCESS


def _ops(dag: DAG, *ids: str) -> list[BaseOperator]:
    return [BaseOperator(task_id=i, dag=dag) for i in ids]


def test_as_teardown_marks_both_tasks_links_them_and_returns_the_teardown() -> None:
    create, query, delete = _ops(DAG("d"), "create", "query", "delete")
    returned = create >> query >> delete.as_teardown(setups=create)
    assert returned is delete
    assert create.is_setup and not create.is_teardown
    assert delete.is_teardown and not delete.is_setup and delete.trigger_rule is TEARDOWN_RULE
    assert delete.upstream_task_ids == {"create", "query"}
    assert not delete.on_failure_fail_dagrun and not query.is_setup and not query.is_teardown


def test_as_setup_returns_the_task_and_as_teardown_takes_a_list_of_setups_and_on_failure_fail_dagrun() -> None:
    one, two, work, delete = _ops(DAG("d"), "one", "two", "work", "delete")
    assert one.as_setup() is one
    [one, two] >> work >> delete.as_teardown(setups=[one, two], on_failure_fail_dagrun=True)
    assert two.is_setup and delete.on_failure_fail_dagrun
    assert delete.upstream_task_ids == {"one", "two", "work"}


def test_a_task_cannot_be_both_setup_and_teardown_and_a_group_cannot_be_either() -> None:
    dag = DAG("d")
    create, delete = _ops(dag, "create", "delete")
    delete.as_teardown(setups=create)
    with pytest.raises(DagDefinitionError, match="is a teardown"):
        delete.as_setup()
    with pytest.raises(DagDefinitionError, match="is a setup"):
        create.as_teardown()
    with dag, TaskGroup("g") as group:
        BaseOperator(task_id="inside")
    with pytest.raises(DagDefinitionError, match="task group cannot be marked"):
        group.as_setup()


def test_the_setup_and_teardown_decorators_mark_the_tasks_their_functions_make() -> None:
    with DAG("d") as dag:
        @setup
        def create() -> str:
            return "cluster"

        @teardown(on_failure_fail_dagrun=True)
        def delete(name: str) -> None:
            pass

        @setup
        @task(retries=2)
        def warm() -> None:
            pass

        @teardown
        def cool() -> None:
            pass

        made = create()
        delete(made)
        warm() >> cool()
    tasks = dag.task_dict
    assert tasks["create"].is_setup and tasks["warm"].is_setup and tasks["warm"].retries == 2
    assert tasks["delete"].is_teardown and tasks["delete"].on_failure_fail_dagrun
    assert tasks["cool"].is_teardown and not tasks["cool"].on_failure_fail_dagrun
    assert tasks["delete"].trigger_rule is TEARDOWN_RULE and tasks["delete"].upstream_task_ids == {"create"}


def test_a_teardown_decorator_refuses_a_trigger_rule_and_a_task_group() -> None:
    with pytest.raises(DagDefinitionError, match="not configurable"):
        @teardown
        @task(trigger_rule="all_success")
        def delete() -> None:
            pass
    with pytest.raises(DagDefinitionError, match="task groups cannot"):
        @setup
        @task_group
        def group() -> None:
            pass


def test_xcomargs_can_be_marked_and_returned_for_chaining() -> None:
    with DAG("d") as dag:
        @task
        def create() -> None:
            pass

        @task
        def delete() -> None:
            pass

        made = create().as_setup()
        removed = delete().as_teardown(setups=made)
    assert dag.task_dict["create"].is_setup and dag.task_dict["delete"].is_teardown
    assert dag.task_dict["delete"].upstream_task_ids == {"create"}
    assert removed.operator is dag.task_dict["delete"]


def test_a_teardown_scope_puts_the_tasks_made_inside_between_the_setup_and_the_teardown() -> None:
    with DAG("d") as dag:
        create, delete = BaseOperator(task_id="create"), BaseOperator(task_id="delete")
        with delete.as_teardown(setups=create):
            first, second = BaseOperator(task_id="first"), BaseOperator(task_id="second")
            first >> second
            alone = BaseOperator(task_id="alone")
        after = BaseOperator(task_id="after")
    assert create.downstream_task_ids == {"first", "alone", "delete"}
    assert delete.upstream_task_ids == {"create", "second", "alone"}
    assert first.upstream_task_ids == {"create"} and not after.upstream_task_ids
    assert dag.task_dict["alone"].downstream_task_ids == {"delete"}


def test_a_setup_scope_links_its_teardowns_and_nested_scopes_nest() -> None:
    with DAG("d"):
        outer_setup, outer_teardown = BaseOperator(task_id="os"), BaseOperator(task_id="ot")
        outer_teardown.as_teardown(setups=outer_setup)
        with outer_setup:
            inner_setup, inner_teardown = BaseOperator(task_id="is"), BaseOperator(task_id="it")
            with inner_teardown.as_teardown(setups=inner_setup):
                work = BaseOperator(task_id="work")
    assert work.upstream_task_ids == {"is"} and work.downstream_task_ids == {"it"}
    assert inner_setup.upstream_task_ids == {"os"}
    assert outer_teardown.upstream_task_ids == {"os", "it"}


def test_only_setup_and_teardown_tasks_open_a_scope() -> None:
    with DAG("d"):
        plain = BaseOperator(task_id="plain")
        with pytest.raises(DagDefinitionError, match="only setup or teardown tasks"):
            with plain:
                pass


def test_a_groups_teardown_is_not_linked_to_what_follows_the_group() -> None:
    with DAG("d") as dag:
        with TaskGroup("cluster") as group:
            create, query, delete = (BaseOperator(task_id=i) for i in ("create", "query", "delete"))
            create >> query >> delete.as_teardown(setups=create)
        after = BaseOperator(task_id="after")
        group >> after
    assert after.upstream_task_ids == {"cluster.query"}
    assert dag.task_dict["cluster.delete"].downstream_task_ids == set()
    assert [t.task_id for t in group.get_roots()] == ["cluster.create"]


def test_a_group_without_teardowns_keeps_its_leaves() -> None:
    with DAG("d"):
        with TaskGroup("g") as group:
            a, b, c = (BaseOperator(task_id=i) for i in "abc")
            a >> [b, c]
    assert [t.task_id for t in group.get_leaves()] == ["g.b", "g.c"]


def test_a_dag_refuses_a_setup_followed_by_work_with_another_trigger_rule_as_airflow_does() -> None:
    with DAG("d", schedule=None) as dag:
        create, delete = BaseOperator(task_id="create"), BaseOperator(task_id="delete")
        create >> BaseOperator(task_id="work", trigger_rule="all_done") >> delete.as_teardown(setups=create)
    with pytest.raises(DagDefinitionError, match="'work' follows setup task 'create'.*all_success"):
        dag.validate()
    dag.task_dict["work"].trigger_rule = TriggerRule.ALL_SUCCESS
    dag.validate()
