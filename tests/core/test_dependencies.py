"""The >> machinery, chain and cross_downstream."""
from __future__ import annotations

import pytest

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.core.dependencies import chain, cross_downstream
from flowctl.core.errors import DagDefinitionError


def _ops(dag: DAG, *ids: str) -> list[BaseOperator]:
    return [BaseOperator(task_id=i, dag=dag) for i in ids]


def test_shift_operators_set_both_directions_and_return_the_right_side() -> None:
    a, b, c = _ops(DAG("d"), "a", "b", "c")
    assert (a >> b) is b
    assert (c << b) is b
    assert a.downstream_task_ids == {"b"} and b.upstream_task_ids == {"a"} and c.upstream_task_ids == {"b"}


def test_lists_work_on_either_side_of_a_shift() -> None:
    a, b, c, d = _ops(DAG("d"), "a", "b", "c", "d")
    [a, b] >> c
    d << [a, b]
    assert c.upstream_task_ids == {"a", "b"} and d.upstream_task_ids == {"a", "b"}
    a2, b2, c2 = _ops(DAG("e"), "a", "b", "c")
    a2 >> [b2, c2]
    [b2, c2] << a2
    assert a2.downstream_task_ids == {"b", "c"}


def test_set_upstream_and_set_downstream_accept_lists() -> None:
    a, b, c = _ops(DAG("d"), "a", "b", "c")
    a.set_downstream([b, c])
    c.set_upstream(b)
    assert a.downstream_list == [b, c] and c.upstream_list == [a, b]


def test_linking_a_task_without_a_dag_adds_it_to_the_other_tasks_dag() -> None:
    dag = DAG("d")
    (a,) = _ops(dag, "a")
    loose = BaseOperator(task_id="loose")
    a >> loose
    assert loose.dag is dag and dag.has_task("loose")


def test_tasks_of_different_dags_cannot_be_linked() -> None:
    (a,) = _ops(DAG("one"), "a")
    (b,) = _ops(DAG("two"), "b")
    with pytest.raises(DagDefinitionError, match="same DAG"):
        a >> b


def test_a_task_cannot_depend_on_itself() -> None:
    (a,) = _ops(DAG("d"), "a")
    with pytest.raises(DagDefinitionError, match="itself"):
        a >> a


def test_shifting_onto_something_that_is_not_a_task_is_a_type_error() -> None:
    (a,) = _ops(DAG("d"), "a")
    with pytest.raises(TypeError):
        a >> "b"


def test_chain_links_neighbours_and_pairs_equal_length_lists() -> None:
    a, b1, b2, c1, c2, d = _ops(DAG("d"), "a", "b1", "b2", "c1", "c2", "d")
    chain(a, [b1, b2], [c1, c2], d)
    assert a.downstream_task_ids == {"b1", "b2"}
    assert b1.downstream_task_ids == {"c1"} and b2.downstream_task_ids == {"c2"}
    assert d.upstream_task_ids == {"c1", "c2"}


def test_chain_rejects_lists_of_different_lengths() -> None:
    a, b, c = _ops(DAG("d"), "a", "b", "c")
    with pytest.raises(ValueError, match="equal length"):
        chain([a, b], [c])


def test_cross_downstream_links_every_pair() -> None:
    a, b, c, d = _ops(DAG("d"), "a", "b", "c", "d")
    cross_downstream([a, b], [c, d])
    assert c.upstream_task_ids == {"a", "b"} and d.upstream_task_ids == {"a", "b"}


def test_a_label_between_tasks_links_them() -> None:
    from flowctl.utils.edgemodifier import Label

    a, b, c = _ops(DAG("d"), "a", "b", "c")
    a >> Label("why") >> [b, c]
    assert a.downstream_task_ids == {"b", "c"}


def test_a_label_records_its_text_on_each_edge_it_makes_as_airflows_edge_info() -> None:
    from flowctl.utils.edgemodifier import Label

    dag = DAG("d")
    a, b, c, d = _ops(dag, "a", "b", "c", "d")
    a >> Label("when yes") >> [b, c]
    [b, c] << Label("from d") << d  # the other direction, label first in its own chain
    assert dag.get_edge_info("a", "b") == dag.get_edge_info("a", "c") == {"label": "when yes"}
    assert dag.get_edge_info("d", "c") == {"label": "from d"}
    assert dag.get_edge_info("b", "c") == {}  # no edge, no label


# --- chain_linear (Airflow 2.7) ----------------------------------------------------------------

def test_chain_linear_links_every_task_of_each_element_to_every_task_of_the_next() -> None:
    from flowctl.core.dependencies import chain_linear

    a, b, c, d, e, f = _ops(DAG("d"), "a", "b", "c", "d", "e", "f")
    chain_linear(a, [b, c], [d, e], f)
    assert a.downstream_task_ids == {"b", "c"}
    assert b.downstream_task_ids == c.downstream_task_ids == {"d", "e"}
    assert d.downstream_task_ids == e.downstream_task_ids == {"f"}
    assert f.upstream_task_ids == {"d", "e"} and not b.upstream_task_ids - {"a"}


def test_chain_linear_takes_lists_of_different_lengths_where_chain_refuses_them() -> None:
    from flowctl.core.dependencies import chain_linear

    a, b, c, d, e = _ops(DAG("d"), "a", "b", "c", "d", "e")
    with pytest.raises(ValueError, match="equal length"):
        chain([a, b], [c, d, e])
    chain_linear([a, b], [c, d, e])
    assert a.downstream_task_ids == b.downstream_task_ids == {"c", "d", "e"}


def test_chain_linear_links_task_groups_and_taskflow_outputs() -> None:
    from flowctl.core.dependencies import chain_linear
    from flowctl.core.taskgroup import TaskGroup
    from flowctl.decorators import task

    with DAG("d") as dag:
        start = BaseOperator(task_id="start")
        with TaskGroup("group") as group:
            BaseOperator(task_id="inner")

        @task
        def report() -> None:
            pass

        chain_linear(start, group, report())
    assert dag.get_task("group.inner").upstream_task_ids == {"start"}
    assert dag.get_task("report").upstream_task_ids == {"group.inner"}


def test_chain_linear_that_links_nothing_or_meets_a_label_says_why() -> None:
    from flowctl.core.dependencies import chain_linear
    from flowctl.utils.edgemodifier import Label

    a, b = _ops(DAG("d"), "a", "b")
    with pytest.raises(ValueError, match=r"linked nothing.*needs \*"):
        chain_linear([a, b])
    with pytest.raises(ValueError, match="linked nothing"):
        chain_linear()
    with pytest.raises(ValueError, match="edge labels"):
        chain_linear(a, Label("why"), b)


def test_chain_linear_is_reachable_at_both_airflow_paths() -> None:
    from flowctl.core.dependencies import chain_linear
    from flowctl.models.baseoperator import chain_linear as from_models
    from flowctl.utils.helpers import chain_linear as from_helpers

    assert from_models is from_helpers is chain_linear
