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
