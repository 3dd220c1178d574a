"""TaskFlow: @task and @dag wiring, XComArgs, unique ids, overrides."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import NotSupportedError
from flowctl.core.xcom_arg import DagParam, XComArg
from flowctl.decorators import dag, task
from flowctl.operators.bash import DecoratedBashOperator
from flowctl.operators.python import DecoratedBranchOperator
from tests.operators.contract_ti import ContractTI, context_for

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


@task
def extract() -> dict[str, int]:
    return {"a": 1, "b": 2}


@task(retries=2)
def add(x: int, y: int = 0) -> int:
    return x + y


def test_calling_a_task_inside_a_dag_creates_an_operator_and_returns_an_xcom_arg() -> None:
    with DAG("d") as dag:
        out = add(1, y=2)
    assert isinstance(out, XComArg) and out.operator is dag.get_task("add")
    assert out.operator.retries == 2 and out.operator.op_args == [1] and out.operator.op_kwargs == {"y": 2}


def test_xcom_arg_arguments_wire_dependencies_and_resolve_at_run_time() -> None:
    with DAG("d") as dag:
        data = extract()
        total = add(data["a"], y=data["b"])
    assert dag.get_task("add").upstream_task_ids == {"extract"}
    ti = ContractTI({("extract", "a"): 1, ("extract", "b"): 2})
    operator = total.operator
    assert operator.execute(context_for(operator, ti)) == 3


def test_a_dict_return_annotation_turns_on_multiple_outputs_and_pushes_each_key() -> None:
    with DAG("d"):
        data = extract()
    assert data.operator.multiple_outputs is True
    ti = ContractTI()
    assert data.operator.execute(context_for(data.operator, ti)) == {"a": 1, "b": 2}
    assert ti.xcoms[("<self>", "a")] == 1 and ti.xcoms[("<self>", "b")] == 2


def test_repeated_calls_get_numbered_task_ids() -> None:
    with DAG("d") as dag:
        add(1)
        add(2)
        add(3)
    assert dag.task_ids == ["add", "add__1", "add__2"]


def test_override_changes_operator_arguments() -> None:
    with DAG("d") as dag:
        add.override(task_id="plus", retries=0)(1)
    assert dag.get_task("plus").retries == 0


def test_the_docstring_becomes_doc_md() -> None:
    @task
    def documented() -> None:
        """Explains itself."""

    with DAG("d") as dag:
        documented()
    assert dag.get_task("documented").doc_md == "Explains itself."


def test_shift_works_on_xcom_args() -> None:
    with DAG("d") as dag:
        add(1) >> add(2)
    assert dag.get_task("add__1").upstream_task_ids == {"add"}


def test_task_variants_build_their_operators() -> None:
    @task.branch
    def pick() -> str:
        return "x"

    @task.bash
    def command() -> str:
        return "echo hi"

    with DAG("d"):
        assert isinstance(pick().operator, DecoratedBranchOperator)
        assert isinstance(command().operator, DecoratedBashOperator)
    with pytest.raises(NotSupportedError, match="@task.docker"):
        task.docker


def test_the_dag_decorator_builds_a_dag_whose_arguments_are_params() -> None:
    @dag(start_date=START, schedule=None, tags=["t"])
    def my_pipeline(n: int = 3) -> None:
        """Pipeline docs."""
        add(n)

    built = my_pipeline()
    assert built.dag_id == "my_pipeline" and built.tags == ["t"] and built.doc_md == "Pipeline docs."
    assert dict(built.params) == {"n": 3}
    operator = built.get_task("add")
    assert isinstance(operator.op_args[0], DagParam)
    assert operator.execute(context_for(operator, ContractTI(), params={"n": 10})) == 10
    assert my_pipeline(n=5).params["n"] == 5


def test_the_dag_decorator_accepts_an_explicit_dag_id() -> None:
    @dag(dag_id="custom", schedule=None)
    def whatever() -> None:
        pass

    assert whatever().dag_id == "custom"


# --- arguments checked against the function when the DAG file is parsed (as Airflow does) ---------

@task
def needs(x: int, y: int, ds: str | None = None, ti: object = None) -> int:
    return x + y


def test_an_unknown_argument_is_a_type_error_at_parse_time_not_a_failure_at_run_time() -> None:
    with DAG("d"), pytest.raises(TypeError, match=r"needs\(\): got an unexpected keyword argument 'z'"):
        needs(1, 2, z=3)


def test_a_missing_argument_fails_the_call_unless_the_context_gives_it() -> None:
    with DAG("d"), pytest.raises(TypeError, match=r"needs\(\): missing required argument\(s\) 'y'"):
        needs(1)

    @task
    def uses_context(x: int, logical_date: object, dag_run: object, params: object) -> int:
        return x
    with DAG("e") as dag:
        uses_context(1)
    assert dag.task_ids == ["uses_context"]


def test_partial_and_expand_arguments_must_be_the_functions() -> None:
    with DAG("d"), pytest.raises(TypeError, match=r"needs\.partial\(\): got an unexpected keyword argument 'q'"):
        needs.partial(q=1)
    with DAG("d"), pytest.raises(TypeError, match=r"needs\.expand\(\): got an unexpected keyword argument 'q'"):
        needs.partial(y=1).expand(q=[1, 2])
    with DAG("d"), pytest.raises(TypeError, match=r"needs\.expand\(\): got an unexpected keyword argument 'q'"):
        needs.expand(q=[1, 2])
    with DAG("d") as dag:
        needs.partial(y=1).expand(x=[1, 2])  # the rest comes at run time: nothing missing is checked
        needs.expand(x=[1, 2])
    assert len(dag.task_ids) == 2


def test_a_function_taking_kwargs_takes_any_name() -> None:
    @task
    def anything(**kwargs: object) -> None:
        return None
    with DAG("d") as dag:
        anything(whatever=1)
        anything.partial(a=1).expand(b=[1])
    assert len(dag.task_ids) == 2


def test_every_context_key_a_task_receives_may_be_left_out_of_the_call() -> None:
    from flowctl.core.taskflow import CONTEXT_KEYS
    from tests.core.test_context import make_context

    assert set(make_context()) <= CONTEXT_KEYS
