"""PythonOperator context passing, branching and short-circuit contracts."""
from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError, FlowctlError, NotSupportedError
from flowctl.operators.empty import EmptyOperator
from flowctl.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    PythonVirtualenvOperator,
    ShortCircuitOperator,
    context_kwargs_for,
    get_current_context,
)
from flowctl.operators.branch import BaseBranchOperator
from tests.operators.contract_ti import ContractTI, context_for


def _execute(operator: Any, ti: ContractTI | None = None, **extra: Any) -> Any:
    return operator.execute(context_for(operator, ti or ContractTI(), **extra))


def test_only_the_context_keys_the_callable_names_are_passed() -> None:
    def fn(a: int, ds: str, run_id: str) -> tuple[int, str, str]:
        return a, ds, run_id

    op = PythonOperator(task_id="p", python_callable=fn, op_args=[1])
    assert _execute(op, ds="2024-01-01") == (1, "2024-01-01", "manual__1")


def test_a_callable_with_var_keyword_gets_the_whole_context_and_op_kwargs_win() -> None:
    seen: dict[str, Any] = {}

    def fn(**kwargs: Any) -> None:
        seen.update(kwargs)

    _execute(PythonOperator(task_id="p", python_callable=fn, op_kwargs={"run_id": "mine"}), ds="x")
    assert seen["ds"] == "x" and seen["run_id"] == "mine" and "ti" in seen and "templates_dict" in seen


def test_positional_op_args_are_not_overwritten_by_context_keys() -> None:
    def fn(ds: str) -> str:
        return ds

    assert context_kwargs_for(fn, ["given"], {}, {"ds": "ctx"}) == {}


