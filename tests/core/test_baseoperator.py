"""BaseOperator: arguments, default_args precedence, retry delays, priority weights."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

import pytest

from flowctl.core.baseoperator import BaseOperator
from flowctl.core.dag import DAG
from flowctl.core.errors import DagDefinitionError
from flowctl.core.retry_policy import compute_retry_delay
from flowctl.core.trigger_rules import TriggerRule
from flowctl.core.xcom_arg import XComArg


class Greeter(BaseOperator):
    template_fields: ClassVar[tuple[str, ...]] = ("greeting",)

    def __init__(self, *, greeting: str = "hi", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.greeting = greeting

    def execute(self, context: Mapping[str, Any]) -> str:
        return self.greeting


def test_defaults_match_airflow() -> None:
    task = BaseOperator(task_id="t")
    assert task.retries == 0 and task.retry_delay == timedelta(seconds=300)
    assert task.trigger_rule is TriggerRule.ALL_SUCCESS and task.pool == "default_pool"
    assert task.queue == "default" and task.priority_weight == 1 and task.weight_rule == "downstream"
    assert task.owner == "flowctl" and task.do_xcom_push is True and task.pool_slots == 1


def test_default_args_apply_only_to_arguments_not_passed() -> None:
    with DAG("d", default_args={"retries": 3, "greeting": "hello", "owner": "ann", "unrelated": 1}):
        inherited = Greeter(task_id="a")
        explicit = Greeter(task_id="b", retries=0, greeting="yo")
    assert (inherited.retries, inherited.greeting, inherited.owner) == (3, "hello", "ann")
    assert (explicit.retries, explicit.greeting) == (0, "yo")


def test_default_args_on_the_operator_win_over_the_dags() -> None:
    with DAG("d", default_args={"retries": 3}):
        task = BaseOperator(task_id="t", default_args={"retries": 7})
    assert task.retries == 7


def test_default_params_merge_with_explicit_params() -> None:
    with DAG("d", default_args={"params": {"a": 1, "b": 2}}):
        task = BaseOperator(task_id="t", params={"b": 3})
    assert dict(task.params) == {"a": 1, "b": 3}


def test_unknown_arguments_are_named_in_the_error() -> None:
    with pytest.raises(DagDefinitionError, match="bogus_arg"):
        BaseOperator(task_id="t", bogus_arg=1)


def test_positional_arguments_are_rejected() -> None:
    with pytest.raises(DagDefinitionError, match="keyword"):
        Greeter("t")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trigger_rule": "sometimes"}, "trigger_rule"),
        ({"weight_rule": "heaviest"}, "weight_rule"),
        ({"retries": -1}, "retries"),
        ({"pool_slots": 0}, "pool_slots"),
        ({"task_id": "bad id"}, "task_id"),
    ],
)
def test_invalid_arguments_raise_clear_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        BaseOperator(**{"task_id": "t", **kwargs})


def test_wait_for_downstream_implies_depends_on_past() -> None:
    assert BaseOperator(task_id="t", wait_for_downstream=True).depends_on_past is True


def test_numbers_are_accepted_as_retry_delay_seconds() -> None:
    assert BaseOperator(task_id="t", retry_delay=30).retry_delay == timedelta(seconds=30)


def test_task_type_and_module_name_the_operator_class() -> None:
    task = Greeter(task_id="t")
    assert task.task_type == "Greeter" and task.operator_module == __name__
    assert repr(task) == "<Task(Greeter): t>"


def test_the_output_property_is_an_xcom_arg_of_the_return_value() -> None:
    task = Greeter(task_id="t")
    assert task.output == XComArg(task, "return_value")


def test_an_xcom_arg_in_a_template_field_makes_its_task_upstream() -> None:
    with DAG("d"):
        source = Greeter(task_id="source")
        sink = Greeter(task_id="sink", greeting=source.output)
    assert sink.upstream_task_ids == {"source"}


def test_constant_retry_delay_is_the_retry_delay_capped_by_max() -> None:
    task = BaseOperator(task_id="t", retry_delay=timedelta(seconds=10))
    assert task.retry_delay_for_try(1) == timedelta(seconds=10)
    assert task.retry_delay_for_try(5) == timedelta(seconds=10)
    capped = BaseOperator(task_id="c", retry_delay=timedelta(seconds=10), max_retry_delay=timedelta(seconds=4))
    assert capped.retry_delay_for_try(1) == timedelta(seconds=4)


def test_exponential_retry_delay_doubles_with_deterministic_jitter() -> None:
    for n in range(1, 8):
        delay = compute_retry_delay(n, retry_delay=timedelta(seconds=10), exponential=True, jitter_key="k")
        base = 10 * 2 ** (n - 1)
        assert base <= delay.total_seconds() < 2 * base
        again = compute_retry_delay(n, retry_delay=timedelta(seconds=10), exponential=True, jitter_key="k")
        assert delay == again


def test_exponential_retry_delay_respects_max_retry_delay() -> None:
    task = BaseOperator(
        task_id="t", retry_delay=timedelta(seconds=10), retry_exponential_backoff=True,
        max_retry_delay=timedelta(minutes=1),
    )
    assert task.retry_delay_for_try(10) == timedelta(minutes=1)
    assert task.retry_delay_for_try(60) == timedelta(minutes=1)


def test_priority_weight_total_follows_the_weight_rule() -> None:
    with DAG("d"):
        a = BaseOperator(task_id="a", priority_weight=1)
        b = BaseOperator(task_id="b", priority_weight=2, weight_rule="upstream")
        c = BaseOperator(task_id="c", priority_weight=4, weight_rule="absolute")
        d = BaseOperator(task_id="d", priority_weight=8)
        a >> b >> c >> d
    assert a.priority_weight_total == 15
    assert b.priority_weight_total == 3
    assert c.priority_weight_total == 4
    assert d.priority_weight_total == 8


def test_upstream_and_downstream_lists_need_a_dag() -> None:
    with pytest.raises(DagDefinitionError, match="not in a DAG"):
        BaseOperator(task_id="t").upstream_list


def test_assigning_dag_attribute_adds_the_task() -> None:
    dag = DAG("d")
    task = BaseOperator(task_id="t")
    task.dag = dag
    assert dag.get_task("t") is task and task.task_group is dag.task_group


@pytest.mark.parametrize(("old", "new"), [("dummy", TriggerRule.ALWAYS),
                                          ("none_failed_or_skipped", TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)])
def test_airflow_2_deprecated_trigger_rule_names_still_work_with_a_warning(old: str, new: TriggerRule) -> None:
    with pytest.warns(DeprecationWarning, match=new.value):
        op = BaseOperator(task_id="t", trigger_rule=old)
    assert op.trigger_rule is new


def test_a_single_inlet_or_outlet_is_taken_as_a_list_of_one_as_in_airflow() -> None:
    from flowctl.core.datasets import Dataset

    task = BaseOperator(task_id="t", inlets=Dataset("s3://in"), outlets=Dataset("s3://out"))
    assert task.inlets == [Dataset("s3://in")]
    assert task.outlets == [Dataset("s3://out")]
    assert BaseOperator(task_id="u", outlets=(Dataset("s3://a"), Dataset("s3://b"))).outlets == [
        Dataset("s3://a"), Dataset("s3://b")]