def _kwargs_by_signature(function: Callable[..., Any], op_args: Sequence[Any], op_kwargs: Mapping[str, Any],
                         context: Mapping[str, Any]) -> dict[str, Any]:
    """What context_kwargs_for gives, worked out from inspect.signature (its rule, written plainly)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return {**context, **op_kwargs}
    positional = [p.name for p in parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    taken = set(positional[: len(op_args)])
    return {**{name: context[name] for name, p in parameters.items()
               if name in context and name not in taken and p.kind is not p.POSITIONAL_ONLY}, **op_kwargs}


def _decorated(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return wrapper


class _Callable:
    def __call__(self, ds: str, ti: Any = None) -> None: ...

    def method(self, ds: str, /, run_id: str, *, ti: Any) -> None: ...


def _with_signature(ds: str, **kwargs: Any) -> None: ...


_with_signature.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("run_id", inspect.Parameter.POSITIONAL_OR_KEYWORD)])


async def _coroutine(ds: str, *, params: Any) -> None: ...


CALLABLES: list[Callable[..., Any]] = [
    lambda: None, lambda ds: None, lambda ds, /, run_id: None, lambda a, ds, *args, ti, params=None: None,
    lambda *ds: None, lambda a, b=1, *, run_id, **kw: None, lambda a, /, b, *rest, c, d=2: None,
    _decorated(lambda ds, ti: None), _Callable(), _Callable().method, functools.partial(lambda a, ds: None, 1),
    _with_signature, _coroutine, print,
]


@pytest.mark.parametrize("function", CALLABLES, ids=lambda f: getattr(f, "__name__", type(f).__name__))
@pytest.mark.parametrize("op_args", [[], ["given"], ["x", "y"]])
def test_the_context_keys_passed_follow_the_callables_signature(function: Callable[..., Any],
                                                                op_args: list[Any]) -> None:
    context = {"ds": "2024-01-01", "run_id": "manual__1", "ti": "the-ti", "params": {}, "a": 1, "b": 2,
               "args": (), "rest": (), "c": 3, "kw": {}}
    assert (context_kwargs_for(function, op_args, {"b": "mine"}, context)
            == _kwargs_by_signature(function, op_args, {"b": "mine"}, context))


def test_templates_dict_reaches_the_callable() -> None:
    def fn(templates_dict: dict[str, str]) -> str:
        return templates_dict["q"]

    assert _execute(PythonOperator(task_id="p", python_callable=fn, templates_dict={"q": "sql"})) == "sql"


def test_get_current_context_works_inside_the_callable_only() -> None:
    op = PythonOperator(task_id="p", python_callable=lambda: get_current_context()["run_id"])
    assert _execute(op) == "manual__1"
    with pytest.raises(FlowctlError, match="while a task is running"):
        get_current_context()


def test_a_non_callable_is_rejected() -> None:
    with pytest.raises(DagDefinitionError, match="not callable"):
        PythonOperator(task_id="p", python_callable="nope")  # type: ignore[arg-type]


def test_branching_skips_the_direct_downstream_tasks_not_chosen() -> None:
    with DAG("d"):
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "left")
        left, right, join = EmptyOperator(task_id="left"), EmptyOperator(task_id="right"), EmptyOperator(task_id="join")
        branch >> [left, right]
        [left, right] >> join
        branch >> join
    ti = ContractTI()
    assert _execute(branch, ti) == ["left"]
    assert ti.skipped == {"right"}


def test_branching_to_a_task_group_follows_its_roots() -> None:
    from flowctl.core.taskgroup import TaskGroup

    with DAG("d"):
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: ["grp"])
        with TaskGroup("grp") as grp:
            EmptyOperator(task_id="inner")
        other = EmptyOperator(task_id="other")
        branch >> [grp, other]
    ti = ContractTI()
    assert _execute(branch, ti) == ["grp.inner"] and ti.skipped == {"other"}


def test_branching_to_an_unknown_task_is_an_error() -> None:
    with DAG("d"):
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "ghost")
    with pytest.raises(DagDefinitionError, match="ghost"):
        _execute(branch)


def test_a_custom_branch_operator_implements_choose_branch() -> None:
    class Pick(BaseBranchOperator):
        def choose_branch(self, context: Any) -> str:
            return "b"

    with DAG("d"):
        pick = Pick(task_id="pick")
        pick >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
    ti = ContractTI()
    _execute(pick, ti)
    assert ti.skipped == {"a"}


def _short_circuit_dag(result: bool, ignore: bool) -> tuple[ShortCircuitOperator, ContractTI]:
    with DAG("d"):
        check = ShortCircuitOperator(task_id="check", python_callable=lambda: result,
                                     ignore_downstream_trigger_rules=ignore)
        check >> EmptyOperator(task_id="next") >> EmptyOperator(task_id="last")
    ti = ContractTI()
    _execute(check, ti)
    return check, ti


def test_a_true_condition_lets_everything_run() -> None:
    assert _short_circuit_dag(True, True)[1].skipped == set()


def test_a_false_condition_skips_everything_downstream_by_default() -> None:
    assert _short_circuit_dag(False, True)[1].skipped == {"next", "last"}


def test_respecting_trigger_rules_skips_only_the_direct_downstream() -> None:
    assert _short_circuit_dag(False, False)[1].skipped == {"next"}


def test_a_false_condition_never_skips_a_teardown() -> None:
    with DAG("d"):
        create = EmptyOperator(task_id="create")
        check = ShortCircuitOperator(task_id="check", python_callable=lambda: False)
        delete = EmptyOperator(task_id="delete")
        create >> check >> EmptyOperator(task_id="work") >> delete.as_teardown(setups=create)
    for respect in (False, True):
        ti = ContractTI()
        check.ignore_downstream_trigger_rules = not respect
        _execute(check, ti)
        assert ti.skipped == {"work"}


def test_virtualenv_operators_name_the_flowctl_way() -> None:
    with pytest.raises(NotSupportedError, match="PythonOperator"):
        PythonVirtualenvOperator(task_id="v", python_callable=print)


def test_empty_operator_does_nothing_and_says_so() -> None:
    op = EmptyOperator(task_id="e")
    assert op.execute({}) is None and op.inherits_from_empty_operator


def test_airflow_1s_provide_context_is_accepted_with_a_deprecation_warning_at_the_dag_files_line() -> None:
    """Before: DagDefinitionError "invalid arguments were passed to PythonOperator ...: provide_context"."""
    with DAG("legacy") as dag:
        with pytest.warns(DeprecationWarning, match="provide_context is deprecated") as caught:
            PythonOperator(task_id="run", python_callable=lambda ds: ds, provide_context=True)
            BranchPythonOperator(task_id="pick", python_callable=lambda: "run", provide_context=True)
    assert {w.filename for w in caught} == {__file__}
    assert _execute(dag.get_task("run"), ds="2024-01-01") == "2024-01-01"
    assert not hasattr(dag.get_task("run"), "provide_context")
